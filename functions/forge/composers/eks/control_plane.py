"""The EKS control plane: version, API access, endpoint access, logging.

It waits for its role and its subnets, then holds them (and the node role, and
the VPC) with Usages: deleting them first would leave EKS unable to clean up its
network interfaces and the cluster stuck in DELETING. It holds the rest of the
network too (``Network.held``), and node groups hold it: the network goes only
after the nodes and the cluster, so nothing running in the cluster loses its way
out (or its load balancers their subnets) before it stops.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from forge.composers.eks.base import EKS, Eks
from forge.composers.eks.iam import Roles
from forge.composers.eks.log_group import KEY as LOG_GROUP
from forge.composers.eks.log_group import LogGroup
from forge.composers.eks.network import Network
from forge.models.cluster import DEFAULT_EKS_VERSION

CLUSTER = "aws-eks-cluster"
# What EKS reports (Cluster.version): <major>.<minor>, e.g. 1.34.
_VERSION = re.compile(r"[0-9]{1,3}\.[0-9]{1,3}")
UNKNOWN_VERSION = (
    "EKS reports a Kubernetes version this function cannot read (status.atProvider.version "
    "of the EKS Cluster is not <major>.<minor>): the cluster is kept at the version last "
    "asked for, and node groups and add-ons are not moved"
)


@dataclass
class ControlPlane:
    """The cluster as composed and observed."""

    manifest: dict[str, Any]
    composed: bool = False
    ready: bool = False
    endpoint: str | None = None
    ca_data: str | None = None
    version: str | None = None
    running: str | None = None  # what EKS reports running, ready or not (mid-upgrade)
    version_problem: str = ""

    @property
    def ref(self) -> dict[str, str]:
        """A reference to the cluster by its MR name (the provider resolves its name)."""
        return {"name": self.manifest["metadata"]["name"]}


def minor(version: str) -> int:
    """The minor of a <major>.<minor> version."""
    return int(version.split(".")[1])


def known(version: object) -> str | None:
    """The version if it is <major>.<minor> (what EKS reports), else None."""
    return version if isinstance(version, str) and _VERSION.fullmatch(version) else None


def target_version(requested: str | None, running: str | None) -> tuple[str, str]:
    """The version to ask EKS for, and why the requested one is refused ("" if not).

    An unpinned cluster keeps the version it runs, so that a new default in a
    release of this function never upgrades existing clusters. EKS upgrades one
    minor version at a time and never downgrades: such a request is held back
    and reported instead of being sent to fail.
    """
    if running is None:
        return requested or DEFAULT_EKS_VERSION, ""
    if requested is None or requested == running:
        return running, ""
    step = minor(requested) - minor(running)
    if step < 0:
        return (
            running,
            f"kubernetesVersion {requested} is older than the running {running}: "
            "EKS cannot downgrade",
        )
    if step > 1:
        return running, (
            f"kubernetesVersion {requested} skips minor versions: EKS upgrades one at a time "
            f"(running {running}, next {running.split('.')[0]}.{minor(running) + 1})"
        )
    return requested, ""


def compose(
    e: Eks, network: Network, roles: Roles, logs: LogGroup, *, creator_admin: bool = True
) -> ControlPlane:
    """Compose the cluster once its role, subnets and log group are ready; read what EKS
    reports.

    ``creator_admin``: whether EKS makes the creator an admin (``access_entries.creator_admin``).
    """
    observed = e.ctx.observed
    reported = observed.get(CLUSTER, "status", "atProvider", "version")
    running = known(reported)
    if reported is not None and running is None:
        # Changed by nobody but the provider: hold the cluster where it was last sent.
        last = known(observed.get(CLUSTER, "spec", "forProvider", "version"))
        version = last or e.spec.kubernetes_version or DEFAULT_EKS_VERSION
        problem = UNKNOWN_VERSION
    else:
        version, problem = target_version(e.spec.kubernetes_version, running)
    aws = e.spec.aws
    vpc_config: dict[str, Any] = {
        **network.subnets(),
        "endpointPrivateAccess": aws.endpoint_private_access,
        "endpointPublicAccess": aws.public_endpoint,
    }
    if aws.public_endpoint and aws.public_access_cidrs:
        vpc_config["publicAccessCidrs"] = list(aws.public_access_cidrs)
    manifest = e.manifest(
        EKS,
        "Cluster",
        e.cluster_name,
        {
            "version": version,
            "roleArnRef": roles.cluster.ref,
            "vpcConfig": vpc_config,
            "accessConfig": {
                "authenticationMode": aws.authentication_mode,
                # Off when the platform names its principals: they get access entries,
                # which survive a change of the identity that created the cluster.
                "bootstrapClusterCreatorAdminPermissions": creator_admin,
            },
            # The add-ons are EKS managed add-ons composed here, not self-managed copies.
            "bootstrapSelfManagedAddons": False,
            "enabledClusterLogTypes": list(aws.control_plane_logging),
            # AWS's default, EXTENDED, moves a cluster past standard support into paid
            # extended support; STANDARD (this API's default) upgrades it at the end instead.
            "upgradePolicy": {"supportType": aws.upgrade.support_type},
        },
    )
    if aws.upgrade.force:
        manifest["spec"]["forProvider"]["forceUpdateVersion"] = True
    plane = ControlPlane(manifest=manifest, running=running, version_problem=problem)
    if not e.due(CLUSTER, roles.cluster.ready and network.subnets_ready and logs.ready):
        return plane
    plane.composed = True
    plane.ready = e.compose(CLUSTER, manifest)
    for key, used in [*roles.cluster.all(), *roles.node.all(), *network.protected]:
        e.protect(key, used, CLUSTER, manifest)
    for key, used in network.held:
        e.protect(key, used, CLUSTER, manifest, by_keys=True)
    if logs.manifest is not None:
        e.protect(LOG_GROUP, logs.manifest, CLUSTER, manifest)
    if plane.ready:
        plane.endpoint = observed.get(CLUSTER, "status", "atProvider", "endpoint")
        plane.ca_data = observed.get(
            CLUSTER, "status", "atProvider", "certificateAuthority", 0, "data"
        )
        plane.version = running
    return plane
