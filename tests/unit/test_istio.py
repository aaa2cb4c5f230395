"""Istio: the Gateway API CRDs, then ambient mode chart by chart, and the ingress gateway."""

from __future__ import annotations

import copy
import importlib

import crossplane.function.proto.v1.run_function_pb2 as fnv1
import pytest

from forge import versions
from forge_dev.simulate import infrastructure as infra
from forge_dev.simulate.converge import converge
from forge_dev.simulate.player import observe
from forge_dev.simulate.requests import (
    build,
    environment_config,
    not_required,
    render,
    step_input,
)
from tests.support import deletion
from tests.support.helm_keys import assert_known_keys
from tests.support.releases import assert_chart, assert_refused, only_release

XR = {
    "apiVersion": "forge.projectcatalyst.io/v1alpha1",
    "kind": "Istio",
    "metadata": {"name": "istio", "namespace": "default"},
    "spec": {},
}
REPOSITORY = "https://istio-release.storage.googleapis.com/charts"
CHAIN = ["base", "istiod", "cni", "ztunnel"]
# Istio's profile mechanism reads these keys outside values.yaml (zzz_profile.yaml).
ISTIO_EXTRA_KEYS = {"profile", "platform", "global.platform"}
TRUE, FALSE = fnv1.STATUS_CONDITION_TRUE, fnv1.STATUS_CONDITION_FALSE


CRDS = "gateway-api-crds"  # the Release of our gateway-api-crds chart
CRDS_RELEASE = "istio-gateway-api-crds"
CHARTS = "oci://ghcr.io/input-output-hk/catalyst-forge/charts"


def gateway_crd(
    version: str = "v1.5.1",
    channel: str = "standard",
    release: str | None = CRDS_RELEASE,
    namespace: str = "istio-system",
) -> dict:
    """The gateways CRD as found: ``release`` is the Helm release that owns it (Helm's
    ownership annotations), none when it was applied some other way."""
    annotations = {
        "gateway.networking.k8s.io/bundle-version": version,
        "gateway.networking.k8s.io/channel": channel,
    }
    if release:
        annotations["meta.helm.sh/release-name"] = release
        annotations["meta.helm.sh/release-namespace"] = namespace
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "gateways.gateway.networking.k8s.io", "annotations": annotations},
    }


def installed(observed: dict) -> list[dict]:
    """The gateways CRD once the gateway-api-crds Release is deployed, as Helm installs it."""
    return infra.written({key: obs.manifest for key, obs in observed.items()})


def required(crds: list[dict] | None = None, env: dict | None = None) -> dict:
    found = {"gateway-api-crd": [gateway_crd()] if crds is None else crds}
    # No env: the platform's EnvironmentConfig, which says nothing about Istio.
    found["environment-configs"] = [env or environment_config()]
    return found


def xr_with(**spec) -> dict:
    xr = copy.deepcopy(XR)
    xr["spec"].update(spec)
    return xr


def run(xr: dict, observed: dict | None = None, **kwargs):
    return render(
        build(xr, observed=observed, required=required(**kwargs), step_input=step_input("Istio"))
    )


def values(out, key: str) -> dict:
    return out.resources[key]["spec"]["forProvider"]["values"]


def ready_observed(out) -> dict:
    return {key: observe(key, manifest) for key, manifest in out.resources.items()}


def converged(xr: dict, crds: list[dict] | None = None, env: dict | None = None):
    """Rounds to Ready; the CRDs are what our Release installed unless ``crds`` says."""

    def found(observed: dict) -> dict:
        return required(installed(observed) if crds is None else crds, env)

    return converge(xr, required=found, step_input=step_input("Istio"), max_rounds=8)


@pytest.fixture(scope="module")
def with_gateway():
    return converged(xr_with(ingressGateway={"enabled": True}))


# The chain ------------------------------------------------------------------------------


