"""The structural engine on hand-written schemas, XRD to CRD, Helm values, schema sources."""

from __future__ import annotations

import copy
import hashlib
import re
from pathlib import Path
from typing import Any

import pytest

from forge_dev.schemas import fetch, pytest_plugin, sources
from forge_dev.schemas.apiserver import crd_for_xrd
from forge_dev.schemas.helm_values import Chart, coalesce, coalesce_tables, schema_errors
from forge_dev.schemas.sources import LockEntry, SchemaSourceError
from forge_dev.schemas.store import SchemaStore
from forge_dev.schemas.structural import validate_value
from tests.support.schema_samples import release, workspace, xrd

# -- structural engine on hand-written schemas --------------------------------------------

ENGINE_CASES: list[tuple[dict[str, Any], Any, str | None]] = [
    ({"type": "integer", "maximum": 10}, 11, "x: must be <= 10"),
    ({"type": "integer", "maximum": 10, "exclusiveMaximum": True}, 10, "x: must be < 10"),
    ({"type": "integer", "minimum": 1, "exclusiveMinimum": True}, 1, "x: must be > 1"),
    ({"type": "integer", "minimum": 1}, 1, None),
    ({"type": "integer", "format": "int32"}, 2**31, "x: out of int32 range"),
    ({"type": "string", "maxLength": 3}, "abcd", "x: must be at most 3 characters long"),
    ({"type": "string", "minLength": 1}, "", "x: must be at least 1 characters long"),
    ({"type": "string", "format": "date-time"}, "yesterday", "x: must be a valid date-time"),
    ({"type": "string", "format": "date-time"}, "2026-01-01T00:00:00Z", None),
    ({"type": "string", "format": "no-such-format"}, "whatever", None),
    ({"type": "array", "maxItems": 1, "items": {"type": "string"}}, ["a", "b"], "x: must have"),
    ({"type": "array", "items": {"type": "string"}}, ["a", 1], "x[1]: must be string"),
    (
        {
            "type": "array",
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["name"],
            "items": {
                "type": "object",
                "properties": {"name": {"type": "string"}, "v": {"type": "integer"}},
            },
        },
        [{"name": "a", "v": 1}, {"name": "b"}, {"name": "a", "v": 2}],
        "x[2]: duplicate entry for key name",
    ),
    (
        {"type": "object", "additionalProperties": {"type": "integer"}},
        {"a": 1, "b": "2"},
        "x[b]: must be integer",
    ),
    ({"type": "object", "maxProperties": 1}, {"a": 1, "b": 2}, "x: must have at most 1"),
    (
        {
            "type": "object",
            "required": ["a"],
            "properties": {"a": {"type": "string", "default": "z"}},
        },
        {},
        None,
    ),
    ({"type": "string", "nullable": True}, None, None),
    (
        {
            "type": "object",
            "properties": {"a": {"type": "string"}, "b": {"type": "string"}},
            "oneOf": [{"required": ["a"]}, {"required": ["b"]}],
        },
        {"a": "1", "b": "2"},
        "x: must match exactly one oneOf schema, matched 2",
    ),
    (
        {
            "type": "object",
            "properties": {"a": {"type": "string"}, "b": {"type": "string"}},
            "anyOf": [{"required": ["a"]}, {"required": ["b"]}],
        },
        {},
        "x: must match at least one anyOf schema",
    ),
    ({"type": "string", "not": {"enum": ["forbidden"]}}, "forbidden", "x: must not match"),
    (
        {"type": "object", "allOf": [{"properties": {"a": {"minLength": 2}}}]},
        {"a": "1"},
        "x.a: must be at least 2",
    ),
]


@pytest.mark.parametrize(("schema", "value", "expected"), ENGINE_CASES)
def test_structural_engine(schema: dict[str, Any], value: Any, expected: str | None) -> None:
    errors = validate_value(schema, value, "x")
    if expected is None:
        assert errors == []
    else:
        assert any(e.startswith(expected) for e in errors), errors


def test_branches_do_not_flag_unknown_fields() -> None:
    schema = {
        "type": "object",
        "properties": {"a": {"type": "string"}, "b": {"type": "string"}},
        "oneOf": [{"properties": {"a": {"minLength": 1}}, "required": ["a"]}],
    }
    assert validate_value(schema, {"a": "x", "b": "y"}) == []


# -- XRD -> CRD ----------------------------------------------------------------------------


