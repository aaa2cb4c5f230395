"""The XRDs and Compositions: generated from the models, valid, and in agreement."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from forge.core.errors import SpecError, from_validation_error
from forge_dev import generate as xrdgen
from tests.support.example_environment import with_environment

ROOT = Path(__file__).resolve().parents[2]
DEFINITIONS = {d.kind: d for d in xrdgen.DEFINITIONS}


def example_xrs() -> list[tuple[str, dict[str, Any]]]:
    """Every example XR of ours, by file."""
    found = []
    for path in sorted(ROOT.glob("examples/**/*.yaml")):
        if "stages" in path.parts:
            continue
        for doc in yaml.safe_load_all(path.read_text()):
            if isinstance(doc, dict) and doc.get("kind") in DEFINITIONS:
                found.append((str(path.relative_to(ROOT)), doc))
    return found


def _ids(value: object) -> str:
    return value if isinstance(value, str) else ""


def apply_defaults(schema: dict[str, Any], value: Any) -> Any:
    """Kubernetes structural defaulting: fill absent fields that have a default, recursively."""
    if isinstance(value, dict) and "properties" in schema:
        out = dict(value)
        for name, prop in schema["properties"].items():
            if name not in out and "default" in prop:
                out[name] = copy.deepcopy(prop["default"])
            if name in out:
                out[name] = apply_defaults(prop, out[name])
        return out
    if isinstance(value, dict) and isinstance(schema.get("additionalProperties"), dict):
        return {k: apply_defaults(schema["additionalProperties"], v) for k, v in value.items()}
    if isinstance(value, list) and "items" in schema:
        return [apply_defaults(schema["items"], v) for v in value]
    return value


def without_empty(value: Any) -> Any:
    """Drop None and empty collections: absent and empty mean the same to both sides."""
    if isinstance(value, dict):
        cleaned = {k: without_empty(v) for k, v in value.items()}
        return {k: v for k, v in cleaned.items() if v not in (None, {}, [])}
    if isinstance(value, list):
        return [without_empty(v) for v in value]
    return value


def test_generated_files_are_up_to_date():
    for rel, text in xrdgen.render_all().items():
        path = ROOT / rel
        assert path.exists(), f"{rel} missing: run `make xrds`"
        assert path.read_text() == text, f"{rel} is stale: run `make xrds`"


def test_every_definition_has_an_xrd_and_composition_file():
    xrds = {p.name for p in (ROOT / "xrds").glob("*.yaml")}
    compositions = {p.name for p in (ROOT / "compositions").glob("*.yaml")}
    expected = {f"{d.plural}.yaml" for d in xrdgen.DEFINITIONS}
    assert xrds == expected
    assert compositions == expected


# The step input's CRD is a CustomResourceDefinition, which the schema store has no schema
# of: tests/unit/test_input.py judges it with the API server's own library.
@pytest.mark.parametrize("rel", sorted(set(xrdgen.render_all()) - {xrdgen.INPUT_CRD}))
def test_xrds_and_compositions_are_valid_crossplane_objects(rel, assert_schema_valid):
    for doc in yaml.safe_load_all((ROOT / rel).read_text()):
        assert_schema_valid(doc)


def test_every_api_has_an_example():
    kinds = {doc["kind"] for _, doc in example_xrs()}
    assert kinds == set(DEFINITIONS)


@pytest.mark.parametrize(
    ("path", "xr"), example_xrs(), ids=lambda v: v if isinstance(v, str) else ""
)
def test_xrd_defaults_agree_with_the_model(path, xr):
    """Defaults the API server applies are the ones the function assumes."""
    definition = DEFINITIONS[xr["kind"]]
    schema = xrdgen.model_schema(definition.spec)
    spec = with_environment(path, xr)
    server_side = apply_defaults(schema, spec)
    function_side = definition.spec.model_validate(spec).model_dump(by_alias=True, mode="json")
    assert without_empty(server_side) == without_empty(function_side), path


def _enum_paths(schema: dict[str, Any], path: str = "spec") -> list[tuple[str, list[Any]]]:
    found = []
    if "enum" in schema:
        found.append((path, schema["enum"]))
    for name, prop in schema.get("properties", {}).items():
        found.extend(_enum_paths(prop, f"{path}.{name}"))
    return found


@pytest.mark.parametrize("kind", sorted(DEFINITIONS))
def test_model_rejects_what_the_xrd_rejects(kind):
    """Every top-level enum and every required field is enforced by the model too."""
    definition = DEFINITIONS[kind]
    schema = xrdgen.model_schema(definition.spec)
    for path, _values in _enum_paths(schema):
        parts = path.split(".")[1:]
        if len(parts) != 1:
            continue
        spec = _minimal_spec(kind)
        spec[parts[0]] = "not-an-allowed-value"
        with pytest.raises(Exception) as info:
            definition.spec.model_validate(spec)
        error = from_validation_error(info.value)
        assert isinstance(error, SpecError)
        assert error.path.startswith(path), (error.path, path)
    for name in schema.get("required", []):
        spec = _minimal_spec(kind)
        spec.pop(name, None)
        with pytest.raises(Exception) as info:
            definition.spec.model_validate(spec)
        assert from_validation_error(info.value).path == f"spec.{name}"


def _minimal_spec(kind: str) -> dict[str, Any]:
    for _, xr in example_xrs():
        if xr["kind"] == kind:
            return copy.deepcopy(xr.get("spec", {}))
    raise AssertionError(f"no example for {kind}")


@pytest.mark.parametrize(
    ("path", "xr"), example_xrs(), ids=lambda v: v if isinstance(v, str) else ""
)
def test_example_xrs_are_valid_against_our_xrds(path, xr, schema_store):
    """What the API server would accept, using the CRD Crossplane generates from our XRD."""
    definition = DEFINITIONS[xr["kind"]]
    schema_store.add_xrd(xrdgen.xrd(definition))
    assert schema_store.validate(xr) == [], path


def test_make_xrds_ends_with_a_verdict(tmp_path, capsys):
    """`make xrds` and its --check say in one line what they generated or checked."""
    n = len(xrdgen.DEFINITIONS)
    boot = len(list((ROOT / "bootstrap").glob("*.yaml")))
    what = f"{n} XRDs, {n} Compositions, 1 step input CRD and {boot} bootstrap files"
    assert xrdgen.main(["--root", str(tmp_path)]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    total = 2 * n + 1 + boot
    assert line.startswith(f"generated {what} from the spec models: wrote {total} changed (")
    assert line.endswith(f" and {total - 4} more)")
    assert xrdgen.main(["--root", str(tmp_path)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"generated {what} from the spec models: all up to date, nothing written"
    ]
    assert xrdgen.main(["--root", str(tmp_path), "--check"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"checked {what} against the spec models: all up to date"
    ]
    (tmp_path / "xrds" / "kedas.yaml").write_text("stale\n")
    assert xrdgen.main(["--root", str(tmp_path), "--check"]) == 1
    assert "out of date (run `make xrds`): xrds/kedas.yaml" in capsys.readouterr().err
    assert xrdgen.main(["--root", str(tmp_path)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"generated {what} from the spec models: wrote 1 changed (xrds/kedas.yaml)"
    ]


@pytest.mark.parametrize("definition", xrdgen.DEFINITIONS, ids=lambda d: d.kind)
def test_fields_the_environment_fills_have_no_xrd_default(definition):
    """The API server writes XRD defaults into the spec, and the spec wins over the
    environment: a default there would make the EnvironmentConfig's value unreachable."""
    spec = xrdgen.xrd(definition)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    for path in definition.env_paths:
        node = spec["properties"]["spec"]
        for part in path.split("."):
            node = node["properties"][part]
        assert "default" not in node, f"{definition.kind} spec.{path}"


def test_the_cluster_xrd_holds_what_would_rebuild_the_environment():
    """provider, region and the network mode are transition rules (oldSelf) on the spec,
    each telling the user to create a new Cluster; the API server judges them on update."""
    schema = xrdgen.xrd(DEFINITIONS["Cluster"])["spec"]["versions"][0]["schema"]
    rules = schema["openAPIV3Schema"]["properties"]["spec"]["x-kubernetes-validations"]
    held = {
        field: [r for r in rules if "oldSelf" in r["rule"] and field in r["rule"]]
        for field in ("provider", "region", "subnetIds", "vpcCidr", "availabilityZones")
    }
    for field, found in held.items():
        assert found, f"no transition rule holds spec.{field}"
        assert all("create a new Cluster instead" in r["message"] for r in found), found