def test_first_render_installs_only_the_gateway_api_crds(assert_schema_valid):
    out = run(XR, crds=[])
    release = only_release(out, CRDS)
    assert release["metadata"] == {"name": CRDS_RELEASE, "namespace": "default"}
    assert_chart(release, "gateway-api-crds", CHARTS, "1.5.1", "istio-system")
    assert release["spec"]["forProvider"]["values"] == {}
    assert release["spec"]["rollbackLimit"] == 5
    assert release["spec"]["providerConfigRef"] == {
        "kind": "ClusterProviderConfig",
        "name": "default",
    }
    assert_schema_valid(list(out.resources.values()))
    condition = out.conditions["GatewayAPIReady"]
    assert (condition.status, condition.reason) == (FALSE, "Installing")
    assert condition.message == (
        "waiting for Helm release istio-gateway-api-crds to install the Gateway API CRDs "
        "(gateway-api-crds 1.5.1)"
    )
    assert out.conditions["ControlPlaneReady"].status == FALSE
    assert not out.composite_ready


def test_base_comes_once_the_crds_are_installed(assert_schema_valid):
    first = run(XR, crds=[])
    out = run(XR, ready_observed(first), crds=[gateway_crd()])
    assert sorted(out.resources) == ["base", "base-uses-gateway-api-crds", CRDS]
    base = out.resources["base"]
    assert base["metadata"] == {"name": "istio-base", "namespace": "default"}
    assert base["spec"]["forProvider"]["chart"] == {
        "name": "base",
        "repository": REPOSITORY,
        "version": "1.30.3",
    }
    assert base["spec"]["forProvider"]["namespace"] == "istio-system"
    assert_schema_valid(list(out.resources.values()))
    assert out.conditions["GatewayAPIReady"].status == TRUE
    assert "istio-base" in out.conditions["ControlPlaneReady"].message


def test_each_chart_waits_for_the_one_before_it(with_gateway, assert_schema_valid):
    releases = [
        sorted(k for k, m in out.resources.items() if m["kind"] == "Release")
        for out in with_gateway
    ]
    assert releases == [
        [CRDS],
        ["base", CRDS],
        ["base", CRDS, "istiod"],
        ["base", "cni", "gateway", CRDS, "istiod"],
        ["base", "cni", "gateway", CRDS, "istiod", "ztunnel"],
        ["base", "cni", "gateway", CRDS, "istiod", "ztunnel"],
    ]
    for out in with_gateway:
        assert_schema_valid(list(out.resources.values()))
    assert [out.composite_ready for out in with_gateway] == [False] * 5 + [True]


def test_ready_xr_reports_every_chart_and_stage(with_gateway):
    final = with_gateway[-1]
    charts = final.status["charts"]
    assert [(c["name"], c["release"], c["namespace"]) for c in charts] == [
        ("gateway-api-crds", CRDS_RELEASE, "istio-system"),
        ("base", "istio-base", "istio-system"),
        ("istiod", "istio-istiod", "istio-system"),
        ("cni", "istio-cni", "istio-system"),
        ("ztunnel", "istio-ztunnel", "istio-system"),
        ("gateway", "istio-gateway", "istio-ingress"),
    ]
    assert all(c["ready"] for c in charts)
    assert [(c["repository"], c["version"]) for c in charts] == [(CHARTS, "1.5.1")] + [
        (REPOSITORY, "1.30.3")
    ] * 5
    assert {t: c.status for t, c in final.conditions.items()} == {
        "ControlPlaneReady": TRUE,
        "DataPlaneReady": TRUE,
        "IngressGatewayReady": TRUE,
        "GatewayAPIReady": TRUE,
        "ChartInstalled": TRUE,
    }
    assert final.status["gatewayApi"] == {
        "installed": True,
        "bundleVersion": "v1.5.1",
        "channel": "standard",
    }
    assert final.status["ingressGateway"] == {
        "namespace": "istio-ingress",
        "service": "istio-ingressgateway",
        "addresses": ["istio-ingress-istio-ingressgatew-0a1b2c3d4e.elb.amazonaws.com"],
    }
    assert "revision" not in final.status


