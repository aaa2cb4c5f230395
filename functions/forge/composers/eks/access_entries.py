"""EKS access entries: the platform's principals, the cluster admins from the spec, and
the role Argo CD assumes.

Each principal gets an access entry and the cluster-admin access policy. The
policy association references its entry, so the provider creates them in order.
Names carry a hash of the principal's ARN: stable whatever the list order, and
distinct for same-named roles of different accounts.

The platform's principals (the identities its AWS ProviderConfigs act as, which
create the cluster and mint its kubeconfig tokens) come from the platform's
EnvironmentConfig only (``aws.platformPrincipalArns``). Their entries are labelled,
and one the platform no longer names stays until every named one's access is Ready:
changing the platform's identity never leaves the cluster without an admitted one.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from pydantic import TypeAdapter, ValidationError

from forge.composers.eks.base import EKS, Eks
from forge.composers.eks.control_plane import CLUSTER, ControlPlane
from forge.core.context import Context
from forge.core.environment import lookup
from forge.core.errors import FieldError, SpecError
from forge.models.base import reject_duplicates
from forge.models.cluster import PLATFORM_PRINCIPALS_KEY, PLATFORM_PRINCIPALS_MAX, PrincipalArn
from forge.versions import GROUP

ADMIN_POLICY = "AmazonEKSClusterAdminPolicy"
PLATFORM_LABEL = f"{GROUP}/platform-principal"
_ENTRY_PREFIX, _POLICY_SUFFIX = "aws-access-", "-admin"
_PRINCIPAL = TypeAdapter(PrincipalArn)


@dataclass
class Access:
    """Readiness of each principal's access, by ARN; and the platform's own."""

    ready: dict[str, bool] = field(default_factory=dict)
    platform: list[str] = field(default_factory=list)
    # Platform principals no longer named, kept until every named one is admitted.
    kept: dict[str, bool] = field(default_factory=dict)
    creator_admin: bool = True

    @property
    def pending(self) -> list[str]:
        return sorted(arn for arn, ok in self.ready.items() if not ok)

    @property
    def platform_admitted(self) -> bool:
        """Whether a principal the platform acts as may use the cluster: the creator is an
        admin (as before the platform named its principals), or one of their entries is
        Ready."""
        held = [*self.platform, *self.kept]
        return self.creator_admin or any(self.ready.get(a) or self.kept.get(a) for a in held)


def platform_principals(ctx: Context) -> list[str]:
    """The platform's EnvironmentConfig's ``aws.platformPrincipalArns`` (never the XR's own
    EnvironmentConfig: a principal named there would be admitted to the cluster)."""
    raw = lookup(ctx.platform_environment(), PLATFORM_PRINCIPALS_KEY)
    if raw is None:
        return []
    where = f"the platform's EnvironmentConfig's {PLATFORM_PRINCIPALS_KEY}"
    if not isinstance(raw, list) or len(raw) > PLATFORM_PRINCIPALS_MAX:
        raise SpecError(
            where,
            f"must be a list of at most {PLATFORM_PRINCIPALS_MAX} IAM role or user ARNs "
            "(the identities the platform's AWS ProviderConfigs act as)",
        )
    for index, arn in enumerate(raw):
        try:
            _PRINCIPAL.validate_python(arn)
        except ValidationError:
            raise SpecError(
                f"{where}[{index}]",
                "must be an IAM role or user ARN: arn:<partition>:iam::<account>:role/<name> "
                "or user/<name>",
            ) from None
    try:
        reject_duplicates(raw, f"{PLATFORM_PRINCIPALS_KEY}[{{}}]", "principal")
    except FieldError as exc:
        raise SpecError(f"the platform's EnvironmentConfig's {exc.path}", exc.reason) from None
    return list(raw)


def creator_admin(e: Eks, platform: Sequence[str]) -> bool:
    """``bootstrapClusterCreatorAdminPermissions``: off for a new cluster when the platform
    names its principals (they get entries instead). EKS reads it only at creation and
    provider-upjet-aws refuses an update that would replace the cluster, so an existing
    cluster keeps what it was created with (true before this setting existed)."""
    if CLUSTER in e.ctx.observed:
        sent = e.ctx.observed.get(
            CLUSTER,
            "spec",
            "forProvider",
            "accessConfig",
            "bootstrapClusterCreatorAdminPermissions",
        )
        return sent if isinstance(sent, bool) else True
    return not platform


def principal_id(arn: str) -> str:
    """A short, readable, unique id for a principal: its name and a hash of its ARN."""
    slug = re.sub(r"[^a-z0-9]+", "-", arn.rsplit("/", 1)[-1].lower()).strip("-")[:24]
    digest = hashlib.sha256(arn.encode()).hexdigest()[:8]
    return f"{slug}-{digest}" if slug else digest


def principals(e: Eks, platform: Sequence[str] = ()) -> list[str]:
    """Every principal to admit, once each (Argo CD's role may also be an admin)."""
    arns = list(e.spec.aws.admins)
    for arn in (e.spec.argocd.role_arn, *platform):
        if arn and arn not in arns:
            arns.append(arn)
    return arns


def _retired(e: Eks, wanted: list[str]) -> list[str]:
    """Platform principals whose entries exist but are no longer named."""
    found = []
    for key in e.ctx.observed:
        if not key.startswith(_ENTRY_PREFIX) or key.endswith(_POLICY_SUFFIX):
            continue
        if e.ctx.observed.get(key, "metadata", "labels", PLATFORM_LABEL) != "true":
            continue
        arn = e.ctx.observed.get(key, "spec", "forProvider", "principalArn")
        if isinstance(arn, str) and arn not in wanted:
            found.append(arn)
    return sorted(found)


def _admit(e: Eks, plane: ControlPlane, arn: str, *, platform: bool) -> bool:
    """Compose a principal's entry and policy association (once the cluster is up);
    whether both are Ready."""
    ident = principal_id(arn)
    entry_key = f"{_ENTRY_PREFIX}{ident}"
    policy_key = f"{entry_key}{_POLICY_SUFFIX}"
    if not e.due(entry_key, plane.ready):
        return False
    name = e.name("access", ident)
    entry = e.manifest(
        EKS,
        "AccessEntry",
        name,
        {"clusterNameRef": plane.ref, "principalArn": arn, "type": "STANDARD"},
    )
    if platform:
        entry["metadata"]["labels"] = {PLATFORM_LABEL: "true"}
    association = e.manifest(
        EKS,
        "AccessPolicyAssociation",
        name,
        {
            "clusterNameRef": plane.ref,
            "principalArnRef": {"name": name},
            "policyArn": f"arn:{e.partition}:eks::aws:cluster-access-policy/{ADMIN_POLICY}",
            "accessScope": {"type": "cluster"},
        },
    )
    return all([e.compose(entry_key, entry), e.compose(policy_key, association)])


def compose(e: Eks, plane: ControlPlane, platform: Sequence[str] = ()) -> Access:
    """An access entry and a cluster-admin policy association per principal; the entries
    of principals the platform stopped naming while the named ones are not admitted."""
    sent = plane.manifest["spec"]["forProvider"]["accessConfig"]
    access = Access(
        platform=list(platform), creator_admin=sent["bootstrapClusterCreatorAdminPermissions"]
    )
    wanted = principals(e, platform)
    for arn in wanted:
        access.ready[arn] = _admit(e, plane, arn, platform=arn in platform)
    retired = _retired(e, wanted)
    settled = bool(platform) and all(access.ready[arn] for arn in platform)
    if not settled:
        for arn in retired:
            access.kept[arn] = _admit(e, plane, arn, platform=True)
    return access
