"""What a namespace tenant may choose, field by field (issue 21, items 2 and 3).

The platform names its namespaces, and what each tenant namespace may use, in the
EnvironmentConfig the Composition selects (``tenancy``). A bundle XR anywhere else is a
tenant's: it installs only through a ProviderConfig the platform granted its namespace
(never the in-cluster ClusterProviderConfig, through which provider-helm is
cluster-admin), charts go only into its own, the chart's conventional or a granted
namespace, and Secret and service account references stay in its namespace or the
chart's. Every such field is checked, for the platform's XRs too where a namespace
holds the platform's credentials, and a refusal names the field.
"""

from __future__ import annotations

import copy
import functools
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from forge.core import environment as selection
from forge.core import policy
from forge.registry import NAMESPACED
from forge_dev.simulate.requests import build, environment_config, render
from forge_dev.simulate.steady_state import required_from
from forge_dev.simulate.steady_state import step_input as composition_input
from tests.support.spec_strategies import spec_schema

ROOT = Path(__file__).resolve().parents[2]
PLATFORM = "platform"
TENANT, OTHER = "team-a", "team-b"
GRANTED = {"kind": "ProviderConfig", "name": "team-a-dev"}
IN_CLUSTER = {"kind": "ClusterProviderConfig", "name": "default"}
POLICY = {
    "platformNamespaces": [PLATFORM],
    "tenants": [
        {"namespace": TENANT, "providerConfigs": ["team-a-dev"], "namespaces": ["team-a-apps"]},
        {"namespace": OTHER, "providerConfigs": ["team-b-dev"]},
    ],
}
# Namespaces holding the platform's credentials or the cluster's own components.
RESERVED = ["cluster-prod", "kube-system", "kube-public", "crossplane-system", "argocd"]
ENV_DATA = {
    "profile": "aws",
    "domain": "dev.projectcatalyst.io",
    "region": "eu-central-1",
    "clusterName": "dev",
}


def environment(**tenancy: Any) -> dict[str, Any]:
    """The platform's EnvironmentConfig (selected by the Composition's label)."""
    return environment_config("dev", **ENV_DATA, tenancy=tenancy or POLICY)


@functools.cache
def example(kind: str) -> dict[str, Any]:
    """The kind's example in examples/infrastructure/<kind>/ (the platform's)."""
    path = ROOT / "examples" / "infrastructure" / kind.lower() / "xr.yaml"
    return yaml.safe_load(path.read_text())


def xr(kind: str, namespace: str = TENANT, **spec: Any) -> dict[str, Any]:
    manifest = copy.deepcopy(example(kind))
    manifest["metadata"]["namespace"] = namespace
    if namespace != PLATFORM:
        manifest["spec"].setdefault("providerConfigRef", GRANTED)
    manifest["spec"].update(spec)
    return manifest


def run(manifest: dict[str, Any], *pool: dict[str, Any], env: dict[str, Any] | None = None):
    """The render once Crossplane has answered every requirement from ``pool``."""
    given = composition_input(manifest["kind"])
    world = [environment() if env is None else env, *pool]
    required = required_from(manifest, world, given)({})
    return render(build(manifest, required=required, step_input=given))


def refused(out, path: str) -> str:
    """The reason of the one fatal result, which must name ``path``."""
    assert out.resources == {}, "nothing is composed"
    (message,) = out.fatal
    assert f"': {path}: " in message, message
    return message.split(f"': {path}: ", 1)[1]


def releases(out) -> list[dict[str, Any]]:
    return [m for m in out.resources.values() if m["kind"] == "Release"]


KINDS = sorted(NAMESPACED)


# ProviderConfigs: the in-cluster one is the platform's -------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_a_tenant_cannot_install_through_the_in_cluster_provider_config(kind):
    """Through ClusterProviderConfig/default provider-helm is cluster-admin: a chart with
    the tenant's values (its image, serviceAccount.name provider-helm) is cluster-admin."""
    out = run(xr(kind, providerConfigRef=IN_CLUSTER))
    reason = refused(out, "spec.providerConfigRef")
    assert reason.startswith("ClusterProviderConfig default is the platform's"), reason
    assert "team-a-dev" in reason  # what the tenant may use instead