def test_status_lists_charts_not_yet_installed_as_not_ready():
    out = run(XR)
    assert [(c["name"], c["ready"]) for c in out.status["charts"]] == [
        (name, False) for name in ["gateway-api-crds", *CHAIN]
    ]
    assert "waiting for Helm release istio-cni, istio-ztunnel" in (
        out.conditions["DataPlaneReady"].message
    )


def test_a_composed_chart_stays_when_the_one_before_turns_unready(with_gateway):
    observed = ready_observed(with_gateway[-1])
    observed["base"].manifest["status"]["conditions"][0]["status"] = "False"
    out = run(xr_with(ingressGateway={"enabled": True}), observed)
    assert set(out.resources) == set(with_gateway[-1].resources)
    assert not out.composite_ready
    assert out.conditions["ControlPlaneReady"].status == FALSE


def test_usages_uninstall_in_reverse_order(with_gateway, assert_schema_valid):
    final = with_gateway[-1]
    usages = {
        key: (m["spec"]["of"]["resourceRef"]["name"], m["spec"]["by"]["resourceRef"]["name"])
        for key, m in final.resources.items()
        if m["kind"] == "Usage"
    }
    assert usages == {
        "base-uses-gateway-api-crds": (CRDS_RELEASE, "istio-base"),
        "istiod-uses-base": ("istio-base", "istio-istiod"),
        "cni-uses-istiod": ("istio-istiod", "istio-cni"),
        "ztunnel-uses-cni": ("istio-cni", "istio-ztunnel"),
        "gateway-uses-istiod": ("istio-istiod", "istio-gateway"),
    }
    assert all(final.resources[k]["spec"]["replayDeletion"] for k in usages)
    rounds = deletion.simulate(final.resources, cluster="none")
    gone = {key: index for index, keys in enumerate(rounds) for key in keys}
    assert gone["ztunnel"] < gone["cni"] < gone["istiod"] < gone["base"] < gone[CRDS]
    assert gone["gateway"] < gone["istiod"]


# Values -------------------------------------------------------------------------------


def test_chart_values_configure_ambient_mode(with_gateway, schema_store):
    final = with_gateway[-1]
    assert values(final, "base") == {"global": {"istioNamespace": "istio-system"}}
    assert values(final, "istiod") == {
        "profile": "ambient",
        "global": {"istioNamespace": "istio-system"},
    }
    assert values(final, "cni") == {"profile": "ambient", "global": {}}
    assert values(final, "ztunnel") == {"istioNamespace": "istio-system"}
    for key in [*CHAIN, "gateway"]:
        assert_known_keys(schema_store, key, "1.30.3", values(final, key), extra=ISTIO_EXTRA_KEYS)
    assert schema_store.validate_helm_values("gateway", "1.30.3", values(final, "gateway")) == []


def granting(namespace: str, **data) -> dict:
    """The platform's EnvironmentConfig, letting its XRs install into ``namespace`` too."""
    tenancy = {"platformNamespaces": ["default"], "namespaces": [namespace]}
    return environment_config(tenancy=tenancy, **data)


def test_revision_version_and_platform_apply_to_every_chart(schema_store):
    spec = {
        "chartVersion": "1.30.3",
        "revision": "stable",
        "platform": "k3s",
        "namespace": "mesh",
        "ingressGateway": {"enabled": True},
    }
    final = converged(xr_with(**spec), env=granting("mesh"))[-1]
    assert values(final, "base")["defaultRevision"] == "stable"
    assert values(final, "base")["global"] == {"istioNamespace": "mesh"}
    assert values(final, "istiod")["revision"] == "stable"
    assert values(final, "istiod")["global"] == {"istioNamespace": "mesh", "platform": "k3s"}
    assert values(final, "cni")["global"] == {"platform": "k3s"}
    assert values(final, "ztunnel") == {
        "istioNamespace": "mesh",
        "revision": "stable",
        "global": {"platform": "k3s"},
    }
    assert values(final, "gateway")["revision"] == "stable"
    for key in [*CHAIN, "gateway"]:
        release = final.resources[key]["spec"]["forProvider"]
        assert release["chart"]["version"] == "1.30.3"
        assert release["namespace"] == ("istio-ingress" if key == "gateway" else "mesh")
        assert_known_keys(schema_store, key, "1.30.3", values(final, key), extra=ISTIO_EXTRA_KEYS)
    assert final.status["revision"] == "stable"


