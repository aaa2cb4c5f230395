"""Tests of forge_dev.schemas: source resolution, fetching, structural and Helm validation.

Real upstream schemas are used wherever possible (read from the resolved schema root); each
negative case checks the JSON path in the message so a wrong or missing check fails.
"""

from __future__ import annotations

import copy
import hashlib
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from forge_dev.schemas import fetch, pytest_plugin, sources
from forge_dev.schemas.apiserver import crd_for_xrd
from forge_dev.schemas.helm import Chart, coalesce, coalesce_tables, schema_errors
from forge_dev.schemas.sources import LockEntry, SchemaSourceError
from forge_dev.schemas.store import SchemaStore, SchemaValidationError
from forge_dev.schemas.structural import validate_value

Obj = dict[str, Any]


# -- sample objects ----------------------------------------------------------------------


def release() -> Obj:
    return {
        "apiVersion": "helm.m.crossplane.io/v1beta1",
        "kind": "Release",
        "metadata": {"name": "vcluster", "namespace": "team-a", "labels": {"app": "vc"}},
        "spec": {
            "providerConfigRef": {"kind": "ProviderConfig", "name": "x"},
            "forProvider": {
                "chart": {
                    "name": "vcluster",
                    "repository": "https://charts.loft.sh",
                    "version": "0.36.1",
                },
                "namespace": "vcluster",
                "values": {"controlPlane": {"distro": {"k8s": {"enabled": True}}}},
                "set": [{"name": "a.b", "value": "1"}],
            },
        },
    }


def k8s_object() -> Obj:
    return {
        "apiVersion": "kubernetes.m.crossplane.io/v1alpha1",
        "kind": "Object",
        "metadata": {"generateName": "cm-", "namespace": "team-a"},
        "spec": {
            "forProvider": {
                "manifest": {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": {"name": "cm", "namespace": "default"},
                    "data": {"k": "v"},
                },
                "deletionPropagationPolicy": "Foreground",
            },
            "providerConfigRef": {"kind": "ClusterProviderConfig", "name": "in-cluster"},
        },
    }


def eks_cluster() -> Obj:
    return {
        "apiVersion": "eks.aws.m.upbound.io/v1beta1",
        "kind": "Cluster",
        "metadata": {"name": "prod", "namespace": "team-a"},
        "spec": {
            "forProvider": {
                "region": "eu-west-1",
                "version": "1.33",
                "roleArnRef": {"name": "cluster-role"},
                "accessConfig": {"authenticationMode": "API"},
                "vpcConfig": {
                    "endpointPublicAccess": True,
                    "publicAccessCidrs": ["10.0.0.0/8", "192.168.0.0/16"],
                },
                "tags": {"team": "a"},
            },
            "providerConfigRef": {"kind": "ProviderConfig", "name": "aws"},
        },
    }


def usage() -> Obj:
    return {
        "apiVersion": "protection.crossplane.io/v1beta1",
        "kind": "Usage",
        "metadata": {"name": "release-uses-cluster", "namespace": "team-a"},
        "spec": {
            "of": {
                "apiVersion": "eks.aws.m.upbound.io/v1beta1",
                "kind": "Cluster",
                "resourceRef": {"name": "prod"},
            },
            "by": {
                "apiVersion": "helm.m.crossplane.io/v1beta1",
                "kind": "Release",
                "resourceSelector": {"matchControllerRef": True},
            },
            "replayDeletion": True,
        },
    }


def provider() -> Obj:
    return {
        "apiVersion": "pkg.crossplane.io/v1",
        "kind": "Provider",
        "metadata": {"name": "provider-helm"},
        "spec": {"package": "xpkg.crossplane.io/crossplane-contrib/provider-helm:v1.4.0"},
    }


def environment_config() -> Obj:
    return {
        "apiVersion": "apiextensions.crossplane.io/v1beta1",
        "kind": "EnvironmentConfig",
        "metadata": {"name": "platform"},
        "data": {"region": "eu-west-1", "nested": {"any": ["thing", 1, None]}},
    }


def secret() -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": "cluster-prod",
            "namespace": "argocd",
            "labels": {"argocd.argoproj.io/secret-type": "cluster"},
        },
        "type": "Opaque",
        "data": {"name": "cHJvZA=="},
        "stringData": {"server": "https://prod.example.com", "config": "{}"},
    }


def rbac_objects() -> list[Obj]:
    rules = [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list"]}]
    return [
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": "system:forge-reader"},
            "rules": rules,
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "reader", "namespace": "team-a"},
            "subjects": [{"kind": "ServiceAccount", "name": "forge", "namespace": "team-a"}],
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "system:forge-reader",
            },
        },
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a"}},
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": "forge", "namespace": "team-a"},
            "automountServiceAccountToken": False,
        },
    ]


