"""What the rest of a Cluster needs from whichever provider created it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from forge.core import naming
from forge.versions import Chart


@dataclass(frozen=True)
class SecretKey:
    """A key of a Secret on the platform cluster (a reference, never the value)."""

    name: str
    namespace: str
    key: str


@dataclass(frozen=True)
class ClientCertificate:
    """vCluster client credentials, base64 as Argo CD expects. Secret material:
    only ever written into the Argo CD cluster Secret."""

    cert_data: str
    key_data: str

    def __repr__(self) -> str:
        return "ClientCertificate(<redacted>)"


@dataclass(frozen=True)
class AwsAuth:
    """EKS: Argo CD authenticates with an IAM role, not client certificates."""

    cluster_name: str
    role_arn: str


@dataclass(frozen=True)
class BearerToken:
    """A ServiceAccount token Argo CD presents (EKS without an IAM role). Secret material:
    only ever written into the Argo CD cluster Secret."""

    token: str

    def __repr__(self) -> str:
        return "BearerToken(<redacted>)"


@dataclass(frozen=True)
class Pending:
    """Why Argo CD's credentials are not known yet, as a stage reason and message.

    A ``problem`` is not a wait: the input is there and cannot be used (an invalid token,
    a Secret its Object did not write). Once Argo CD is registered, a wait keeps the
    registration quietly; a problem keeps it too, but is reported.
    """

    reason: str
    message: str
    problem: bool = False


@dataclass(frozen=True)
class ObjectConnection:
    """Fields of an object applied into the new cluster that provider-kubernetes copies
    into the Object's connection Secret ``secret`` (in the Object's namespace on the
    platform): ``fields`` maps each connection key to a field path of that object. The
    only way a value made inside the new cluster comes back to the platform."""

    secret: str
    fields: Mapping[str, str]


@dataclass(frozen=True)
class ClusterRelease:
    """A chart the provider part wants installed into the new cluster (EKS: the AWS Load
    Balancer Controller). ``name`` names the Release MR and the Helm release."""

    name: str
    chart: Chart
    namespace: str
    values: Mapping[str, Any]
    overrides: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ClusterAccess:
    """How the platform reaches a new cluster. Fields are None until known.

    ``kubeconfig`` is set only once the kubeconfig Secret exists, so that
    nothing (ProviderConfigs, Argo CD Secret) is composed before its input.
    ``cluster_resource`` is the composed resource whose deletion destroys the
    cluster (vCluster Release, EKS Cluster), in ``namespace``: Usages make it
    outlive every managed resource that reaches into the cluster.
    ``nodes_ready`` says whether the cluster can run pods: EKS once its node
    groups are ready; a vCluster's pods run on the platform's nodes.
    ``cluster_objects`` are manifests the provider part wants inside the new
    cluster, by composition key, each once its own inputs are ready (EKS: the
    default StorageClass once the EBS CSI driver runs); bootstrap applies them.
    ``cluster_releases`` are charts it wants installed there, by composition key, each
    once its own inputs are ready (EKS: the load balancer controller once nodes, DNS
    and its identity are); bootstrap installs them through the helm ProviderConfig.
    ``cluster_object_connections`` says, by the same keys, which of those objects'
    fields come back in a connection Secret (EKS without a role: the argocd-manager
    token). ``deleted_objects`` names those whose Objects delete what they applied (EKS:
    the teardown gate); the rest are orphaned. ``bearer_token`` is that token once read;
    ``argocd_pending`` says what Argo CD's credentials still wait for, when the provider
    part knows better than "inputs".
    """

    namespace: str
    server: str | None = None
    ca_data: str | None = None
    server_name: str | None = None
    kubeconfig: SecretKey | None = None
    client_certificate: ClientCertificate | None = None
    aws_auth: AwsAuth | None = None
    bearer_token: BearerToken | None = None
    argocd_pending: Pending | None = None
    kubernetes_version: str | None = None
    cluster_resource: Mapping[str, Any] | None = None
    nodes_ready: bool = True
    cluster_objects: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    cluster_releases: Mapping[str, ClusterRelease] = field(default_factory=dict)
    cluster_object_connections: Mapping[str, ObjectConnection] = field(default_factory=dict)
    deleted_objects: frozenset[str] = frozenset()


def namespace_for(xr_name: str) -> str:
    """The platform namespace of a Cluster: its cluster, ProviderConfigs and MRs live there."""
    return naming.name("cluster", xr_name)