def test_version_override_pins_every_chart():
    final = converged(xr_with(chartVersion="1.29.2", ingressGateway={"enabled": True}))[-1]
    charts = {
        m["spec"]["forProvider"]["chart"]["version"]
        for k, m in final.resources.items()
        if m["kind"] == "Release" and k != CRDS
    }
    assert charts == {"1.29.2"}
    assert {c["version"] for c in final.status["charts"]} == {"1.29.2", "1.5.1"}  # the CRDs'


def test_experimental_gateway_api_installs_its_crds_and_enables_istiods_alpha_support():
    final = converged(xr_with(gatewayApi={"experimental": True}))[-1]
    assert final.resources[CRDS]["spec"]["forProvider"]["chart"] == {
        "name": "gateway-api-crds-experimental",
        "repository": CHARTS,
        "version": "1.5.1",
    }
    assert values(final, "istiod")["env"] == {"PILOT_ENABLE_ALPHA_GATEWAY_API": "true"}
    assert final.conditions["GatewayAPIReady"].status == TRUE
    assert final.status["gatewayApi"]["channel"] == "experimental"


# The ingress gateway ----------------------------------------------------------------


def test_ingress_gateway_on_aws_gets_a_network_load_balancer(schema_store):
    env = environment_config(profile="aws")
    final = converged(xr_with(ingressGateway={"enabled": True, "internal": True}), env=env)[-1]
    gateway = values(final, "gateway")
    assert gateway["name"] == "istio-ingressgateway"
    assert gateway["service"] == {
        "type": "LoadBalancer",
        "annotations": {
            "service.beta.kubernetes.io/aws-load-balancer-type": "external",
            "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type": "ip",
            "service.beta.kubernetes.io/aws-load-balancer-scheme": "internal",
        },
    }
    assert gateway["autoscaling"] == {"enabled": True, "minReplicas": 2, "maxReplicas": 5}
    assert gateway["podDisruptionBudget"] == {"minAvailable": 1}
    assert final.resources["gateway"]["spec"]["forProvider"]["namespace"] == "istio-ingress"
    assert schema_store.validate_helm_values("gateway", "1.30.3", gateway) == []


def test_ingress_gateway_on_premises_is_a_plain_load_balancer(schema_store):
    spec = {
        "profile": "onprem",
        "ingressGateway": {
            "enabled": True,
            "name": "public-gateway",
            "namespace": "edge",
            "minReplicas": 1,
            "maxReplicas": 3,
            "annotations": {"metallb.universe.tf/address-pool": "public"},
            "loadBalancerSourceRanges": ["203.0.113.0/24"],
        },
    }
    final = converged(xr_with(**spec), env=granting("edge", profile="aws"))[-1]
    gateway = values(final, "gateway")
    assert gateway["service"] == {
        "type": "LoadBalancer",
        "annotations": {"metallb.universe.tf/address-pool": "public"},
        "loadBalancerSourceRanges": ["203.0.113.0/24"],
    }
    assert "podDisruptionBudget" not in gateway  # one replica may always be evicted
    assert final.resources["gateway"]["spec"]["forProvider"]["namespace"] == "edge"
    assert final.status["ingressGateway"] == {
        "namespace": "edge",
        "service": "public-gateway",
        "addresses": ["edge-public-gateway-0a1b2c3d4e.elb.amazonaws.com"],  # the player's
    }
    assert schema_store.validate_helm_values("gateway", "1.30.3", gateway) == []


