"""ExternalSecretsOperator: the operator chart, then a ClusterSecretStore once it is ready."""

from __future__ import annotations

from typing import Any

import crossplane.function.proto.v1.run_function_pb2 as fnv1
import pytest

from forge_dev.simulate.converge import converge
from forge_dev.simulate.player import observe
from forge_dev.simulate.requests import (
    Observed,
    not_required,
    platform_environment,
    step_input,
)
from tests.support import releases
from tests.support.helm_keys import assert_known_keys

CHART, VERSION = "external-secrets", "2.9.0"
ROLE = "arn:aws:iam::123456789012:role/external-secrets"
XR = {
    "apiVersion": "forge.projectcatalyst.io/v1alpha1",
    "kind": "ExternalSecretsOperator",
    "metadata": {"name": "eso", "namespace": "default"},
    "spec": {
        "awsIdentity": {"source": "PodIdentity"},
        "clusterSecretStore": {"provider": "aws"},
    },
}
KIND = "ExternalSecretsOperator"
VAULT = {"server": "http://vault:8200", "auth": {"kubernetes": {"role": "eso"}}}
ENV = {
    "apiVersion": "apiextensions.crossplane.io/v1beta1",
    "kind": "EnvironmentConfig",
    "metadata": {"name": "dev"},
    "data": {"region": "eu-west-1"},
}


def xr_with(spec: dict[str, Any]) -> dict[str, Any]:
    return releases.naming_environment(XR, spec)


def run(spec: dict[str, Any], observed: dict[str, Observed] | None = None, env=ENV):
    return releases.run_named_environment(xr_with(spec), observed, env)


def release_ready(spec: dict[str, Any]) -> dict[str, Observed]:
    """Observed state once the chart is deployed."""
    first = run(spec)
    return {"release": observe("release", first.resources["release"])}


def store(spec: dict[str, Any]) -> dict[str, Any]:
    out = run(spec, observed=release_ready(spec))
    assert not out.fatal, out.fatal
    return out.resources["cluster-secret-store"]["spec"]["forProvider"]["manifest"]


def values(out) -> dict[str, Any]:
    return out.resources["release"]["spec"]["forProvider"]["values"]


def assert_chart_values_valid(schema_store, vals: dict[str, Any]) -> None:
    assert schema_store.validate_helm_values(CHART, VERSION, vals) == []
    assert_known_keys(schema_store, CHART, VERSION, vals)


def test_first_render_installs_only_the_chart(schema_store, assert_schema_valid):
    out = run(XR["spec"])
    release = releases.only_release(out, "release")
    releases.assert_chart(
        release,
        "external-secrets",
        "https://charts.external-secrets.io",
        "2.9.0",
        "external-secrets",
    )
    vals = values(out)
    assert vals == {
        "installCRDs": True,
        "crds": {"annotations": {"helm.sh/resource-policy": "keep"}},
        "serviceAccount": {"name": "external-secrets"},
    }
    assert_chart_values_valid(schema_store, vals)
    assert_schema_valid(release)
    assert out.conditions["ConfigurationReady"].status == fnv1.STATUS_CONDITION_FALSE
    assert out.conditions["ConfigurationReady"].reason == "WaitingForChart"
    assert out.status["clusterSecretStore"] == {
        "name": "aws-secrets-manager",
        "provider": "aws",
        "ready": False,
    }


def test_store_follows_the_ready_release_with_a_usage(assert_schema_valid):
    observed = release_ready(XR["spec"])
    out = run(XR["spec"], observed=observed)
    assert sorted(out.resources) == [
        "cluster-secret-store",
        "cluster-secret-store-usage",
        "release",
    ]
    obj = out.resources["cluster-secret-store"]
    assert obj["metadata"] == {"name": "eso-cluster-secret-store", "namespace": "default"}
    assert obj["spec"]["readiness"] == {"policy": "DeriveFromObject"}
    assert obj["spec"]["providerConfigRef"] == {"kind": "ClusterProviderConfig", "name": "default"}
    assert "managementPolicies" not in obj["spec"]
    assert obj["spec"]["forProvider"]["manifest"] == {
        "apiVersion": "external-secrets.io/v1",
        "kind": "ClusterSecretStore",
        "metadata": {"name": "aws-secrets-manager"},
        "spec": {"provider": {"aws": {"service": "SecretsManager", "region": "eu-west-1"}}},
    }
    held = out.resources["cluster-secret-store-usage"]["spec"]
    assert held["of"] == {
        "apiVersion": "helm.m.crossplane.io/v1beta1",
        "kind": "Release",
        "resourceRef": {"name": "eso"},
    }
    assert held["by"]["resourceRef"] == {"name": "eso-cluster-secret-store"}
    assert held["replayDeletion"] is True
    assert_schema_valid(list(out.resources.values()))
    assert_schema_valid(obj["spec"]["forProvider"]["manifest"])


