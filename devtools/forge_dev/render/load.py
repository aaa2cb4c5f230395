"""Read manifests the way ``crossplane render`` does.

A path may be a file (a YAML stream) or a directory (its ``.yaml``/``.yml``
files, sorted by name, not recursive). Timestamps stay strings: Kubernetes YAML
goes through JSON, so ``2024-01-01T00:00:00Z`` is never a datetime there.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from forge_dev.render.errors import RenderError, goquote

FUNCTION_API_VERSIONS = ("pkg.crossplane.io/v1", "pkg.crossplane.io/v1beta1")
COMPOSITION_API_VERSION = "apiextensions.crossplane.io/v1"


class KubeLoader(yaml.SafeLoader):
    """A safe loader that keeps timestamps as strings."""


KubeLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def parse_stream(text: str, source: str = "<string>") -> list[dict[str, Any]]:
    """Parse a YAML stream into its non-empty documents, each a mapping."""
    try:
        docs = [d for d in yaml.load_all(text, Loader=KubeLoader) if d is not None]
    except yaml.YAMLError as exc:
        raise RenderError(f"cannot parse YAML stream from {goquote(source)}: {exc}") from exc
    for doc in docs:
        if not isinstance(doc, dict):
            raise RenderError(f"{goquote(source)}: every YAML document must be an object")
    return docs


def parse_value(text: str) -> Any:
    """Parse one JSON or YAML value (used for --context-values)."""
    return yaml.load(text, Loader=KubeLoader)


def yaml_files(path: Path) -> list[Path]:
    """The YAML files a path stands for: itself, or a directory's YAML files."""
    if not path.exists():
        raise RenderError(f"cannot open file: {path}: no such file or directory")
    if not path.is_dir():
        return [path]
    files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix in (".yaml", ".yml"))
    if not files:
        raise RenderError(f"no YAML files found in {goquote(str(path))} (.yaml or .yml)")
    return files


def load_stream(path: str | Path) -> list[dict[str, Any]]:
    """Load every document of a file or of a directory's YAML files."""
    out: list[dict[str, Any]] = []
    for file in yaml_files(Path(path)):
        out.extend(parse_stream(file.read_text(encoding="utf-8"), str(file)))
    return out


def load_one(path: str | Path, what: str) -> dict[str, Any]:
    """Load the first document of a file (the XR or the Composition)."""
    file = Path(path)
    if not file.is_file():
        raise RenderError(f"cannot read {what} file: open {file}: no such file")
    docs = parse_stream(file.read_text(encoding="utf-8"), str(file))
    if not docs:
        raise RenderError(f"cannot unmarshal {what} YAML: {file} is empty")
    return docs[0]


def check_composition(comp: dict[str, Any]) -> dict[str, Any]:
    """Refuse anything that is not an apiextensions.crossplane.io/v1 Composition."""
    if comp.get("apiVersion") != COMPOSITION_API_VERSION or comp.get("kind") != "Composition":
        name = (comp.get("metadata") or {}).get("name", "")
        raise RenderError(f"not a composition: {comp.get('kind', '')}/{name}")
    return comp


def check_functions(fns: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Refuse documents that are not pkg.crossplane.io Functions."""
    for fn in fns:
        if fn.get("apiVersion") not in FUNCTION_API_VERSIONS or fn.get("kind") != "Function":
            name = (fn.get("metadata") or {}).get("name", "")
            raise RenderError(f"not a function: {fn.get('kind', '')}/{name}")
    return fns


def check_composition_matches(xr: Mapping[str, Any], comp: Mapping[str, Any]) -> None:
    """The checks ``crossplane render`` makes before it runs anything."""
    spec = comp.get("spec") or {}
    ref = spec.get("compositeTypeRef") or {}
    if ref.get("kind") != xr.get("kind"):
        raise RenderError(
            f"composition's compositeTypeRef.kind ({ref.get('kind', '')}) "
            f"does not match XR's kind ({xr.get('kind', '')})"
        )
    if ref.get("apiVersion") != xr.get("apiVersion"):
        raise RenderError(
            f"composition's compositeTypeRef.apiVersion ({ref.get('apiVersion', '')}) "
            f"does not match XR's apiVersion ({xr.get('apiVersion', '')})"
        )
    selector = ((xr.get("spec") or {}).get("crossplane") or {}).get("compositionSelector")
    name = (comp.get("metadata") or {}).get("name", "")
    labels = (comp.get("metadata") or {}).get("labels") or {}
    for key, want in ((selector or {}).get("matchLabels") or {}).items():
        if key not in labels:
            raise RenderError(
                f"composition {goquote(name)} is missing required label {goquote(key)}"
            )
        if labels[key] != want:
            raise RenderError(
                f"composition {goquote(name)} has incorrect value for label {goquote(key)}: "
                f"want {goquote(str(want))}, got {goquote(str(labels[key]))}"
            )
    if spec.get("mode") != "Pipeline":
        raise RenderError(
            "render only supports Composition Function pipelines: "
            f"Composition {goquote(name)} must use spec.mode: Pipeline"
        )