def test_user_annotations_win_over_the_profiles():
    spec = {
        "profile": "aws",
        "ingressGateway": {
            "enabled": True,
            "annotations": {"service.beta.kubernetes.io/aws-load-balancer-scheme": "internal"},
        },
    }
    final = converged(xr_with(**spec))[-1]
    annotations = values(final, "gateway")["service"]["annotations"]
    assert annotations["service.beta.kubernetes.io/aws-load-balancer-scheme"] == "internal"


def test_no_gateway_unless_enabled():
    final = converged(XR)[-1]
    assert final.composite_ready
    assert "gateway" not in final.resources
    assert not_required(final.conditions["IngressGatewayReady"])
    assert "ingressGateway" not in final.status


# Free-form values ------------------------------------------------------------------------


def test_values_per_chart_merge_last(schema_store):
    """Istio's charts keep their defaults under _internal_defaults_do_not_set and merge
    them under the user's values, so a top-level null cannot delete one: overrides replace.
    """
    spec = {
        "ingressGateway": {"enabled": True},
        "values": {
            "istiod": {"autoscaleMin": 2, "global": {"logAsJson": True}},
            "gateway": {
                "podDisruptionBudget": {"minAvailable": 2},
                "autoscaling": {"minReplicas": 3},
            },
            "ztunnel": {"resources": {"requests": {"memory": "1Gi"}}},
        },
    }
    final = converged(xr_with(**spec))[-1]
    istiod = values(final, "istiod")
    assert istiod["global"] == {"istioNamespace": "istio-system", "logAsJson": True}
    assert istiod["autoscaleMin"] == 2
    gateway = values(final, "gateway")
    assert gateway["podDisruptionBudget"] == {"minAvailable": 2}
    assert gateway["autoscaling"] == {"enabled": True, "minReplicas": 3, "maxReplicas": 5}
    assert values(final, "ztunnel")["resources"] == {"requests": {"memory": "1Gi"}}
    assert values(final, "base") == {"global": {"istioNamespace": "istio-system"}}
    assert schema_store.validate_helm_values("gateway", "1.30.3", gateway) == []


# The Gateway API CRDs -------------------------------------------------------------------


def test_gateway_api_crd_is_required_from_crossplane():
    """Once the platform's environment is known, the function asks for the CRD."""
    env = {"environment-configs": [environment_config()]}
    out = render(build(XR, required=env, step_input=step_input("Istio")))
    selector = out.requirements["gateway-api-crd"]
    assert (selector.api_version, selector.kind, selector.match_name) == (
        "apiextensions.k8s.io/v1",
        "CustomResourceDefinition",
        "gateways.gateway.networking.k8s.io",
    )
    assert out.conditions["GatewayAPIReady"].reason == "Checking"


def test_switching_the_channel_moves_the_same_release_to_the_other_chart():
    standard = converged(XR)[-1]
    xr = xr_with(gatewayApi={"experimental": True})
    out = run(xr, ready_observed(standard), crds=[gateway_crd()])
    release = out.resources[CRDS]
    assert release["metadata"]["name"] == CRDS_RELEASE
    assert release["spec"]["forProvider"]["chart"]["name"] == "gateway-api-crds-experimental"
    condition = out.conditions["GatewayAPIReady"]
    assert (condition.status, condition.reason) == (FALSE, "Installing")
    assert condition.message == (
        "waiting for Helm release istio-gateway-api-crds to move the Gateway API CRDs from "
        "v1.5.1 standard to v1.5.1 experimental"
    )
    assert not out.composite_ready


