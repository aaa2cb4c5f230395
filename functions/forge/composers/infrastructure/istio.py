"""Istio ambient mode: gateway-api-crds -> base -> istiod -> cni -> ztunnel, then an
optional ingress gateway.

The Gateway API CRDs come first (our gateway-api-crds chart, unless
``gatewayApi.install`` is false): istiod starts its Gateway API controllers only for
CRDs it finds. In sidecar mode (the default in a vCluster, see models/istio.py) the
chain stops at istiod: the data plane is injected into workload pods, no node agent is
installed.

Each chart waits for the one before it to be deployed (istiod needs base's CRDs
and webhooks, the CNI agent and ztunnel need istiod) and, once composed, stays
composed. A Usage makes each Release hold its predecessor, so deleting the XR
uninstalls them in reverse order (the Gateway API CRDs' release last; Helm keeps the
CRDs themselves, and with them every Gateway and Route). The ingress gateway needs
only istiod.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from forge.composers import objects, usage
from forge.composers.infrastructure import common, gateway_api
from forge.core import naming, tier
from forge.core.context import Context
from forge.core.errors import SpecError
from forge.core.observed import field
from forge.models.infrastructure import ChartStatus
from forge.models.istio import (
    CLUSTER_PROVIDER_KEY,
    ENV_DEFAULTS,
    IngressGatewayStatus,
    IstioSpec,
)
from forge.versions import GATEWAY_API_CRDS, ISTIO_REPOSITORY, Chart

AWS_NLB = "service.beta.kubernetes.io/aws-load-balancer"


def _no_values(_: IstioSpec) -> dict[str, Any]:
    return {}


def _istio_chart(spec: IstioSpec, key: str) -> Chart:
    return Chart(key, ISTIO_REPOSITORY, spec.chart_version)


def _crds_chart(spec: IstioSpec, _: str) -> Chart:
    return GATEWAY_API_CRDS[gateway_api.channel(spec.gateway_api)]


@dataclass(frozen=True)
class Link:
    """One chart of the chain and the chart it waits for."""

    key: str
    after: str | None
    values: Callable[[IstioSpec], dict[str, Any]]
    chart: Callable[[IstioSpec, str], Chart] = _istio_chart


def _platform(spec: IstioSpec) -> dict[str, Any]:
    return {"platform": spec.platform} if spec.platform else {}


def _revision(spec: IstioSpec, key: str = "revision") -> dict[str, Any]:
    return {key: spec.revision} if spec.revision else {}


def base_values(spec: IstioSpec) -> dict[str, Any]:
    """CRDs and cluster roles; the default validating webhook targets our revision."""
    return {"global": {"istioNamespace": spec.namespace}, **_revision(spec, "defaultRevision")}


def istiod_values(spec: IstioSpec) -> dict[str, Any]:
    """The control plane, with the ambient profile in ambient mode (Gateway API on)."""
    values: dict[str, Any] = {
        **({"profile": "ambient"} if spec.data_plane == "ambient" else {}),
        "global": {"istioNamespace": spec.namespace, **_platform(spec)},
        **_revision(spec),
    }
    if spec.gateway_api.experimental:
        values["env"] = {"PILOT_ENABLE_ALPHA_GATEWAY_API": "true"}
    if spec.tier == tier.PRODUCTION:
        # Two istiods at least: the chart's PodDisruptionBudget
        # (global.defaultPodDisruptionBudget) is rendered only for more than one.
        labels = {"app": "istiod", "istio.io/rev": spec.revision or "default"}
        values["autoscaleMin"] = tier.REPLICAS
        values["replicaCount"] = tier.REPLICAS
        values["topologySpreadConstraints"] = tier.zone_spread(labels)
    return values


def cni_values(spec: IstioSpec) -> dict[str, Any]:
    """The CNI node agent in ambient mode (redirects pod traffic to ztunnel)."""
    return {"profile": "ambient", "global": _platform(spec)}


def ztunnel_values(spec: IstioSpec) -> dict[str, Any]:
    """The node proxy; revision and namespace tell it where istiod is."""
    values: dict[str, Any] = {"istioNamespace": spec.namespace, **_revision(spec)}
    if spec.platform:
        values["global"] = _platform(spec)
    return values


def gateway_values(spec: IstioSpec) -> dict[str, Any]:
    """A LoadBalancer Service (an NLB on aws), autoscaled, with a PDB when replicated."""
    gateway = spec.ingress_gateway
    annotations: dict[str, str] = {}
    if spec.profile == "aws":
        annotations = {
            f"{AWS_NLB}-type": "external",
            f"{AWS_NLB}-nlb-target-type": "ip",
            f"{AWS_NLB}-scheme": "internal" if gateway.internal else "internet-facing",
        }
    service: dict[str, Any] = {
        "type": "LoadBalancer",
        "annotations": {**annotations, **gateway.annotations},
    }
    if gateway.load_balancer_source_ranges:
        service["loadBalancerSourceRanges"] = list(gateway.load_balancer_source_ranges)
    values: dict[str, Any] = {
        "name": gateway.name,
        **_revision(spec),
        "service": service,
        "autoscaling": {
            "enabled": True,
            "minReplicas": gateway.min_replicas,
            "maxReplicas": gateway.max_replicas,
        },
    }
    if gateway.min_replicas >= 2:
        values["podDisruptionBudget"] = {"minAvailable": 1}
    return values


# Our chart of the Gateway API CRDs; takes no values (its name is its channel).
CRDS = Link("gateway-api-crds", None, _no_values, _crds_chart)
CONTROL_PLANE = (Link("base", None, base_values), Link("istiod", "base", istiod_values))
NODE_AGENTS = (Link("cni", "istiod", cni_values), Link("ztunnel", "cni", ztunnel_values))
GATEWAY = Link("gateway", "istiod", gateway_values)
SERVICE_KEY = "gateway-service"
HAS_ADDRESS = (
    "has(object.status.loadBalancer.ingress) && size(object.status.loadBalancer.ingress) > 0"
)
SIDECAR_DATA_PLANE = (
    "sidecar mode: Envoy is injected into workload pods, no node agent is installed; "
    "label their namespaces istio-injection=enabled"
)


def _with_data_plane(ctx: Context, spec: IstioSpec) -> IstioSpec:
    """The spec with its data plane decided: sidecar in a vCluster, where ambient is refused."""
    in_vcluster = ctx.env.get(CLUSTER_PROVIDER_KEY) == "vcluster"
    chosen = spec.data_plane or ("sidecar" if in_vcluster else "ambient")
    if chosen == "ambient" and in_vcluster:
        raise SpecError(
            "spec.dataPlane",
            f"ambient is not installed in a vCluster (the EnvironmentConfig's "
            f"{CLUSTER_PROVIDER_KEY}): its istio-cni and ztunnel node agents are privileged "
            "DaemonSets that would reconfigure the host cluster's nodes; use sidecar "
            "(the default in a vCluster)",
        )
    return spec.model_copy(update={"data_plane": chosen})


def compose(ctx: Context) -> None:
    """Compose the chain link by link, the gateway after istiod, then report."""
    spec = _with_data_plane(ctx, common.checked_spec(ctx, IstioSpec, ENV_DEFAULTS))
    owner = None
    if spec.gateway_api.install:
        owner = gateway_api.Owner(spec.namespace, naming.helm_release(ctx.name, CRDS.key))
    crds = gateway_api.check(ctx, spec.gateway_api, owner)
    charts = _install(ctx, spec)
    addresses = _observe_gateway(ctx, spec, charts)
    _stages(ctx, spec, charts, addresses)
    ctx.stage("GatewayAPIReady", crds.ready, crds.reason, crds.message)
    common.report(ctx, list(charts.values()))
    status: dict[str, Any] = {"dataPlane": spec.data_plane}
    if spec.revision:
        status["revision"] = spec.revision
    if crds.status is not None:
        status["gatewayApi"] = crds.status.model_dump(by_alias=True, exclude_none=True)
    if spec.ingress_gateway.enabled:
        gateway = IngressGatewayStatus(
            namespace=spec.ingress_gateway.namespace,
            service=spec.ingress_gateway.name,
            addresses=addresses or None,
        )
        status["ingressGateway"] = gateway.model_dump(by_alias=True, exclude_none=True)
    ctx.set_status(status)


def _links(spec: IstioSpec) -> list[Link]:
    """The chain this spec installs, in order."""
    base, istiod = CONTROL_PLANE
    links = [base, istiod, *(NODE_AGENTS if spec.data_plane == "ambient" else ())]
    if spec.gateway_api.install:
        links = [CRDS, replace(base, after=CRDS.key), *links[1:]]
    if spec.ingress_gateway.enabled:
        links.append(GATEWAY)
    return links


def _install(ctx: Context, spec: IstioSpec) -> dict[str, ChartStatus]:
    """Each link's Release once the one before is ready (or it exists), with its Usage."""
    links = _links(spec)
    releases: dict[str, dict[str, Any]] = {}
    charts: dict[str, ChartStatus] = {}
    for link in links:
        name = naming.helm_release(ctx.name, link.key)
        namespace = spec.ingress_gateway.namespace if link is GATEWAY else spec.namespace
        chart = link.chart(spec, link.key)
        after_ready = link.after is None or charts[link.after].ready
        if not (after_ready or ctx.is_composed(link.key)):
            charts[link.key] = _pending(chart, name, namespace)
            continue
        manifest, charts[link.key] = common.install_chart(
            ctx,
            spec,
            key=link.key,
            chart=chart,
            values=link.values(spec),
            release_name=name,
            overrides=getattr(spec.values, link.key, {}),
            namespace=namespace,
        )
        if link.after in releases:
            holder = usage.usage(of=releases[link.after], by=manifest)
            ctx.compose(f"{link.key}-uses-{link.after}", holder)
        releases[link.key] = manifest
    return charts


