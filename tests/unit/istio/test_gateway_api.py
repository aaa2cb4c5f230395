"""Istio and the Gateway API CRDs (ours or the cluster's), bad specs, a vCluster, the address."""

from __future__ import annotations

import importlib

import pytest

from forge import versions
from forge_dev.simulate.requests import (
    build,
    environment_config,
    render,
    step_input,
)
from tests.support import istio
from tests.support.helm_keys import assert_known_keys
from tests.support.releases import assert_refused

# The Gateway API CRDs -------------------------------------------------------------------


def test_gateway_api_crd_is_required_from_crossplane():
    """Once the platform's environment is known, the function asks for the CRD."""
    env = {"environment-configs": [environment_config()]}
    out = render(build(istio.XR, required=env, step_input=step_input("Istio")))
    selector = out.requirements["gateway-api-crd"]
    assert (selector.api_version, selector.kind, selector.match_name) == (
        "apiextensions.k8s.io/v1",
        "CustomResourceDefinition",
        "gateways.gateway.networking.k8s.io",
    )
    assert out.conditions["GatewayAPIReady"].reason == "Checking"


def test_switching_the_channel_moves_the_same_release_to_the_other_chart():
    standard = istio.converged(istio.XR)[-1]
    xr = istio.xr_with(gatewayApi={"experimental": True})
    out = istio.run(xr, istio.ready_observed(standard), crds=[istio.gateway_crd()])
    release = out.resources[istio.CRDS]
    assert release["metadata"]["name"] == istio.CRDS_RELEASE
    assert release["spec"]["forProvider"]["chart"]["name"] == "gateway-api-crds-experimental"
    condition = out.conditions["GatewayAPIReady"]
    assert (condition.status, condition.reason) == (istio.FALSE, "Installing")
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
    crd = istio.gateway_crd(version="v1.6.0", release=owner, namespace="tools")
    final = istio.converged(istio.XR)[-1]
    out = istio.run(istio.XR, istio.ready_observed(final), crds=[crd])
    condition = out.conditions["GatewayAPIReady"]
    assert (condition.status, condition.reason) == (istio.FALSE, "CRDsManagedElsewhere")
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
    final = istio.converged(istio.XR)[-1]
    out = istio.run(istio.XR, istio.ready_observed(final), crds=[])
    condition = out.conditions["GatewayAPIReady"]
    assert (condition.status, condition.reason) == (istio.FALSE, "Installing")
    assert out.status["gatewayApi"] == {"installed": False}
    assert not out.composite_ready


# Bring your own CRDs: install: false ---------------------------------------------------

BYO = {"install": False}


def test_without_install_nothing_installs_them_and_base_comes_first():
    out = istio.run(istio.xr_with(gatewayApi=BYO), crds=[istio.gateway_crd(release=None)])
    assert sorted(out.resources) == ["base"]
    final = istio.converged(istio.xr_with(gatewayApi=BYO), crds=[istio.gateway_crd(release=None)])[
        -1
    ]
    assert istio.CRDS not in final.resources
    assert "base-uses-gateway-api-crds" not in final.resources
    assert [c["name"] for c in final.status["charts"]] == istio.CHAIN
    assert final.conditions["GatewayAPIReady"].status == istio.TRUE
    assert final.composite_ready


def test_missing_own_crds_keep_the_xr_unready_and_say_how_to_install():
    xr = istio.xr_with(gatewayApi=BYO)
    final = istio.converged(xr, crds=[istio.gateway_crd(release=None)])[-1]
    out = istio.run(xr, istio.ready_observed(final), crds=[])
    condition = out.conditions["GatewayAPIReady"]
    assert (condition.status, condition.reason) == (istio.FALSE, "CRDsMissing")
    url = (
        "https://github.com/kubernetes-sigs/gateway-api/releases/download/"
        f"{versions.GATEWAY_API_VERSION}/standard-install.yaml"
    )
    assert url in condition.message
    assert out.status["gatewayApi"] == {"installed": False}
    assert out.conditions["DataPlaneReady"].status == istio.TRUE  # the mesh itself is installed
    assert not out.composite_ready