@pytest.mark.parametrize(
    ("owner", "found"),
    [
        (None, "installed without Helm"),
        ("someone-gateway-api", "installed by Helm release tools/someone-gateway-api"),
    ],
)
def test_crds_installed_by_someone_else_are_reported_not_fought_over(owner, found):
    """Helm refuses to adopt objects another release (or no release) owns: say so, and how
    to use them instead."""
    crd = gateway_crd(version="v1.6.0", release=owner, namespace="tools")
    final = converged(XR)[-1]
    out = run(XR, ready_observed(final), crds=[crd])
    condition = out.conditions["GatewayAPIReady"]
    assert (condition.status, condition.reason) == (FALSE, "CRDsManagedElsewhere")
    assert condition.message == (
        f"the Gateway API CRDs (v1.6.0 standard) were {found}, not by this XR's Helm "
        "release istio-system/istio-gateway-api-crds, which cannot take them over: set "
        "spec.gatewayApi.install: false to use them as they are"
    )
    assert out.status["gatewayApi"] == {
        "installed": True,
        "bundleVersion": "v1.6.0",
        "channel": "standard",
    }
    assert not out.composite_ready


def test_a_missing_crd_of_an_installed_release_waits_for_it():
    final = converged(XR)[-1]
    out = run(XR, ready_observed(final), crds=[])
    condition = out.conditions["GatewayAPIReady"]
    assert (condition.status, condition.reason) == (FALSE, "Installing")
    assert out.status["gatewayApi"] == {"installed": False}
    assert not out.composite_ready


# Bring your own CRDs: install: false ---------------------------------------------------

BYO = {"install": False}


def test_without_install_nothing_installs_them_and_base_comes_first():
    out = run(xr_with(gatewayApi=BYO), crds=[gateway_crd(release=None)])
    assert sorted(out.resources) == ["base"]
    final = converged(xr_with(gatewayApi=BYO), crds=[gateway_crd(release=None)])[-1]
    assert CRDS not in final.resources
    assert "base-uses-gateway-api-crds" not in final.resources
    assert [c["name"] for c in final.status["charts"]] == CHAIN
    assert final.conditions["GatewayAPIReady"].status == TRUE
    assert final.composite_ready


def test_missing_own_crds_keep_the_xr_unready_and_say_how_to_install():
    xr = xr_with(gatewayApi=BYO)
    final = converged(xr, crds=[gateway_crd(release=None)])[-1]
    out = run(xr, ready_observed(final), crds=[])
    condition = out.conditions["GatewayAPIReady"]
    assert (condition.status, condition.reason) == (FALSE, "CRDsMissing")
    url = (
        "https://github.com/kubernetes-sigs/gateway-api/releases/download/"
        f"{versions.GATEWAY_API_VERSION}/standard-install.yaml"
    )
    assert url in condition.message
    assert out.status["gatewayApi"] == {"installed": False}
    assert out.conditions["DataPlaneReady"].status == TRUE  # the mesh itself is installed
    assert not out.composite_ready


@pytest.mark.parametrize(
    ("crd", "spec", "reason"),
    [
        (gateway_crd(version="v1.4.1", release=None), {}, "CRDsOutdated"),
        (gateway_crd(version="", release=None), {}, "CRDsOutdated"),
        (gateway_crd(release=None), {"experimental": True}, "ExperimentalChannelRequired"),
    ],
)
def test_unsuitable_own_crds_are_reported(crd, spec, reason):
    xr = xr_with(gatewayApi={**BYO, **spec})
    final = converged(xr, crds=[gateway_crd(channel="experimental", release=None)])[-1]
    out = run(xr, ready_observed(final), crds=[crd])
    condition = out.conditions["GatewayAPIReady"]
    assert (condition.status, condition.reason) == (FALSE, reason)
    assert not out.composite_ready


def test_a_newer_own_install_is_used():
    xr = xr_with(gatewayApi=BYO)
    final = converged(xr, crds=[gateway_crd(version="v1.6.0", release="someone", namespace="x")])
    assert final[-1].conditions["GatewayAPIReady"].status == TRUE
    assert final[-1].status["gatewayApi"]["bundleVersion"] == "v1.6.0"


