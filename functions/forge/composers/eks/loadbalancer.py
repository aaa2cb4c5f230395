"""The AWS Load Balancer Controller: what serves LoadBalancer Services and Ingresses on EKS.

Without it a Service of type LoadBalancer with ``aws-load-balancer-type: external``
(the Istio ``aws`` profile's gateway) never gets a load balancer. The controller gets
a role of its own by Pod Identity (``policies.load_balancer_controller``) and is
installed into ``kube-system`` of the new cluster (bootstrap composes the Release
through the cluster's helm ProviderConfig) once nodes can run it, coredns resolves
AWS endpoints for it and its association exists (EKS gives credentials only to pods
that start after it). ``vpcId`` comes from the EKS cluster, so no pod needs instance
metadata; ``defaultTags`` are the cluster's tags.

Deletion: the Release is orphaned, like Crossplane's (the controller dies with the
nodes), and holds the EKS cluster; the teardown gate (``teardown``) keeps the nodes and
the controller's identity until the cluster's load balancers are gone.
"""

from __future__ import annotations

from typing import Any

from forge import versions
from forge.composers.eks import controller, policies
from forge.composers.eks.addons import Addons
from forge.composers.eks.base import Eks
from forge.composers.eks.control_plane import CLUSTER, ControlPlane
from forge.composers.eks.controller import Controller

KEY = "load-balancer-controller"
NAME = "aws-load-balancer-controller"  # the Release MR, the Helm release, its fullname
NAMESPACE = "kube-system"
SERVICE_ACCOUNT = "aws-load-balancer-controller"
PURPOSE = "lb-controller"
INSTALL = controller.Install(
    KEY, NAME, NAMESPACE, SERVICE_ACCOUNT, PURPOSE, versions.AWS_LOAD_BALANCER_CONTROLLER
)


def _vpc_id(e: Eks) -> str | None:
    """The cluster's VPC as EKS reports it, else as the Release already has it."""
    observed = e.ctx.observed
    vpc = observed.get(CLUSTER, "status", "atProvider", "vpcConfig", "vpcId")
    return vpc or observed.get(KEY, "spec", "forProvider", "values", "vpcId")


def values(e: Eks, vpc_id: str) -> dict[str, Any]:
    """The chart's values this API owns (``values`` of the spec merge over them)."""
    return {
        "clusterName": e.cluster_name,
        "region": e.region,
        "vpcId": vpc_id,
        "serviceAccount": {"create": True, "name": SERVICE_ACCOUNT},
        "defaultTags": dict(e.tags),
        # Features its policy does not grant (policies.load_balancer_controller).
        "enableShield": False,
        "enableWaf": False,
        "enableWafv2": False,
        "podDisruptionBudget": {"maxUnavailable": 1},
    }


def compose(e: Eks, plane: ControlPlane, nodes_ready: bool, addons: Addons) -> Controller:
    """The role and association now; the Release once its inputs and the VPC are known."""

    def owned() -> dict[str, Any] | None:
        vpc = _vpc_id(e)
        return None if vpc is None else values(e, vpc)

    return controller.compose(
        e,
        INSTALL,
        e.spec.aws.load_balancer_controller,
        plane=plane,
        nodes_ready=nodes_ready,
        addons=addons,
        inline_policy=policies.load_balancer_controller(e),
        values=owned,
    )
