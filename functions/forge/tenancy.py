"""No XR composes what another owns: the second one refuses, naming the first.

What an XR owns is its footprint: the objects it composes on the platform, the Helm
releases and objects it puts into a cluster through a ProviderConfig, and, for an API
a cluster can run only once (``SINGLETONS``), that API in that cluster. Two XRs
whose footprints meet are one too many: the one created later (by creationTimestamp,
then kind, namespace and name) gets a fatal result naming the one created first, and
composes nothing; it never shares.

How each API stays apart:

- Cluster: by construction. All it composes lives in its own namespace
  ``cluster-<name>`` (no literal name takes the shortened form, ``xr_names.name``),
  plus the Argo CD Secret ``<name>-cluster`` in the platform's Argo CD namespace.
- PlatformCluster: one per platform (``_platform_singleton``): its stack has fixed names.
- The infrastructure bundle (namespaced): the function asks Crossplane only for the XRs
  that can reach the same cluster, and compares its footprint with those of the older
  ones. By the tenancy policy (``composers.infrastructure.boundary``, docs/tenancy.md) a
  ClusterProviderConfig is used only by the platform's XRs, and a namespaced
  ProviderConfig only by XRs of its namespace: so the XRs listed are the bundle's kinds
  in the platform namespaces (for the in-cluster target) or in the XR's own namespace
  (for any other), never another tenant's. At most ``MAX_OLDER`` older ones are
  compared. A footprint is computed by running the XR's composer as if every stage had
  run (``_Imagined``), so it is exact by construction, never a second copy of the naming
  rules. A singleton is claimed from the XR's spec alone (its kind and its target), so
  an older XR holds it even while it is invalid or judged under another environment.
  The namespaces ``cluster-*`` are the Cluster API's: a namespaced XR there is refused
  (``xr_names.namespace``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from dataclasses import field as dataclass_field

import crossplane.function.proto.v1.run_function_pb2 as fnv1
from crossplane.function import response
from google.protobuf import struct_pb2

from forge.core import environment, xr_names
from forge.core.context import Context
from forge.core.errors import ConflictError
from forge.core.observed import field
from forge.core.policy import Policy
from forge.registry import COMPOSERS, NAMESPACED
from forge.versions import API_VERSION, GROUP

# APIs whose chart a cluster can hold once: CRDs, webhooks, an APIService, a mesh.
SINGLETONS = frozenset({"CertManager", "ExternalSecretsOperator", "Istio", "KEDA", "Monitoring"})
PLATFORM_SINGLETON = "PlatformCluster"
REQUIREMENT_PREFIX = "tenancy-"
# Older XRs a call compares itself with: a namespace holding more refuses the newer ones,
# so the cost of a call stays bounded whatever a tenant creates in its namespace.
MAX_OLDER = 32
IN_CLUSTER = "in this cluster (through a ClusterProviderConfig)"
_RELEASE = ("helm.m.crossplane.io", "Release")
_OBJECT = ("kubernetes.m.crossplane.io", "Object")


@dataclass(frozen=True, order=True)
class Claim:
    """One thing an XR owns: ``what`` (a kind) called ``name`` in ``namespace``, ``where``."""

    where: str
    what: str
    namespace: str
    name: str

    def describe(self) -> str:
        named = f"{self.namespace}/{self.name}" if self.namespace else self.name
        if self.what == "singleton":
            return f"{self.name} {self.where}"
        return f"{self.what} {named} {self.where}"


@dataclass(frozen=True, order=True)
class Xr:
    """Another XR as Crossplane lists it: what orders it, and its object."""

    created: str
    kind: str
    namespace: str
    name: str
    resource: struct_pb2.Struct = dataclass_field(compare=False)

    def describe(self) -> str:
        where = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return f"{self.kind} {where}"


def check(ctx: Context, kind: str) -> None:
    """Raise ConflictError if an older XR owns part of this one's footprint."""
    if kind == PLATFORM_SINGLETON:
        _platform_singleton(ctx)
    elif kind in NAMESPACED:
        _bundle(ctx, kind)


# The platform's own stack -------------------------------------------------------------


def _platform_singleton(ctx: Context) -> None:
    others = _listed(ctx, [PLATFORM_SINGLETON])
    if others is None:
        return
    me = _me(ctx, PLATFORM_SINGLETON)
    older = [o for o in others if o < me]
    if older:
        raise ConflictError(
            f"one PlatformCluster per platform: PlatformCluster {older[0].name}, created "
            "first, already installs the self-management stack"
        )


