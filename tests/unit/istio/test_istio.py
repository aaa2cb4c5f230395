"""Istio: the Gateway API CRDs, then ambient mode chart by chart, and the ingress gateway."""

from __future__ import annotations

from forge_dev.simulate.requests import (
    environment_config,
    not_required,
)
from tests.support import deletion
from tests.support.helm_keys import assert_known_keys
from tests.support.istio import (
    CHAIN,
    CRDS,
    CRDS_RELEASE,
    FALSE,
    TRUE,
    XR,
    converged,
    gateway_crd,
    ready_observed,
    run,
    values,
    xr_with,
)
from tests.support.releases import assert_chart, only_release

REPOSITORY = "https://istio-release.storage.googleapis.com/charts"
# Istio's profile mechanism reads these keys outside values.yaml (zzz_profile.yaml).
ISTIO_EXTRA_KEYS = {"profile", "platform", "global.platform"}


CHARTS = "oci://ghcr.io/input-output-hk/catalyst-forge/charts"


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
