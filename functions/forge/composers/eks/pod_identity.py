"""AWS identities for workloads in the new cluster, by EKS Pod Identity.

A role trusted by ``pods.eks.amazonaws.com`` and an association binding it to one
service account. EKS injects credentials when a pod starts, so an association
must exist before its pods do: its users wait for it to be ready.

Every role's trust policy is conditioned on the session tags EKS Pod Identity sets
(``eks-cluster-name``, ``kubernetes-namespace``, ``kubernetes-service-account``) and on
the account the association lives in (``aws:SourceAccount``): an association in another
cluster, namespace, service account or account cannot use the role, even for someone
allowed to create associations and pass roles. The account is read from the cluster
role's ARN, so Pod Identity roles are composed from the call after it exists.

The cluster's own Crossplane gets one here: its AWS providers run as the
``provider-aws`` service account in ``crossplane-system`` (see ``stack``), and the
stack's AWS ProviderConfig uses credentials source ``PodIdentity``. Its role gets only
what the platform names (``aws.crossplaneIdentity``): never AdministratorAccess by
default (``crossplane_grants``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from forge.composers import stack
from forge.composers.eks.base import EKS, Eks, trust_policy
from forge.composers.eks.control_plane import ControlPlane
from forge.composers.eks.iam import Role, role
from forge.models.cluster import ClusterSpec

PODS_PRINCIPAL = "pods.eks.amazonaws.com"
CROSSPLANE_SERVICE_ACCOUNT = stack.AWS_ACCOUNT
# The session tags EKS Pod Identity sets when it assumes a role for a pod.
CLUSTER_TAG = "aws:RequestTag/eks-cluster-name"
NAMESPACE_TAG = "aws:RequestTag/kubernetes-namespace"
SERVICE_ACCOUNT_TAG = "aws:RequestTag/kubernetes-service-account"


@dataclass
class Identity:
    """A Pod Identity role (once the account is known) and whether its association is ready."""

    role: Role | None = None
    composed: bool = False
    ready: bool = False


def pod_trust_condition(
    e: Eks, account: str | None, namespace: str, service_account: str
) -> dict[str, Any]:
    """Only this cluster's association for this service account, in this account.

    ``account`` is unknown only for a role that exists while no observed ARN can be read
    (a provider reporting garbage): the role stays composed, its tags still conditioned.
    """
    tags = {
        CLUSTER_TAG: e.cluster_name,
        NAMESPACE_TAG: namespace,
        SERVICE_ACCOUNT_TAG: service_account,
    }
    return {"StringEquals": {**({"aws:SourceAccount": account} if account else {}), **tags}}


def _trusted_account(e: Eks, key: str) -> str | None:
    """The account an existing role's trust policy already names, if it can be read."""
    text = e.ctx.observed.get(key, "spec", "forProvider", "assumeRolePolicy")
    try:
        statements = json.loads(text)["Statement"] if isinstance(text, str) else []
        for statement in statements:
            account = statement["Condition"]["StringEquals"]["aws:SourceAccount"]
            if isinstance(account, str) and account.isdigit() and len(account) == 12:
                return account
    except (ValueError, KeyError, TypeError):
        return None
    return None


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
    """Compose the role once the account is known and its association once the cluster is up."""
    key = f"aws-role-{purpose}"
    account = e.account_id(key) or _trusted_account(e, key)
    if account is None and not e.ctx.is_composed(key):
        return Identity()
    condition = pod_trust_condition(e, account, namespace, service_account)
    composed_role = role(
        e,
        key,
        purpose,
        trust=trust_policy(PODS_PRINCIPAL, ("sts:AssumeRole", "sts:TagSession"), condition),
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


CROSSPLANE_CONDITION = "CrossplaneAwsPermissions"
CROSSPLANE_PURPOSE = "crossplane"


def crossplane_grants(e: Eks) -> tuple[list[str], str | None]:
    """The policies and the boundary of the cluster's Crossplane role, as the platform
    named them (``aws.crossplaneIdentity``, from the spec or the environment).

    - ``policyArns`` named: exactly those (bounded by ``permissionsBoundary`` if named).
    - only ``permissionsBoundary`` named: AdministratorAccess capped by that boundary,
      so the boundary is what Crossplane may do.
    - nothing named: no policy at all. The role and its association exist, so naming
      policies later needs nothing else, but every AWS call of the cluster's Crossplane
      is denied until then (``permissions`` says so in the XR's condition).
    """
    settings = e.spec.aws.crossplane_identity
    boundary = settings.permissions_boundary
    if settings.policy_arns:
        return list(settings.policy_arns), boundary
    if boundary:
        return [e.aws_policy("AdministratorAccess")], boundary
    return [], None


def permissions(spec: ClusterSpec) -> tuple[bool, str, str]:
    """The ``CrossplaneAwsPermissions`` condition of an EKS Cluster: what its own Crossplane
    may do in AWS. Written on every call, from the spec alone; it never gates readiness."""
    aws = spec.stack.aws
    if not aws.enabled or aws.credentials.source != "PodIdentity":
        return (
            True,
            "NotRequired",
            "the cluster's Crossplane has no AWS providers authenticated by Pod Identity",
        )
    settings = spec.aws.crossplane_identity
    boundary = settings.permissions_boundary
    if settings.policy_arns:
        bounded = f", bounded by {boundary}" if boundary else ""
        return True, "PolicyArns", f"{', '.join(settings.policy_arns)}{bounded}"
    if boundary:
        return (
            True,
            "PermissionsBoundary",
            f"AdministratorAccess within the permissions boundary {boundary}",
        )
    return (
        False,
        "NoPolicyNamed",
        "the cluster's Crossplane has an AWS identity but no permissions: name IAM policies "
        "in spec.aws.crossplaneIdentity.policyArns or a permissionsBoundary (or "
        "aws.crossplaneIdentity in the EnvironmentConfig)",
    )


def crossplane(e: Eks, plane: ControlPlane) -> Identity | None:
    """The cluster's own Crossplane AWS identity, when its stack has AWS providers that
    authenticate by Pod Identity (the default credentials source)."""
    aws = e.spec.stack.aws
    if not aws.enabled or aws.credentials.source != "PodIdentity":
        return None
    policy_arns, boundary = crossplane_grants(e)
    return pod_identity(
        e,
        CROSSPLANE_PURPOSE,
        namespace=stack.CROSSPLANE_NAMESPACE,
        service_account=CROSSPLANE_SERVICE_ACCOUNT,
        policy_arns=policy_arns,
        plane=plane,
        permissions_boundary=boundary,
    )