# The infrastructure bundle ----------------------------------------------------------------


def _bundle(ctx: Context, kind: str) -> None:
    if ctx.policy is None:  # every bundle composer checks its spec first (common.checked_spec)
        raise RuntimeError(f"{kind}'s spec was not checked against the tenancy policy")
    namespaces = sharing(ctx.policy, ctx.namespace or "", ctx.xr)
    others = _listed(ctx, sorted(NAMESPACED), namespaces)
    if others is None:
        return
    me = _me(ctx, kind)
    older = [o for o in others if o < me]
    if not older:
        return
    if len(older) > MAX_OLDER:
        raise ConflictError(
            f"{len(older)} infrastructure XRs older than this one can reach its cluster from "
            f"namespace{'s' if len(namespaces) > 1 else ''} {', '.join(namespaces)}; at most "
            f"{MAX_OLDER} are compared, so newer ones are refused: spread them over namespaces "
            "or delete some"
        )
    mine = footprint(ctx.req, kind, ctx.xr, ctx.xr)
    for other in older:
        shared = mine & footprint(ctx.req, other.kind, other.resource, ctx.xr)
        if shared:  # a singleton says most; then the first by kind and name
            raise ConflictError(_overlap(other, min(shared, key=_most_telling)))


def sharing(rules: Policy, namespace: str, xr: struct_pb2.Struct) -> list[str]:
    """The namespaces whose XRs can reach the cluster ``xr`` targets: the platform's, for
    the platform's XR on a ClusterProviderConfig; else the XR's own (the only one whose
    XRs may use its ProviderConfigs, and a tenant may use no other)."""
    cluster_scoped = target(xr, namespace) == IN_CLUSTER
    if cluster_scoped and rules.is_platform(namespace):
        return sorted(rules.platform_namespaces)
    return [namespace]


def _most_telling(claim: Claim) -> tuple[bool, Claim]:
    return claim.what != "singleton", claim


def _overlap(other: Xr, claim: Claim) -> str:
    if claim.what == "singleton":
        return (
            f"one {claim.name} per cluster: {other.describe()}, created first, already "
            f"installs {claim.name} {claim.where}"
        )
    return f"{other.describe()}, created first, already owns {claim.describe()}"


# Listing the others -------------------------------------------------------------------------


def _listed(
    ctx: Context, kinds: Iterable[str], namespaces: Iterable[str] | None = None
) -> list[Xr] | None:
    """Every other XR of ``kinds`` (in ``namespaces``; None: cluster-scoped kinds), sorted
    by age; None until Crossplane answers."""
    answered = True
    others: list[Xr] = []
    me = (field(ctx.xr, "kind"), ctx.namespace or "", ctx.name)
    wheres: list[str | None] = list(namespaces) if namespaces is not None else [None]
    for kind in kinds:
        for where in wheres:
            requirement = f"{REQUIREMENT_PREFIX}{kind.lower()}" + (f"-{where}" if where else "")
            response.require_resources(ctx.rsp, requirement, API_VERSION, kind, namespace=where)
            if requirement not in ctx.req.required_resources:
                answered = False
                continue
            for item in ctx.req.required_resources[requirement].items:
                xr = _xr(kind, item.resource)
                if xr is not None and (xr.kind, xr.namespace, xr.name) != me:
                    others.append(xr)
    return sorted(others) if answered else None


def _xr(kind: str, resource: struct_pb2.Struct) -> Xr | None:
    """A listed XR, if its name is one Kubernetes could hold (messages quote it)."""
    name = xr_names.subdomain(field(resource, "metadata", "name"))
    namespace = field(resource, "metadata", "namespace", default="")
    if name is None or (namespace and xr_names.label(namespace) is None):
        return None
    created = field(resource, "metadata", "creationTimestamp", default="")
    return Xr(str(created), kind, namespace or "", name, resource)


def _me(ctx: Context, kind: str) -> Xr:
    created = field(ctx.xr, "metadata", "creationTimestamp", default="")
    return Xr(str(created), kind, ctx.namespace or "", ctx.name, ctx.xr)


# Footprints ----------------------------------------------------------------------------------


class _Imagined(Context):
    """A Context in which every resource already exists, so every stage composes."""

    def is_composed(self, key: str) -> bool:
        return True


