"""Tests of forge_dev.schemas: source resolution, fetching, structural and Helm validation.

Real upstream schemas are used wherever possible (read from the resolved schema root); each
negative case checks the JSON path in the message so a wrong or missing check fails.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from forge_dev.schemas.store import SchemaStore, SchemaValidationError
from tests.support.schema_samples import release, xrd

Obj = dict[str, Any]


# -- sample objects ----------------------------------------------------------------------


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
        "int-or-string is never a fraction",
        lambda: _set(
            drc(),
            "spec.deploymentTemplate.spec.template.spec.containers.0.resources.limits.cpu",
            1.5,
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
