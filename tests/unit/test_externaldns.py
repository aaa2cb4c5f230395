"""ExternalDNS: the external-dns chart configured per DNS provider, credentials by reference."""

from __future__ import annotations

import copy
from typing import Any

import crossplane.function.proto.v1.run_function_pb2 as fnv1
import pytest

from forge_dev import generate as xrdgen
from forge_dev.simulate.converge import converge
from forge_dev.simulate.requests import (
    build,
    environment_config,
    platform_environment,
    render,
    step_input,
)
from tests.support.helm_keys import assert_known_keys, unknown_keys
from tests.support.releases import assert_chart, assert_refused, only_release

CHART, VERSION = "external-dns", "1.21.1"
ROLE = "arn:aws:iam::123456789012:role/external-dns"
XR = {
    "apiVersion": "forge.projectcatalyst.io/v1alpha1",
    "kind": "ExternalDNS",
    "metadata": {"name": "external-dns", "namespace": "default"},
    "spec": {"provider": "route53", "credentials": {"source": "IRSA", "roleArn": ROLE}},
}
SECRET = {"source": "Secret", "secretRef": {"name": "t", "key": "k"}}
ENV = {
    "apiVersion": "apiextensions.crossplane.io/v1beta1",
    "kind": "EnvironmentConfig",
    "metadata": {"name": "dev"},
    "data": {"domain": "dev.example.org", "region": "eu-west-1", "clusterName": "dev-eu1"},
}


def xr_with(spec: dict[str, Any], *, env: bool = True) -> dict[str, Any]:
    xr = copy.deepcopy(XR)
    xr["spec"] = {**({"environmentConfigRef": {"name": "dev"}} if env else {}), **spec}
    return xr


def run(spec: dict[str, Any], *, env: dict[str, Any] | None = ENV):
    xr = xr_with(spec, env=env is not None)
    if env is None:  # the Composition's selection: the platform's, nothing for ExternalDNS
        required = {"environment-configs": [environment_config("platform")]}
    else:
        required = {"environment-configs": [env], **platform_environment()}
    return render(build(xr, required=required, step_input=step_input("ExternalDNS")))


def values(out) -> dict[str, Any]:
    return out.resources["release"]["spec"]["forProvider"]["values"]


def assert_chart_values_valid(schema_store, vals: dict[str, Any]) -> None:
    assert schema_store.validate_helm_values(CHART, VERSION, vals) == []
    assert_known_keys(schema_store, CHART, VERSION, vals)


def test_route53_with_irsa_and_environment_defaults(schema_store, assert_schema_valid):
    out = run(XR["spec"])
    release = only_release(out, "release")
    assert release["metadata"] == {"name": "external-dns", "namespace": "default"}
    assert_chart(
        release,
        "external-dns",
        "https://kubernetes-sigs.github.io/external-dns/",
        "1.21.1",
        "external-dns",
    )
    assert release["spec"]["providerConfigRef"] == {
        "kind": "ClusterProviderConfig",
        "name": "default",
    }
    vals = values(out)
    assert vals["provider"] == {"name": "aws"}
    assert vals["serviceAccount"] == {
        "name": "external-dns",
        "annotations": {"eks.amazonaws.com/role-arn": ROLE},
    }
    assert vals["env"] == [{"name": "AWS_REGION", "value": "eu-west-1"}]
    assert vals["domainFilters"] == ["dev.example.org"]
    assert vals["txtOwnerId"] == "dev-eu1-default-external-dns"
    assert vals["registry"] == "txt"
    assert vals["policy"] == "upsert-only"
    assert vals["sources"] == ["service", "ingress"]
    assert "extraArgs" not in vals
    assert_chart_values_valid(schema_store, vals)
    assert_schema_valid(release)


def test_route53_pod_identity_fixes_the_service_account_name():
    spec = {
        "provider": "route53",
        "credentials": {"source": "PodIdentity"},
        "route53": {"zoneType": "public", "assumeRoleArn": ROLE, "region": "us-east-1"},
    }
    out = run(spec)
    vals = values(out)
    assert vals["serviceAccount"] == {"name": "external-dns"}
    assert vals["env"] == [{"name": "AWS_REGION", "value": "us-east-1"}]
    assert vals["extraArgs"] == {"aws-zone-type": "public", "aws-assume-role": ROLE}
    assert out.status["serviceAccount"] == {"namespace": "external-dns", "name": "external-dns"}


