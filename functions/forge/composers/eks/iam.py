"""IAM roles: the EKS cluster role, the node role, and the builder every role here uses.

Roles and their AWS managed policy attachments need nothing else, so they are
composed on the first call and are usually ready before the network is.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from forge.composers.eks.base import IAM, Eks, trust_policy

CLUSTER_POLICIES = ("AmazonEKSClusterPolicy",)
NODE_POLICIES = (
    "AmazonEKSWorkerNodePolicy",
    "AmazonEKS_CNI_Policy",
    "AmazonEC2ContainerRegistryReadOnly",
)


def policy_id(arn: str) -> str:
    """A short, stable id for a policy: its name, plus a hash unless AWS manages it.

    Customer policies of the same name may live in several paths or accounts.
    """
    policy = arn.rsplit("/", 1)[-1].lower()
    if ":iam::aws:policy/" in arn:
        return policy
    return f"{policy}-{hashlib.sha256(arn.encode()).hexdigest()[:8]}"


@dataclass
class Role:
    """A composed role and its policy attachments: (key, manifest) each."""

    key: str
    manifest: dict[str, Any]
    attachments: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    ready: bool = False

    @property
    def ref(self) -> dict[str, str]:
        """A reference to the role by its MR name (the provider resolves the ARN)."""
        return {"name": self.manifest["metadata"]["name"]}

    def all(self) -> list[tuple[str, dict[str, Any]]]:
        """The role and its attachments: what must outlive whatever uses the role."""
        return [(self.key, self.manifest), *self.attachments]


@dataclass
class Roles:
    """The roles the control plane and the nodes run as."""

    cluster: Role
    node: Role


def role(
    e: Eks,
    key: str,
    purpose: str,
    *,
    trust: str,
    policy_arns: list[str],
    description: str,
    permissions_boundary: str | None = None,
    inline_policy: str | None = None,
) -> Role:
    """Compose an IAM role named after the cluster and purpose, with its policies.

    ``inline_policy`` (a policy document of this API's own) lives in the role, named
    after its purpose: it is created and deleted with the role.
    """
    name = e.role_name(purpose)
    params: dict[str, Any] = {"assumeRolePolicy": trust, "description": description}
    if permissions_boundary:
        params["permissionsBoundary"] = permissions_boundary
    if inline_policy:
        params["inlinePolicy"] = [{"name": purpose, "policy": inline_policy}]
    manifest = e.manifest(IAM, "Role", name, params)
    composed = Role(key=key, manifest=manifest)
    ready = [e.compose(key, manifest)]
    for arn in policy_arns:
        policy = policy_id(arn)
        attachment_key = f"{key}-{policy}"
        attachment = e.manifest(
            IAM,
            "RolePolicyAttachment",
            e.name(purpose, policy),
            {"policyArn": arn, "roleRef": {"name": name}},
        )
        ready.append(e.compose(attachment_key, attachment))
        composed.attachments.append((attachment_key, attachment))
    composed.ready = all(ready)
    return composed


def compose(e: Eks) -> Roles:
    """The cluster role (assumed by EKS) and the node role (assumed by EC2)."""
    cluster = role(
        e,
        "aws-role-cluster",
        "cluster",
        trust=trust_policy("eks.amazonaws.com", ("sts:AssumeRole", "sts:TagSession")),
        policy_arns=[e.aws_policy(p) for p in CLUSTER_POLICIES],
        description=f"EKS control plane of cluster {e.cluster_name}",
    )
    node = role(
        e,
        "aws-role-node",
        "node",
        trust=trust_policy(f"ec2.{e.dns_suffix}"),
        policy_arns=[e.aws_policy(p) for p in NODE_POLICIES],
        description=f"EKS managed nodes of cluster {e.cluster_name}",
    )
    return Roles(cluster=cluster, node=node)