def drc() -> Obj:
    """A DeploymentRuntimeConfig: its Pod template has int-or-string resource quantities."""
    return {
        "apiVersion": "pkg.crossplane.io/v1beta1",
        "kind": "DeploymentRuntimeConfig",
        "metadata": {"name": "debug"},
        "spec": {
            "deploymentTemplate": {
                "spec": {
                    "selector": {},
                    "template": {
                        "spec": {
                            "containers": [
                                {
                                    "name": "package-runtime",
                                    "args": ["--debug"],
                                    "resources": {"limits": {"cpu": 1, "memory": "512Mi"}},
                                }
                            ]
                        }
                    },
                }
            }
        },
    }


def xrd(scope: str | None = None) -> Obj:
    spec: Obj = {
        "group": "forge.example.org",
        "names": {"kind": "Workspace", "plural": "workspaces"},
        "versions": [
            {
                "name": "v1alpha1",
                "served": True,
                "referenceable": True,
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {
                                "type": "object",
                                "required": ["size"],
                                "properties": {
                                    "size": {"type": "string", "enum": ["small", "large"]},
                                    "nodes": {"type": "integer", "minimum": 1, "maximum": 10},
                                },
                            },
                            "status": {
                                "type": "object",
                                "properties": {"endpoint": {"type": "string"}},
                            },
                        },
                    }
                },
            }
        ],
    }
    if scope:
        spec["scope"] = scope
    return {
        "apiVersion": "apiextensions.crossplane.io/v2",
        "kind": "CompositeResourceDefinition",
        "metadata": {"name": "workspaces.forge.example.org"},
        "spec": spec,
    }


def workspace(**meta: Any) -> Obj:
    return {
        "apiVersion": "forge.example.org/v1alpha1",
        "kind": "Workspace",
        "metadata": {"name": "ws", "namespace": "team-a", **meta},
        "spec": {
            "size": "small",
            "nodes": 3,
            "crossplane": {
                "compositionRef": {"name": "workspaces"},
                "compositionUpdatePolicy": "Manual",
                "resourceRefs": [{"apiVersion": "v1", "kind": "Secret", "name": "s"}],
            },
        },
        "status": {
            "endpoint": "https://ws",
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "Available",
                    "lastTransitionTime": "2026-01-01T00:00:00Z",
                    "observedGeneration": 2,
                }
            ],
        },
    }


VALID_OBJECTS: dict[str, Callable[[], Obj]] = {
    "release": release,
    "object": k8s_object,
    "eks-cluster": eks_cluster,
    "usage": usage,
    "provider": provider,
    "environment-config": environment_config,
    "secret": secret,
    "drc": drc,
}


# -- valid objects pass ------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(VALID_OBJECTS))
def test_valid_objects_pass(schema_store: SchemaStore, name: str) -> None:
    assert schema_store.validate(VALID_OBJECTS[name]()) == []


def test_core_kinds_pass(assert_schema_valid: Callable[[Any], None]) -> None:
    assert_schema_valid(rbac_objects())


def test_xrd_itself_is_valid(schema_store: SchemaStore) -> None:
    assert schema_store.validate(xrd()) == []


# -- mutations fail with the right path --------------------------------------------------


def _set(obj: Obj, dotted: str, value: Any) -> Obj:
    cur = obj
    *parents, last = dotted.split(".")
    for p in parents:
        cur = cur[int(p)] if isinstance(cur, list) else cur[p]
    if isinstance(cur, list):
        cur[int(last)] = value
    else:
        cur[last] = value
    return obj


def _del(obj: Obj, dotted: str) -> Obj:
    cur = obj
    *parents, last = dotted.split(".")
    for p in parents:
        cur = cur[p]
    del cur[last]
    return obj