def test_route53_static_credentials_are_mounted_from_the_secret(schema_store):
    spec = {
        "provider": "route53",
        "credentials": {"source": "Secret", "secretRef": {"name": "route53", "key": "creds"}},
    }
    vals = values(run(spec))
    assert vals["extraVolumes"] == [
        {
            "name": "aws-credentials",
            "secret": {"secretName": "route53", "items": [{"key": "creds", "path": "credentials"}]},
        }
    ]
    assert vals["extraVolumeMounts"] == [
        {"name": "aws-credentials", "mountPath": "/etc/aws", "readOnly": True}
    ]
    assert {"name": "AWS_SHARED_CREDENTIALS_FILE", "value": "/etc/aws/credentials"} in vals["env"]
    assert "annotations" not in vals["serviceAccount"]
    assert_chart_values_valid(schema_store, vals)


def secret_env(name: str, secret: str, key: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}


def test_cloudflare_token_comes_from_a_secret_reference(schema_store):
    spec = {
        "provider": "cloudflare",
        "credentials": {"source": "Secret", "secretRef": {"name": "cloudflare", "key": "token"}},
        "cloudflare": {"proxied": True},
    }
    vals = values(run(spec))
    assert vals["provider"] == {"name": "cloudflare"}
    assert vals["env"] == [secret_env("CF_API_TOKEN", "cloudflare", "token")]
    assert vals["extraArgs"] == {"cloudflare-proxied": True}
    assert vals["serviceAccount"] == {"name": "external-dns"}
    assert_chart_values_valid(schema_store, vals)


def test_rfc2136_flags_and_tsig_secret_from_env(schema_store):
    spec = {
        "provider": "rfc2136",
        "credentials": {"source": "Secret", "secretRef": {"name": "tsig", "key": "secret"}},
        "rfc2136": {"host": "10.0.0.53", "tsigKeyName": "externaldns-key"},
    }
    vals = values(run(spec))
    assert vals["provider"] == {"name": "rfc2136"}
    assert vals["extraArgs"] == {
        "rfc2136-host": "10.0.0.53",
        "rfc2136-port": "53",
        "rfc2136-zone": ["dev.example.org"],  # the domain filters, from the environment
        "rfc2136-tsig-axfr": True,
        "rfc2136-tsig-keyname": "externaldns-key",
        "rfc2136-tsig-secret-alg": "hmac-sha256",
    }
    assert vals["env"] == [secret_env("EXTERNAL_DNS_RFC2136_TSIG_SECRET", "tsig", "secret")]
    assert_chart_values_valid(schema_store, vals)


def test_rfc2136_insecure_needs_no_credentials(schema_store):
    spec = {
        "provider": "rfc2136",
        "domainFilters": ["lab.internal"],
        "rfc2136": {"host": "ns1.lab.internal", "port": 5353, "insecure": True, "axfr": False},
    }
    vals = values(run(spec, env=None))
    assert vals["extraArgs"] == {
        "rfc2136-host": "ns1.lab.internal",
        "rfc2136-port": "5353",
        "rfc2136-zone": ["lab.internal"],
        "rfc2136-insecure": True,
    }
    assert "env" not in vals
    assert_chart_values_valid(schema_store, vals)


def test_powerdns_api_key_from_secret(schema_store):
    spec = {
        "provider": "pdns",
        "credentials": {"source": "Secret", "secretRef": {"name": "pdns", "key": "api-key"}},
        "pdns": {"server": "http://pdns.dns.svc:8081", "skipTlsVerify": True},
        "policy": "sync",
        "sources": ["service", "gateway-httproute"],
    }
    vals = values(run(spec))
    assert vals["provider"] == {"name": "pdns"}
    assert vals["extraArgs"] == {
        "pdns-server": "http://pdns.dns.svc:8081",
        "pdns-server-id": "localhost",
        "pdns-skip-tls-verify": True,
    }
    assert vals["env"] == [secret_env("EXTERNAL_DNS_PDNS_API_KEY", "pdns", "api-key")]
    assert vals["policy"] == "sync"
    assert vals["sources"] == ["service", "gateway-httproute"]
    assert_chart_values_valid(schema_store, vals)


def test_without_environment_owner_id_is_namespace_and_name():
    out = run({**XR["spec"], "route53": {"region": "eu-west-1"}}, env=None)
    assert values(out)["txtOwnerId"] == "default-external-dns"
    assert values(out)["domainFilters"] == []
    assert out.status["txtOwnerId"] == "default-external-dns"


def test_explicit_settings_win_over_the_environment():
    spec = {**XR["spec"], "domainFilters": ["example.com"], "txtOwnerId": "blue"}
    spec["route53"] = {"region": "us-west-2"}
    vals = values(run(spec))
    assert vals["domainFilters"] == ["example.com"]
    assert vals["txtOwnerId"] == "blue"
    assert vals["env"] == [{"name": "AWS_REGION", "value": "us-west-2"}]


def test_values_override_merges_last_and_null_deletes_a_default(schema_store):
    spec = {
        **XR["spec"],
        "values": {"policy": "sync", "logLevel": "debug", "serviceAccount": {"annotations": None}},
    }
    vals = values(run(spec))
    assert vals["policy"] == "sync"
    assert vals["logLevel"] == "debug"
    assert vals["serviceAccount"] == {"name": "external-dns", "annotations": None}
    assert_chart_values_valid(schema_store, vals)


