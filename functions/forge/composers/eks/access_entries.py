"""EKS access entries: the cluster admins from the spec, and the role Argo CD assumes.

Each principal gets an access entry and the cluster-admin access policy. The
policy association references its entry, so the provider creates them in order.
Names carry a hash of the principal's ARN: stable whatever the list order, and
distinct for same-named roles of different accounts.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

from forge.composers.eks.base import EKS, Eks
from forge.composers.eks.control_plane import ControlPlane

ADMIN_POLICY = "AmazonEKSClusterAdminPolicy"


@dataclass
class Access:
    """Readiness of each principal's access, by ARN."""

    ready: dict[str, bool] = field(default_factory=dict)

    @property
    def pending(self) -> list[str]:
        return sorted(arn for arn, ok in self.ready.items() if not ok)


def principal_id(arn: str) -> str:
    """A short, readable, unique id for a principal: its name and a hash of its ARN."""
    slug = re.sub(r"[^a-z0-9]+", "-", arn.rsplit("/", 1)[-1].lower()).strip("-")[:24]
    digest = hashlib.sha256(arn.encode()).hexdigest()[:8]
    return f"{slug}-{digest}" if slug else digest


def principals(e: Eks) -> list[str]:
    """Every principal to admit, once each (Argo CD's role may also be an admin)."""
    arns = list(e.spec.aws.admins)
    if e.spec.argocd.role_arn and e.spec.argocd.role_arn not in arns:
        arns.append(e.spec.argocd.role_arn)
    return arns


def compose(e: Eks, plane: ControlPlane) -> Access:
    """An access entry and a cluster-admin policy association per principal."""
    access = Access()
    policy_arn = f"arn:{e.partition}:eks::aws:cluster-access-policy/{ADMIN_POLICY}"
    for arn in principals(e):
        ident = principal_id(arn)
        entry_key, policy_key = f"aws-access-{ident}", f"aws-access-{ident}-admin"
        if not e.due(entry_key, plane.ready):
            access.ready[arn] = False
            continue
        name = e.name("access", ident)
        entry = e.manifest(
            EKS,
            "AccessEntry",
            name,
            {"clusterNameRef": plane.ref, "principalArn": arn, "type": "STANDARD"},
        )
        association = e.manifest(
            EKS,
            "AccessPolicyAssociation",
            name,
            {
                "clusterNameRef": plane.ref,
                "principalArnRef": {"name": name},
                "policyArn": policy_arn,
                "accessScope": {"type": "cluster"},
            },
        )
        access.ready[arn] = all([e.compose(entry_key, entry), e.compose(policy_key, association)])
    return access
