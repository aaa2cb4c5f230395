"""What a bundle XR may name, by whose XR it is: the platform's or a namespace tenant's.

The platform's tenancy policy (``forge.core.policy``) says which namespaces hold the
platform's XRs and what each tenant namespace may use. Before anything is composed,
every spec field that names a ProviderConfig or a namespace (``InfraSpec.references``)
is checked; a refusal names each field that broke a rule (docs/tenancy.md):

- ProviderConfig: the platform's XRs may use any; a tenant's only a ProviderConfig in
  its namespace that the policy grants it (never a ClusterProviderConfig: through the
  in-cluster one provider-helm is cluster-admin, and the chart's values are the XR's).
- Chart namespaces: never a reserved one (``Policy.reserved``); else the XR's own
  namespace, the API's conventional ones, or one the policy grants.
- Secrets and service accounts: the XR's namespace or one of its charts'.
- Gateways (HTTP-01 routes): as charts, or any conventional namespace of the bundle.
"""

from __future__ import annotations

from collections.abc import Iterator

from forge.core import policy
from forge.core.context import Context
from forge.core.errors import PendingRequirementError, SpecError
from forge.models.base import ProviderConfigRef
from forge.models.certmanager import CertManagerSpec
from forge.models.externaldns import ExternalDNSSpec
from forge.models.externalsecrets import ExternalSecretsOperatorSpec
from forge.models.infrastructure import InfraSpec, Reference
from forge.models.istio import IstioSpec
from forge.models.keda import KedaSpec
from forge.models.monitoring import MonitoringSpec

PROVIDER_CONFIG = "spec.providerConfigRef"
_SPECS: tuple[type[InfraSpec], ...] = (
    CertManagerSpec,
    ExternalDNSSpec,
    ExternalSecretsOperatorSpec,
    IstioSpec,
    KedaSpec,
    MonitoringSpec,
)
BUNDLE_NAMESPACES = frozenset().union(*(s.conventional_namespaces() for s in _SPECS))
Problem = tuple[str, str]


def check(ctx: Context, spec: InfraSpec) -> None:
    """Raise SpecError naming every field ``spec`` may not use (PendingRequirementError
    until the platform's EnvironmentConfig arrives); record the policy on ``ctx``."""
    found = ctx.platform_selection()
    if found is None:
        raise PendingRequirementError
    rules = policy.of(found)
    namespace = str(ctx.namespace)
    problems = [
        *_provider_config(rules, namespace, spec.provider_config_ref),
        *_namespaces(rules, namespace, spec),
    ]
    if problems:
        (path, reason), *more = problems
        raise SpecError(path, reason, tuple(more))
    ctx.policy = rules


def _provider_config(
    rules: policy.Policy, namespace: str, ref: ProviderConfigRef
) -> Iterator[Problem]:
    if rules.is_platform(namespace):
        return
    granted = rules.grant(namespace).provider_configs
    offer = f"granted: {', '.join(granted)}" if granted else "none is granted"
    if ref.kind == "ClusterProviderConfig":
        platform = ", ".join(rules.platform_namespaces) or "none listed"
        yield (
            PROVIDER_CONFIG,
            f"ClusterProviderConfig {ref.name} is the platform's (through the in-cluster one "
            f"provider-helm is cluster-admin): namespace {namespace} is not the platform's "
            f"(its EnvironmentConfig's tenancy.platformNamespaces: {platform}), so its XRs "
            f"install only through a ProviderConfig the platform grants it in "
            f"tenancy.tenants ({offer})",
        )
    elif ref.name not in granted:
        yield (
            PROVIDER_CONFIG,
            f"ProviderConfig {namespace}/{ref.name} is not granted to namespace {namespace} "
            f"by the platform (tenancy.tenants): only the platform says which ProviderConfigs "
            f"reach a cluster of the tenant's ({offer})",
        )


def _namespaces(rules: policy.Policy, namespace: str, spec: InfraSpec) -> Iterator[Problem]:
    platform = rules.is_platform(namespace)
    granted = set(rules.namespaces if platform else rules.grant(namespace).namespaces)
    conventional = type(spec).conventional_namespaces()
    references = list(spec.references())
    charts = sorted({r.namespace for r in references if r.what == "chart"})
    for ref in references:
        if ref.what in {"secret", "service account"}:
            if ref.namespace not in {namespace, *charts}:
                yield ref.path, _stays(ref, namespace, charts)
            continue
        why = rules.reserved(ref.namespace)
        if why:
            yield ref.path, f"{ref.namespace} is reserved: {why}"
            continue
        allowed = {namespace, *conventional, *granted}
        if ref.what == "gateway":
            allowed |= BUNDLE_NAMESPACES | set(charts)
        if ref.namespace not in allowed:
            yield ref.path, _not_allowed(ref, namespace, conventional, platform)


def _stays(ref: Reference, namespace: str, charts: list[str]) -> str:
    what = "Secret" if ref.what == "secret" else ref.what
    return (
        f"{ref.namespace}: a {what} reference stays in the XR's namespace ({namespace}) "
        f"or its chart's ({', '.join(charts)})"
    )


def _not_allowed(
    ref: Reference, namespace: str, conventional: frozenset[str], platform: bool
) -> str:
    grant = "tenancy.namespaces" if platform else f"tenancy.tenants, for {namespace}"
    verb = "install into" if ref.what == "chart" else "attach routes to"
    return (
        f"{ref.namespace} is not a namespace this XR may {verb}: its own ({namespace}), "
        f"the chart's ({', '.join(sorted(conventional))}), or one the platform grants "
        f"({grant})"
    )
