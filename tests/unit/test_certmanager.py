"""CertManager: the chart with its CRDs, then ClusterIssuers once it is ready."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from forge_dev.simulate.player import observe
from forge_dev.simulate.requests import (
    Observed,
    environment_config,
    not_required,
)
from tests.support.helm_keys import assert_known_keys
from tests.support.releases import (
    assert_chart,
    assert_refused,
    configured,
    naming_environment,
    only_release,
    run_named_environment,
)

CHART, VERSION = "cert-manager", "v1.21.1"
# Documented in values.yaml comments only (the chart's strict schema checks them).
COMMENTED_KEYS = ("serviceAccount.name", "serviceAccount.annotations")
ROLE = "arn:aws:iam::123456789012:role/cert-manager"
ROUTE53 = {"provider": "route53"}
GATEWAY = {"name": "public", "namespace": "istio-ingress", "sectionName": "http"}
ACME = {
    "name": "letsencrypt",
    "type": "ACME",
    "acme": {
        "server": "letsencrypt-production",
        "email": "platform@example.org",
        "solvers": [{"http01": {"parentRefs": [GATEWAY]}}],
    },
}
XR = {
    "apiVersion": "forge.projectcatalyst.io/v1alpha1",
    "kind": "CertManager",
    "metadata": {"name": "cert-manager", "namespace": "default"},
    "spec": {"issuers": [ACME]},
}


AWS_ENV = environment_config(profile="aws", region="eu-west-1", clusterName="dev-eu1")
ONPREM_ENV = environment_config(profile="onprem", clusterName="lab")


def xr_with(spec: dict[str, Any]) -> dict[str, Any]:
    return naming_environment(XR, spec)


def run(spec: dict[str, Any], observed: dict[str, Observed] | None = None, env=AWS_ENV):
    return run_named_environment(xr_with(spec), observed, env)


def after_release(spec: dict[str, Any], env=AWS_ENV):
    """The render once the chart is deployed."""
    first = run(spec, env=env)
    assert not first.fatal, first.fatal
    return run(spec, observed={"release": observe("release", first.resources["release"])}, env=env)


def inner(out, key: str) -> dict[str, Any]:
    return out.resources[key]["spec"]["forProvider"]["manifest"]


def values(out) -> dict[str, Any]:
    return out.resources["release"]["spec"]["forProvider"]["values"]


def assert_chart_values_valid(schema_store, vals: dict[str, Any]) -> None:
    assert schema_store.validate_helm_values(CHART, VERSION, vals) == []
    assert_known_keys(schema_store, CHART, VERSION, vals, extra=COMMENTED_KEYS)


def test_first_render_installs_the_chart_with_crds(schema_store, assert_schema_valid):
    out = run(XR["spec"])
    release = only_release(out, "release")
    assert_chart(release, "cert-manager", "https://charts.jetstack.io", "v1.21.1", "cert-manager")
    vals = values(out)
    assert vals == {
        "crds": {"enabled": True, "keep": True},
        "serviceAccount": {"name": "cert-manager"},
        # An HTTP-01 Gateway solver needs cert-manager's Gateway API support.
        "config": {
            "apiVersion": "controller.config.cert-manager.io/v1alpha1",
            "kind": "ControllerConfiguration",
            "gatewayAPI": {"enabled": True},
        },
    }
    assert_chart_values_valid(schema_store, vals)
    assert_schema_valid(release)
    assert out.status["issuers"] == [{"name": "letsencrypt", "type": "ACME", "ready": False}]


def test_acme_http01_issuer_after_the_release(assert_schema_valid):
    out = after_release(XR["spec"])
    assert sorted(out.resources) == ["issuer-letsencrypt", "issuer-letsencrypt-usage", "release"]
    obj = out.resources["issuer-letsencrypt"]
    assert obj["metadata"] == {"name": "cert-manager-issuer-letsencrypt", "namespace": "default"}
    assert obj["spec"]["readiness"] == {"policy": "DeriveFromObject"}
    assert inner(out, "issuer-letsencrypt") == {
        "apiVersion": "cert-manager.io/v1",
        "kind": "ClusterIssuer",
        "metadata": {"name": "letsencrypt"},
        "spec": {
            "acme": {
                "server": "https://acme-v02.api.letsencrypt.org/directory",
                "email": "platform@example.org",
                "privateKeySecretRef": {"name": "letsencrypt-account-key"},
                "solvers": [{"http01": {"gatewayHTTPRoute": {"parentRefs": [GATEWAY]}}}],
            }
        },
    }
    usage = out.resources["issuer-letsencrypt-usage"]["spec"]
    assert usage["of"]["resourceRef"] == {"name": "cert-manager"}
    assert usage["by"]["resourceRef"] == {"name": "cert-manager-issuer-letsencrypt"}
    assert_schema_valid(list(out.resources.values()))
    assert_schema_valid(inner(out, "issuer-letsencrypt"))


def test_dns01_route53_and_cloudflare_solvers(schema_store, assert_schema_valid):
    issuer = {
        "name": "letsencrypt-staging",
        "type": "ACME",
        "acme": {
            "server": "letsencrypt-staging",
            "email": "platform@example.org",
            "privateKeySecretName": "le-staging",
            "solvers": [
                {
                    "dns01": {
                        "provider": "route53",
                        "route53": {"hostedZoneId": "Z0123456789ABC", "roleArn": ROLE},
                    },
                    "dnsZones": ["dev.example.org"],
                },
                {
                    "dns01": {
                        "provider": "cloudflare",
                        "cloudflare": {"apiTokenSecretRef": {"name": "cloudflare", "key": "token"}},
                    }
                },
            ],
        },
    }
    spec = {"awsIdentity": {"source": "IRSA", "roleArn": ROLE}, "issuers": [issuer]}
    out = after_release(spec)
    acme = inner(out, "issuer-letsencrypt-staging")["spec"]["acme"]
    assert acme["server"] == "https://acme-staging-v02.api.letsencrypt.org/directory"
    assert acme["privateKeySecretRef"] == {"name": "le-staging"}
    assert acme["solvers"] == [
        {
            "selector": {"dnsZones": ["dev.example.org"]},
            "dns01": {
                "route53": {"region": "eu-west-1", "hostedZoneID": "Z0123456789ABC", "role": ROLE}
            },
        },
        {"dns01": {"cloudflare": {"apiTokenSecretRef": {"name": "cloudflare", "key": "token"}}}},
    ]
    vals = values(out)
    assert vals["serviceAccount"] == {
        "name": "cert-manager",
        "annotations": {"eks.amazonaws.com/role-arn": ROLE},
    }
    assert "config" not in vals  # no HTTP-01: Gateway API support stays off
    assert_chart_values_valid(schema_store, vals)
    assert_schema_valid(inner(out, "issuer-letsencrypt-staging"))


def test_custom_acme_server_is_used_verbatim():
    issuer = copy.deepcopy(ACME)
    issuer["acme"]["server"] = "https://acme.zerossl.com/v2/DV90"
    out = after_release({"issuers": [issuer]})
    assert inner(out, "issuer-letsencrypt")["spec"]["acme"]["server"] == (
        "https://acme.zerossl.com/v2/DV90"
    )


def test_self_signed_and_existing_ca_issuers(assert_schema_valid):
    spec = {
        "issuers": [
            {"name": "selfsigned", "type": "SelfSigned"},
            {"name": "corp-ca", "type": "CA", "ca": {"secretName": "corp-ca-keypair"}},
        ]
    }
    out = after_release(spec)
    objects = sorted(k for k, m in out.resources.items() if m["kind"] == "Object")
    assert objects == ["issuer-corp-ca", "issuer-selfsigned"]
    assert inner(out, "issuer-selfsigned")["spec"] == {"selfSigned": {}}
    assert inner(out, "issuer-corp-ca")["spec"] == {"ca": {"secretName": "corp-ca-keypair"}}
    assert_schema_valid([inner(out, k) for k in objects])


def test_onprem_default_is_a_generated_root_ca(assert_schema_valid):
    out = after_release({}, env=ONPREM_ENV)
    objects = sorted(k for k, m in out.resources.items() if m["kind"] == "Object")
    assert objects == ["ca-ca", "issuer-ca", "issuer-selfsigned"]
    assert inner(out, "issuer-selfsigned")["spec"] == {"selfSigned": {}}
    assert inner(out, "issuer-ca")["spec"] == {"ca": {"secretName": "forge-root-ca"}}
    assert inner(out, "ca-ca") == {
        "apiVersion": "cert-manager.io/v1",
        "kind": "Certificate",
        "metadata": {"name": "forge-root-ca", "namespace": "cert-manager"},
        "spec": {
            "isCA": True,
            "commonName": "lab root CA",
            "secretName": "forge-root-ca",
            "duration": "87600h",
            "privateKey": {"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Never"},
            "issuerRef": {
                "group": "cert-manager.io",
                "kind": "ClusterIssuer",
                "name": "selfsigned",
            },
        },
    }
    assert "ca-ca-usage" in out.resources
    assert_schema_valid([inner(out, k) for k in objects])
    assert out.status["issuers"] == [
        {"name": "selfsigned", "type": "SelfSigned", "ready": False},
        {"name": "ca", "type": "CA", "ready": False},
    ]


def test_no_issuers_on_cloud_profile_or_when_asked_for_none():
    aws = after_release({})
    assert sorted(aws.resources) == ["release"]
    assert not_required(aws.conditions["ConfigurationReady"])
    assert aws.composite_ready
    none = after_release({"issuers": []}, env=ONPREM_ENV)
    assert sorted(none.resources) == ["release"]
    assert none.status["issuers"] == []


def test_hand_written_issuer_schema_rejects_a_typo(schema_store):
    manifest = inner(after_release(XR["spec"]), "issuer-letsencrypt")
    manifest["spec"]["acme"]["emial"] = manifest["spec"]["acme"].pop("email")
    errors = schema_store.validate(manifest)
    assert any("emial" in e and "unknown field" in e for e in errors), errors


@pytest.mark.parametrize(
    ("spec", "env"),
    [(XR["spec"], AWS_ENV), ({}, ONPREM_ENV)],
    ids=["acme", "onprem-default"],
)
def test_lifecycle_reaches_ready(spec, env, schema_store, assert_schema_valid):
    def check(out, round_):
        assert_schema_valid(list(out.resources.values()))
        objects = [m for m in out.resources.values() if m["kind"] == "Object"]
        assert_schema_valid([m["spec"]["forProvider"]["manifest"] for m in objects])
        assert bool(objects) == (round_ >= 1), "issuers wait for the Release"
        assert_chart_values_valid(schema_store, values(out))

    final = configured(xr_with(spec), env, check)
    assert all(issuer["ready"] for issuer in final.status["issuers"])
    assert final.status["chart"]["version"] == "v1.21.1"
    assert final.status["serviceAccount"] == {"namespace": "cert-manager", "name": "cert-manager"}


def test_values_override_merges_last_and_null_deletes_a_default(schema_store):
    spec = {
        **XR["spec"],
        "values": {"replicaCount": 2, "crds": {"keep": False}, "prometheus": None},
    }
    vals = values(run(spec))
    assert vals["replicaCount"] == 2
    assert vals["crds"] == {"enabled": True, "keep": False}
    assert vals["prometheus"] is None
    assert_chart_values_valid(schema_store, vals)


def _acme(**changes: Any) -> dict[str, Any]:
    issuer = copy.deepcopy(ACME)
    issuer["acme"].update(changes)
    return issuer


NO_EMAIL = {
    "name": "le",
    "type": "ACME",
    "acme": {"server": "letsencrypt-staging", "solvers": [{"http01": {"parentRefs": [GATEWAY]}}]},
}


@pytest.mark.parametrize(
    ("issuers", "message"),
    [
        (
            [NO_EMAIL],
            "spec.issuers[0].acme.email: Field required",
        ),
        ([{"name": "le", "type": "ACME"}], "spec.issuers[0].acme: is required when type is ACME"),
        (
            [{"name": "ss", "type": "SelfSigned", "ca": {"secretName": "x"}}],
            "spec.issuers[0].ca: is only used when type is CA",
        ),
        (
            [ACME, {**ACME, "type": "ACME"}],
            "spec.issuers[1].name: duplicate issuer (the same as issuers[0].name)",
        ),
        (
            [{"name": "ca", "type": "CA", "ca": {"secretName": "root", "generate": True}}],
            "spec.issuers[0].ca.generate: needs a SelfSigned issuer",
        ),
        ([_acme(server="letsencrypt")], "spec.issuers[0].acme.server: String should match"),
        ([_acme(email="nobody")], "spec.issuers[0].acme.email: String should match"),
        ([_acme(solvers=[])], "spec.issuers[0].acme.solvers: List should have at least 1"),
        (
            [_acme(solvers=[{"http01": {"parentRefs": [GATEWAY]}, "dns01": ROUTE53}])],
            "spec.issuers[0].acme.solvers[0]: set exactly one of http01, dns01",
        ),
        (
            [_acme(solvers=[{"dns01": {"provider": "cloudflare"}}])],
            "spec.issuers[0].acme.solvers[0].dns01.cloudflare: is required when provider is",
        ),
        ([{"name": "Bad_Name", "type": "SelfSigned"}], "spec.issuers[0].name: String should"),
        ([{"name": "x", "type": "Vault"}], "spec.issuers[0].type: Input should be"),
    ],
)
def test_bad_spec_is_fatal_and_names_the_field(issuers, message):
    assert_refused(run({"issuers": issuers}), message)


def test_route53_solver_region_is_required_without_an_environment():
    out = run({"issuers": [_acme(solvers=[{"dns01": ROUTE53}])]}, env=None)
    assert out.fatal == [
        "invalid CertManager 'cert-manager': spec.issuers[0].acme.solvers[0].dns01.route53.region:"
        " is required: set it in the XR, or region in the EnvironmentConfig; "
        "no EnvironmentConfig was read: none matched name 'dev' (spec.environmentConfigRef.name)"
    ]
