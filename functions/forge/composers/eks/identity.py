"""AWS identities for workloads in the new cluster, by EKS Pod Identity.

A role trusted by ``pods.eks.amazonaws.com`` and an association binding it to one
service account. EKS injects credentials when a pod starts, so an association
must exist before its pods do: its users wait for it to be ready.

The cluster's own Crossplane gets one here: its AWS providers run as the
``provider-aws`` service account in ``crossplane-system`` (see ``stack``), and the
stack's AWS ProviderConfig uses credentials source ``PodIdentity``.
"""

from __future__ import annotations

from dataclasses import dataclass

from forge.composers import stack
from forge.composers.eks.base import EKS, Eks, trust_policy
from forge.composers.eks.cluster import ControlPlane
from forge.composers.eks.iam import Role, role

PODS_PRINCIPAL = "pods.eks.amazonaws.com"
CROSSPLANE_SERVICE_ACCOUNT = stack.AWS_ACCOUNT


@dataclass
class Identity:
    """A Pod Identity role and whether its association is ready."""

    role: Role
    composed: bool = False
    ready: bool = False


def pod_identity(
    e: Eks,
    purpose: str,
    *,
    namespace: str,
    service_account: str,
    policy_arns: list[str],
    plane: ControlPlane,
    permissions_boundary: str | None = None,
    inline_policy: str | None = None,
) -> Identity:
    """Compose the role now and its association once the cluster is up."""
    composed_role = role(
        e,
        f"aws-role-{purpose}",
        purpose,
        trust=trust_policy(PODS_PRINCIPAL, ("sts:AssumeRole", "sts:TagSession")),
        policy_arns=policy_arns,
        description=f"{namespace}/{service_account} in EKS cluster {e.cluster_name}",
        permissions_boundary=permissions_boundary,
        inline_policy=inline_policy,
    )
    identity = Identity(role=composed_role)
    key = f"aws-pod-identity-{purpose}"
    if not e.due(key, plane.ready and composed_role.ready):
        return identity
    manifest = e.manifest(
        EKS,
        "PodIdentityAssociation",
        e.name(purpose),
        {
            "clusterNameRef": plane.ref,
            "namespace": namespace,
            "serviceAccount": service_account,
            "roleArnRef": composed_role.ref,
        },
    )
    identity.composed = True
    identity.ready = e.compose(key, manifest)
    return identity


def crossplane(e: Eks, plane: ControlPlane) -> Identity | None:
    """The cluster's own Crossplane AWS identity, when its stack has AWS providers that
    authenticate by Pod Identity (the default credentials source)."""
    aws = e.spec.stack.aws
    if not aws.enabled or aws.credentials.source != "PodIdentity":
        return None
    settings = e.spec.aws.crossplane_identity
    return pod_identity(
        e,
        "crossplane",
        namespace=stack.CROSSPLANE_NAMESPACE,
        service_account=CROSSPLANE_SERVICE_ACCOUNT,
        policy_arns=list(settings.policy_arns) or [e.aws_policy("AdministratorAccess")],
        plane=plane,
        permissions_boundary=settings.permissions_boundary,
    )