def test_unknown_helm_key_would_be_caught(schema_store):
    """The key check these tests rely on does fail on a typo (this chart's schema would not)."""
    typo = {"serviceAcount": {"name": "x"}}
    assert schema_store.validate_helm_values(CHART, VERSION, typo) == []
    defaults = schema_store.helm.load(CHART, VERSION).defaults
    assert unknown_keys(defaults, typo) == ["serviceAcount: not in the chart's values.yaml"]


def test_lifecycle_reaches_ready(schema_store, assert_schema_valid):
    def check(out, _round):
        assert_schema_valid(list(out.resources.values()))
        assert_chart_values_valid(schema_store, values(out))

    history = converge(
        xr_with(XR["spec"]),
        required=lambda _: {"environment-configs": [ENV], **platform_environment()},
        step_input=step_input("ExternalDNS"),
        check=check,
    )
    assert len(history) == 2
    first, final = history
    assert first.conditions["ChartInstalled"].status == fnv1.STATUS_CONDITION_FALSE
    assert first.conditions["ChartInstalled"].reason == "Installing"
    assert not first.composite_ready
    assert final.composite_ready
    assert final.conditions["ChartInstalled"].status == fnv1.STATUS_CONDITION_TRUE
    assert "ConfigurationReady" not in final.conditions
    assert final.status["chart"] == {
        "name": "external-dns",
        "repository": "https://kubernetes-sigs.github.io/external-dns/",
        "version": "1.21.1",
        "release": "external-dns",
        "namespace": "external-dns",
        "ready": True,
    }
    assert final.status["domainFilters"] == ["dev.example.org"]


def test_chart_version_and_provider_config_are_configurable():
    spec = {
        **XR["spec"],
        "chartVersion": "1.20.0",
        "namespace": "default",
        "providerConfigRef": {"kind": "ProviderConfig", "name": "local"},
    }
    release = run(spec).resources["release"]
    assert release["spec"]["forProvider"]["chart"]["version"] == "1.20.0"
    assert release["spec"]["forProvider"]["namespace"] == "default"
    assert release["spec"]["providerConfigRef"] == {"kind": "ProviderConfig", "name": "local"}


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            {"provider": "route53"},
            "spec.credentials: is required for route53: a cloud identity (PodIdentity or IRSA)",
        ),
        ({"provider": "cloudflare"}, "spec.credentials: is required for cloudflare"),
        (
            {"provider": "cloudflare", "credentials": {"source": "PodIdentity"}},
            "spec.credentials.source: PodIdentity is for route53; cloudflare needs a Secret",
        ),
        (
            {"provider": "route53", "credentials": {"source": "IRSA"}},
            "spec.credentials.roleArn: is required when source is IRSA",
        ),
        (
            {"provider": "route53", "credentials": {"source": "Secret"}},
            "spec.credentials.secretRef: is required when source is Secret",
        ),
        (
            {"provider": "rfc2136", "credentials": SECRET},
            "spec.rfc2136: is required when provider is rfc2136",
        ),
        (
            {"provider": "rfc2136", "rfc2136": {"host": "ns1"}, "credentials": SECRET},
            "spec.rfc2136.tsigKeyName: is required unless insecure",
        ),
        (
            {**XR["spec"], "pdns": {"server": "http://pdns:8081"}},
            "spec.pdns: is only used when provider is pdns",
        ),
        (
            {"provider": "pdns", "pdns": {"server": "pdns:8081"}},
            "spec.pdns.server: String should match pattern",
        ),
        ({**XR["spec"], "policy": "create-only"}, "spec.policy: Input should be"),
        ({**XR["spec"], "sources": ["node"]}, "spec.sources[0]: Input should be"),
        ({**XR["spec"], "sources": []}, "spec.sources: List should have at least 1 item"),
        ({**XR["spec"], "domainFilters": ["Not A Domain"]}, "spec.domainFilters[0]: String"),
        ({**XR["spec"], "provider": "route54"}, "spec.provider: Input should be"),
        ({**XR["spec"], "credentialz": {}}, "spec.credentialz: unknown field"),
    ],
)
def test_bad_spec_is_fatal_and_names_the_field(spec, message):
    assert_refused(run(spec), message)


def test_route53_region_is_required_without_an_environment():
    out = run(XR["spec"], env=None)
    assert out.fatal == [
        "invalid ExternalDNS 'external-dns': spec.route53.region: is required: "
        "set it in the XR, or region in the EnvironmentConfig"
    ]