def _observe_gateway(ctx: Context, spec: IstioSpec, charts: dict[str, ChartStatus]) -> list[str]:
    """The gateway Service's load balancer addresses, read through an Observe-only Object.

    Helm's wait counts a LoadBalancer Service as ready once it has a ClusterIP, so the
    Release is deployed while the load balancer is still pending; only the Service's
    status.loadBalancer.ingress says it can be reached. Observed once the chart that
    creates the Service is deployed; never created, changed or deleted by us.
    """
    gateway = spec.ingress_gateway
    if not gateway.enabled or not (charts["gateway"].ready or ctx.is_composed(SERVICE_KEY)):
        return []
    ref = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": gateway.name, "namespace": gateway.namespace},
    }
    target = objects.Target(spec.provider_config_ref, str(ctx.namespace), orphan=False)
    ctx.compose(
        SERVICE_KEY, objects.observer(ctx, SERVICE_KEY, ref, target, ready_when=HAS_ADDRESS)
    )
    path = ("status", "atProvider", "manifest", "status", "loadBalancer", "ingress")
    ingress = ctx.observed.get(SERVICE_KEY, *path)
    entries = list(ingress.values) if ingress is not None else []
    found = (field(e.struct_value, "hostname") or field(e.struct_value, "ip") for e in entries)
    return [address for address in found if isinstance(address, str) and address]


