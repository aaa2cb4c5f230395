"""provider-helm Releases: the one way every API installs a chart."""

from __future__ import annotations

from typing import Any

from forge.core import naming
from forge.core.environment import deep_merge
from forge.models.base import ProviderConfigRef
from forge.versions import Chart

RELEASE_API_VERSION = "helm.m.crossplane.io/v1beta1"
ORPHAN_POLICIES = ["Observe", "Create", "Update", "LateInitialize"]
# provider-helm retries a failed release (uninstalls a failed first install, rolls back a
# failed upgrade) only when a limit is set, and counts a failed release with unchanged
# values as up to date otherwise. The count resets once the release deploys, so this
# bounds one run of failures: enough for what resolves itself (nodes, webhooks, CRDs
# arriving), without retrying a broken chart forever.
ROLLBACK_LIMIT = 5


def release(
    *,
    name: str,
    namespace: str,
    chart: Chart,
    target_namespace: str,
    values: dict[str, Any],
    overrides: dict[str, Any] | None = None,
    provider_config: ProviderConfigRef,
    orphan: bool = False,
) -> dict[str, Any]:
    """A Release MR named ``name`` (also the Helm release name, so at most 53 chars).

    ``overrides`` (the user's free-form values) merge last; a ``null`` there
    deletes a chart default, as with ``helm --set key=null``.
    """
    if len(name) > naming.HELM_RELEASE_MAX:
        raise ValueError(f"Helm release name {name!r} is longer than 53 characters")
    spec: dict[str, Any] = {
        "forProvider": {
            "chart": {"name": chart.name, "repository": chart.repository, "version": chart.version},
            "namespace": target_namespace,
            "values": deep_merge(values, overrides or {}),
            "wait": True,
        },
        "providerConfigRef": provider_config.model_dump(),
        "rollbackLimit": ROLLBACK_LIMIT,
    }
    if orphan:
        spec["managementPolicies"] = ORPHAN_POLICIES
    return {
        "apiVersion": RELEASE_API_VERSION,
        "kind": "Release",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }
