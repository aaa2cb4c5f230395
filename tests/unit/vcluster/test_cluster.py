"""Cluster with provider vcluster: vCluster, Crossplane bootstrap, Argo CD registration."""

from __future__ import annotations

import base64
import json

import crossplane.function.proto.v1.run_function_pb2 as fnv1
import pytest
import yaml
from cryptography import x509

from forge import versions
from forge.composers.cluster import EKS_STAGES
from forge_dev.simulate.converge import converge
from forge_dev.simulate.player import observe
from forge_dev.simulate.requests import build, not_required, render, step_input
from forge_dev.simulate.stages import answers
from forge_dev.simulate.vcluster_stages import (
    REQUIREMENT,
    Credentials,
    kubeconfig,
    kubeconfig_secret,
    required_fn,
)
from tests.support import leaks
from tests.support.vcluster_cluster import NAMESPACE, SERVER, XR, converged, decoded, xr_with

STAGES = ["ClusterReady", "KubeconfigReady", "CrossplaneReady", "StackReady", "ArgoCDRegistered"]
TRUE = fnv1.STATUS_CONDITION_TRUE


def inner(manifest: dict) -> dict:
    return manifest["spec"]["forProvider"]["manifest"]


# Lifecycle ------------------------------------------------------------------------------


def _assert_gated(out, observed: dict, required: dict) -> None:
    """Nothing is composed before the inputs it needs exist (or it existed already)."""
    keys = set(out.resources)

    def new(key: str) -> bool:
        return key in keys and key not in observed

    def deployed(key: str) -> bool:
        status = observed[key].manifest.get("status", {}) if key in observed else {}
        return status.get("atProvider", {}).get("state") == "deployed"

    if "namespace" not in observed:
        assert keys <= {"namespace"}, "something composed before its namespace exists"
    if new("provider-config-helm") or new("provider-config-kubernetes") or new("argocd-cluster"):
        assert required.get(REQUIREMENT), "composed before the kubeconfig Secret exists"
    if new("crossplane"):
        assert {"provider-config-helm", "provider-config-kubernetes"} <= set(observed)
    if any(new(k) for k in keys if k.startswith("stack-")):
        assert deployed("crossplane"), "stack composed before Crossplane runs"
    packages = [k for k in keys if k.startswith("stack-package-")]
    if new("stack-config-helm") or new("stack-config-kubernetes"):
        for key in packages:
            seen = observed[key].manifest["status"]["atProvider"] if key in observed else {}
            status = seen.get("manifest", {}).get("status", {})
            healthy = {c["type"] for c in status.get("conditions", []) if c["status"] == "True"}
            assert {"Installed", "Healthy"} <= healthy, f"configs before {key} is healthy"
    for key in keys:
        if key.startswith("usage-"):
            assert key.removeprefix("usage-") in keys and "vcluster" in observed


def test_lifecycle_converges_gated_valid_and_leak_free(creds, assert_schema_valid, schema_store):
    required = required_fn(creds)
    previous: list = []
    selectors = []

    def check(out, round_):
        observed = {k: observe(k, m) for k, m in previous[-1].resources.items()} if previous else {}
        previous.append(out)
        assert_schema_valid(list(out.resources.values()))
        assert_schema_valid([inner(m) for m in out.resources.values() if m["kind"] == "Object"])
        for manifest in out.resources.values():
            if manifest["kind"] == "Release":
                chart = manifest["spec"]["forProvider"]["chart"]
                values = manifest["spec"]["forProvider"]["values"]
                errors = schema_store.validate_helm_values(chart["name"], chart["version"], values)
                assert errors == [], f"round {round_}: {chart['name']} values: {errors}"
        _assert_gated(out, observed, required(observed))
        leaks.assert_only_in_secrets(out, creds.needles(), allowed={"argocd-cluster"})
        if "vcluster" in out.resources:
            selectors.append(out.requirements[REQUIREMENT])

    history = converge(XR, required=required, check=check)
    # namespace, vCluster, ProviderConfigs + Argo CD, Crossplane, stack, stack configs, ready
    assert len(history) == 7
    final = history[-1]
    assert final.composite_ready
    assert {t: final.conditions[t].status for t in STAGES} == dict.fromkeys(STAGES, TRUE)
    assert all(not_required(out.conditions[t]) for out in history for t in EKS_STAGES)
    # The same requirement every call, so Crossplane's required-resources loop settles.
    assert all(s == selectors[0] for s in selectors)
    assert (selectors[0].kind, selectors[0].match_name, selectors[0].namespace) == (
        "Secret",
        "vc-dev",
        NAMESPACE,
    )


