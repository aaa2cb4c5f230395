"""EKS: the AWS provider part of a Cluster.

In real-world order: network -> IAM -> control plane -> networking add-ons ->
node groups -> workload add-ons (and the default StorageClass they serve),
the AWS Load Balancer Controller and cluster-autoscaler -> access entries ->
Pod Identity for the cluster's own Crossplane and for the infrastructure bundle's
workloads -> kubeconfig -> without an Argo CD IAM role, the argocd-manager
ServiceAccount and its token in the new cluster (``argocd_manager``).
Everything lives in the cluster's namespace on the platform and uses
``spec.aws.providerConfigRef``. ``compose`` returns how the rest of the Cluster
reaches the new cluster; each field is set only once what it describes exists.
"""

from __future__ import annotations

from dataclasses import dataclass

from forge.composers.access import AwsAuth, ClusterAccess
from forge.composers.eks import (
    access_entries,
    addons,
    argocd_manager,
    autoscaler,
    control_plane,
    controller,
    iam,
    kubeconfig,
    loadbalancer,
    log_group,
    network,
    nodegroups,
    pod_identity,
    storage,
    teardown,
    upgrade,
    workloads,
)
from forge.composers.eks.base import Eks
from forge.core.context import Context
from forge.models.cluster import PLATFORM_PRINCIPALS_KEY, ClusterSpec


@dataclass
class Parts:
    """What each stage composed, for the conditions."""

    network: network.Network
    roles: iam.Roles
    logs: log_group.LogGroup
    plane: control_plane.ControlPlane
    groups: nodegroups.NodeGroups
    addons: addons.Addons
    load_balancing: controller.Controller
    autoscaling: controller.Controller
    access: access_entries.Access
    crossplane: pod_identity.Identity | None
    workloads: dict[str, pod_identity.Identity]
    kubeconfig: kubeconfig.Kubeconfig


def compose(ctx: Context, spec: ClusterSpec) -> ClusterAccess:
    """Compose the EKS cluster and everything it needs; report each stage."""
    e = Eks.of(ctx, spec)
    platform = access_entries.platform_principals(ctx)
    net = network.compose(e)
    roles = iam.compose(e)
    creator_admin = access_entries.creator_admin(e, platform)
    logs = log_group.compose(e)
    plane = control_plane.compose(e, net, roles, logs, creator_admin=creator_admin)
    installed = addons.Addons.of(e)
    networking_ready = addons.compose_networking(e, plane, installed)
    behind = upgrade.NodeVersions(addons_behind=upgrade.addons_behind(e, plane, installed))
    groups = nodegroups.compose(e, net, roles, plane, networking_ready, versions=behind)
    addons.compose_workloads(e, plane, groups.ready, installed)
    balancing = loadbalancer.compose(e, plane, groups.ready, installed)
    scaling = autoscaler.compose(e, plane, groups.ready, installed)
    admitted = access_entries.compose(e, plane, platform)
    own = pod_identity.crossplane(e, plane)
    bundle = workloads.compose(e, plane)
    secret = kubeconfig.compose(e, plane)
    teardown.hold(e)
    _stages(
        e,
        Parts(
            net,
            roles,
            logs,
            plane,
            groups,
            installed,
            balancing,
            scaling,
            admitted,
            own,
            bundle,
            secret,
        ),
    )
    argocd_role = spec.argocd.role_arn
    manager = argocd_manager.compose(e)
    return ClusterAccess(
        namespace=e.namespace,
        server=plane.endpoint,
        ca_data=plane.ca_data,
        kubeconfig=secret.secret if _usable(secret, own, admitted) else None,
        aws_auth=(
            AwsAuth(cluster_name=e.cluster_name, role_arn=argocd_role)
            if argocd_role and admitted.ready.get(argocd_role)
            else None
        ),
        kubernetes_version=plane.version or plane.manifest["spec"]["forProvider"]["version"],
        cluster_resource=plane.manifest if plane.composed else None,
        nodes_ready=groups.ready,
        bearer_token=manager.token,
        argocd_pending=manager.pending,
        cluster_objects={
            **storage.compose(e, installed),
            **manager.objects,
            **teardown.objects(spec.aws.teardown.image),
        },
        deleted_objects=frozenset({teardown.GATE_KEY}),
        cluster_releases={**balancing.releases, **scaling.releases},
        cluster_object_connections=manager.connections,
    )


def _usable(
    secret: kubeconfig.Kubeconfig,
    own: pod_identity.Identity | None,
    admitted: access_entries.Access,
) -> bool:
    """Bootstrap starts the stack's AWS providers: their identity must exist before them.
    The ClusterAuth's token is the platform's: usable once the platform is admitted."""
    return secret.written and (own is None or own.ready) and admitted.platform_admitted