def test_rfc2136_zones_are_required_without_domains():
    spec = {"provider": "rfc2136", "rfc2136": {"host": "ns1", "insecure": True}}
    out = run(spec, env=None)
    assert len(out.fatal) == 1
    assert "spec.rfc2136.zones: is required" in out.fatal[0]


def test_the_xrd_leaves_what_the_environment_fills_to_the_function():
    """The API server never sees the EnvironmentConfig: its CEL rules refuse only what is
    wrong whatever the environment adds, and require neither provider nor credentials."""
    definition = next(d for d in xrdgen.DEFINITIONS if d.kind == "ExternalDNS")
    schema = xrdgen.xrd(definition)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    spec = schema["properties"]["spec"]
    messages = {r["message"] for r in spec["x-kubernetes-validations"]}
    assert "rfc2136 is only used when provider is rfc2136" in messages
    assert not any("required" in m for m in messages)
    assert "required" not in schema
    assert "required" not in spec
    assert spec["default"] == {}
    credentials = spec["properties"]["credentials"]
    assert any("IRSA" in r["rule"] for r in credentials["x-kubernetes-validations"])


def env_with(**extra: Any) -> dict[str, Any]:
    env = copy.deepcopy(ENV)
    env["data"].update(extra)
    return env


def test_empty_spec_takes_provider_and_credentials_from_the_environment(schema_store):
    """An empty spec, `spec: {}`: the environment chooses the DNS provider."""
    dns = {"provider": "route53", "credentials": {"source": "PodIdentity"}}
    out = run({}, env=env_with(externalDNS=dns))
    assert out.fatal == []
    vals = values(out)
    assert vals["provider"] == {"name": "aws"}
    assert vals["serviceAccount"] == {"name": "external-dns"}
    assert vals["env"] == [{"name": "AWS_REGION", "value": "eu-west-1"}]
    assert vals["domainFilters"] == ["dev.example.org"]
    assert_chart_values_valid(schema_store, vals)


def test_environment_fills_an_rfc2136_server_and_its_credentials(schema_store):
    dns = {
        "provider": "rfc2136",
        "rfc2136": {"host": "ns1.example.org", "tsigKeyName": "externaldns"},
        "credentials": SECRET,
    }
    out = run({"policy": "sync"}, env=env_with(externalDNS=dns))
    assert out.fatal == []
    vals = values(out)
    assert vals["extraArgs"]["rfc2136-host"] == "ns1.example.org"
    assert vals["extraArgs"]["rfc2136-zone"] == ["dev.example.org"]
    assert vals["env"] == [secret_env("EXTERNAL_DNS_RFC2136_TSIG_SECRET", "t", "k")]
    assert vals["policy"] == "sync"


def test_an_xr_naming_another_provider_does_not_read_the_environment_provider_settings():
    """The environment's credentials and server are for its provider: an XR naming
    another provider would otherwise get that provider's server block or credentials."""
    dns = {"provider": "rfc2136", "rfc2136": {"host": "ns1", "insecure": True}}
    out = run({"provider": "cloudflare", "credentials": SECRET}, env=env_with(externalDNS=dns))
    assert out.fatal == []
    assert values(out)["provider"] == {"name": "cloudflare"}
    assert "rfc2136-host" not in values(out).get("extraArgs", {})


def test_spec_credentials_replace_the_environment_credentials_whole():
    dns = {"provider": "route53", "credentials": SECRET}
    out = run({"credentials": {"source": "PodIdentity"}}, env=env_with(externalDNS=dns))
    assert out.fatal == []
    assert "extraVolumes" not in values(out)


@pytest.mark.parametrize(
    ("dns", "message"),
    [
        (
            None,
            "spec.provider: is required: set it in the XR, or externalDNS.provider "
            "in the EnvironmentConfig",
        ),
        (
            {"provider": "cloudflare"},
            "spec.credentials: is required for cloudflare: a Secret with an API token "
            "(set it in the XR, or externalDNS.credentials in the EnvironmentConfig "
            "beside externalDNS.provider cloudflare)",
        ),
        (
            {"provider": "pdns", "credentials": SECRET},
            "spec.pdns: is required when provider is pdns "
            "(set it in the XR, or externalDNS.pdns in the EnvironmentConfig "
            "beside externalDNS.provider pdns)",
        ),
    ],
)
def test_empty_spec_names_the_missing_field_and_its_environment_key(dns, message):
    out = run({}, env=env_with(externalDNS=dns) if dns else ENV)
    assert out.fatal == [f"invalid ExternalDNS 'external-dns': {message}"]
    assert out.resources == {}


def test_an_xr_naming_the_environment_provider_takes_its_credentials():
    dns = {"provider": "cloudflare", "credentials": SECRET}
    out = run({"provider": "cloudflare"}, env=env_with(externalDNS=dns))
    assert out.fatal == []
    assert values(out)["env"] == [secret_env("CF_API_TOKEN", "t", "k")]