def test_missing_own_crds_are_only_reported_when_not_required():
    xr = xr_with(gatewayApi={**BYO, "requireCrds": False})
    final = converged(xr, crds=[])[-1]
    condition = final.conditions["GatewayAPIReady"]
    assert (condition.status, condition.reason) == (TRUE, "NotRequired")
    assert "not installed" in condition.message
    assert final.composite_ready


# Bad specs ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            {"ingressGateway": {"enabled": True, "minReplicas": 4, "maxReplicas": 2}},
            "spec.ingressGateway.minReplicas: must be <= maxReplicas (2)",
        ),
        ({"revision": "1.30"}, "spec.revision: String should match pattern"),
        ({"chartVersion": "v1.30.3"}, "spec.chartVersion: String should match pattern"),
        ({"platform": "eks"}, "spec.platform: Input should be"),
        ({"profile": "gcp"}, "spec.profile: Input should be"),
        ({"values": {"pilot": {}}}, "spec.values.pilot: unknown field"),
        (
            {"gatewayApi": {"requireCrds": False}},
            "spec.gatewayApi.requireCrds: false needs gatewayApi.install: false (the CRDs "
            "this XR installs are always required)",
        ),
        (
            {"ingressGateway": {"loadBalancerSourceRanges": ["everywhere"]}},
            "spec.ingressGateway.loadBalancerSourceRanges[0]: String should match pattern",
        ),
    ],
)
def test_bad_spec_is_fatal_and_names_the_field(spec, message):
    assert_refused(run(xr_with(**spec)), message)


def test_an_unusable_environment_profile_is_blamed_on_the_spec_field():
    out = run(XR, env=environment_config(profile="azure"))
    assert len(out.fatal) == 1
    assert "spec.profile: Input should be" in out.fatal[0]


def test_xrd_enforces_the_same_cross_field_rules():
    xrdgen = importlib.import_module("forge_dev.generate")
    definition = next(d for d in xrdgen.DEFINITIONS if d.kind == "Istio")
    xrd = xrdgen.xrd(definition)
    assert xrd["spec"]["scope"] == "Namespaced"
    spec = xrd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    rules = {v["message"]: v["rule"] for v in spec["x-kubernetes-validations"]}
    assert (
        "self.gatewayApi.install"
        in rules["gatewayApi.requireCrds: false needs gatewayApi.install: false"]
    )
    assert (
        "self.ingressGateway.minReplicas <= self.ingressGateway.maxReplicas"
        in (rules["ingressGateway.minReplicas must be <= ingressGateway.maxReplicas"])
    )
    assert set(spec["properties"]["values"]["properties"]) == {*CHAIN, "gateway"}
    assert spec["properties"]["platform"]["enum"] == [
        "gke",
        "k3d",
        "k3s",
        "microk8s",
        "minikube",
        "openshift",
    ]


# A vCluster: no node agents ------------------------------------------------------------

VCLUSTER_ENV = environment_config(profile="onprem", clusterProvider="vcluster")


def test_in_a_vcluster_the_data_plane_is_sidecars_without_node_agents(schema_store):
    """istio-cni and ztunnel are privileged DaemonSets that rewrite the networking of the
    nodes they run on; a vCluster's pods run on the host cluster's nodes."""
    history = converged(xr_with(ingressGateway={"enabled": True}), env=VCLUSTER_ENV)
    final = history[-1]
    assert final.composite_ready
    releases = sorted(k for k, m in final.resources.items() if m["kind"] == "Release")
    assert releases == ["base", "gateway", CRDS, "istiod"]
    assert values(final, "istiod") == {"global": {"istioNamespace": "istio-system"}}
    assert_known_keys(schema_store, "istiod", "1.30.3", values(final, "istiod"))
    condition = final.conditions["DataPlaneReady"]
    assert (condition.status, condition.reason) == (TRUE, "NotRequired")
    assert "istio-injection=enabled" in condition.message
    assert final.status["dataPlane"] == "sidecar"
    assert [c["name"] for c in final.status["charts"]] == [
        "gateway-api-crds",
        "base",
        "istiod",
        "gateway",
    ]


