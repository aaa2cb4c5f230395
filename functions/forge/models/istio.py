"""Istio in ambient mode: base, istiod, CNI and ztunnel, and an optional ingress gateway.

Environment defaults (EnvironmentConfig ``data``; the XR wins):

- ``profile`` -> ``spec.profile``: ``aws`` gives the ingress gateway an AWS Network Load
  Balancer (AWS Load Balancer Controller annotations); ``onprem`` leaves the Service plain.
- ``istio.dataPlane`` -> ``spec.dataPlane``.
- ``clusterProvider: vcluster`` (the target is a vCluster): the data plane defaults to
  sidecar, and ambient is refused. Ambient's istio-cni and ztunnel are privileged node
  agents (DaemonSets with host networking that rewrite the node's CNI configuration and
  pod traffic); a vCluster's pods run on the host cluster's nodes, so they would
  reconfigure nodes the vCluster shares with everything else there. Sidecars redirect
  traffic inside each pod's own network namespace (istio-init, NET_ADMIN in that pod).

The CNI agent's paths depend on the Kubernetes distribution, not on the profile: EKS and
kubeadm-style clusters need nothing, k3s/k3d/microk8s/minikube/gke/openshift need
``spec.platform`` (Istio's ``global.platform``), which is therefore never guessed.

Istio does not install the Gateway API CRDs: this API does, first (see GatewayApi). The
aws profile's load balancer needs the AWS Load Balancer Controller (a Cluster on EKS
installs it).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Literal

from pydantic import Field, model_validator

from forge import versions
from forge.core.errors import FieldError
from forge.models.base import DnsLabel, Model, Values
from forge.models.infrastructure import ChartNamespace, InfraSpec, InfraStatus, Reference

# Istio chart versions carry no "v" prefix.
IstioVersion = Annotated[str, Field(pattern=r"^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$")]
Revision = Annotated[
    str, Field(pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", min_length=1, max_length=30)
]
Cidr = Annotated[str, Field(pattern=r"^[0-9a-fA-F:.]+/\d{1,3}$")]
Platform = Literal["gke", "k3d", "k3s", "microk8s", "minikube", "openshift"]


class GatewayApi(Model):
    """Istio's Gateway API support (ambient waypoints are Gateway API Gateways too).

    Istio does not install the Gateway API CRDs. By default this XR does, before any
    Istio chart: a Helm release of the gateway-api-crds chart (gateway-api-crds-experimental
    with experimental) at the Gateway API release this version pins, from
    oci://ghcr.io/input-output-hk/catalyst-forge/charts; uninstalling it keeps the CRDs.
    With install false the cluster brings its own (v1.5 or newer, e.g. installed by the
    platform team) and the XR only checks them. Either way status.gatewayApi and the
    GatewayAPIReady condition report the gateways CRD as found.
    """

    install: bool = Field(
        default=True,
        description=(
            "Install the pinned Gateway API CRDs (chart gateway-api-crds or "
            "gateway-api-crds-experimental) as the first Helm release, kept on uninstall. "
            "false: the cluster brings its own, which are only checked (requireCrds)."
        ),
    )
    experimental: bool = Field(
        default=False,
        description=(
            "Enable Istio's alpha Gateway API resources (PILOT_ENABLE_ALPHA_GATEWAY_API, e.g. "
            "TCPRoute); installs (or, with install false, needs) the experimental-channel CRDs."
        ),
    )
    require_crds: bool = Field(
        default=True,
        description=(
            "With install false: keep the XR unready until suitable Gateway API CRDs are "
            "installed; when false their absence is only reported. The CRDs this XR installs "
            "are always required."
        ),
    )


class IngressGateway(Model):
    """An Envoy ingress gateway (Istio's gateway chart), in its own namespace."""

    enabled: bool = False
    namespace: ChartNamespace = "istio-ingress"
    name: DnsLabel = Field(
        default="istio-ingressgateway",
        description="Deployment and Service name; pods get the label istio=<name without istio->.",
    )
    internal: bool = Field(
        default=False,
        description="aws profile: an internal Network Load Balancer instead of internet-facing.",
    )
    min_replicas: int = Field(default=2, ge=1, le=50, description="Autoscaling floor.")
    max_replicas: int = Field(default=5, ge=1, le=100, description="Autoscaling ceiling.")
    annotations: dict[str, str] = Field(
        default_factory=dict,
        description="Service annotations, merged over the ones the profile sets.",
    )
    load_balancer_source_ranges: list[Cidr] = Field(
        default_factory=list, description="CIDRs allowed to reach the load balancer (all if empty)."
    )


class IstioValues(Model):
    """Free-form Helm values per chart, merged last over what this API derives."""

    base: Values
    istiod: Values
    cni: Values
    ztunnel: Values
    gateway: Values


ISTIO_VALIDATIONS = [
    {
        "rule": (
            "!has(self.gatewayApi) || !has(self.gatewayApi.requireCrds) || "
            "self.gatewayApi.requireCrds || "
            "(has(self.gatewayApi.install) && !self.gatewayApi.install)"
        ),
        "message": "gatewayApi.requireCrds: false needs gatewayApi.install: false",
    },
    {
        "rule": (
            "!has(self.ingressGateway) || !has(self.ingressGateway.minReplicas) || "
            "!has(self.ingressGateway.maxReplicas) || "
            "self.ingressGateway.minReplicas <= self.ingressGateway.maxReplicas"
        ),
        "message": "ingressGateway.minReplicas must be <= ingressGateway.maxReplicas",
    },
]


class IstioSpec(InfraSpec):
    """Istio ambient mode, every chart at one version (and revision)."""

    model_config = InfraSpec.model_config | {
        "json_schema_extra": {"x-kubernetes-validations": ISTIO_VALIDATIONS}
    }

    chart_version: IstioVersion = Field(
        default=versions.ISTIO_VERSION,
        description="Istio version of every chart (base, istiod, cni, ztunnel, gateway).",
    )
    namespace: ChartNamespace = Field(
        default="istio-system", description="Control-plane namespace. Immutable."
    )
    revision: Revision | None = Field(
        default=None,
        description="Control-plane revision (istiod-<revision>); none installs the default one.",
    )
    profile: Literal["aws", "onprem"] | None = Field(
        default=None, description="Cloud profile (default: the EnvironmentConfig's profile)."
    )
    platform: Platform | None = Field(
        default=None,
        description=(
            "Istio's global.platform for distributions with non-standard CNI paths (k3s, k3d, "
            "microk8s, minikube, gke, openshift); none for EKS and standard clusters."
        ),
    )
    data_plane: Literal["ambient", "sidecar"] | None = Field(
        default=None,
        description=(
            "ambient: istio-cni and ztunnel node agents, workloads join with the namespace "
            "label istio.io/dataplane-mode=ambient. sidecar: an Envoy injected into each pod "
            "(namespace label istio-injection=enabled), no node agents. Default: the "
            "EnvironmentConfig's istio.dataPlane, else sidecar in a vCluster (clusterProvider "
            "vcluster, where ambient is refused) and ambient elsewhere."
        ),
    )
    gateway_api: GatewayApi = Field(default_factory=GatewayApi)
    ingress_gateway: IngressGateway = Field(default_factory=IngressGateway)
    values: IstioValues = Field(  # type: ignore[assignment]
        default_factory=IstioValues,
        description="Helm values per chart (base, istiod, cni, ztunnel, gateway), merged last.",
    )

    @model_validator(mode="after")
    def _cross_field(self) -> IstioSpec:
        gateway = self.ingress_gateway
        if gateway.min_replicas > gateway.max_replicas:
            raise FieldError(
                "ingressGateway.minReplicas", f"must be <= maxReplicas ({gateway.max_replicas})"
            )
        if self.gateway_api.install and not self.gateway_api.require_crds:
            raise FieldError(
                "gatewayApi.requireCrds",
                "false needs gatewayApi.install: false (the CRDs this XR installs are always "
                "required)",
            )
        return self

    @classmethod
    def conventional_namespaces(cls) -> frozenset[str]:
        """istio-system and istio-ingress."""
        gateway = IngressGateway.model_fields["namespace"].default
        return super().conventional_namespaces() | {gateway}

    def references(self) -> Iterator[Reference]:
        """The control plane's namespace and the ingress gateway's."""
        yield from super().references()
        yield Reference("spec.ingressGateway.namespace", "chart", self.ingress_gateway.namespace)


ENV_DEFAULTS = {"profile": "profile", "dataPlane": "istio.dataPlane"}
# The environment's fact that its cluster is a vCluster (Cluster's spec.provider values).
CLUSTER_PROVIDER_KEY = "clusterProvider"


class GatewayApiStatus(Model):
    """The Gateway API CRDs as found in the cluster."""

    installed: bool
    bundle_version: str | None = None
    channel: str | None = None


class IngressGatewayStatus(Model):
    """Where the ingress gateway's Service is, and its load balancer's addresses."""

    namespace: str
    service: str
    addresses: list[str] | None = None


class IstioStatus(InfraStatus):
    """What Istio reports: every chart, the revision, Gateway API CRDs, the ingress gateway."""

    revision: str | None = None
    data_plane: str | None = None
    gateway_api: GatewayApiStatus | None = None
    ingress_gateway: IngressGatewayStatus | None = None