@pytest.mark.parametrize(
    ("crd", "spec", "reason"),
    [
        (istio.gateway_crd(version="v1.4.1", release=None), {}, "CRDsOutdated"),
        (istio.gateway_crd(version="", release=None), {}, "CRDsOutdated"),
        (istio.gateway_crd(release=None), {"experimental": True}, "ExperimentalChannelRequired"),
    ],
)
def test_unsuitable_own_crds_are_reported(crd, spec, reason):
    xr = istio.xr_with(gatewayApi={**BYO, **spec})
    final = istio.converged(xr, crds=[istio.gateway_crd(channel="experimental", release=None)])[-1]
    out = istio.run(xr, istio.ready_observed(final), crds=[crd])
    condition = out.conditions["GatewayAPIReady"]
    assert (condition.status, condition.reason) == (istio.FALSE, reason)
    assert not out.composite_ready


def test_a_newer_own_install_is_used():
    xr = istio.xr_with(gatewayApi=BYO)
    final = istio.converged(
        xr, crds=[istio.gateway_crd(version="v1.6.0", release="someone", namespace="x")]
    )
    assert final[-1].conditions["GatewayAPIReady"].status == istio.TRUE
    assert final[-1].status["gatewayApi"]["bundleVersion"] == "v1.6.0"


def test_missing_own_crds_are_only_reported_when_not_required():
    xr = istio.xr_with(gatewayApi={**BYO, "requireCrds": False})
    final = istio.converged(xr, crds=[])[-1]
    condition = final.conditions["GatewayAPIReady"]
    assert (condition.status, condition.reason) == (istio.TRUE, "NotRequired")
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
    assert_refused(istio.run(istio.xr_with(**spec)), message)


def test_an_unusable_environment_profile_is_blamed_on_the_spec_field():
    out = istio.run(istio.XR, env=environment_config(profile="azure"))
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
    assert set(spec["properties"]["values"]["properties"]) == {*istio.CHAIN, "gateway"}
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
    history = istio.converged(istio.xr_with(ingressGateway={"enabled": True}), env=VCLUSTER_ENV)
    final = history[-1]
    assert final.composite_ready
    releases = sorted(k for k, m in final.resources.items() if m["kind"] == "Release")
    assert releases == ["base", "gateway", istio.CRDS, "istiod"]
    assert istio.values(final, "istiod") == {"global": {"istioNamespace": "istio-system"}}
    assert_known_keys(schema_store, "istiod", "1.30.3", istio.values(final, "istiod"))
    condition = final.conditions["DataPlaneReady"]
    assert (condition.status, condition.reason) == (istio.TRUE, "NotRequired")
    assert "istio-injection=enabled" in condition.message
    assert final.status["dataPlane"] == "sidecar"
    assert [c["name"] for c in final.status["charts"]] == [
        "gateway-api-crds",
        "base",
        "istiod",
        "gateway",
    ]


def test_sidecar_mode_can_be_chosen_anywhere():
    final = istio.converged(istio.xr_with(dataPlane="sidecar"))[-1]
    assert sorted(k for k, m in final.resources.items() if m["kind"] == "Release") == [
        "base",
        istio.CRDS,
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
    xr = istio.xr_with(dataPlane="ambient") if env is VCLUSTER_ENV else istio.XR
    out = istio.run(xr, env=env)
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
    observed = with_service_status(istio.ready_observed(with_gateway[-1]), {"loadBalancer": {}})
    out = istio.run(istio.xr_with(ingressGateway={"enabled": True}), observed)
    condition = out.conditions["IngressGatewayReady"]
    assert (condition.status, condition.reason) == (istio.FALSE, "WaitingForAddress")
    assert "istio-ingress/istio-ingressgateway" in condition.message
    assert not out.composite_ready
    assert "addresses" not in out.status["ingressGateway"]


def test_the_load_balancer_address_is_reported(with_gateway):
    status = {"loadBalancer": {"ingress": [{"hostname": NLB}, {"ip": "192.0.2.10"}]}}
    observed = with_service_status(istio.ready_observed(with_gateway[-1]), status)
    out = istio.run(istio.xr_with(ingressGateway={"enabled": True}), observed)
    assert out.conditions["IngressGatewayReady"].status == istio.TRUE
    assert out.status["ingressGateway"]["addresses"] == [NLB, "192.0.2.10"]
    assert out.composite_ready