def _stages(e: Eks, parts: Parts) -> None:
    """One condition per stage, with reasons a person understands."""
    ctx = e.ctx
    net, plane, groups = parts.network, parts.plane, parts.groups
    if e.spec.aws.network.subnet_ids is not None:
        ctx.stage("NetworkReady", True, "ExistingSubnets", "using the subnets from the spec")
    else:
        ctx.stage(
            "NetworkReady",
            net.ready,
            "Available" if net.ready else "Creating",
            "" if net.ready else f"waiting for {', '.join(net.pending)}",
        )
    if plane.version_problem == control_plane.UNKNOWN_VERSION:
        ctx.stage("ClusterReady", False, "UnknownVersion", plane.version_problem)
    elif plane.version_problem:
        ctx.stage("ClusterReady", False, "UnsupportedVersionChange", plane.version_problem)
    elif plane.ready and plane.running and plane.running != _asked(plane):
        ctx.stage(
            "ClusterReady",
            True,
            "Upgrading",
            f"EKS upgrades the control plane from {plane.running} to {_asked(plane)}; "
            "the add-ons, then the node groups follow",
        )
    elif plane.ready:
        ctx.stage("ClusterReady", True, "Available")
    elif plane.composed:
        ctx.stage("ClusterReady", False, "Creating", "EKS is creating the control plane")
    else:
        inputs = (
            ("the cluster role", parts.roles.cluster.ready),
            ("subnets", net.subnets_ready),
            ("the control-plane log group", parts.logs.ready),
        )
        waiting = " and ".join(what for what, ok in inputs if not ok)
        ctx.stage("ClusterReady", False, "WaitingForInputs", f"waiting for {waiting}")
    _kubeconfig_stage(e, parts)
    moving = groups.versions
    if moving.problems:
        ctx.stage("NodeGroupsReady", False, "UnsupportedVersionChange", "; ".join(moving.problems))
    elif groups.replacing:
        ctx.stage("NodeGroupsReady", False, "Replacing", "; ".join(groups.replacing))
    elif moving.waiting:
        ctx.stage(
            "NodeGroupsReady",
            False,
            "WaitingForAddons",
            f"{', '.join(moving.waiting)} upgrade to {plane.version} once the add-ons run "
            f"their {plane.version} versions: waiting for {', '.join(moving.addons_behind)}",
        )
    elif groups.ready and moving.held:
        ctx.stage(
            "NodeGroupsReady",
            True,
            "UpgradeHeld",
            f"{', '.join(moving.held)} held at their version by aws.upgrade.holdNodeGroups "
            f"(the control plane runs {plane.version}); set it to false to upgrade them",
        )
    elif groups.ready:
        ctx.stage("NodeGroupsReady", True, "Available")
    elif groups.waiting:
        ctx.stage(
            "NodeGroupsReady",
            False,
            "WaitingForControlPlane",
            "node groups wait for the control plane, the network and the vpc-cni add-on",
        )
    else:
        ctx.stage("NodeGroupsReady", False, "Creating", f"creating {', '.join(groups.creating)}")
    _addons_stage(e, parts)
    _access_stage(e, parts)


def _addons_stage(e: Eks, parts: Parts) -> None:
    """AddonsReady: the add-ons, the load balancer controller and the autoscaler."""
    ctx, plane, moving = e.ctx, parts.plane, parts.groups.versions
    pending = parts.addons.pending + parts.load_balancing.pending + parts.autoscaling.pending
    if not pending and moving.addons_behind:
        ctx.stage(
            "AddonsReady",
            False,
            "Upgrading",
            f"upgrading {', '.join(moving.addons_behind)} to their {plane.version} versions",
        )
    else:
        ctx.stage(
            "AddonsReady",
            not pending,
            "Available" if not pending else "Installing",
            f"waiting for {', '.join(pending)}" if pending else "",
        )


def _access_stage(e: Eks, parts: Parts) -> None:
    """AccessReady: access entries and the Pod Identities of every workload."""
    ctx = e.ctx
    own = parts.crossplane
    waiting_access = parts.access.pending + ([] if own is None or own.ready else ["crossplane"])
    identities = {**parts.workloads}
    if parts.load_balancing.identity is not None:
        identities[loadbalancer.PURPOSE] = parts.load_balancing.identity
    if parts.autoscaling.identity is not None:
        identities[autoscaler.PURPOSE] = parts.autoscaling.identity
    waiting_access += [purpose for purpose, ident in identities.items() if not ident.ready]
    message = f"waiting for access of {', '.join(waiting_access)}" if waiting_access else ""
    kept = _kept(parts.access)
    ctx.stage(
        "AccessReady",
        not (waiting_access or kept),
        "Configuring" if waiting_access or kept else "Available",
        "; ".join(m for m in (message, kept) if m),
    )


def _kept(access: access_entries.Access) -> str:
    """Why the entries of principals the platform no longer names are still there."""
    if not access.kept:
        return ""
    old = ", ".join(sorted(access.kept))
    if not access.platform:
        return (
            f"the platform's EnvironmentConfig names no {PLATFORM_PRINCIPALS_KEY}: the access "
            f"of {old} is kept, or the platform would lose this cluster"
        )
    return f"the access of {old} is kept until then"


def _asked(plane: control_plane.ControlPlane) -> str:
    """The version the control plane is asked to run."""
    return plane.manifest["spec"]["forProvider"]["version"]


def _kubeconfig_stage(e: Eks, parts: Parts) -> None:
    secret, own = parts.kubeconfig, parts.crossplane
    where = f"{secret.secret.namespace}/{secret.secret.name}"
    if _usable(secret, own, parts.access):
        e.ctx.stage("KubeconfigReady", True, "Available")
    elif not secret.composed:
        e.ctx.stage(
            "KubeconfigReady", False, "WaitingForCluster", "the control plane is not up yet"
        )
    elif not secret.written:
        e.ctx.stage(
            "KubeconfigReady", False, "Creating", f"waiting for ClusterAuth to write {where}"
        )
    elif not parts.access.platform_admitted:
        e.ctx.stage(
            "KubeconfigReady",
            False,
            "WaitingForPlatformAccess",
            "the kubeconfig's token is the platform's: waiting for the access entry of "
            f"{', '.join(parts.access.platform)}",
        )
    else:
        e.ctx.stage(
            "KubeconfigReady",
            False,
            "WaitingForIdentity",
            "the cluster's Crossplane starts once its AWS identity (Pod Identity) exists",
        )