def footprint(
    req: fnv1.RunFunctionRequest, kind: str, xr: struct_pb2.Struct, me: struct_pb2.Struct
) -> frozenset[Claim]:
    """What the XR ``xr`` of ``kind`` composes once every stage has run (``me``: the XR
    this request is for).

    A singleton's claim comes from the spec alone (its target), whatever else: an XR that
    is invalid now may have installed its chart before. The rest runs the composer with
    this request's Composition input and the environments it carries (``_environments``);
    an XR whose spec is invalid there composes nothing, so it owns nothing more.
    """
    namespace = str(field(xr, "metadata", "namespace", default=""))
    held = {Claim(target(xr, namespace), "singleton", "", kind)} if kind in SINGLETONS else set()
    scratch = fnv1.RunFunctionRequest()
    scratch.observed.composite.resource.CopyFrom(xr)
    if req.HasField("input"):  # copying an absent input would make it an empty one
        scratch.input.CopyFrom(req.input)
    for requirement, resources in _environments(req, me, xr).items():
        scratch.required_resources[requirement].CopyFrom(resources)
    rsp = fnv1.RunFunctionResponse()
    try:
        ctx = _Imagined(scratch, rsp)
        COMPOSERS[(GROUP, kind)](ctx)
    except Exception:  # an XR that cannot compose owns nothing more
        return frozenset(held)
    return frozenset(held | set(claims(kind, ctx.namespace or "", rsp.desired.resources.values())))


def _environments(
    req: fnv1.RunFunctionRequest, me: struct_pb2.Struct, xr: struct_pb2.Struct
) -> dict[str, fnv1.Resources]:
    """The EnvironmentConfigs ``xr`` would be sent, from those this request carries.

    The platform's selection is exact: it is the same for every XR of the Composition.
    So is an XR's own environment when it names the one ``me`` names, or none; another
    named one is not in this request, so ``me``'s stands in for it.
    """
    mine = req.required_resources.get(environment.REQUIREMENT)
    platform = req.required_resources.get(environment.PLATFORM_REQUIREMENT)
    if platform is None and _named_environment(me) is None:
        platform = mine  # me names none: my environment is the platform's selection
    out: dict[str, fnv1.Resources] = {}
    if platform is not None:
        out[environment.PLATFORM_REQUIREMENT] = platform
    if _named_environment(xr) is None:
        if platform is not None:
            out[environment.REQUIREMENT] = platform
    elif mine is not None:
        out[environment.REQUIREMENT] = mine
    return out


def _named_environment(xr: struct_pb2.Struct) -> str | None:
    """The EnvironmentConfig an XR names (as ``Context.spec`` reads it), if any."""
    return xr_names.subdomain(field(xr, "spec", "environmentConfigRef", "name"))


def claims(kind: str, namespace: str, resources: Iterable[fnv1.Resource]) -> Iterator[Claim]:
    """The claims of an XR's desired resources (``namespace``: the XR's, where they go)."""
    for resource in resources:
        manifest = resource.resource
        api_version = str(field(manifest, "apiVersion", default=""))
        group = api_version.rpartition("/")[0] if "/" in api_version else ""
        what = str(field(manifest, "kind", default=""))
        name = str(field(manifest, "metadata", "name", default=""))
        where = namespace or str(field(manifest, "metadata", "namespace", default=""))
        yield Claim("on the platform", f"{what}.{group}" if group else what, where, name)
        where_to = target(manifest, namespace)
        if (group, what) == _RELEASE:
            release_ns = str(field(manifest, "spec", "forProvider", "namespace", default=""))
            yield Claim(where_to, "helm release", release_ns, name)
        elif (group, what) == _OBJECT:
            inner = field(manifest, "spec", "forProvider", "manifest")
            inner_version = str(field(inner, "apiVersion", default=""))
            inner_group = inner_version.rpartition("/")[0] if "/" in inner_version else ""
            inner_kind = str(field(inner, "kind", default=""))
            yield Claim(
                where_to,
                f"{inner_kind}.{inner_group}" if inner_group else inner_kind,
                str(field(inner, "metadata", "namespace", default="")),
                str(field(inner, "metadata", "name", default="")),
            )


def target(obj: struct_pb2.Struct, namespace: str) -> str:
    """The cluster a provider resource (or a bundle XR's spec) reaches: every
    ClusterProviderConfig is taken to reach this cluster; a namespaced ProviderConfig is
    its namespace's own."""
    kind = field(obj, "spec", "providerConfigRef", "kind", default="ClusterProviderConfig")
    if kind != "ProviderConfig":  # a malformed kind counts as the in-cluster one
        return IN_CLUSTER
    name = xr_names.label(field(obj, "spec", "providerConfigRef", "name", default="default"))
    return f"through ProviderConfig {namespace}/{name or '(invalid name)'}"