def test_sidecar_mode_can_be_chosen_anywhere():
    final = converged(xr_with(dataPlane="sidecar"))[-1]
    assert sorted(k for k, m in final.resources.items() if m["kind"] == "Release") == [
        "base",
        CRDS,
        "istiod",
    ]


def test_ambient_is_the_default_elsewhere(with_gateway):
    assert with_gateway[-1].status["dataPlane"] == "ambient"


@pytest.mark.parametrize(
    "env",
    [
        VCLUSTER_ENV,
        environment_config(clusterProvider="vcluster", istio={"dataPlane": "ambient"}),
    ],
    ids=["spec", "environment"],
)
def test_ambient_in_a_vcluster_is_refused_saying_why(env):
    xr = xr_with(dataPlane="ambient") if env is VCLUSTER_ENV else XR
    out = run(xr, env=env)
    assert out.fatal == [
        "invalid Istio 'istio': spec.dataPlane: ambient is not installed in a vCluster "
        "(the EnvironmentConfig's clusterProvider): its istio-cni and ztunnel node agents are "
        "privileged DaemonSets that would reconfigure the host cluster's nodes; use sidecar "
        "(the default in a vCluster)"
    ]
    assert out.resources == {}


# The ingress gateway is ready when its load balancer has an address ---------------------

NLB = "k8s-istioing-istioing-0123456789-0123456789abcdef.elb.eu-central-1.amazonaws.com"


def with_service_status(observed: dict, status: dict) -> dict:
    inner = observed["gateway-service"].manifest["status"]["atProvider"]["manifest"]
    inner["status"] = status
    return observed


def test_the_gateway_service_is_observed_never_managed(with_gateway, assert_schema_valid):
    final = with_gateway[-1]
    service = final.resources["gateway-service"]
    assert service["apiVersion"] == "kubernetes.m.crossplane.io/v1alpha1"
    assert service["spec"]["managementPolicies"] == ["Observe"]
    assert service["spec"]["forProvider"]["manifest"] == {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "istio-ingressgateway", "namespace": "istio-ingress"},
    }
    assert service["spec"]["providerConfigRef"] == {
        "kind": "ClusterProviderConfig",
        "name": "default",
    }
    assert "loadBalancer.ingress" in service["spec"]["readiness"]["celQuery"]
    assert_schema_valid([service])
    # observed only once the chart that creates it is deployed
    assert "gateway-service" not in with_gateway[2].resources


def test_a_pending_load_balancer_keeps_the_gateway_unready(with_gateway):
    """Helm's wait counts a LoadBalancer Service with a ClusterIP as ready; we do not."""
    observed = with_service_status(ready_observed(with_gateway[-1]), {"loadBalancer": {}})
    out = run(xr_with(ingressGateway={"enabled": True}), observed)
    condition = out.conditions["IngressGatewayReady"]
    assert (condition.status, condition.reason) == (FALSE, "WaitingForAddress")
    assert "istio-ingress/istio-ingressgateway" in condition.message
    assert not out.composite_ready
    assert "addresses" not in out.status["ingressGateway"]


def test_the_load_balancer_address_is_reported(with_gateway):
    status = {"loadBalancer": {"ingress": [{"hostname": NLB}, {"ip": "192.0.2.10"}]}}
    observed = with_service_status(ready_observed(with_gateway[-1]), status)
    out = run(xr_with(ingressGateway={"enabled": True}), observed)
    assert out.conditions["IngressGatewayReady"].status == TRUE
    assert out.status["ingressGateway"]["addresses"] == [NLB, "192.0.2.10"]
    assert out.composite_ready
