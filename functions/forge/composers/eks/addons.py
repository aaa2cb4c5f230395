"""EKS managed add-ons, each gated on what it needs.

The cluster is created without EKS's self-managed add-ons, so the networking
add-ons (DaemonSets: vpc-cni, kube-proxy, the Pod Identity agent) come as soon
as the cluster is up and the node groups wait for vpc-cni, without which nodes
never turn Ready. coredns and the EBS CSI driver run Deployments that only turn
healthy on nodes, so they wait for the node groups (and the driver for its
Pod Identity association, which must exist before its pods start).

Versions come from ``versions.EKS_ADDONS`` for the Kubernetes the cluster runs, so
they move with ``kubernetesVersion`` (EKS itself never upgrades an add-on), after
the control plane; ``resolveConflictsOnUpdate: OVERWRITE`` lets an upgrade through.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from forge import versions
from forge.composers.eks.base import EKS, Eks
from forge.composers.eks.control_plane import ControlPlane
from forge.composers.eks.pod_identity import pod_identity
from forge.models.cluster import Addon

EBS_CSI_POLICY = "service-role/AmazonEBSCSIDriverPolicy"
EBS_CSI_SERVICE_ACCOUNT = "ebs-csi-controller-sa"
EBS_CSI = "aws-ebs-csi-driver"
NETWORKING = ("vpc-cni", "kube-proxy", "eks-pod-identity-agent")


@dataclass
class Addons:
    """The add-ons this cluster gets and the readiness of those composed so far."""

    expected: list[str]
    ready: dict[str, bool] = field(default_factory=dict)

    @classmethod
    def of(cls, e: Eks) -> Addons:
        names = [*NETWORKING, "coredns"]
        if e.spec.aws.addons.ebs_csi_driver.enabled:
            names.append(EBS_CSI)
        return cls(expected=names)

    @property
    def pending(self) -> list[str]:
        """Add-ons not composed yet or not ready yet."""
        return [name for name in self.expected if not self.ready.get(name, False)]


def version(e: Eks, plane: ControlPlane, name: str, settings: Addon) -> str | None:
    """The spec's version, else this release's pin for the Kubernetes the cluster runs.

    The running version, not the requested one: during an upgrade the control plane
    moves first, and an add-on version must support the version it runs. So an add-on
    moves only once the control plane is Ready at its new version; until then it keeps
    the version it was last given. A minor without pins (a cluster older than this
    release) keeps EKS's choice.
    """
    if settings.version:
        return settings.version
    if not plane.ready or plane.version is None:
        last = e.ctx.observed.get(f"aws-addon-{name}", "spec", "forProvider", "addonVersion")
        if isinstance(last, str):
            return last
    running = plane.version or plane.running or plane.manifest["spec"]["forProvider"]["version"]
    return versions.EKS_ADDONS.get(running, {}).get(name)


def settings_of(e: Eks, name: str) -> Addon:
    """The spec's settings of the add-on ``name``."""
    settings = e.spec.aws.addons
    return {
        "vpc-cni": settings.vpc_cni,
        "kube-proxy": settings.kube_proxy,
        "eks-pod-identity-agent": settings.pod_identity_agent,
        "coredns": settings.coredns,
        EBS_CSI: settings.ebs_csi_driver,
    }[name]


def _addon(e: Eks, plane: ControlPlane, name: str, settings: Addon) -> bool:
    params: dict[str, object] = {
        "addonName": name,
        "clusterNameRef": plane.ref,
        "resolveConflictsOnCreate": "OVERWRITE",
        "resolveConflictsOnUpdate": "OVERWRITE",
    }
    pinned = version(e, plane, name, settings)
    if pinned:
        params["addonVersion"] = pinned
    if settings.configuration:
        params["configurationValues"] = json.dumps(settings.configuration, sort_keys=True)
    return e.compose(f"aws-addon-{name}", e.manifest(EKS, "Addon", e.name(name), params))


def compose_networking(e: Eks, plane: ControlPlane, addons: Addons) -> bool:
    """vpc-cni, kube-proxy and the Pod Identity agent; return whether vpc-cni is ready."""
    settings = e.spec.aws.addons
    chosen = (settings.vpc_cni, settings.kube_proxy, settings.pod_identity_agent)
    for name, addon in zip(NETWORKING, chosen, strict=True):
        if e.due(f"aws-addon-{name}", plane.ready):
            addons.ready[name] = _addon(e, plane, name, addon)
    return addons.ready.get("vpc-cni", False)


def compose_workloads(e: Eks, plane: ControlPlane, nodes_ready: bool, addons: Addons) -> None:
    """coredns and the EBS CSI driver (with its role), once nodes can run them."""
    settings = e.spec.aws.addons
    if e.due("aws-addon-coredns", plane.ready and nodes_ready):
        addons.ready["coredns"] = _addon(e, plane, "coredns", settings.coredns)
    if not settings.ebs_csi_driver.enabled:
        return
    identity = pod_identity(
        e,
        "ebs-csi",
        namespace="kube-system",
        service_account=EBS_CSI_SERVICE_ACCOUNT,
        policy_arns=[e.aws_policy(EBS_CSI_POLICY)],
        plane=plane,
    )
    if e.due(f"aws-addon-{EBS_CSI}", plane.ready and nodes_ready and identity.ready):
        addons.ready[EBS_CSI] = _addon(e, plane, EBS_CSI, settings.ebs_csi_driver)
