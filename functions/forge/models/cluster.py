"""Cluster: an environment cluster (EKS or vCluster), bootstrapped and registered."""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from forge import versions
from forge.core.errors import FieldError, key_segment
from forge.models.base import (
    DnsLabel,
    EnvironmentConfigRef,
    Model,
    ProviderConfigRef,
    TierField,
    Values,
    reject_duplicates,
)
from forge.models.eks_workloads import (
    ClusterAutoscaler,
    LoadBalancerController,
    PolicyArn,
    Teardown,
    WorkloadIdentity,
)
from forge.models.stack import AwsProviders, SemVer, Stack

# Who may reach an EKS cluster's public API endpoint: the environment's (for example the
# platform's egress addresses); with none, the endpoint is private.
PUBLIC_ACCESS_CIDRS_KEY = "aws.publicAccessCidrs"
KubernetesVersion = Literal["1.31", "1.32", "1.33", "1.34", "1.35", "1.36"]
DEFAULT_EKS_VERSION = "1.34"
# Graviton (ARM) instance families: a1, and <family><generation>g<options> (m7g, c6gn, r8gd...).
GRAVITON = r"^(a1|[a-z]+[0-9]+g[a-z0-9-]*)[.]"
SubnetId = Annotated[str, Field(pattern=r"^subnet-[0-9a-f]{8,17}$")]
Cidr = Annotated[str, Field(pattern=r"^(\d{1,3}\.){3}\d{1,3}/\d{1,2}$")]
AddonVersion = Annotated[str, Field(pattern=r"^v\d+\.\d+\.\d+-eksbuild\.\d+$")]
Zone = Annotated[str, Field(pattern=r"^[a-z]{2}(-[a-z]+)+-\d[a-f]$", max_length=32)]
# What CloudWatch Logs accepts as a log group's retention (PutRetentionPolicy).
LogRetentionDays = Literal[
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922
]
PrincipalArn = Annotated[str, Field(pattern=r"^arn:aws[a-z-]*:iam::\d{12}:(role|user)/.+$")]


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
                {"rule": "self.minSize <= self.maxSize", "message": "minSize must be <= maxSize"},
                {
                    "rule": "self.amiType.contains('ARM') == "
                    f"self.instanceType.matches('{GRAVITON}')",
                    "message": "amiType must match the instance type's architecture (ARM_64 "
                    "AMIs for Graviton types such as m7g.large, x86_64 AMIs otherwise)",
                },
            ]
        }
    }

    name: DnsLabel
    instance_type: str = Field(
        pattern=r"^[a-z][a-z0-9-]*\.[a-z0-9]+$",
        max_length=32,
        description=(
            "EC2 instance type. Immutable in EKS: changing it (or capacityType, amiType, "
            "diskSize) creates a replacement node group; the old one is removed once the new "
            "one is ready."
        ),
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
        if ("ARM" in self.ami_type) != bool(re.match(GRAVITON, self.instance_type)):
            arch = "x86_64" if "ARM" in self.ami_type else "ARM_64 (Graviton)"
            raise FieldError(
                "amiType",
                f"{self.ami_type} does not run on {self.instance_type}: use an {arch} AMI",
            )
        if (
            self.desired_size is not None
            and not self.min_size <= self.desired_size <= self.max_size
        ):
            raise FieldError("desiredSize", "must be between minSize and maxSize")
        return self


class SubnetIds(Model):
    """Existing subnets; when given, no network is composed.

    Load balancers find their subnets by the ``kubernetes.io/role/elb`` and
    ``kubernetes.io/role/internal-elb`` tags, which the owner of the network sets.
    """

    private: list[SubnetId] = Field(
        min_length=2,
        max_length=16,
        description=(
            "Subnets for the control plane's network interfaces and the nodes (two zones or "
            "more, with a route to the internet or VPC endpoints). Changing them replaces the "
            "node groups."
        ),
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )


# On the spec, not on the aws objects: an object with rules gets no `default: {}` in the
# XRD, and the API server must default aws and aws.network as the models do.
_NETWORK = "self.aws.network"
_OLD_NETWORK = "oldSelf.aws.network"
AWS_VALIDATIONS = [
    {
        # Only an explicit false: the default follows publicAccessCidrs, which the
        # environment may fill (the API server never sees it).
        "rule": "!has(self.aws) || !has(self.aws.endpointPublicAccess) || "
        "self.aws.endpointPublicAccess || self.aws.endpointPrivateAccess",
        "message": "aws: the API endpoint needs public or private access (or both)",
    },
    {
        "rule": "!has(self.aws) || !has(self.aws.tags) || "
        "self.aws.tags.all(k, !k.startsWith('aws:'))",
        "message": "aws.tags must not use the reserved aws: prefix",
    },
    {
        "rule": f"!has(self.aws) || !has({_NETWORK}) || !has({_NETWORK}.availabilityZones) || "
        f"size({_NETWORK}.availabilityZones) != 1",
        "message": "aws.network.availabilityZones needs two zones or more (EKS requires two)",
    },
    {
        "rule": f"!has(self.aws) || !has({_NETWORK}) || !has(oldSelf.aws) || "
        f"!has({_OLD_NETWORK}) || {_NETWORK}.vpcCidr == {_OLD_NETWORK}.vpcCidr",
        "message": "aws.network.vpcCidr is immutable: the VPC and everything in it would be "
        "replaced; create a new Cluster instead",
    },
    {
        "rule": f"!has(self.aws) || !has({_NETWORK}) || !has(oldSelf.aws) || "
        f"!has({_OLD_NETWORK}) || "
        f"(has({_NETWORK}.availabilityZones) ? {_NETWORK}.availabilityZones : []) == "
        f"(has({_OLD_NETWORK}.availabilityZones) ? {_OLD_NETWORK}.availabilityZones : [])",
        "message": "aws.network.availabilityZones is immutable (subnets derive from it, and "
        "the control plane's cannot move); create a new Cluster instead",
    },
    {
        "rule": "!has(self.aws) || !has(oldSelf.aws) || "
        "oldSelf.aws.authenticationMode != 'API' || self.aws.authenticationMode == 'API'",
        "message": "aws.authenticationMode cannot go back from API (EKS only moves towards API)",
    },
]


class Network(Model):
    """The VPC: composed, or brought by the user through ``subnetIds``.

    Each zone gets a private subnet (nodes, pods: an eighth of the VPC each) and a
    public one (load balancers, NAT: a 64th each); the CIDRs derive from the zone
    letter, so they never move when zones are listed in another order.
    """

    vpc_cidr: str = Field(
        default="10.0.0.0/16",
        pattern=r"^(\d{1,3}\.){3}\d{1,3}/(1[6-9]|20)$",
        description="The VPC's IPv4 range, /16 to /20. Immutable.",
    )
    availability_zones: list[Zone] = Field(
        default_factory=list,
        max_length=6,
        description=(
            "Zone names, e.g. [us-west-2a, us-west-2b]; default: the region's zones a, b and c. "
            "Letters a to f. Immutable."
        ),
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    nat_gateways: Literal["Single", "PerZone"] | None = Field(
        default=None,
        description=(
            "One NAT gateway, or one per zone for zone-failure tolerance. "
            "Default: PerZone in production (tier), else Single."
        ),
    )
    subnet_ids: SubnetIds | None = Field(
        default=None, description="Bring your own network: existing subnets; no VPC is composed."
    )

    def nat_mode(self, tier: str | None) -> Literal["Single", "PerZone"]:
        """``natGateways``; left out, one per zone in production and a single one otherwise."""
        return self.nat_gateways or ("PerZone" if tier == "production" else "Single")

    @model_validator(mode="after")
    def _shape(self) -> Network:
        try:
            network = ipaddress.ip_network(self.vpc_cidr, strict=False)
        except ValueError:
            raise FieldError("vpcCidr", "is not a valid IPv4 CIDR") from None
        if str(network) != self.vpc_cidr:
            raise FieldError("vpcCidr", f"has host bits set (did you mean {network}?)")
        if not network.is_private:
            raise FieldError("vpcCidr", "must be a private range (RFC 1918 or RFC 6598)")
        reject_duplicates(self.availability_zones, "availabilityZones[{}]", "zone")
        if len(self.availability_zones) == 1:
            raise FieldError("availabilityZones", "needs two zones or more (EKS requires two)")
        return self

    def zones(self, region: str) -> list[str]:
        """The zones to use, sorted (default: the region's a, b and c)."""
        return sorted(self.availability_zones or [f"{region}{letter}" for letter in "abc"])


AddonConfiguration = Annotated[
    dict[str, Any],
    Field(
        default_factory=dict,
        description="The add-on's configuration values (its JSON schema: "
        "`aws eks describe-addon-configuration`).",
        json_schema_extra={"x-kubernetes-preserve-unknown-fields": True},
    ),
]


class Addon(Model):
    """An EKS managed add-on."""

    version: AddonVersion | None = Field(
        default=None,
        description=(
            "e.g. v1.19.2-eksbuild.1. Default: this release's pin for the Kubernetes "
            "version the cluster runs, moved with kubernetesVersion; set one to override it."
        ),
    )
    configuration: AddonConfiguration


class EbsCsiDriver(Addon):
    """The EBS CSI driver add-on and its IAM role (by Pod Identity)."""

    enabled: bool = True


class Addons(Model):
    """The EKS add-ons every cluster gets."""

    vpc_cni: Addon = Field(default_factory=Addon)
    kube_proxy: Addon = Field(default_factory=Addon)
    coredns: Addon = Field(default_factory=Addon)
    pod_identity_agent: Addon = Field(default_factory=Addon)
    ebs_csi_driver: EbsCsiDriver = Field(default_factory=EbsCsiDriver)


class CrossplaneIdentity(Model):
    """The IAM role the cluster's own Crossplane AWS providers get by EKS Pod Identity."""

    policy_arns: list[PolicyArn] = Field(
        default_factory=list,
        max_length=10,
        description=(
            "IAM policies attached to the role: what the cluster's Crossplane may do in AWS. "
            "No default: with neither these nor permissionsBoundary the role has no "
            "permissions (condition CrossplaneAwsPermissions False, NoPolicyNamed). Also "
            "from the EnvironmentConfig's aws.crossplaneIdentity (the XR wins)."
        ),
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    permissions_boundary: PolicyArn | None = Field(
        default=None,
        description=(
            "A permissions boundary policy ARN for the role. Named without policyArns, the "
            "role gets AdministratorAccess capped by it: the boundary is what it may do."
        ),
    )

    @model_validator(mode="after")
    def _unique(self) -> CrossplaneIdentity:
        reject_duplicates(self.policy_arns, "policyArns[{}]", "policy")
        return self


class Upgrade(Model):
    """How Kubernetes versions move: EKS's support policy, node groups, forcing."""

    support_type: Literal["STANDARD", "EXTENDED"] = Field(
        default="STANDARD",
        description=(
            "EKS upgradePolicy.supportType. STANDARD: at the end of standard support EKS "
            "upgrades the cluster itself. EXTENDED: it stays on its version in paid extended "
            "support (AWS's own default)."
        ),
    )
    hold_node_groups: bool = Field(
        default=False,
        description=(
            "Keep node groups at the version they run while the control plane and add-ons "
            "upgrade (a maintenance window); set back to false to let them follow. New node "
            "groups still join at the control plane's version."
        ),
    )
    force: bool = Field(
        default=False,
        description=(
            "Upgrade even when EKS's checks block it: forceUpdateVersion on the cluster "
            "(overrides the upgrade insights readiness checks) and on node groups (replaces "
            "nodes whose pods a PodDisruptionBudget keeps from draining)."
        ),
    )


class Aws(Model):
    """EKS settings beyond node groups (cross-field rules: ``AWS_VALIDATIONS``)."""

    network: Network = Field(default_factory=Network)
    endpoint_public_access: bool | None = Field(
        default=None,
        description=(
            "Serve the API on a public endpoint, reachable from publicAccessCidrs only. "
            "Default: true when publicAccessCidrs are given (here or in the EnvironmentConfig's "
            "aws.publicAccessCidrs), else false: the endpoint is private, and the platform's "
            "Crossplane and Argo CD must reach it from inside the VPC or a connected network."
        ),
    )
    endpoint_private_access: bool = Field(
        default=True, description="Serve the API inside the VPC too (nodes use it)."
    )
    public_access_cidrs: list[Cidr] | None = Field(
        default=None,
        min_length=1,
        max_length=40,
        description=(
            "Who may reach the public endpoint, e.g. the platform's egress addresses. "
            "Default: the EnvironmentConfig's aws.publicAccessCidrs; with none, the endpoint is "
            "private. 0.0.0.0/0 (the internet) is only ever used when listed."
        ),
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    authentication_mode: Literal["API", "API_AND_CONFIG_MAP"] = Field(
        default="API",
        description="How IAM principals are mapped to Kubernetes: access entries (API) or also "
        "the aws-auth ConfigMap. EKS only allows moving towards API.",
    )
    control_plane_logging: list[
        Literal["api", "audit", "authenticator", "controllerManager", "scheduler"]
    ] = Field(
        default=["api", "audit", "authenticator"],
        description="Control-plane log types sent to CloudWatch Logs.",
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    control_plane_log_retention_days: LogRetentionDays = Field(
        default=90,
        description=(
            "Days CloudWatch Logs keeps the control-plane logs (log group "
            "/aws/eks/<cluster>/cluster, deleted with the cluster); one of the values "
            "CloudWatch Logs offers."
        ),
    )
    admins: list[PrincipalArn] = Field(
        default_factory=list,
        max_length=20,
        description="IAM role or user ARNs given cluster-admin access entries.",
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    addons: Addons = Field(default_factory=Addons)
    upgrade: Upgrade = Field(default_factory=Upgrade)
    crossplane_identity: CrossplaneIdentity = Field(
        default_factory=CrossplaneIdentity,
        description=(
            "The role of the cluster's own Crossplane (stack.aws credentials source "
            "PodIdentity): only what the platform names, never AdministratorAccess by default."
        ),
    )
    workload_identity: WorkloadIdentity = Field(
        default_factory=WorkloadIdentity,
        description=(
            "AWS identities (a role, a narrow policy, a Pod Identity association) for the "
            "infrastructure bundle's external-dns, cert-manager, External Secrets and KEDA. "
            "Default: each, for its bundle API's default namespace. Also from the "
            "EnvironmentConfig's aws.workloadIdentity (the XR wins)."
        ),
    )
    load_balancer_controller: LoadBalancerController = Field(
        default_factory=LoadBalancerController,
        description=(
            "The AWS Load Balancer Controller in kube-system, with its own role by Pod "
            "Identity, once the node groups and coredns run. values merge over the API's "
            "(clusterName, region, vpcId, serviceAccount, defaultTags)."
        ),
    )
    cluster_autoscaler: ClusterAutoscaler = Field(
        default_factory=ClusterAutoscaler,
        description=(
            "cluster-autoscaler in kube-system, with its own role by Pod Identity, once the "
            "node groups and coredns run: it finds the node groups by the tags EKS puts on "
            "their Auto Scaling groups and scales each between minSize and maxSize. values "
            "merge over the API's (autoDiscovery, awsRegion, image.tag, rbac.serviceAccount)."
        ),
    )
    teardown: Teardown = Field(
        default_factory=Teardown,
        description=(
            "Deleting the Cluster first deletes its LoadBalancer Services and Ingresses "
            "(their load balancers) while the nodes run: forge-teardown, from this image."
        ),
    )
    tags: dict[str, str] = Field(
        default_factory=dict,
        max_length=40,
        description="Extra AWS tags on every resource that takes tags.",
    )
    provider_config_ref: ProviderConfigRef = Field(
        default_factory=ProviderConfigRef,
        description=(
            "The platform's AWS ProviderConfig the cluster is created with (a "
            "ClusterProviderConfig, or a ProviderConfig in the cluster's namespace)."
        ),
    )

    @property
    def public_endpoint(self) -> bool:
        """Whether the API has a public endpoint: as set, else when someone may reach it."""
        if self.endpoint_public_access is not None:
            return self.endpoint_public_access
        return self.public_access_cidrs is not None

    @model_validator(mode="after")
    def _checks(self) -> Aws:
        if self.endpoint_public_access and self.public_access_cidrs is None:
            raise FieldError(
                "publicAccessCidrs",
                "is required when endpointPublicAccess is true: list who may reach the public "
                f"endpoint, in the XR or as {PUBLIC_ACCESS_CIDRS_KEY} in the EnvironmentConfig "
                "(0.0.0.0/0 opens it to the internet)",
            )
        if not (self.public_endpoint or self.endpoint_private_access):
            raise FieldError(
                "endpointPublicAccess", "the API endpoint needs public or private access (or both)"
            )
        for index, cidr in enumerate(self.public_access_cidrs or ()):
            try:
                ipaddress.ip_network(cidr)
            except ValueError:
                raise FieldError(f"publicAccessCidrs[{index}]", "must be an IPv4 CIDR") from None
        reject_duplicates(self.admins, "admins[{}]", "principal")
        for key in self.tags:
            if key.startswith("aws:"):
                raise FieldError(f"tags{key_segment(key)}", "the aws: prefix is reserved")
        return self


class VCluster(Model):
    """The vCluster Helm release on the platform cluster."""

    chart_version: SemVer = Field(
        default=versions.VCLUSTER.version, description="vCluster chart version."
    )
    values: Values = Field(
        default_factory=dict,
        description=(
            "vCluster chart values merged over the ones this API derives. exportKubeConfig is "
            "owned by the API (it is how the platform reaches the cluster); extraSANs are added "
            "to the API's own."
        ),
        json_schema_extra={"x-kubernetes-preserve-unknown-fields": True},
    )

    @model_validator(mode="after")
    def _owned_values(self) -> VCluster:
        # The API server cannot see into free-form values, so only the function checks this.
        if "exportKubeConfig" in self.values:
            raise FieldError(
                "values.exportKubeConfig",
                "is set by the Cluster API (the platform and Argo CD reach the cluster through "
                "the kubeconfig it exports)",
            )
        return self


# Not under spec.crossplane: Crossplane owns that field on every XR and overwrites it.
class CrossplaneInstall(Model):
    """The Crossplane chart installed into the new cluster."""

    chart_version: SemVer = Field(
        default=versions.CROSSPLANE.version, description="Crossplane chart version."
    )
    values: Values


# Labels a Cluster chooses on its Argo CD cluster Secret live under this prefix alone:
# ApplicationSet cluster generators select clusters by label, and a selector on any other
# key (env: prod, the API's own forge.projectcatalyst.io/environment) must be one no
# Cluster can answer by itself (issue 21). The platform sees the prefix in a selector
# and knows the Cluster chose it.
ARGOCD_LABEL_PREFIX = f"tenant.{versions.GROUP}/"
ARGOCD_MAX_LABELS = 32
_LABEL_NAME = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?")
_LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?")


# Where the cluster Secret goes is the platform's choice, not the XR's: an XR that chose
# it could write <name>-cluster over another Cluster's kubeconfig Secret, or into a system
# namespace. So there is no namespace here (ARGOCD_NAMESPACE_KEY below).
class ArgoCD(Model):
    """How the cluster is registered with Argo CD (where: the EnvironmentConfig's)."""

    project: str | None = Field(
        default=None, min_length=1, description="Restrict the cluster to one Argo CD project."
    )
    labels: dict[str, str] = Field(
        default_factory=dict,
        max_length=ARGOCD_MAX_LABELS,
        description=(
            f"Extra labels on the cluster Secret, e.g. for ApplicationSet cluster generators: "
            f"keys {ARGOCD_LABEL_PREFIX}<name> only (a label name: 63 characters at most, "
            "alphanumeric at both ends, '-', '_', '.' between), values label values. Any other "
            "key is the platform's: a selector on it is never matched by a Cluster's choice."
        ),
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": f"self.all(k, k.startsWith('{ARGOCD_LABEL_PREFIX}'))",
                    "message": f"label keys must be {ARGOCD_LABEL_PREFIX}<name>",
                }
            ],
        },
    )
    annotations: dict[str, str] = Field(
        default_factory=dict, description="Extra annotations on the cluster Secret."
    )
    role_arn: str | None = Field(
        default=None,
        pattern=r"^arn:aws[a-z-]*:iam::\d{12}:role/.+$",
        description=(
            "EKS only: the IAM role Argo CD assumes (awsAuthConfig) and gets an access entry "
            "for. Without one, Argo CD gets the token of an argocd-manager ServiceAccount in "
            "the new cluster, as `argocd cluster add` makes it."
        ),
    )

    @model_validator(mode="after")
    def _tenant_labels(self) -> ArgoCD:
        for key, value in self.labels.items():
            path = f"labels{key_segment(key)}"
            name = key.removeprefix(ARGOCD_LABEL_PREFIX)
            if name == key or not _LABEL_NAME.fullmatch(name):
                raise FieldError(
                    path,
                    f"must be {ARGOCD_LABEL_PREFIX}<name> (a label name); other label keys are "
                    "the platform's, so that no Cluster can make an ApplicationSet select it",
                )
            if not _LABEL_VALUE.fullmatch(value):
                raise FieldError(
                    path,
                    "must be a label value: at most 63 characters, alphanumeric at both ends, "
                    "'-', '_', '.' between",
                )
        return self


class ClusterAwsProviders(AwsProviders):
    """The AWS providers of the cluster's own Crossplane."""

    enabled: bool | None = Field(  # type: ignore[assignment]
        default=None,
        description=(
            "Default: true when provider is aws (each cluster's Crossplane manages its own "
            "AWS resources, by Pod Identity), false for vcluster."
        ),
    )


class ClusterStack(Stack):
    """The self-management stack installed into the new cluster."""

    aws: ClusterAwsProviders = Field(default_factory=ClusterAwsProviders)  # type: ignore[assignment]


class ClusterSpec(Model):
    """An environment cluster."""

    environment_config_ref: EnvironmentConfigRef | None = None
    tier: TierField
    provider: Literal["aws", "vcluster"]
    region: str | None = Field(default=None, pattern=r"^[a-z]{2}(-[a-z]+)+-\d$", max_length=32)
    kubernetes_version: KubernetesVersion | None = Field(
        default=None, description=f"EKS control-plane version (default {DEFAULT_EKS_VERSION})."
    )
    node_groups: list[NodeGroup] = Field(
        default_factory=list,
        max_length=30,
        description="EKS managed node groups (EKS allows 30 per cluster).",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    )
    aws: Aws = Field(default_factory=Aws)
    vcluster: VCluster = Field(default_factory=VCluster)
    crossplane_install: CrossplaneInstall = Field(default_factory=CrossplaneInstall)
    stack: ClusterStack = Field(default_factory=ClusterStack)
    argocd: ArgoCD = Field(default_factory=ArgoCD)
    platform_provider_config_ref: ProviderConfigRef = Field(
        default_factory=ProviderConfigRef,
        description="Platform-cluster helm/kubernetes ProviderConfig (vCluster release, Secrets).",
    )

    def resolved(self) -> ClusterSpec:
        """The spec with provider-dependent defaults filled in, as the composers use it."""
        if self.stack.aws.enabled is not None:
            return self
        aws = self.stack.aws.model_copy(update={"enabled": self.provider == "aws"})
        return self.model_copy(update={"stack": self.stack.model_copy(update={"aws": aws})})

    @model_validator(mode="after")
    def _provider_inputs(self) -> ClusterSpec:
        if self.provider == "aws" and not self.region:
            raise FieldError("region", "is required when provider is aws")
        if self.provider == "aws" and not self.node_groups:
            raise FieldError("nodeGroups", "needs at least one node group when provider is aws")
        if self.provider != "aws":
            for path, value in (
                ("kubernetesVersion", self.kubernetes_version),
                ("nodeGroups", self.node_groups),
                ("argocd.roleArn", self.argocd.role_arn),
            ):
                if value:
                    raise FieldError(path, "applies to provider aws only")
        reject_duplicates(
            (g.name for g in self.node_groups), "nodeGroups[{}].name", "node group name"
        )
        return self

    @model_validator(mode="after")
    def _aws_zones(self) -> ClusterSpec:
        for index, zone in enumerate(self.aws.network.availability_zones):
            if self.region and zone[:-1] != self.region:
                raise FieldError(
                    f"aws.network.availabilityZones[{index}]", f"is not a zone of {self.region}"
                )
        return self


# Transition rules (oldSelf): a change that would build a second environment and orphan
# or delete the first is refused by the API server. Every regional managed resource finds
# its external resource in spec.region, the provider picks the whole stack, and the network
# mode decides whether a VPC is composed; none of them can move in place.
NEW_CLUSTER = "create a new Cluster instead"


def _has_subnets(s: str) -> str:
    """CEL: whether ``s`` (``self`` or ``oldSelf``) brings its own subnets."""
    return f"(has({s}.aws) && has({s}.aws.network) && has({s}.aws.network.subnetIds))"


REBUILD_VALIDATIONS = [
    {
        "rule": "self.provider == oldSelf.provider",
        "message": "provider is immutable: changing it would delete this environment's "
        f"clusters and build another; {NEW_CLUSTER}",
    },
    {
        # A vCluster has no use for a region: only an EKS Cluster's is held.
        "rule": "self.provider != 'aws' || !has(oldSelf.region) || "
        "(has(self.region) && self.region == oldSelf.region)",
        "message": "region is immutable: every regional resource (VPC, EKS cluster, IAM "
        "bindings) would be built again in the new region and the old ones orphaned; "
        f"{NEW_CLUSTER}",
    },
    {
        "rule": f"{_has_subnets('self')} == {_has_subnets('oldSelf')}",
        "message": "the network mode is immutable: aws.network.subnetIds (existing subnets) "
        "cannot be added or removed, as that would delete the composed VPC or compose one "
        f"under a running cluster; {NEW_CLUSTER}",
    },
]


def _minor(s: str) -> str:
    """CEL: the minor of ``s``'s kubernetesVersion (``s``: ``self`` or ``oldSelf``)."""
    return f"int({s}.kubernetesVersion.split('.')[1])"


# EKS upgrades one minor version at a time and never back: refused when asked, rather than
# admitted and then held back by the function. Unset, the cluster keeps what it runs, which
# the API server cannot see: the function judges a first value (and a dropped one).
VERSION_VALIDATIONS = [
    {
        "rule": "!has(oldSelf.kubernetesVersion) || !has(self.kubernetesVersion) || "
        f"{_minor('self')} - {_minor('oldSelf')} in [0, 1]",
        "message": "kubernetesVersion moves one minor version at a time and never back (EKS "
        "upgrades 1.34 to 1.35, not to 1.36 or 1.33): set the next minor version, let the "
        "upgrade finish, then the one after",
    },
]

CLUSTER_VALIDATIONS = [
    {
        "rule": "self.provider != 'aws' || has(self.region)",
        "message": "region is required when provider is aws",
    },
    {
        "rule": "self.provider != 'aws' || (has(self.nodeGroups) && size(self.nodeGroups) > 0)",
        "message": "nodeGroups needs at least one node group when provider is aws",
    },
    {
        "rule": "self.provider == 'aws' || !has(self.kubernetesVersion)",
        "message": "kubernetesVersion applies to provider aws only",
    },
    {
        "rule": "self.provider == 'aws' || !has(self.nodeGroups) || size(self.nodeGroups) == 0",
        "message": "nodeGroups applies to provider aws only",
    },
    {
        "rule": "self.provider == 'aws' || !has(self.argocd) || !has(self.argocd.roleArn)",
        "message": "argocd.roleArn applies to provider aws only",
    },
    {
        "rule": "!has(self.region) || !has(self.aws) || !has(self.aws.network) || "
        "!has(self.aws.network.availabilityZones) || self.aws.network.availabilityZones.all("
        "z, z.startsWith(self.region) && size(z) == size(self.region) + 1)",
        "message": "aws.network.availabilityZones must be zones of the region",
    },
    *AWS_VALIDATIONS,
    *REBUILD_VALIDATIONS,
    *VERSION_VALIDATIONS,
]
ClusterSpec.model_config["json_schema_extra"] = {"x-kubernetes-validations": CLUSTER_VALIDATIONS}
ClusterSpec.model_rebuild(force=True)

ENV_DEFAULTS = {"region": "region"}
# Argo CD's namespace: only the EnvironmentConfig sets it (composers/argocd.py checks it).
ARGOCD_NAMESPACE_KEY = "argocd.namespace"
ARGOCD_NAMESPACE_DEFAULT = "argocd"
# The principals the platform's AWS ProviderConfigs act as: only the platform's
# EnvironmentConfig names them (composers/eks/access_entries.py reads and checks them).
PLATFORM_PRINCIPALS_KEY = "aws.platformPrincipalArns"
PLATFORM_PRINCIPALS_MAX = 10
# Read only for provider aws: a vCluster has no use for an IAM role.
AWS_ENV_DEFAULTS = {
    "aws.publicAccessCidrs": PUBLIC_ACCESS_CIDRS_KEY,
    "argocd.roleArn": "argocd.roleArn",
    "aws.workloadIdentity": "aws.workloadIdentity",
    "aws.crossplaneIdentity": "aws.crossplaneIdentity",
}