MUTATIONS: list[tuple[str, Callable[[], Obj], str]] = [
    (
        "unknown field",
        lambda: _set(release(), "spec.forProvider.foo", 1),
        "spec.forProvider.foo: unknown field",
    ),
    ("unknown top-level field", lambda: _set(provider(), "bogus", 1), "bogus: unknown field"),
    (
        "wrong type",
        lambda: _set(release(), "spec.forProvider.wait", "yes"),
        "spec.forProvider.wait: must be boolean, got string",
    ),
    (
        "integer rejects fractions",
        lambda: _set(release(), "spec.rollbackLimit", 1.5),
        "spec.rollbackLimit: must be integer, got number",
    ),
    (
        "integer rejects bools",
        lambda: _set(release(), "spec.forProvider.maxHistory", True),
        "spec.forProvider.maxHistory: must be integer, got boolean",
    ),
    (
        "bad enum",
        lambda: _set(k8s_object(), "spec.forProvider.deletionPropagationPolicy", "Later"),
        "spec.forProvider.deletionPropagationPolicy: must be one of",
    ),
    (
        "missing required (no default for kind)",
        lambda: _del(release(), "spec.providerConfigRef.kind"),
        "spec.providerConfigRef.kind: required field missing",
    ),
    (
        "missing required",
        lambda: _del(release(), "spec.forProvider.chart"),
        "spec.forProvider.chart: required field missing",
    ),
    (
        "pattern",
        lambda: _set(release(), "spec.forProvider.chart.digest", "sha256:XYZ"),
        "spec.forProvider.chart.digest: must match pattern",
    ),
    (
        "not nullable",
        lambda: _set(release(), "spec.forProvider.namespace", None),
        "spec.forProvider.namespace: must not be null",
    ),
    (
        "list-type set",
        lambda: _set(eks_cluster(), "spec.forProvider.vpcConfig.publicAccessCidrs", ["a", "a"]),
        "spec.forProvider.vpcConfig.publicAccessCidrs[1]: duplicate value",
    ),
    (
        "int-or-string",
        lambda: _set(
            drc(),
            "spec.deploymentTemplate.spec.template.spec.containers.0.resources.limits.cpu",
            True,
        ),
        "spec.deploymentTemplate.spec.template.spec.containers[0].resources.limits[cpu]: "
        "must be an integer or a string",
    ),
    (
        "embedded resource needs kind",
        lambda: _del(k8s_object(), "spec.forProvider.manifest.kind"),
        "spec.forProvider.manifest.kind: required field missing",
    ),
    (
        "embedded resource metadata is ObjectMeta",
        lambda: _set(k8s_object(), "spec.forProvider.manifest.metadata.nme", "x"),
        "spec.forProvider.manifest.metadata.nme: unknown field",
    ),
    (
        "cluster-scoped with namespace",
        lambda: _set(provider(), "metadata.namespace", "crossplane-system"),
        "metadata.namespace: must not be set, Provider is cluster-scoped",
    ),
    (
        "bad object name",
        lambda: _set(usage(), "metadata.name", "Not_A_Name"),
        "metadata.name: must be a lowercase RFC 1123 subdomain",
    ),
    (
        "label value too long",
        lambda: _set(release(), "metadata.labels", {"app": "x" * 64}),
        "metadata.labels[app]: value must be no more than 63 characters",
    ),
    (
        "label value must be string",
        lambda: _set(release(), "metadata.labels", {"replicas": 3}),
        "metadata.labels[replicas]: must be string, got integer",
    ),
    (
        "unknown metadata field",
        lambda: _set(release(), "metadata.lables", {}),
        "metadata.lables: unknown field",
    ),
    (
        "secret data must be base64",
        lambda: _set(secret(), "data", {"token": "not base64!"}),
        "data[token]: must be a valid byte string",
    ),
    (
        "secret stringData values are strings",
        lambda: _set(secret(), "stringData", {"port": 443}),
        "stringData[port]: must be string, got integer",
    ),
    ("secret unknown field", lambda: _set(secret(), "strngData", {}), "strngData: unknown field"),
    (
        "role binding needs roleRef",
        lambda: _del(rbac_objects()[1], "roleRef"),
        "roleRef: required field missing",
    ),
    (
        "policy rule needs verbs",
        lambda: _set(rbac_objects()[0], "rules", [{"resources": ["pods"]}]),
        "rules[0].verbs: required field missing",
    ),
    (
        "namespace name is a DNS label",
        lambda: _set(rbac_objects()[2], "metadata.name", "team.a"),
        "metadata.name: must be a lowercase RFC 1123 label",
    ),
    (
        "cluster role with namespace",
        lambda: _set(rbac_objects()[0], "metadata.namespace", "x"),
        "metadata.namespace: must not be set, ClusterRole is cluster-scoped",
    ),
]


@pytest.mark.parametrize(("case", "make", "expected"), MUTATIONS, ids=[m[0] for m in MUTATIONS])
def test_mutations_fail_with_path(
    schema_store: SchemaStore, case: str, make: Callable[[], Obj], expected: str
) -> None:
    errors = schema_store.validate(make())
    assert any(e.startswith(expected) for e in errors), f"{case}: {errors}"


