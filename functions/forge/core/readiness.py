"""Decide whether an observed composed resource is ready.

Crossplane's default check wants a Ready condition, which plain objects
(Secrets, ProviderConfigs, RBAC) never get; packages report Installed and
Healthy instead. The function therefore decides readiness itself.
"""

from __future__ import annotations

from google.protobuf import struct_pb2

from forge.core.observed import condition_status, field

_EXIST_GROUPS = frozenset({"", "v1", "rbac.authorization.k8s.io", "protection.crossplane.io"})
_PACKAGE_KINDS = frozenset({"Provider", "Function", "Configuration"})
_EXIST_KINDS = frozenset({"DeploymentRuntimeConfig", "EnvironmentConfig", "Usage", "ClusterUsage"})


def is_ready(api_version: str, kind: str, observed: struct_pb2.Struct | None) -> bool:
    """True when the observed object is ready for use."""
    if observed is None:
        return False
    group = api_version.rpartition("/")[0]
    if group == "pkg.crossplane.io" and kind in _PACKAGE_KINDS:
        return (
            condition_status(observed, "Installed") == "True"
            and condition_status(observed, "Healthy") == "True"
        )
    if group in _EXIST_GROUPS or kind in _EXIST_KINDS or kind.endswith("ProviderConfig"):
        return True
    if kind == "Release" and group.startswith("helm."):
        return (
            condition_status(observed, "Ready") == "True"
            and field(observed, "status", "atProvider", "state") == "deployed"
        )
    return condition_status(observed, "Ready") == "True"