def test_argocd_cluster_secret_follows_argocd_declarative_format(final, creds):
    secret = final.resources["argocd-cluster"]
    assert secret["metadata"]["name"] == "dev-cluster"
    assert secret["metadata"]["namespace"] == "argocd"
    assert secret["metadata"]["labels"] == {
        "argocd.argoproj.io/secret-type": "cluster",
        "forge.projectcatalyst.io/environment": "dev",
        "forge.projectcatalyst.io/provider": "vcluster",
    }
    data = decoded(secret)
    assert set(data) == {"name", "server", "config"}
    assert data["name"] == "dev"
    assert data["server"] == SERVER
    tls = json.loads(data["config"])["tlsClientConfig"]
    assert tls == {
        "insecure": False,
        "caData": base64.b64encode(creds.ca.encode()).decode(),
        "certData": base64.b64encode(creds.cert.encode()).decode(),
        "keyData": base64.b64encode(creds.key.encode()).decode(),
    }
    # What Argo CD will present is the certificate the cluster's CA signed.
    ca = x509.load_pem_x509_certificate(base64.b64decode(tls["caData"]))
    cert = x509.load_pem_x509_certificate(base64.b64decode(tls["certData"]))
    cert.verify_directly_issued_by(ca)


def test_status_reports_references_only(final):
    assert final.status["outputs"] == {
        "namespace": NAMESPACE,
        "server": SERVER,
        "kubeconfigSecretRef": {"name": "vc-dev", "namespace": NAMESPACE, "key": "config"},
        "argocdClusterName": "dev",
        "providerConfigs": {
            "helm": {"kind": "ProviderConfig", "name": "dev", "namespace": NAMESPACE},
            "kubernetes": {"kind": "ProviderConfig", "name": "dev", "namespace": NAMESPACE},
        },
        "versions": {"kubernetes": "v1.36.0", "vcluster": "0.36.1", "crossplane": "2.3.4"},
    }
    assert final.status["packages"]["input-output-hk-catalyst-forge-function-forge"] == {
        "package": "ghcr.io/input-output-hk/catalyst-forge/function-forge:v0.1.0",
        "installed": True,
        "healthy": True,
    }
    assert final.status["providerConfigs"]["kubernetes"] == {
        "kind": "ClusterProviderConfig",
        "name": "default",
    }


# The vCluster ---------------------------------------------------------------------------


def test_first_render_composes_only_the_namespace():
    out = render(build(XR))
    assert out.resources == {
        "namespace": {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": NAMESPACE,
                "labels": {"forge.projectcatalyst.io/cluster": "dev"},
            },
        }
    }
    assert out.conditions["ClusterReady"].reason == "WaitingForNamespace"
    assert not out.composite_ready


def _vcluster(xr: dict) -> dict:
    first = render(build(xr))
    observed = {k: observe(k, m) for k, m in first.resources.items()}
    return render(build(xr, observed=observed)).resources["vcluster"]


def test_vcluster_release_serves_tls_for_the_name_the_platform_uses(schema_store):
    release = _vcluster(XR)
    assert release["metadata"] == {"name": "dev", "namespace": NAMESPACE}
    spec = release["spec"]
    assert spec["providerConfigRef"] == {"kind": "ClusterProviderConfig", "name": "default"}
    assert "managementPolicies" not in spec  # the vCluster must really uninstall
    assert spec["forProvider"]["chart"] == {
        "name": "vcluster",
        "repository": "https://charts.loft.sh",
        "version": "0.36.1",
    }
    assert spec["forProvider"]["namespace"] == NAMESPACE
    values = spec["forProvider"]["values"]
    export = values["exportKubeConfig"]
    assert export == {"context": "dev", "server": SERVER, "insecure": False}
    # The chart's Service is named after the release: the server's host must be a SAN.
    assert SERVER.removeprefix("https://") in values["controlPlane"]["proxy"]["extraSANs"]
    assert schema_store.has_values_schema("vcluster", "0.36.1")
    assert schema_store.validate_helm_values("vcluster", "0.36.1", values) == []


