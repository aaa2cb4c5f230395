"""The platform's tenancy policy: whose bundle XRs are the platform's, what tenants may use.

It is the ``tenancy`` key of the EnvironmentConfigs the Composition selects, never of one
an XR names: EnvironmentConfigs are cluster-scoped and the Composition is the
platform's, so a namespace tenant can neither write nor choose it. Its shape::

    tenancy:
      platformNamespaces: [platform]   # bundle XRs here are the platform's
      namespaces: [autoscaling]        # more namespaces the platform's charts may use
      tenants:
        - namespace: team-a            # a tenant namespace, and what it may use:
          providerConfigs: [team-a-dev]  # ProviderConfigs team-a/<name> (its own clusters)
          namespaces: [team-a-apps]      # more namespaces its charts may use there

A namespace the policy does not name is a tenant's with nothing granted. See
docs/tenancy.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pydantic
from pydantic import Field, PrivateAttr, model_validator

from forge.core import environment, xr_names
from forge.core.cache import ByteBoundedCache
from forge.core.errors import FieldError, SpecError, from_validation_error
from forge.models.base import DnsLabel, Model, from_wire, reject_duplicates

KEY = "tenancy"
ARGOCD_DEFAULT = "argocd"
CLUSTER_NAMESPACE_PREFIX = xr_names.CLUSTER_NAMESPACE_PREFIX
# Namespaces no bundle XR may install into or reference: they hold the cluster's own
# components or the platform's credentials (with the Argo CD namespace and cluster-*).
SYSTEM_NAMESPACES = frozenset({"kube-system", "kube-public", "kube-node-lease"})
CROSSPLANE_NAMESPACE = "crossplane-system"
_LIST = 64
# Policies already read, by the bytes of the EnvironmentConfigs they came from.
_POLICIES = ByteBoundedCache(4 * 1024 * 1024)


class Grant(Model):
    """What the XRs of one tenant namespace may use."""

    namespace: DnsLabel
    provider_configs: list[DnsLabel] = Field(default_factory=list, max_length=_LIST)
    namespaces: list[DnsLabel] = Field(default_factory=list, max_length=_LIST)


class Policy(Model):
    """The ``tenancy`` key of the platform's EnvironmentConfig (see the module docstring)."""

    platform_namespaces: list[DnsLabel] = Field(default_factory=list, max_length=16)
    namespaces: list[DnsLabel] = Field(default_factory=list, max_length=_LIST)
    tenants: list[Grant] = Field(default_factory=list, max_length=1024)
    # Not part of ``tenancy``: the environment's Argo CD namespace (argocd.namespace).
    _argocd_namespace: str = PrivateAttr(default=ARGOCD_DEFAULT)

    @model_validator(mode="after")
    def _disjoint(self) -> Policy:
        reject_duplicates(self.platform_namespaces, "platformNamespaces[{}]", "namespace")
        reject_duplicates((t.namespace for t in self.tenants), "tenants[{}].namespace", "tenant")
        for index, namespace in enumerate(self.platform_namespaces):
            if namespace.startswith(CLUSTER_NAMESPACE_PREFIX):
                raise FieldError(
                    f"platformNamespaces[{index}]", "cluster-* namespaces are the Clusters'"
                )
        for index, grant in enumerate(self.tenants):
            if grant.namespace in self.platform_namespaces:
                raise FieldError(
                    f"tenants[{index}].namespace", "is a platform namespace (platformNamespaces)"
                )
        return self

    def is_platform(self, namespace: str) -> bool:
        """Whether the XRs of ``namespace`` are the platform's."""
        return namespace in self.platform_namespaces

    def grant(self, namespace: str) -> Grant:
        """What a tenant namespace may use (nothing when the policy does not name it)."""
        found = (g for g in self.tenants if g.namespace == namespace)
        return next(found, Grant(namespace=namespace))

    def reserved(self, namespace: str) -> str:
        """Why no bundle XR may use ``namespace``; empty when it may."""
        if namespace.startswith(CLUSTER_NAMESPACE_PREFIX):
            return "a Cluster's platform namespace (cluster-*) holds its kubeconfig"
        if namespace in SYSTEM_NAMESPACES:
            return "it is the cluster's system namespace"
        if namespace == CROSSPLANE_NAMESPACE:
            return "Crossplane and its providers' credentials live there"
        if namespace in {ARGOCD_DEFAULT, self._argocd_namespace}:
            return "Argo CD's cluster Secrets (bearer tokens, client keys) live there"
        return ""


def of(selection: environment.Selection) -> Policy:
    """The policy of the platform's EnvironmentConfigs (read once per content)."""
    found = _POLICIES.get((selection.key,))
    if found is None:
        found = from_environment(selection.data)
        _POLICIES.put((selection.key,), found, size=2 * len(selection.key))
    return found


def from_environment(data: Mapping[str, Any]) -> Policy:
    """The policy in the platform's merged EnvironmentConfig ``data``; fatal if malformed."""
    raw = data.get(KEY)
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise SpecError(f"the platform's EnvironmentConfig's {KEY}", "must be an object")
    try:
        policy = Policy.model_validate(from_wire(dict(raw)))
    except pydantic.ValidationError as exc:
        error = from_validation_error(exc, prefix=KEY)
        raise SpecError(f"the platform's EnvironmentConfig's {error.path}", error.reason) from None
    argocd = data.get("argocd")
    chosen = xr_names.label(argocd.get("namespace")) if isinstance(argocd, Mapping) else None
    if chosen is not None:  # an invalid one is refused where Argo CD's Secret goes
        policy._argocd_namespace = chosen
    return policy