def test_store_stays_composed_when_the_release_turns_unready():
    observed = release_ready(XR["spec"])
    second = run(XR["spec"], observed=observed)
    observed = {k: observe(k, m) for k, m in second.resources.items()}
    observed["release"].manifest["status"]["conditions"][0]["status"] = "False"
    third = run(XR["spec"], observed=observed)
    assert "cluster-secret-store" in third.resources
    assert third.conditions["ChartInstalled"].status == fnv1.STATUS_CONDITION_FALSE
    assert not third.composite_ready


def test_irsa_annotates_the_operator_service_account(schema_store):
    spec = {**XR["spec"], "awsIdentity": {"source": "IRSA", "roleArn": ROLE}}
    vals = values(run(spec))
    assert vals["serviceAccount"] == {
        "name": "external-secrets",
        "annotations": {"eks.amazonaws.com/role-arn": ROLE},
    }
    assert_chart_values_valid(schema_store, vals)


def test_parameter_store_with_jwt_service_account_and_assumed_role():
    spec = {
        "clusterSecretStore": {
            "provider": "aws",
            "aws": {
                "service": "ParameterStore",
                "region": "us-east-1",
                "roleArn": ROLE,
                "serviceAccountRef": {"name": "secrets-reader", "namespace": "default"},
            },
        }
    }
    manifest = store(spec)
    assert manifest["metadata"] == {"name": "aws-parameter-store"}
    assert manifest["spec"]["provider"]["aws"] == {
        "service": "ParameterStore",
        "region": "us-east-1",
        "role": ROLE,
        "auth": {"jwt": {"serviceAccountRef": {"name": "secrets-reader", "namespace": "default"}}},
    }


def test_vault_kubernetes_auth(assert_schema_valid):
    spec = {
        "clusterSecretStore": {
            "name": "vault-kv",
            "provider": "vault",
            "vault": {
                "server": "https://vault.vault.svc:8200",
                "namespace": "platform",
                "caSecretRef": {"name": "vault-ca", "key": "ca.crt"},
                "auth": {"kubernetes": {"role": "external-secrets"}},
            },
        }
    }
    manifest = store(spec)
    assert manifest["metadata"] == {"name": "vault-kv"}
    assert manifest["spec"]["provider"]["vault"] == {
        "server": "https://vault.vault.svc:8200",
        "path": "secret",
        "version": "v2",
        "namespace": "platform",
        "caProvider": {
            "type": "Secret",
            "name": "vault-ca",
            "namespace": "external-secrets",
            "key": "ca.crt",
        },
        "auth": {"kubernetes": {"mountPath": "kubernetes", "role": "external-secrets"}},
    }
    assert_schema_valid(manifest)


def test_vault_token_and_approle_secrets_are_references(assert_schema_valid):
    token = {"tokenSecretRef": {"name": "vault-token", "namespace": "default", "key": "token"}}
    spec = {"clusterSecretStore": {"provider": "vault", "vault": {**VAULT, "auth": token}}}
    manifest = store(spec)
    assert manifest["spec"]["provider"]["vault"]["auth"] == {
        "tokenSecretRef": {"name": "vault-token", "namespace": "default", "key": "token"}
    }
    assert_schema_valid(manifest)
    approle = {
        "appRole": {"roleId": "1234-5678", "secretRef": {"name": "approle", "key": "secret-id"}}
    }
    spec = {
        "clusterSecretStore": {
            "provider": "vault",
            "vault": {**VAULT, "path": "kv", "version": "v1", "auth": approle},
        }
    }
    manifest = store(spec)
    assert manifest["metadata"] == {"name": "vault"}
    vault = manifest["spec"]["provider"]["vault"]
    assert (vault["path"], vault["version"]) == ("kv", "v1")
    assert vault["auth"] == {
        "appRole": {
            "path": "approle",
            "roleId": "1234-5678",
            "secretRef": {"name": "approle", "namespace": "external-secrets", "key": "secret-id"},
        }
    }
    assert_schema_valid(manifest)