def test_user_values_merge_over_ours_and_keep_our_sans(schema_store):
    values = {
        "controlPlane": {
            "proxy": {"extraSANs": ["dev.vcluster.example.com"]},
            "statefulSet": {"resources": {"limits": {"memory": "4Gi"}}},
        },
        "sync": {"toHost": {"ingresses": {"enabled": True}}},
    }
    release = _vcluster(xr_with(vcluster={"values": values, "chartVersion": "0.36.0"}))
    rendered = release["spec"]["forProvider"]["values"]
    assert rendered["controlPlane"]["proxy"]["extraSANs"] == [
        "dev.cluster-dev.svc",
        "dev.cluster-dev.svc.cluster.local",
        "dev.vcluster.example.com",
    ]
    assert rendered["controlPlane"]["statefulSet"]["resources"]["limits"]["memory"] == "4Gi"
    assert rendered["sync"]["toHost"]["ingresses"]["enabled"] is True
    assert release["spec"]["forProvider"]["chart"]["version"] == "0.36.0"
    assert schema_store.validate_helm_values("vcluster", "0.36.1", rendered) == []


def test_a_misspelt_vcluster_value_fails_the_chart_schema(schema_store):
    release = _vcluster(xr_with(vcluster={"values": {"controlPlane": {"proxxy": {}}}}))
    values = release["spec"]["forProvider"]["values"]
    assert schema_store.validate_helm_values("vcluster", "0.36.1", values) != []


def test_pinned_kubernetes_version_is_the_charts_default(schema_store):
    chart = schema_store.root / "charts" / "vcluster" / versions.VCLUSTER.version / "values.yaml"
    defaults = yaml.safe_load(chart.read_text())
    tag = defaults["controlPlane"]["distro"]["k8s"]["image"]["tag"]
    assert tag == versions.VCLUSTER_KUBERNETES


def test_kubernetes_version_reports_the_users_tag_or_nothing_for_other_charts(creds):
    tag = {"controlPlane": {"distro": {"k8s": {"image": {"tag": "v1.35.2"}}}}}
    out = converged(xr_with(vcluster={"values": tag}), creds)[-1]
    assert out.status["outputs"]["versions"]["kubernetes"] == "v1.35.2"
    other = converged(xr_with(vcluster={"chartVersion": "0.37.0"}), creds)[-1]
    assert "kubernetes" not in other.status["outputs"]["versions"]


def test_crossplane_install_pins_the_chart_beside_crossplanes_own_spec(creds):
    """``spec.crossplane`` is Crossplane's (composition selection): ours is crossplaneInstall."""
    xr = xr_with(
        crossplaneInstall={"chartVersion": "2.2.1", "values": {"args": ["--debug"]}},
        crossplane={"compositionRef": {"name": "clusters"}, "compositionUpdatePolicy": "Manual"},
    )
    out = converged(xr, creds)[-1]
    release = out.resources["crossplane"]["spec"]["forProvider"]
    assert release["chart"]["version"] == "2.2.1"
    assert release["values"] == {"args": ["--debug"], "provider": {"defaultActivations": []}}
    assert out.status["outputs"]["versions"]["crossplane"] == "2.2.1"


# Credentials ----------------------------------------------------------------------------


def _round_with_secret(creds: Credentials, secret_config: str | None = None):
    """Render with the vCluster deployed and its Secret present (optionally another config)."""
    first = render(build(XR))
    observed = {k: observe(k, m) for k, m in first.resources.items()}
    second = render(build(XR, observed=observed))
    observed = {k: observe(k, m) for k, m in second.resources.items()}
    secret = kubeconfig_secret(second.resources["vcluster"], creds, config=secret_config)
    return observed, render(build(XR, observed=observed, required={REQUIREMENT: [secret]}))


def test_provider_configs_read_the_vcluster_secret_directly(creds, assert_schema_valid):
    _, out = _round_with_secret(creds)
    for key, api in (
        ("provider-config-helm", "helm.m.crossplane.io/v1beta1"),
        ("provider-config-kubernetes", "kubernetes.m.crossplane.io/v1alpha1"),
    ):
        assert out.resources[key] == {
            "apiVersion": api,
            "kind": "ProviderConfig",
            "metadata": {"name": "dev", "namespace": NAMESPACE},
            "spec": {
                "credentials": {
                    "source": "Secret",
                    "secretRef": {"name": "vc-dev", "namespace": NAMESPACE, "key": "config"},
                }
            },
        }
    assert_schema_valid(list(out.resources.values()))