def test_the_issue_attack_is_refused():
    """ExternalDNS in team-a into kube-system with provider-helm's service account."""
    attack = xr(
        "ExternalDNS",
        namespace=TENANT,
        providerConfigRef=IN_CLUSTER,
        values={
            "serviceAccount": {"create": False, "name": "provider-helm"},
            "extraVolumes": [{"name": "k", "secret": {"secretName": "vc-prod"}}],
        },
    )
    attack["spec"]["namespace"] = "kube-system"
    (message,) = run(attack).fatal
    assert message.startswith("invalid ExternalDNS 'external-dns': spec.providerConfigRef: ")


def test_leaving_the_provider_config_out_is_the_in_cluster_one():
    manifest = xr("KEDA")
    del manifest["spec"]["providerConfigRef"]
    refused(run(manifest), "spec.providerConfigRef")


@pytest.mark.parametrize(
    ("namespace", "ref"),
    [
        (TENANT, {"kind": "ProviderConfig", "name": "remote"}),
        (TENANT, {"kind": "ProviderConfig", "name": "team-b-dev"}),
        (OTHER, {"kind": "ProviderConfig", "name": "team-a-dev"}),
        ("team-c", {"kind": "ProviderConfig", "name": "team-a-dev"}),
        (TENANT, {"kind": "ClusterProviderConfig", "name": "team-a-dev"}),
    ],
)
def test_a_tenant_uses_only_the_provider_configs_granted_to_its_namespace(namespace, ref):
    """A namespaced ProviderConfig the tenant made itself may reach this very cluster
    (InjectedIdentity): only the platform says which ones are another cluster."""
    out = run(xr("KEDA", namespace=namespace, providerConfigRef=ref))
    reason = refused(out, "spec.providerConfigRef")
    assert "granted" in reason or "the platform's" in reason, reason


def test_a_tenant_installs_through_its_granted_provider_config():
    out = run(xr("KEDA"))
    assert not out.fatal, out.fatal
    (release,) = releases(out)
    assert release["metadata"]["namespace"] == TENANT
    assert release["spec"]["providerConfigRef"] == GRANTED
    assert release["spec"]["forProvider"]["namespace"] == "keda"


@pytest.mark.parametrize("kind", KINDS)
def test_the_platforms_xrs_install_in_cluster(kind):
    out = run(xr(kind, namespace=PLATFORM))
    assert not out.fatal, out.fatal
    assert all(r["spec"]["providerConfigRef"] == IN_CLUSTER for r in releases(out))


def test_an_environment_config_the_xr_names_cannot_make_it_the_platforms():
    """Only the Composition's selection speaks for the platform: an EnvironmentConfig
    the XR names supplies defaults, never tenancy."""
    evil = {
        "apiVersion": "apiextensions.crossplane.io/v1beta1",
        "kind": "EnvironmentConfig",
        "metadata": {"name": "evil"},
        "data": {**ENV_DATA, "tenancy": {"platformNamespaces": [TENANT, OTHER]}},
    }
    manifest = xr("KEDA", providerConfigRef=IN_CLUSTER, environmentConfigRef={"name": "evil"})
    refused(run(manifest, evil), "spec.providerConfigRef")


def test_without_tenancy_every_namespace_is_a_tenants():
    """An EnvironmentConfig that names no platform namespace leaves the in-cluster
    ProviderConfig to nobody: the platform must say where its XRs live."""
    env = environment_config("dev", **ENV_DATA, tenancy={})
    manifest = xr("KEDA", namespace="default", providerConfigRef=IN_CLUSTER)
    reason = refused(run(manifest, env=env), "spec.providerConfigRef")
    assert "tenancy.platformNamespaces" in reason, reason


# Chart namespaces ------------------------------------------------------------------------------