def _pending(chart: Chart, release: str, namespace: str) -> ChartStatus:
    """A chart still waiting for its predecessor: listed, not ready."""
    return ChartStatus.of(chart, release, namespace, ready=False)


def _stages(
    ctx: Context, spec: IstioSpec, charts: dict[str, ChartStatus], addresses: list[str]
) -> None:
    """One condition per part of the mesh, naming what it waits for."""
    parts = [("ControlPlaneReady", ("base", "istiod"))]
    if spec.data_plane == "ambient":
        parts.append(("DataPlaneReady", ("cni", "ztunnel")))
    else:
        ctx.not_required("DataPlaneReady", SIDECAR_DATA_PLANE)
    for type_, keys in parts:
        waiting = [charts[key].release for key in keys if not charts[key].ready]
        ctx.stage(
            type_,
            not waiting,
            "Available" if not waiting else "Installing",
            f"waiting for Helm release {', '.join(waiting)}" if waiting else "",
        )
    gateway = spec.ingress_gateway
    if not gateway.enabled:
        ctx.not_required("IngressGatewayReady", "the ingress gateway is disabled")
    elif not charts["gateway"].ready:
        release = charts["gateway"].release
        ctx.stage("IngressGatewayReady", False, "Installing", f"waiting for Helm release {release}")
    elif not addresses:
        controller = " (the AWS Load Balancer Controller provisions its NLB)"
        ctx.stage(
            "IngressGatewayReady",
            False,
            "WaitingForAddress",
            f"the LoadBalancer Service {gateway.namespace}/{gateway.name} has no address yet"
            + (controller if spec.profile == "aws" else ""),
        )
    else:
        ctx.stage("IngressGatewayReady", True, "Available")