@pytest.mark.parametrize(
    "config",
    [
        "not: [a kubeconfig",
        # A token-based kubeconfig (exportKubeConfig.serviceAccount): no client certificate.
        yaml.safe_dump(
            {
                "clusters": [{"name": "c", "cluster": {"certificate-authority-data": "Q0E="}}],
                "users": [{"name": "u", "user": {"token": "sentinel-token-value"}}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "x",
            }
        ),
    ],
)
def test_unusable_kubeconfig_composes_nothing_that_needs_it(creds, config):
    _, out = _round_with_secret(creds, config)
    assert set(out.resources) == {"namespace", "vcluster"}
    condition = out.conditions["KubeconfigReady"]
    assert condition.reason == "KubeconfigIncomplete"
    assert "vc-dev" in condition.message
    leaks.assert_only_in_secrets(out, [*creds.needles(), "sentinel-token-value"])


def test_a_kubeconfig_with_aliases_is_refused(creds):
    """Issue 21 item 1: aliases made a 1.3 KB kubeconfig's name comparison exponential.
    client-go writes none, so one alias (here only the current context) makes it none."""
    text = kubeconfig(SERVER, "dev", creds)
    text = text.replace("contexts:\n- name: dev", "contexts:\n- name: &context dev")
    text = text.replace("current-context: dev", "current-context: *context")
    assert yaml.safe_load(text)["current-context"] == "dev"
    _, out = _round_with_secret(creds, text)
    assert set(out.resources) == {"namespace", "vcluster"}
    assert out.conditions["KubeconfigReady"].reason == "KubeconfigIncomplete"


def test_kubeconfig_of_another_context_is_not_used(creds):
    other = Credentials.generate("other")
    text = yaml.safe_load(kubeconfig(SERVER, "dev", creds))
    text["clusters"].insert(0, {"name": "x", "cluster": {"certificate-authority-data": "eA=="}})
    text["users"].insert(0, {"name": "x", "user": {"client-certificate-data": other.cert}})
    _, out = _round_with_secret(creds, yaml.safe_dump(text))
    tls = json.loads(decoded(out.resources["argocd-cluster"])["config"])["tlsClientConfig"]
    assert base64.b64decode(tls["certData"]).decode() == creds.cert


def test_a_call_without_the_secret_keeps_everything_and_the_same_data(final, creds):
    # Crossplane's first call of a reconcile carries no required resources yet.
    observed = {k: observe(k, m) for k, m in final.resources.items()}
    out = render(build(XR, observed=observed))
    assert set(out.resources) == set(final.resources)
    assert out.resources["argocd-cluster"] == final.resources["argocd-cluster"]
    assert out.resources["provider-config-helm"] == final.resources["provider-config-helm"]
    assert out.requirements[REQUIREMENT].match_name == "vc-dev"


def test_credentials_are_never_read_through_an_object(final):
    for manifest in final.resources.values():
        if manifest["kind"] == "Object":
            assert inner(manifest)["kind"] != "Secret"
            assert "vc-dev" not in json.dumps(inner(manifest))


TENANT = "tenant.forge.projectcatalyst.io/"


def test_argocd_secret_carries_project_labels_and_annotations(creds):
    argocd = {
        "project": "environments",
        "labels": {f"{TENANT}tier": "dev", f"{TENANT}team": ""},
        "annotations": {"team": "platform"},
    }
    out = converged(xr_with(argocd=argocd), creds)[-1]
    secret = out.resources["argocd-cluster"]
    assert secret["metadata"]["namespace"] == "argocd"
    assert secret["metadata"]["labels"] == {
        f"{TENANT}tier": "dev",
        f"{TENANT}team": "",
        "argocd.argoproj.io/secret-type": "cluster",
        "forge.projectcatalyst.io/environment": "dev",
        "forge.projectcatalyst.io/provider": "vcluster",
    }
    assert secret["metadata"]["annotations"] == {"team": "platform"}
    assert decoded(secret)["project"] == "environments"


@pytest.mark.parametrize(
    ("key", "value", "path", "reason"),
    [
        # An ApplicationSet selecting env: prod would deploy other teams' apps here.
        ("env", "prod", "labels.env", "must be tenant.forge.projectcatalyst.io/<name>"),
        (
            "argocd.argoproj.io/secret-type",
            "repository",
            'labels["argocd.argoproj.io/secret-type"]',
            "must be tenant.forge.projectcatalyst.io/<name>",
        ),
        (
            "forge.projectcatalyst.io/environment",
            "prod",
            'labels["forge.projectcatalyst.io/environment"]',
            "must be tenant.forge.projectcatalyst.io/<name>",
        ),
        (
            "x.tenant.forge.projectcatalyst.io/tier",
            "dev",
            'labels["x.tenant.forge.projectcatalyst.io/tier"]',
            "must be tenant.forge.projectcatalyst.io/<name>",
        ),
        (TENANT, "dev", f'labels["{TENANT}"]', "must be tenant.forge.projectcatalyst.io/<name>"),
        (f"{TENANT}-x", "dev", f'labels["{TENANT}-x"]', "must be tenant.forge."),
        (f"{TENANT}{'n' * 64}", "dev", "labels[<key>]", "must be tenant.forge."),
        (f"{TENANT}tier", "two words", f'labels["{TENANT}tier"]', "must be a label value"),
        (f"{TENANT}tier", "v" * 64, f'labels["{TENANT}tier"]', "must be a label value"),
    ],
    ids=[
        "unprefixed",
        "argocd",
        "ours",
        "suffix",
        "empty-name",
        "bad-name",
        "long-name",
        "bad-value",
        "long-value",
    ],
)
def test_argocd_labels_only_under_the_tenant_prefix(key, value, path, reason):
    """Issue 21 item 6: ``argocd.labels`` passed any key. Labels a Cluster chooses live
    under tenant.forge.projectcatalyst.io/, so an ApplicationSet selector on any other
    key (env, team, the API's own) is the platform's alone; values are label values."""
    out = render(build(xr_with(argocd={"labels": {key: value}}), required={}))
    assert len(out.fatal) == 1
    assert out.fatal[0].startswith(f"invalid Cluster 'dev': spec.argocd.{path}: {reason}")
    if value != "dev":
        assert value not in out.fatal[0]


def environment(name: str, labels: dict | None = None, **data) -> dict:
    return {
        "apiVersion": "apiextensions.crossplane.io/v1beta1",
        "kind": "EnvironmentConfig",
        "metadata": {"name": name, **({"labels": labels} if labels else {})},
        "data": data,
    }


PLATFORM_LABELS = {"forge.projectcatalyst.io/defaults": "true"}


def converged_in(world: list[dict], xr: dict, creds: Credentials):
    """Converge with Crossplane's answers from ``world`` (and the vCluster's Secret), the
    Composition's step input given (its environmentConfig selector is the platform's)."""
    kubeconfig_of = required_fn(creds)
    given = step_input("Cluster")

    def required(observed):
        secrets = kubeconfig_of(observed).get(REQUIREMENT, [])
        return answers(xr, [*world, *secrets], observed, given)

    return converge(xr, required=required, step_input=given)


@pytest.mark.parametrize(
    ("platform", "expected"),
    [({"argocd": {"namespace": "gitops"}}, "gitops"), ({}, "argocd")],
    ids=["platform-chooses", "default"],
)
def test_a_clusters_own_environment_cannot_choose_the_argocd_namespace(creds, platform, expected):
    """Issue 21 item 6: ``spec.environmentConfigRef`` named an EnvironmentConfig whose
    ``argocd.namespace`` received the Secret with the cluster's credentials. Argo CD's
    namespace is the platform's: its EnvironmentConfig (the Composition's selector), else
    argocd; the XR's own still gives its other defaults."""
    world = [
        environment("platform", PLATFORM_LABELS, **platform),
        environment("mine", argocd={"namespace": "team-a-argo"}),
    ]
    xr = xr_with(environmentConfigRef={"name": "mine"})
    final = converged_in(world, xr, creds)[-1]
    assert final.resources["argocd-cluster"]["metadata"]["namespace"] == expected
    assert final.requirements["environment-configs"].match_name == "mine"


def test_the_argocd_namespace_is_the_platforms_environment(creds):
    """Without a reference the XR reads the platform's EnvironmentConfig alone: one request."""
    world = [environment("platform", PLATFORM_LABELS, argocd={"namespace": "gitops"})]
    final = converged_in(world, XR, creds)[-1]
    assert final.resources["argocd-cluster"]["metadata"]["namespace"] == "gitops"
    assert set(final.requirements) == {"environment-configs", REQUIREMENT}
