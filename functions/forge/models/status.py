"""Status shapes written by the composers (typed so the XRDs can publish them)."""

from __future__ import annotations

from pydantic import Field

from forge.models.base import Model


class PackageHealth(Model):
    """An installed Crossplane package as its Object last observed it."""

    package: str
    installed: bool
    healthy: bool


class ProviderConfigReference(Model):
    """A ProviderConfig other resources should reference."""

    kind: str
    name: str


class PlatformClusterStatus(Model):
    """What PlatformCluster reports."""

    packages: dict[str, PackageHealth] = Field(default_factory=dict)
    provider_configs: dict[str, ProviderConfigReference] = Field(default_factory=dict)


class SecretKeyReference(Model):
    """A key of a Secret: a reference, never the value."""

    name: str
    namespace: str
    key: str


class NamespacedProviderConfigReference(Model):
    """A namespaced ProviderConfig (usable by managed resources in its namespace)."""

    kind: str
    name: str
    namespace: str


class ClusterVersions(Model):
    """What runs where, as this API installed it."""

    kubernetes: str | None = None
    vcluster: str | None = Field(default=None, description="vCluster chart version.")
    crossplane: str | None = Field(default=None, description="Crossplane chart version.")


class EndpointAccess(Model):
    """Who can reach an EKS cluster's API, as composed."""

    public: bool = Field(description="Whether the API has a public endpoint.")
    private: bool = Field(description="Whether the API is served inside the VPC.")
    public_access_cidrs: list[str] = Field(
        default_factory=list, description="Who may reach the public endpoint."
    )
    message: str = Field(description="What this means for the platform reaching the cluster.")


class ClusterOutputs(Model):
    """How to reach the new cluster. References only: credentials stay in Secrets."""

    namespace: str | None = Field(
        default=None, description="Platform namespace holding the cluster's resources."
    )
    server: str | None = Field(default=None, description="API server URL.")
    kubeconfig_secret_ref: SecretKeyReference | None = None
    argocd_cluster_name: str | None = Field(
        default=None, description="The cluster's name in Argo CD, once registered."
    )
    provider_configs: dict[str, NamespacedProviderConfigReference] = Field(
        default_factory=dict,
        description="Platform ProviderConfigs (helm, kubernetes) that reach the new cluster.",
    )
    versions: ClusterVersions = Field(default_factory=ClusterVersions)
    endpoint_access: EndpointAccess | None = Field(
        default=None, description="EKS: who can reach the API endpoint, and from where."
    )


class ClusterStatus(Model):
    """What Cluster reports."""

    outputs: ClusterOutputs = Field(default_factory=ClusterOutputs)
    packages: dict[str, PackageHealth] = Field(
        default_factory=dict, description="The self-management stack's packages in the cluster."
    )
    provider_configs: dict[str, ProviderConfigReference] = Field(
        default_factory=dict,
        description="ProviderConfigs the cluster's own Crossplane offers its XRs.",
    )