@pytest.mark.parametrize("namespace", [*RESERVED, OTHER, "default", "monitoring"])
def test_a_tenants_chart_goes_only_where_it_may(namespace):
    """cluster-prod holds a vCluster's kubeconfig, argocd the clusters' tokens,
    crossplane-system the providers' credentials; team-b is another tenant's."""
    manifest = xr("ExternalDNS", namespace=TENANT)
    manifest["spec"]["namespace"] = namespace
    reason = refused(run(manifest), "spec.namespace")
    assert namespace in reason


@pytest.mark.parametrize("namespace", [TENANT, "external-dns", "team-a-apps"])
def test_a_tenants_chart_may_go_to_its_own_conventional_or_granted_namespace(namespace):
    manifest = xr("ExternalDNS", namespace=TENANT)
    manifest["spec"]["namespace"] = namespace
    out = run(manifest)
    assert not out.fatal, out.fatal
    assert [r["spec"]["forProvider"]["namespace"] for r in releases(out)] == [namespace]


@pytest.mark.parametrize("namespace", RESERVED)
def test_reserved_namespaces_are_refused_for_the_platform_too(namespace):
    manifest = xr("KEDA", namespace=PLATFORM)
    manifest["spec"]["namespace"] = namespace
    reason = refused(run(manifest), "spec.namespace")
    assert reason.startswith(f"{namespace} is reserved"), reason


def test_the_environments_argocd_namespace_is_reserved():
    env = environment_config("dev", **ENV_DATA, tenancy=POLICY, argocd={"namespace": "gitops"})
    manifest = xr("KEDA", namespace=PLATFORM)
    manifest["spec"]["namespace"] = "gitops"
    refused(run(manifest, env=env), "spec.namespace")


def test_the_platform_grants_its_own_xrs_more_namespaces():
    manifest = xr("KEDA", namespace=PLATFORM)
    manifest["spec"]["namespace"] = "autoscaling"
    refused(run(manifest), "spec.namespace")
    env = environment(**POLICY, namespaces=["autoscaling"])
    assert not run(manifest, env=env).fatal


def test_the_istio_gateways_namespace_is_checked():
    manifest = xr("Istio", namespace=TENANT)
    manifest["spec"]["ingressGateway"]["namespace"] = "kube-system"
    refused(run(manifest), "spec.ingressGateway.namespace")


def test_a_challenge_route_attaches_only_to_a_gateway_it_may_name():
    solver = {"http01": {"parentRefs": [{"name": "gw", "namespace": "argocd"}]}}
    issuer = {
        "name": "le",
        "type": "ACME",
        "acme": {"server": "letsencrypt-staging", "email": "a@b.io", "solvers": [solver]},
    }
    manifest = xr("CertManager", issuers=[issuer])
    refused(run(manifest), "spec.issuers[0].acme.solvers[0].http01.parentRefs[0].namespace")
    solver["http01"]["parentRefs"][0]["namespace"] = "istio-ingress"
    assert not run(manifest).fatal


# Secret and service account references (item 3) ----------------------------------------------


def vault(auth: dict[str, Any], **more: Any) -> dict[str, Any]:
    store = {"server": "https://vault.example.com", "auth": auth, **more}
    return {"provider": "vault", "vault": store}


@pytest.mark.parametrize("namespace", [TENANT, PLATFORM])
@pytest.mark.parametrize(
    ("store", "path"),
    [
        (
            vault({"tokenSecretRef": {"name": "prod-argocd-manager", "key": "token"}}),
            "spec.clusterSecretStore.vault.auth.tokenSecretRef.namespace",
        ),
        (
            vault(
                {
                    "appRole": {
                        "roleId": "r",
                        "secretRef": {"name": "prod-argocd-manager", "key": "token"},
                    }
                }
            ),
            "spec.clusterSecretStore.vault.auth.appRole.secretRef.namespace",
        ),
        (
            vault(
                {"kubernetes": {"role": "eso"}},
                caSecretRef={"name": "prod-argocd-manager", "key": "ca.crt"},
            ),
            "spec.clusterSecretStore.vault.caSecretRef.namespace",
        ),
    ],
)
def test_a_store_reads_no_secret_outside_its_namespaces(namespace, store, path):
    """ESO would send cluster-prod/prod-argocd-manager's token to the server named."""
    leaf = store["vault"]
    for part in path.split(".")[3:-1]:
        leaf = leaf[part]
    leaf["namespace"] = "cluster-prod"
    manifest = xr("ExternalSecretsOperator", namespace=namespace, clusterSecretStore=store)
    reason = refused(run(manifest), path)
    assert reason.startswith("cluster-prod: a Secret reference stays in "), reason