def test_hand_written_store_schema_rejects_a_typo(schema_store):
    manifest = store(XR["spec"])
    manifest["spec"]["provider"]["aws"]["regoin"] = "eu-west-1"
    errors = schema_store.validate(manifest)
    assert any("regoin" in e and "unknown field" in e for e in errors), errors


def test_operator_alone_is_ready_without_configuration_stage(assert_schema_valid):
    history = converge(
        xr_with({}),
        required=lambda _: {"environment-configs": [ENV], **platform_environment()},
        step_input=step_input(KIND),
        check=lambda out, _: assert_schema_valid(list(out.resources.values())),
    )
    final = history[-1]
    assert len(history) == 2
    assert sorted(final.resources) == ["release"]
    assert not_required(final.conditions["ConfigurationReady"])
    assert "clusterSecretStore" not in final.status
    assert final.status["serviceAccount"] == {
        "namespace": "external-secrets",
        "name": "external-secrets",
    }


def test_lifecycle_reaches_ready(schema_store, assert_schema_valid):
    def check(out, round_):
        assert_schema_valid(list(out.resources.values()))
        for manifest in out.resources.values():
            if manifest["kind"] == "Object":
                assert_schema_valid(manifest["spec"]["forProvider"]["manifest"])
        assert_chart_values_valid(schema_store, values(out))
        # Gating: the store only once the Release has been observed ready.
        assert ("cluster-secret-store" in out.resources) == (round_ >= 1)

    final = releases.configured(xr_with(XR["spec"]), ENV, check)
    assert final.status["clusterSecretStore"] == {
        "name": "aws-secrets-manager",
        "provider": "aws",
        "ready": True,
    }
    assert final.status["chart"]["version"] == "2.9.0"
    assert final.status["chart"]["ready"] is True


def test_values_override_merges_last_and_null_deletes_a_default(schema_store):
    spec = {**XR["spec"], "values": {"replicaCount": 2, "serviceAccount": {"annotations": None}}}
    vals = values(run(spec))
    assert vals["replicaCount"] == 2
    assert vals["serviceAccount"] == {"name": "external-secrets", "annotations": None}
    assert vals["installCRDs"] is True
    assert_chart_values_valid(schema_store, vals)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            {"clusterSecretStore": {"provider": "aws"}},
            "spec.awsIdentity: is required for an AWS ClusterSecretStore",
        ),
        (
            {"awsIdentity": {"source": "IRSA"}},
            "spec.awsIdentity.roleArn: is required when source is IRSA",
        ),
        (
            {"awsIdentity": {"source": "PodIdentity", "roleArn": ROLE}},
            "spec.awsIdentity.roleArn: is only used with IRSA",
        ),
        ({"clusterSecretStore": {}}, "spec.clusterSecretStore.provider: Field required"),
        (
            {"clusterSecretStore": {"provider": "vault"}},
            "spec.clusterSecretStore.vault: is required when provider is vault",
        ),
        (
            {**XR["spec"], "clusterSecretStore": {"provider": "aws", "vault": VAULT}},
            "spec.clusterSecretStore.vault: is only used when provider is vault",
        ),
        (
            {"clusterSecretStore": {"provider": "vault", "vault": {**VAULT, "auth": {}}}},
            "spec.clusterSecretStore.vault.auth: set exactly one of kubernetes",
        ),
        (
            {"clusterSecretStore": {"provider": "vault", "vault": {**VAULT, "server": "vault"}}},
            "spec.clusterSecretStore.vault.server: String should match pattern",
        ),
        (
            {
                "clusterSecretStore": {
                    "provider": "vault",
                    "vault": {**VAULT, "auth": {"kubernetes": {}}},
                }
            },
            "spec.clusterSecretStore.vault.auth.kubernetes.role: Field required",
        ),
        (
            {**XR["spec"], "clusterSecretStore": {"provider": "aws", "aws": {"service": "KMS"}}},
            "spec.clusterSecretStore.aws.service: Input should be",
        ),
        (
            {**XR["spec"], "clusterSecretStore": {"provider": "gcp"}},
            "spec.clusterSecretStore.provider: Input should be",
        ),
    ],
)
def test_bad_spec_is_fatal_and_names_the_field(spec, message):
    releases.assert_refused(run(spec), message)


def test_store_region_is_required_without_an_environment():
    out = run(XR["spec"], env=None)
    assert out.fatal == [
        "invalid ExternalSecretsOperator 'eso': spec.clusterSecretStore.aws.region: "
        "is required: set it in the XR, or region in the EnvironmentConfig; "
        "no EnvironmentConfig was read: none matched name 'dev' (spec.environmentConfigRef.name)"
    ]