def test_preserve_unknown_fields_accept_anything(schema_store: SchemaStore) -> None:
    obj = release()
    obj["spec"]["forProvider"]["values"] = {"any": {"deep": [{"thing": None}, 1.5, "x"]}}
    obj2 = environment_config()
    obj2["data"]["more"] = {"x": {"y": [True]}}
    assert schema_store.validate(obj) == []
    assert schema_store.validate(obj2) == []


def test_integral_float_is_an_integer(schema_store: SchemaStore) -> None:
    assert schema_store.validate(_set(release(), "spec.rollbackLimit", 2.0)) == []


def test_composition_pipeline_min_items(schema_store: SchemaStore) -> None:
    comp = {
        "apiVersion": "apiextensions.crossplane.io/v1",
        "kind": "Composition",
        "metadata": {"name": "workspaces"},
        "spec": {
            "compositeTypeRef": {"apiVersion": "forge.example.org/v1alpha1", "kind": "Workspace"},
            "mode": "Pipeline",
            "pipeline": [
                {
                    "step": "render",
                    "functionRef": {"name": "function-forge"},
                    "input": {"apiVersion": "forge.example.org/v1", "kind": "Input", "x": 1},
                }
            ],
        },
    }
    assert schema_store.validate(comp) == []
    del comp["spec"]["pipeline"][0]["input"]["kind"]
    assert schema_store.validate(comp) == [
        "spec.pipeline[0].input.kind: required field missing (embedded resource)"
    ]
    comp["spec"]["pipeline"] = []
    assert "spec.pipeline: must have at least 1 items" in schema_store.validate(comp)


def test_unknown_kind_is_an_error_saying_how_to_get_it(schema_store: SchemaStore) -> None:
    errors = schema_store.validate({"apiVersion": "example.org/v1", "kind": "Widget"})
    assert len(errors) == 1
    assert "example.org/v1 Widget" in errors[0]
    assert "make schemas" in errors[0]
    assert "add_crd" in errors[0]


def test_unknown_version_names_known_ones(schema_store: SchemaStore) -> None:
    errors = schema_store.validate({"apiVersion": "helm.m.crossplane.io/v9", "kind": "Release"})
    assert errors and "helm.m.crossplane.io/v1beta1" in errors[0]


def test_unknown_kind_in_known_group(schema_store: SchemaStore) -> None:
    errors = schema_store.validate({"apiVersion": "helm.m.crossplane.io/v1beta1", "kind": "Chart"})
    assert errors and "group helm.m.crossplane.io has no kind Chart" in errors[0]
    assert "Release" in errors[0]


def test_unknown_core_kind(schema_store: SchemaStore) -> None:
    errors = schema_store.validate({"apiVersion": "v1", "kind": "Pod"})
    assert errors and "builtin.py" in errors[0]


def test_assert_valid_lists_all_errors(schema_store: SchemaStore) -> None:
    obj = _set(_set(release(), "spec.forProvider.foo", 1), "spec.forProvider.wait", "no")
    with pytest.raises(SchemaValidationError) as info:
        schema_store.assert_valid(obj)
    text = str(info.value)
    assert "Release team-a/vcluster" in text
    assert "spec.forProvider.foo: unknown field" in text
    assert "spec.forProvider.wait: must be boolean" in text


def test_assert_schema_valid_fixture_raises(assert_schema_valid: Callable[[Any], None]) -> None:
    assert_schema_valid(secret())
    with pytest.raises(SchemaValidationError, match=r"1 of 2 objects invalid"):
        assert_schema_valid([secret(), _set(secret(), "type", 1)])


def test_validate_file_multi_doc(schema_store: SchemaStore, tmp_path: Path) -> None:
    path = tmp_path / "objs.yaml"
    path.write_text(
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: ok}\n---\n"
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: bad}\nspec: {finalizers: 1}\n---\n"
    )
    errors = schema_store.validate_file(path)
    assert len(errors) == 1
    assert re.search(r"objs\.yaml#1 v1 Namespace bad: spec\.finalizers: must be array", errors[0])


def test_cel_rules_are_listed(schema_store: SchemaStore) -> None:
    rules = schema_store.cel_rules("protection.crossplane.io/v1beta1", "Usage")
    assert any(r.path == "spec.of" and "resourceRef" in r.rule for r in rules)


def test_validation_is_fast(schema_store: SchemaStore) -> None:
    objs = [f() for f in VALID_OBJECTS.values()] * 7
    for obj in objs:  # load every schema first
        schema_store.validate(obj)
    start = time.perf_counter()
    for obj in objs:
        assert schema_store.validate(obj) == []
    assert len(objs) >= 50
    assert time.perf_counter() - start < 0.5


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
