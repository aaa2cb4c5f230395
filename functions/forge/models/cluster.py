"""Cluster: an environment cluster (EKS or vCluster), bootstrapped and registered."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from forge import versions
from forge.core.errors import FieldError
from forge.models.base import DnsLabel, EnvironmentConfigRef, Model, ProviderConfigRef, Values
from forge.models.stack import SemVer, Stack

KubernetesVersion = Literal["1.31", "1.32", "1.33", "1.34", "1.35"]
DEFAULT_EKS_VERSION = "1.34"


class Taint(Model):
    """A Kubernetes taint on every node of a node group."""

    key: str = Field(min_length=1, max_length=63)
    value: str | None = Field(default=None, max_length=63)
    effect: Literal["NO_SCHEDULE", "NO_EXECUTE", "PREFER_NO_SCHEDULE"]


class NodeGroup(Model):
    """An EKS managed node group in the private subnets."""

    model_config = Model.model_config | {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                {"rule": "self.minSize <= self.maxSize", "message": "minSize must be <= maxSize"}
            ]
        }
    }

    name: DnsLabel
    instance_type: str = Field(
        min_length=1, description="EC2 instance type. Immutable: changing it replaces the group."
    )
    min_size: int = Field(ge=0, le=1000)
    max_size: int = Field(ge=1, le=1000)
    desired_size: int | None = Field(
        default=None,
        ge=0,
        description="Size at creation only (default minSize); an autoscaler owns it afterwards.",
    )
    capacity_type: Literal["ON_DEMAND", "SPOT"] = "ON_DEMAND"
    disk_size: int = Field(default=50, ge=20, le=16384, description="Root volume size in GiB.")
    ami_type: Literal[
        "AL2023_x86_64_STANDARD",
        "AL2023_ARM_64_STANDARD",
        "BOTTLEROCKET_x86_64",
        "BOTTLEROCKET_ARM_64",
    ] = "AL2023_x86_64_STANDARD"
    labels: dict[str, str] = Field(default_factory=dict)
    taints: list[Taint] = Field(default_factory=list)

    @model_validator(mode="after")
    def _sizes(self) -> NodeGroup:
        if self.min_size > self.max_size:
            raise FieldError("minSize", f"must be <= maxSize ({self.max_size})")
        if (
            self.desired_size is not None
            and not self.min_size <= self.desired_size <= self.max_size
        ):
            raise FieldError("desiredSize", "must be between minSize and maxSize")
        return self


class SubnetIds(Model):
    """Existing subnets; when given, no network is composed."""

    private: list[str] = Field(min_length=2, description="Subnets for nodes (two AZs or more).")
    public: list[str] = Field(default_factory=list, description="Subnets for load balancers.")


class Network(Model):
    """The VPC: composed, or brought by the user through ``subnetIds``."""

    vpc_cidr: str = Field(default="10.0.0.0/16", pattern=r"^(\d{1,3}\.){3}\d{1,3}/(1[6-9]|2[0-4])$")
    availability_zones: int = Field(default=3, ge=2, le=6)
    nat_gateways: Literal["Single", "PerZone"] = Field(
        default="Single", description="One NAT gateway, or one per zone for zone-failure tolerance."
    )
    subnet_ids: SubnetIds | None = None


class Aws(Model):
    """EKS settings beyond node groups."""

    network: Network = Field(default_factory=Network)
    endpoint_public_access: bool = True
    endpoint_private_access: bool = True
    public_access_cidrs: list[str] = Field(default=["0.0.0.0/0"])
    authentication_mode: Literal["API", "API_AND_CONFIG_MAP"] = "API"
    control_plane_logging: list[
        Literal["api", "audit", "authenticator", "controllerManager", "scheduler"]
    ] = Field(default=["api", "audit", "authenticator"])
    admins: list[str] = Field(
        default_factory=list, description="IAM principal ARNs given cluster-admin access entries."
    )
    provider_config_ref: ProviderConfigRef = Field(
        default_factory=ProviderConfigRef,
        description="The platform's AWS ProviderConfig the cluster is created with.",
    )


class VCluster(Model):
    """The vCluster Helm release on the platform cluster."""

    chart_version: SemVer = versions.VCLUSTER.version
    values: Values


class Crossplane(Model):
    """The Crossplane chart installed into the new cluster."""

    chart_version: SemVer = versions.CROSSPLANE.version
    values: Values


class ArgoCD(Model):
    """How the cluster is registered with the platform's Argo CD."""

    namespace: DnsLabel = "argocd"
    project: str | None = Field(default=None, description="Restrict the cluster to one project.")
    labels: dict[str, str] = Field(
        default_factory=dict,
        description="Extra labels, e.g. for ApplicationSet cluster generators.",
    )
    annotations: dict[str, str] = Field(default_factory=dict)
    role_arn: str | None = Field(
        default=None,
        pattern=r"^arn:aws[a-z-]*:iam::\d{12}:role/.+$",
        description="EKS only: the IAM role Argo CD assumes (awsAuthConfig) and gets access to.",
    )


class ClusterSpec(Model):
    """An environment cluster."""

    environment_config_ref: EnvironmentConfigRef | None = None
    provider: Literal["aws", "vcluster"]
    region: str | None = Field(default=None, pattern=r"^[a-z]{2}(-[a-z]+)+-\d$")
    kubernetes_version: KubernetesVersion | None = Field(
        default=None, description=f"EKS control-plane version (default {DEFAULT_EKS_VERSION})."
    )
    node_groups: list[NodeGroup] = Field(
        default_factory=list,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    )
    aws: Aws = Field(default_factory=Aws)
    vcluster: VCluster = Field(default_factory=VCluster)
    crossplane: Crossplane = Field(default_factory=Crossplane)
    stack: Stack = Field(default_factory=Stack)
    argocd: ArgoCD = Field(default_factory=ArgoCD)
    platform_provider_config_ref: ProviderConfigRef = Field(
        default_factory=ProviderConfigRef,
        description="Platform-cluster helm/kubernetes ProviderConfig (vCluster release, Secrets).",
    )

    @model_validator(mode="after")
    def _provider_inputs(self) -> ClusterSpec:
        if self.provider == "aws" and not self.region:
            raise FieldError("region", "is required when provider is aws")
        if self.provider == "aws" and not self.node_groups:
            raise FieldError("nodeGroups", "needs at least one node group when provider is aws")
        seen: set[str] = set()
        for index, group in enumerate(self.node_groups):
            if group.name in seen:
                raise FieldError(
                    f"nodeGroups[{index}].name", f"duplicate node group name {group.name!r}"
                )
            seen.add(group.name)
        return self


CLUSTER_VALIDATIONS = [
    {
        "rule": "self.provider != 'aws' || has(self.region)",
        "message": "region is required when provider is aws",
    },
    {
        "rule": "self.provider != 'aws' || (has(self.nodeGroups) && size(self.nodeGroups) > 0)",
        "message": "nodeGroups needs at least one node group when provider is aws",
    },
]
ClusterSpec.model_config["json_schema_extra"] = {"x-kubernetes-validations": CLUSTER_VALIDATIONS}
ClusterSpec.model_rebuild(force=True)

ENV_DEFAULTS = {"region": "region", "argocd.namespace": "argocd.namespace"}