def test_crd_for_xrd_shape() -> None:
    crd = crd_for_xrd(xrd())
    assert crd["spec"]["scope"] == "Namespaced"
    assert crd["spec"]["names"]["categories"] == ["composite"]
    version = crd["spec"]["versions"][0]
    assert version["storage"] is True
    root = version["schema"]["openAPIV3Schema"]
    assert root["required"] == ["spec"]
    assert root["properties"]["metadata"]["properties"]["name"]["maxLength"] == 63
    xp = root["properties"]["spec"]["properties"]["crossplane"]["properties"]
    assert set(xp) == {
        "compositionRef",
        "compositionSelector",
        "compositionRevisionRef",
        "compositionRevisionSelector",
        "compositionUpdatePolicy",
        "resourceRefs",
    }
    assert "namespace" not in xp["resourceRefs"]["items"]["properties"]
    assert xp["compositionUpdatePolicy"]["default"] == "Automatic"
    status = root["properties"]["status"]["properties"]
    assert set(status) == {"endpoint", "conditions"}
    cluster = crd_for_xrd(xrd("Cluster"))["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    refs = cluster["properties"]["spec"]["properties"]["crossplane"]["properties"]["resourceRefs"]
    assert "namespace" in refs["items"]["properties"]
    assert crd_for_xrd(xrd("Cluster"))["spec"]["scope"] == "Cluster"


def test_xr_validation(schema_store: SchemaStore) -> None:
    store = SchemaStore(schema_store.root)
    store.add_xrd(xrd())
    assert store.validate(workspace()) == []
    bad = workspace()
    bad["spec"]["crossplane"]["compositionUpdatePolicy"] = "Sometimes"
    bad["spec"]["crossplane"]["resourceRefs"][0]["namespace"] = "other"
    bad["spec"]["nodes"] = 11
    bad["spec"]["colour"] = "red"
    bad["metadata"]["name"] = "w" * 64
    bad["status"]["conditions"].append(dict(bad["status"]["conditions"][0]))
    errors = store.validate(bad)
    for expected in (
        "spec.crossplane.compositionUpdatePolicy: must be one of",
        "spec.crossplane.resourceRefs[0].namespace: unknown field",
        "spec.nodes: must be <= 10",
        "spec.colour: unknown field",
        "metadata.name: must be at most 63 characters long",
        "status.conditions[1]: duplicate entry for key type",
    ):
        assert any(e.startswith(expected) for e in errors), (expected, errors)
    missing = workspace()
    del missing["spec"]["size"]
    assert "spec.size: required field missing" in store.validate(missing)


# -- Helm ------------------------------------------------------------------------------------


def test_vcluster_rejects_unknown_key(schema_store: SchemaStore) -> None:
    errors = schema_store.validate_helm_values("vcluster", "0.36.1", {"controlPlane": {"bogus": 1}})
    assert len(errors) == 1
    assert errors[0].startswith("vcluster: controlPlane:")
    assert "'bogus' was unexpected" in errors[0]


def test_vcluster_accepts_valid_values(schema_store: SchemaStore) -> None:
    values = {
        "controlPlane": {
            "distro": {"k8s": {"enabled": True}},
            "statefulSet": {"resources": {"limits": {"memory": "2Gi"}}},
        },
        "sync": {"toHost": {"ingresses": {"enabled": True}}},
    }
    assert schema_store.validate_helm_values("vcluster", "0.36.1", values) == []


def test_vcluster_wrong_type(schema_store: SchemaStore) -> None:
    values = {"sync": {"toHost": {"ingresses": {"enabled": "yes"}}}}
    errors = schema_store.validate_helm_values("vcluster", "0.36.1", values)
    assert any("sync.toHost.ingresses.enabled" in e for e in errors), errors


def test_k8s_monitoring_enabled_subchart_is_validated(schema_store: SchemaStore) -> None:
    base = {"cluster": {"name": "prod"}}
    bad = {**base, "clusterMetrics": {"enabled": True, "kubelet": {"enabled": "yes"}}}
    errors = schema_store.validate_helm_values("k8s-monitoring", "4.4.0", bad)
    assert any(e.startswith("k8s-monitoring.clusterMetrics: kubelet.enabled:") for e in errors)
    disabled = {**base, "clusterMetrics": {"enabled": False, "kubelet": {"enabled": "yes"}}}
    assert schema_store.validate_helm_values("k8s-monitoring", "4.4.0", disabled) == []
    good = {**base, "clusterMetrics": {"enabled": True, "kubelet": {"enabled": False}}}
    assert schema_store.validate_helm_values("k8s-monitoring", "4.4.0", good) == []


def test_k8s_monitoring_parent_schema(schema_store: SchemaStore) -> None:
    values = {"cluster": {"name": "prod"}, "destinations": [{"name": "x"}]}
    errors = schema_store.validate_helm_values("k8s-monitoring", "4.4.0", values)
    assert any(e.startswith("k8s-monitoring: destinations:") for e in errors), errors


def test_unknown_chart_names_it(schema_store: SchemaStore) -> None:
    errors = schema_store.validate_helm_values("vcluster", "9.9.9", {})
    assert len(errors) == 1
    assert "vcluster 9.9.9" in errors[0] and "0.36.1" in errors[0]
    assert "make schemas" in errors[0]


def test_has_values_schema(schema_store: SchemaStore) -> None:
    assert schema_store.has_values_schema("vcluster", "0.36.1")
    assert not schema_store.has_values_schema("crossplane", "2.3.4")


def test_coalesce_null_deletes_default() -> None:
    user = {"a": {"b": None, "new": None}, "keep": 1}
    defaults = {"a": {"b": 1, "c": 2}, "keep": 0}
    merged = coalesce_tables(copy.deepcopy(user), copy.deepcopy(defaults))
    assert merged == {"a": {"c": 2, "new": None}, "keep": 1}


def test_null_deleting_a_required_default_fails() -> None:
    schema = {"type": "object", "required": ["replicas"], "properties": {"nested": {}}}
    chart = Chart("demo", Path("."), {"name": "demo"}, {"replicas": 1, "nested": {"x": 1}}, schema)
    assert schema_errors(chart, coalesce(chart, {}), "demo") == []
    merged = coalesce(chart, {"replicas": None, "nested": {"x": None}})
    assert merged == {"nested": {}}
    errors = schema_errors(chart, merged, "demo")
    assert errors == ["demo: (root): 'replicas' is a required property"]


def test_map_replaces_scalar_and_scalar_replaces_map() -> None:
    chart = Chart("demo", Path("."), {"name": "demo"}, {"a": {"x": 1}, "b": 1}, None)
    assert coalesce(chart, {"a": "flat", "b": {"y": 2}}) == {"a": "flat", "b": {"y": 2}}


def test_subchart_alias_condition_and_globals(schema_store: SchemaStore, tmp_path: Path) -> None:
    parent = tmp_path / "charts" / "parent" / "1.0.0"
    sub = parent / "charts" / "child"
    sub.mkdir(parents=True)
    (parent / "Chart.yaml").write_text(
        "name: parent\nversion: 1.0.0\ndependencies:\n"
        "  - {name: child, alias: kid, version: 1.0.0, condition: kid.enabled}\n"
    )
    (parent / "values.yaml").write_text(
        "global: {region: eu, tls: {enabled: true}}\nkid: {enabled: true}\n"
    )
    (sub / "Chart.yaml").write_text("name: child\nversion: 1.0.0\n")
    (sub / "values.yaml").write_text("size: 1\nglobal: {tls: {enabled: false, ca: x}}\n")
    (sub / "values.schema.json").write_text(
        '{"type": "object", "required": ["size", "global"], "properties": {'
        '"size": {"type": "integer"}, "global": {"required": ["region"]}}}'
    )
    (tmp_path / "crds").mkdir()
    store = SchemaStore(tmp_path)
    assert store.validate_helm_values("parent", "1.0.0", {}) == []
    merged = store.helm.coalesced("parent", "1.0.0", {"global": {"tls": {"extra": 1}}})
    assert merged["kid"]["global"] == {
        "region": "eu",
        "tls": {"enabled": True, "ca": "x", "extra": 1},
    }
    assert store.validate_helm_values("parent", "1.0.0", {"kid": {"size": "big"}}) == [
        "parent.kid: size: 'big' is not of type 'integer'"
    ]
    off = {"kid": {"enabled": False, "size": "big"}}
    assert store.validate_helm_values("parent", "1.0.0", off) == []
    no_region = {"global": {"region": None}, "kid": {"size": 2}}
    assert store.validate_helm_values("parent", "1.0.0", no_region) == [
        "parent.kid: global: 'region' is a required property"
    ]


# -- sources and fetching --------------------------------------------------------------------


def test_env_var_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "crds").mkdir()
    (tmp_path / "charts").mkdir()
    monkeypatch.setenv(sources.ENV_VAR, str(tmp_path))
    assert sources.resolve_schema_root() == tmp_path


