"""The APIs this function serves: one row per API, from which everything else derives.

Dispatch (``forge.fn``), scopes (``forge.tenancy``), the generated XRDs and
Compositions and the Configuration package each API ships in all read this table.
Adding an API is a row here and its own model and composer modules.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel

from forge.composers import cluster, platformcluster
from forge.composers.infrastructure import (
    certmanager,
    externaldns,
    externalsecrets,
    istio,
    keda,
    monitoring,
)
from forge.core.context import Context
from forge.models import cluster as cluster_model
from forge.models import externaldns as externaldns_model
from forge.models import istio as istio_model
from forge.models import keda as keda_model
from forge.models import monitoring as monitoring_model
from forge.models import platformcluster as platformcluster_model
from forge.models.certmanager import CertManagerSpec, CertManagerStatus
from forge.models.externalsecrets import (
    ExternalSecretsOperatorSpec,
    ExternalSecretsOperatorStatus,
)
from forge.models.status import ClusterStatus, PlatformClusterStatus
from forge.versions import GROUP

Composer = Callable[[Context], None]
Scope = Literal["Cluster", "Namespaced"]
# The Configuration packages: the cluster APIs, and the namespaced infrastructure APIs.
CLUSTERS = "clusters"
INFRASTRUCTURE = "infrastructure"


@dataclass(frozen=True)
class API:
    """One composite resource API: its XRD's shape, its composer, its package."""

    kind: str
    plural: str
    scope: Scope
    spec: type[BaseModel]
    status: type[BaseModel]
    compose: Composer
    package: str
    description: str
    columns: tuple[tuple[str, str, str], ...] = ()
    required_spec: bool = False
    # Spec paths the EnvironmentConfig fills when the XR leaves them out. They get no XRD
    # default: the API server would write it into the spec, and the spec wins.
    env_paths: tuple[str, ...] = ()

    @property
    def categories(self) -> tuple[str, ...]:
        """``kubectl get forge`` lists every API; the second names its package."""
        return ("forge", self.package)


def _infrastructure(
    kind: str,
    plural: str,
    *,
    spec: type[BaseModel],
    status: type[BaseModel],
    compose: Composer,
    description: str,
    env_defaults: dict[str, str] | None = None,
) -> API:
    """A namespaced infrastructure API, shipped in the infrastructure Configuration."""
    return API(
        kind=kind,
        plural=plural,
        scope="Namespaced",
        spec=spec,
        status=status,
        compose=compose,
        package=INFRASTRUCTURE,
        description=description,
        env_paths=tuple(env_defaults or ()),
    )


APIS: tuple[API, ...] = (
    API(
        kind="PlatformCluster",
        plural="platformclusters",
        scope="Cluster",
        spec=platformcluster_model.PlatformClusterSpec,
        status=PlatformClusterStatus,
        compose=platformcluster.compose,
        package=CLUSTERS,
        description="The platform cluster's own Crossplane self-management stack.",
        env_paths=tuple(platformcluster_model.ENV_DEFAULTS),
    ),
    API(
        kind="Cluster",
        plural="clusters",
        scope="Cluster",
        spec=cluster_model.ClusterSpec,
        status=ClusterStatus,
        compose=cluster.compose,
        package=CLUSTERS,
        description=(
            "An environment cluster (EKS or vCluster) running its own Crossplane, "
            "registered with the platform's Argo CD."
        ),
        columns=(
            ("PROVIDER", "string", ".spec.provider"),
            ("SERVER", "string", ".status.outputs.server"),
        ),
        required_spec=True,
        env_paths=tuple(cluster_model.ENV_DEFAULTS | cluster_model.AWS_ENV_DEFAULTS),
    ),
    _infrastructure(
        "ExternalDNS",
        "externaldnses",
        spec=externaldns_model.ExternalDNSSpec,
        status=externaldns_model.ExternalDNSStatus,
        compose=externaldns.compose,
        description="ExternalDNS publishing records to Route53, Cloudflare, RFC2136 or PowerDNS.",
        env_defaults=externaldns_model.ENV_DEFAULTS,
    ),
    _infrastructure(
        "ExternalSecretsOperator",
        "externalsecretsoperators",
        spec=ExternalSecretsOperatorSpec,
        status=ExternalSecretsOperatorStatus,
        compose=externalsecrets.compose,
        description="External Secrets Operator, with a ClusterSecretStore for AWS or Vault.",
    ),
    _infrastructure(
        "CertManager",
        "certmanagers",
        spec=CertManagerSpec,
        status=CertManagerStatus,
        compose=certmanager.compose,
        description="cert-manager with its CRDs, and ClusterIssuers (ACME, self-signed, CA).",
    ),
    _infrastructure(
        "Istio",
        "istios",
        spec=istio_model.IstioSpec,
        status=istio_model.IstioStatus,
        compose=istio.compose,
        description="Istio in ambient mode (base, istiod, CNI, ztunnel) and an ingress gateway.",
        env_defaults=istio_model.ENV_DEFAULTS,
    ),
    _infrastructure(
        "KEDA",
        "kedas",
        spec=keda_model.KedaSpec,
        status=keda_model.KedaStatus,
        compose=keda.compose,
        description="KEDA event-driven autoscaling: operator, metrics server, admission webhooks.",
        env_defaults=keda_model.ENV_DEFAULTS,
    ),
    _infrastructure(
        "Monitoring",
        "monitorings",
        spec=monitoring_model.MonitoringSpec,
        status=monitoring_model.MonitoringStatus,
        compose=monitoring.compose,
        description=(
            "Monitoring: kube-prometheus-stack in-cluster, or k8s-monitoring to remote endpoints."
        ),
        env_defaults=monitoring_model.ENV_DEFAULTS,
    ),
)

BY_KIND: dict[str, API] = {api.kind: api for api in APIS}
# The composer of each (group, kind) the function serves.
COMPOSERS: dict[tuple[str, str], Composer] = {(GROUP, api.kind): api.compose for api in APIS}
# Kinds whose XRs live in a namespace (the infrastructure APIs); the others are cluster-scoped.
NAMESPACED: frozenset[str] = frozenset(api.kind for api in APIS if api.scope == "Namespaced")
