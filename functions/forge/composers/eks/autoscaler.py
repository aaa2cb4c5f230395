"""cluster-autoscaler: what adds nodes for Pending pods and removes idle ones, on EKS.

Without it every node group stays at the size it was created with and ``maxSize`` is
never used. It finds the node groups itself (auto-discovery): EKS tags each managed node
group's Auto Scaling group ``k8s.io/cluster-autoscaler/enabled`` and
``k8s.io/cluster-autoscaler/<cluster>``, and the group's ``minSize``/``maxSize`` are the
Auto Scaling group's bounds, which it honours. The node groups set the desired size only
at creation (``nodegroups``), so the provider never resets what it scaled.

It gets a role of its own by Pod Identity (``policies.cluster_autoscaler``: scaling only
the Auto Scaling groups tagged for this cluster) and is installed into ``kube-system`` of
the new cluster like the AWS Load Balancer Controller (``loadbalancer``), once nodes,
coredns and its association exist. Its image follows the Kubernetes minor the control
plane runs (``versions.CLUSTER_AUTOSCALER_IMAGES``): cluster-autoscaler supports only
its own minor.

Deletion: the Release is orphaned and holds the EKS cluster, as the controller's does.
"""

from __future__ import annotations

from typing import Any

from forge import versions
from forge.composers.eks import controller, policies
from forge.composers.eks.addons import Addons
from forge.composers.eks.base import Eks
from forge.composers.eks.control_plane import ControlPlane
from forge.composers.eks.controller import Controller

KEY = "cluster-autoscaler"
NAME = "cluster-autoscaler"  # the Release MR, the Helm release, its fullname
NAMESPACE = "kube-system"
SERVICE_ACCOUNT = "cluster-autoscaler"
PURPOSE = "autoscaler"
INSTALL = controller.Install(
    KEY, NAME, NAMESPACE, SERVICE_ACCOUNT, PURPOSE, versions.CLUSTER_AUTOSCALER
)


def image_tag(plane: ControlPlane) -> str | None:
    """The image for the Kubernetes minor the control plane runs (during an upgrade it
    moves first); None for a minor without a pin (the chart's own image)."""
    running = plane.running or plane.manifest["spec"]["forProvider"]["version"]
    return versions.CLUSTER_AUTOSCALER_IMAGES.get(running)


def values(e: Eks, plane: ControlPlane) -> dict[str, Any]:
    """The chart's values this API owns (``values`` of the spec merge over them)."""
    out: dict[str, Any] = {
        "cloudProvider": "aws",
        "awsRegion": e.region,
        # The chart looks for both tags: k8s.io/cluster-autoscaler/{enabled,<clusterName>}.
        "autoDiscovery": {"clusterName": e.cluster_name},
        "fullnameOverride": NAME,
        "rbac": {"serviceAccount": {"create": True, "name": SERVICE_ACCOUNT}},
    }
    tag = image_tag(plane)
    if tag:
        out["image"] = {"tag": tag}
    return out


def compose(e: Eks, plane: ControlPlane, nodes_ready: bool, addons: Addons) -> Controller:
    """The role and association now; the Release once its inputs are ready."""
    return controller.compose(
        e,
        INSTALL,
        e.spec.aws.cluster_autoscaler,
        plane=plane,
        nodes_ready=nodes_ready,
        addons=addons,
        inline_policy=policies.cluster_autoscaler(e),
        values=lambda: values(e, plane),
    )