def test_env_var_empty_dir_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(sources.ENV_VAR, str(tmp_path))
    with pytest.raises(SchemaSourceError) as info:
        SchemaStore.default()
    text = str(info.value)
    assert f"FORGE_SCHEMAS_DIR={tmp_path}" in text
    assert f"missing {tmp_path}/" in text
    assert "make schemas" in text


def test_missing_crd_file_is_named(tmp_path: Path) -> None:
    (tmp_path / "crds").mkdir()
    (tmp_path / "charts").mkdir()
    errors = SchemaStore(tmp_path).validate(release())
    assert len(errors) == 1
    assert f"{tmp_path}/crds/provider-helm/helm.m.crossplane.io_releases.yaml" in errors[0]
    assert "make schemas" in errors[0]
    helm = SchemaStore(tmp_path).validate_helm_values("vcluster", "0.36.1", {})
    assert f"{tmp_path}/charts/vcluster/0.36.1/values.schema.json" in helm[0]


def test_no_root_found(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(
        sources,
        "candidates",
        lambda: [("$FORGE_SCHEMAS_DIR", None), ("cache", tmp_path / "nothing")],
    )
    with pytest.raises(SchemaSourceError, match=r"no schema directory found; looked in: .*cache"):
        sources.resolve_schema_root()


def test_fixture_fails_rather_than_skips(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(pytest_plugin, "_store", None)
    monkeypatch.setattr(pytest_plugin, "_store_error", None)
    monkeypatch.setenv(sources.ENV_VAR, str(tmp_path))
    try:
        pytest_plugin._default_store()
    except BaseException as exc:  # a skip would be an OutcomeException too
        outcome: BaseException | None = exc
    else:
        outcome = None
    assert isinstance(outcome, pytest.fail.Exception), outcome
    assert "make schemas" in str(outcome)


def test_lock_matches_schema_root(schema_store: SchemaStore) -> None:
    entries = sources.lock_entries()
    assert len(entries) > 150
    for e in entries:
        assert re.match(r"^https://raw\.githubusercontent\.com/[^/]+/[^/]+/[0-9a-f]{40}/", e.url)
    assert fetch.check_dir(schema_store.root) == []


def _entry(tmp_path: Path, name: str, content: bytes, sha: str | None = None) -> LockEntry:
    src = tmp_path / "upstream" / name
    src.parent.mkdir(parents=True, exist_ok=True)
    src.write_bytes(content)
    return LockEntry(f"crds/x/{name}", src.as_uri(), sha or hashlib.sha256(content).hexdigest())


def test_fetch_verifies_checksums(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = _entry(tmp_path, "good.yaml", b"kind: A\n")
    bad = _entry(tmp_path, "bad.yaml", b"kind: B\n", sha="0" * 64)
    gone = LockEntry("crds/x/gone.yaml", (tmp_path / "nope.yaml").as_uri(), "1" * 64)
    dest = tmp_path / "cache"
    failures = fetch.fetch_all(dest, [good, bad, gone], log=lambda _: None)
    assert (dest / good.path).read_bytes() == b"kind: A\n"
    assert not (dest / bad.path).exists()
    assert len(failures) == 2
    assert failures[0].startswith("crds/x/bad.yaml: sha256 mismatch")
    assert failures[1].startswith("crds/x/gone.yaml: download of file://")
    assert list(dest.rglob("*.part")) == []
    assert fetch.check_dir(dest, [good]) == []
    assert fetch.check_dir(dest, [bad]) == [f"crds/x/bad.yaml: missing in {dest}"]


def test_fetch_skips_verified_and_main_exits_non_zero(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    good = _entry(tmp_path, "good.yaml", b"kind: A\n")
    dest = tmp_path / "cache"
    assert fetch.fetch_all(dest, [good], log=lambda _: None) == []

    def broken_opener(*_: Any, **__: Any) -> Any:
        raise OSError("network unreachable")

    assert fetch.fetch_all(dest, [good], opener=broken_opener) == []  # already verified
    assert fetch.fetch_all(dest, [good], opener=broken_opener, force=True) == [
        f"crds/x/good.yaml: download of {good.url} failed: network unreachable"
    ]
    bad = _entry(tmp_path, "bad.yaml", b"kind: B\n", sha="0" * 64)
    monkeypatch.setattr(fetch, "lock_entries", lambda: (good, bad))
    assert fetch.main(["--dest", str(dest)]) == 1
    err = capsys.readouterr().err
    assert "1 of 2 schema files failed" in err and "sha256 mismatch" in err
    assert fetch.main(["--dest", str(dest), "--check"]) == 1
