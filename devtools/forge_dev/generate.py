"""Generate XRDs and Compositions from the spec models (and the platform's bootstrap/).

The models are the single source of truth: the XRD's OpenAPI schema is derived
from them, so the function and the API server can never disagree about a
field's name, type, default or enum. Run ``make xrds`` after changing a model.
Not imported by the function server.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from forge import versions
from forge.registry import API, APIS
from forge_dev.packaging import bootstrap

_DROP = {"title", "additionalProperties", "discriminator"}
# The form of shortened names (forge.core.naming) is theirs alone: no XR may be named so.
RESERVED_NAME_RULE = {
    "rule": "!self.metadata.name.matches('-[0-9a-f]{8}$')",
    "message": "metadata.name must not end in '-' and 8 hexadecimal digits "
    "(the form of shortened names)",
}


# The API rows the XRDs and Compositions are generated from (forge.registry).
DEFINITIONS: tuple[API, ...] = APIS


def _structural(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """Turn pydantic's JSON Schema into a Kubernetes structural schema."""
    if "$ref" in schema:
        target = defs[schema["$ref"].rsplit("/", 1)[-1]]
        merged = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
        return _structural(merged, defs)
    if "anyOf" in schema:
        options = [o for o in schema["anyOf"] if o.get("type") != "null"]
        rest = {k: v for k, v in schema.items() if k != "anyOf"}
        if len(options) == 1:
            return _structural({**options[0], **rest}, defs)
        raise ValueError(f"unsupported union in schema: {schema}")
    out: dict[str, Any] = {}
    if "const" in schema:
        out["type"] = "string"
        out["enum"] = [schema["const"]]
    for key, value in schema.items():
        if key in _DROP or key in {"const", "$defs"}:
            continue
        if key == "default" and value is None:
            continue
        if key == "properties":
            out["properties"] = {n: _structural(s, defs) for n, s in value.items()}
        elif key == "items":
            out["items"] = _structural(value, defs)
        else:
            out[key] = value
    if out.get("type") == "object" and "properties" not in out:
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict) and extra:
            out["additionalProperties"] = _structural(extra, defs)
        elif not out.get("x-kubernetes-preserve-unknown-fields"):
            out["x-kubernetes-preserve-unknown-fields"] = True
    if "enum" in out and "type" not in out:
        out["type"] = "string"
    _default_nested_objects(out)
    return out


def _default_nested_objects(schema: dict[str, Any]) -> None:
    """Give optional object fields ``default: {}`` so their own defaults apply.

    Kubernetes only defaults inside objects that are present; this makes the
    API server fill in the same defaults the models do.
    """
    required = set(schema.get("required", []))
    for name, prop in schema.get("properties", {}).items():
        if (
            name not in required
            and prop.get("type") == "object"
            and "properties" in prop
            and "default" not in prop
            and not prop.get("required")
            and not prop.get("x-kubernetes-validations")
        ):
            prop["default"] = {}


def model_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The structural OpenAPI schema of a model."""
    raw = model.model_json_schema(by_alias=True, mode="validation")
    return _structural(raw, raw.get("$defs", {}))


def _drop_default(schema: dict[str, Any], path: str) -> None:
    """Remove the default at a dotted spec path (the model's default still applies)."""
    for part in path.split("."):
        schema = schema["properties"][part]
    schema.pop("default", None)


def xrd(definition: API) -> dict[str, Any]:
    """The CompositeResourceDefinition of one API."""
    spec_schema = model_schema(definition.spec)
    for path in definition.env_paths:
        _drop_default(spec_schema, path)
    status_schema = model_schema(definition.status)
    status_schema.pop("default", None)
    if not definition.required_spec:
        spec_schema.setdefault("default", {})
    properties = {"spec": spec_schema, "status": status_schema}
    version: dict[str, Any] = {
        "name": versions.VERSION,
        "served": True,
        "referenceable": True,
        "schema": {
            "openAPIV3Schema": {
                "type": "object",
                "description": definition.description,
                "properties": properties,
                **({"required": ["spec"]} if definition.required_spec else {}),
                "x-kubernetes-validations": [RESERVED_NAME_RULE],
            }
        },
    }
    if definition.columns:
        version["additionalPrinterColumns"] = [
            {"name": n, "type": t, "jsonPath": p} for n, t, p in definition.columns
        ]
    return {
        "apiVersion": "apiextensions.crossplane.io/v2",
        "kind": "CompositeResourceDefinition",
        "metadata": {"name": f"{definition.plural}.{versions.GROUP}"},
        "spec": {
            "group": versions.GROUP,
            "names": {
                "kind": definition.kind,
                "plural": definition.plural,
                "categories": list(definition.categories),
            },
            "scope": definition.scope,
            "defaultCompositionRef": {"name": definition.plural},
            "versions": [version],
        },
    }


def composition(definition: API) -> dict[str, Any]:
    """The one-step Pipeline Composition of one API."""
    return {
        "apiVersion": "apiextensions.crossplane.io/v1",
        "kind": "Composition",
        "metadata": {
            "name": definition.plural,
            "labels": {f"{versions.GROUP}/api": definition.plural},
        },
        "spec": {
            "compositeTypeRef": {"apiVersion": versions.API_VERSION, "kind": definition.kind},
            "mode": "Pipeline",
            "pipeline": [
                {
                    "step": "compose",
                    "functionRef": {"name": versions.FUNCTION_NAME},
                    "input": {
                        "apiVersion": f"input.{versions.GROUP}/{versions.VERSION}",
                        "kind": "Input",
                        "environmentConfig": {
                            "matchLabels": {f"{versions.GROUP}/defaults": "true"}
                        },
                    },
                }
            ],
        },
    }


def render_all() -> dict[str, str]:
    """Every generated file, path -> YAML text."""
    files: dict[str, str] = {}
    for definition in DEFINITIONS:
        for folder, obj in (("xrds", xrd(definition)), ("compositions", composition(definition))):
            text = yaml.safe_dump(obj, sort_keys=False, width=100)
            files[f"{folder}/{definition.plural}.yaml"] = text
    files.update(bootstrap.files())
    return files


def main(argv: list[str] | None = None) -> int:
    """Write (or with --check, verify) the generated XRDs and Compositions."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--root", type=Path, default=Path.cwd())
    parser.add_argument("--check", action="store_true", help="fail if files are out of date")
    args = parser.parse_args(argv)
    files = render_all()
    stale = [
        rel
        for rel, text in files.items()
        if not (args.root / rel).exists() or (args.root / rel).read_text() != text
    ]
    if args.check and stale:
        print("out of date (run `make xrds`): " + ", ".join(stale), file=sys.stderr)
        return 1
    if not args.check:
        for rel in stale:
            path = args.root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(files[rel])
    print(summary(files, stale, wrote=not args.check))
    return 0


def summary(files: Mapping[str, str], changed: list[str], *, wrote: bool) -> str:
    """One line saying what was generated or checked, and whether anything changed."""
    xrds = sum(rel.startswith("xrds/") for rel in files)
    compositions = sum(rel.startswith("compositions/") for rel in files)
    boot = len(files) - xrds - compositions
    what = f"{xrds} XRDs, {compositions} Compositions and {boot} bootstrap files"
    if not wrote:
        return f"checked {what} against the spec models: all up to date"
    if not changed:
        return f"generated {what} from the spec models: all up to date, nothing written"
    shown = ", ".join(changed[:4]) + (f" and {len(changed) - 4} more" if len(changed) > 4 else "")
    return f"generated {what} from the spec models: wrote {len(changed)} changed ({shown})"


if __name__ == "__main__":
    raise SystemExit(main())