@pytest.mark.parametrize("where", [None, TENANT, "external-secrets"])
def test_a_store_reads_secrets_of_its_own_namespaces(where):
    ref = {"name": "vault-token", "key": "token"}
    if where:
        ref["namespace"] = where
    manifest = xr("ExternalSecretsOperator", clusterSecretStore=vault({"tokenSecretRef": ref}))
    assert not run(manifest).fatal


def test_a_store_presents_no_other_service_accounts_token():
    store = {"provider": "aws", "aws": {"serviceAccountRef": {"name": "provider-helm"}}}
    store["aws"]["serviceAccountRef"]["namespace"] = "crossplane-system"
    manifest = xr("ExternalSecretsOperator", clusterSecretStore=store)
    refused(run(manifest), "spec.clusterSecretStore.aws.serviceAccountRef.namespace")
    store["aws"]["serviceAccountRef"]["namespace"] = "external-secrets"
    assert not run(manifest).fatal


@pytest.mark.parametrize("namespace", [TENANT, PLATFORM])
def test_a_monitoring_destination_reads_no_secret_outside_its_namespaces(namespace):
    manifest = yaml.safe_load((ROOT / "examples/monitoring-remote/xr.yaml").read_text())
    manifest["metadata"]["namespace"] = namespace
    if namespace != PLATFORM:
        manifest["spec"]["providerConfigRef"] = GRANTED
    manifest["spec"]["k8sMonitoring"]["destinations"][1]["secretRef"]["namespace"] = "cluster-prod"
    reason = refused(run(manifest), "spec.k8sMonitoring.destinations[1].secretRef.namespace")
    assert reason.startswith("cluster-prod: a Secret reference stays in "), reason


@pytest.mark.parametrize("kind", KINDS)
def test_every_kinds_chart_namespace_is_checked(kind):
    manifest = xr(kind)
    manifest["spec"]["namespace"] = "crossplane-system"
    refused(run(manifest), "spec.namespace")


# Every field that names a namespace, a Secret, a service account or a ProviderConfig -------

