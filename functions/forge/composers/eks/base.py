"""What every EKS module shares: where resources go, how they are named, tagged and gated.

Every managed resource lands in the cluster's namespace on the platform, uses the
spec's AWS ProviderConfig (kind and name, always) and carries the common tags, so
that one builder makes them all.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from forge.composers import usage
from forge.composers.access import namespace_for
from forge.core import naming
from forge.core.context import Context
from forge.core.errors import SpecError
from forge.models.cluster import ClusterSpec

EC2 = "ec2.aws.m.upbound.io/v1beta1"
IAM = "iam.aws.m.upbound.io/v1beta1"
EKS = "eks.aws.m.upbound.io/v1beta1"

CLUSTER_TAG = "forge.projectcatalyst.io/cluster"
IAM_ROLE_MAX = 64
NODE_GROUP_MAX = 63
# EKS cluster names: a letter or digit, then letters, digits, - and _; 100 at most.
_EKS_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,99}$")


def check_name(ctx: Context) -> None:
    """Reject, before anything is composed, an XR name EKS cannot take as a cluster name."""
    if not _EKS_NAME.match(ctx.name):
        raise SpecError(
            "metadata.name",
            "names the EKS cluster for provider aws: letters, digits and '-', 100 at most",
        )


# Kinds whose forProvider takes no region (IAM is global) or no tags.
_GLOBAL_KINDS = frozenset({(IAM, "Role"), (IAM, "RolePolicyAttachment")})
_UNTAGGED_KINDS = frozenset(
    {
        (IAM, "RolePolicyAttachment"),
        (EC2, "Route"),
        (EC2, "RouteTableAssociation"),
        (EKS, "AccessPolicyAssociation"),
        (EKS, "ClusterAuth"),
    }
)


def partition(region: str) -> tuple[str, str]:
    """The AWS partition of a region and its service DNS suffix."""
    if region.startswith("cn-"):
        return "aws-cn", "amazonaws.com.cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov", "amazonaws.com"
    return "aws", "amazonaws.com"


def trust_policy(
    service: str,
    actions: tuple[str, ...] = ("sts:AssumeRole",),
    condition: dict[str, Any] | None = None,
) -> str:
    """An IAM trust policy letting one AWS service principal assume the role."""
    statement: dict[str, Any] = {
        "Effect": "Allow",
        "Principal": {"Service": service},
        "Action": list(actions),
    }
    if condition:
        statement["Condition"] = condition
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]}, sort_keys=True)


# An IAM role's ARN: arn:<partition>:iam::<account>:role/<path/name>.
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::(\d{12}):role/")


@dataclass
class Eks:
    """One EKS Cluster XR's composition context."""

    ctx: Context
    spec: ClusterSpec
    namespace: str
    region: str
    partition: str
    dns_suffix: str
    tags: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, ctx: Context, spec: ClusterSpec) -> Eks:
        check_name(ctx)
        region = str(spec.region)
        part, suffix = partition(region)
        # The spec's tags first: the API's own tag must not be overridden.
        tags = {**spec.aws.tags, CLUSTER_TAG: ctx.name}
        return cls(
            ctx=ctx,
            spec=spec,
            namespace=namespace_for(ctx.name),
            region=region,
            partition=part,
            dns_suffix=suffix,
            tags=tags,
        )

    @property
    def cluster_name(self) -> str:
        """The EKS cluster's name (also its MR's name): the XR's name."""
        return self.ctx.name

    def name(self, *parts: str, max_len: int = naming.DNS_LABEL_MAX) -> str:
        """A resource name prefixed with the cluster's name."""
        return naming.name(self.ctx.name, *parts, max_len=max_len)

    def role_name(self, purpose: str) -> str:
        """An IAM role name (also its MR's): the cluster's name and the role's purpose.

        Never the region: it may come from the EnvironmentConfig, and Crossplane keeps a
        composed resource's first name while ``roleRef``s would follow a new one.
        """
        return naming.name(self.ctx.name, purpose, max_len=IAM_ROLE_MAX)

    def account_id(self, *keys: str) -> str | None:
        """The AWS account the cluster's resources are created in, once known: read from
        the ARN the provider reports for a composed role (the cluster role first).

        The ProviderConfig, not the spec, decides the account, so nothing is known before
        the first role exists.
        """
        for key in ("aws-role-cluster", *keys):
            arn = self.ctx.observed.get(key, "status", "atProvider", "arn")
            found = _ROLE_ARN.match(arn) if isinstance(arn, str) else None
            if found:
                return found.group(1)
        return None

    def aws_policy(self, name: str) -> str:
        """The ARN of an AWS managed IAM policy in this partition."""
        return f"arn:{self.partition}:iam::aws:policy/{name}"

    def manifest(
        self,
        api_version: str,
        kind: str,
        name: str,
        for_provider: dict[str, Any],
        *,
        name_tag: bool = False,
        **spec: Any,
    ) -> dict[str, Any]:
        """A managed resource in the cluster's namespace with region, tags and ProviderConfig."""
        params = dict(for_provider)
        if (api_version, kind) not in _GLOBAL_KINDS:
            params["region"] = self.region
        if (api_version, kind) not in _UNTAGGED_KINDS:
            params["tags"] = {
                **self.tags,
                **({"Name": name} if name_tag else {}),
                **params.get("tags", {}),
            }
        body: dict[str, Any] = {"forProvider": params, **spec}
        body["providerConfigRef"] = self.spec.aws.provider_config_ref.model_dump()
        return {
            "apiVersion": api_version,
            "kind": kind,
            "metadata": {"name": name, "namespace": self.namespace},
            "spec": body,
        }

    def compose(self, key: str, manifest: dict[str, Any]) -> bool:
        """Compose a resource; return whether it is ready."""
        return self.ctx.compose(key, manifest)

    def due(self, key: str, inputs_ready: bool) -> bool:
        """Whether to compose ``key``: its inputs are ready, or it exists and must stay."""
        return inputs_ready or self.ctx.is_composed(key)

    def protect(
        self,
        of_key: str,
        of: dict[str, Any],
        by_key: str,
        by: dict[str, Any],
        *,
        by_keys: bool = False,
    ) -> None:
        """A Usage: AWS refuses (or fails) to delete ``of`` while ``by`` exists.

        ``by_keys`` names the Usage after both composition keys, for resources whose
        names other kinds share (a zone's subnet, route table and association).
        """
        key = f"aws-usage-{_tail(of_key)}-by-{_tail(by_key)}"
        name = self.name(_tail(of_key), "by", _tail(by_key)) if by_keys else None
        self.ctx.compose(key, usage.usage(of=of, by=by, name=name))


def _tail(key: str) -> str:
    return key.removeprefix("aws-")