NAMES_ONE = re.compile(r"(?i)namespace|secret|serviceaccount|providerconfig")
CHECKED = "checked (docs/tenancy.md)"
IN_CHART_NAMESPACE = "a name only: the Secret is in the chart's namespace, which is checked"
# Each such field of the bundle's specs, and how the tenancy model treats it. A new field
# fails test_every_field_that_names_one_has_a_rule until it is decided here.
FIELDS = {
    ("CertManager", "spec.namespace"): CHECKED,
    ("CertManager", "spec.providerConfigRef"): CHECKED,
    ("CertManager", "spec.issuers[].acme.privateKeySecretName"): IN_CHART_NAMESPACE,
    ("CertManager", "spec.issuers[].acme.solvers[].http01.parentRefs[].namespace"): CHECKED,
    ("CertManager", "spec.issuers[].acme.solvers[].dns01.cloudflare.apiTokenSecretRef"): (
        IN_CHART_NAMESPACE
    ),
    ("CertManager", "spec.issuers[].ca.secretName"): IN_CHART_NAMESPACE,
    ("ExternalDNS", "spec.namespace"): CHECKED,
    ("ExternalDNS", "spec.providerConfigRef"): CHECKED,
    ("ExternalDNS", "spec.credentials.secretRef"): IN_CHART_NAMESPACE,
    ("ExternalSecretsOperator", "spec.namespace"): CHECKED,
    ("ExternalSecretsOperator", "spec.providerConfigRef"): CHECKED,
    ("ExternalSecretsOperator", "spec.clusterSecretStore"): "the store: its references below",
    ("ExternalSecretsOperator", "spec.clusterSecretStore.aws.serviceAccountRef"): "see .namespace",
    ("ExternalSecretsOperator", "spec.clusterSecretStore.aws.serviceAccountRef.namespace"): CHECKED,
    ("ExternalSecretsOperator", "spec.clusterSecretStore.vault.namespace"): (
        "a Vault Enterprise namespace, not a Kubernetes one"
    ),
    ("ExternalSecretsOperator", "spec.clusterSecretStore.vault.caSecretRef"): "see .namespace",
    ("ExternalSecretsOperator", "spec.clusterSecretStore.vault.caSecretRef.namespace"): CHECKED,
    ("ExternalSecretsOperator", "spec.clusterSecretStore.vault.auth.tokenSecretRef"): (
        "see .namespace"
    ),
    ("ExternalSecretsOperator", "spec.clusterSecretStore.vault.auth.tokenSecretRef.namespace"): (
        CHECKED
    ),
    ("ExternalSecretsOperator", "spec.clusterSecretStore.vault.auth.appRole.secretRef"): (
        "see .namespace"
    ),
    (
        "ExternalSecretsOperator",
        "spec.clusterSecretStore.vault.auth.appRole.secretRef.namespace",
    ): CHECKED,
    ("Istio", "spec.namespace"): CHECKED,
    ("Istio", "spec.providerConfigRef"): CHECKED,
    ("Istio", "spec.ingressGateway.namespace"): CHECKED,
    ("KEDA", "spec.namespace"): CHECKED,
    ("KEDA", "spec.providerConfigRef"): CHECKED,
    ("KEDA", "spec.watchNamespaces"): "only narrows what KEDA watches (default: all)",
    ("Monitoring", "spec.namespace"): CHECKED,
    ("Monitoring", "spec.providerConfigRef"): CHECKED,
    ("Monitoring", "spec.kubePrometheusStack.grafana.adminSecretRef"): IN_CHART_NAMESPACE,
    ("Monitoring", "spec.k8sMonitoring.destinations[].secretRef"): "see .namespace",
    ("Monitoring", "spec.k8sMonitoring.destinations[].secretRef.namespace"): CHECKED,
}


def named_fields(schema: dict[str, Any], path: str = "spec") -> list[str]:
    found = []
    for name, sub in (schema.get("properties") or {}).items():
        where = f"{path}.{name}"
        if NAMES_ONE.search(name):
            found.append(where)
        if sub.get("type") == "array":
            found += named_fields(sub.get("items") or {}, f"{where}[]")
        else:
            found += named_fields(sub, where)
    return found


def test_every_field_that_names_one_has_a_rule():
    found = {(kind, path) for kind in KINDS for path in named_fields(spec_schema(kind))}
    assert found == set(FIELDS)


def test_a_long_tenancy_list_is_read_once(monkeypatch):
    """Hundreds of tenants in the EnvironmentConfig: converting and checking them took
    milliseconds on every call. A platform's EnvironmentConfig is read once per content."""
    tenants = [{"namespace": f"team-{i:03d}", "providerConfigs": ["dev"]} for i in range(300)]
    env = environment(platformNamespaces=[PLATFORM], tenants=tenants)
    conversions, validations = [], []
    merge, validate = selection.merged_data, policy.Policy.model_validate

    def counted(calls, fn):
        return lambda value: calls.append(1) or fn(value)

    monkeypatch.setattr(selection, "merged_data", counted(conversions, merge))
    monkeypatch.setattr(policy.Policy, "model_validate", counted(validations, validate))
    granted = {"kind": "ProviderConfig", "name": "dev"}
    manifest = xr("KEDA", namespace="team-007", providerConfigRef=granted)
    for _ in range(3):
        assert not run(manifest, env=env).fatal
    assert (len(conversions), len(validations)) == (1, 1)
