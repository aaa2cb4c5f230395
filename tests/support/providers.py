"""Play the part of Crossplane and the providers between two function calls.

``observe`` turns a desired composed resource into what the cluster would
report once the provider has created it: names, Ready/Synced conditions,
package health, Release state, and kind-specific status (endpoints, ARNs,
CAs) registered by the tests of each API through ``STATUS`` and ``CONNECTION``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from tests.support.request import Observed

Manifest = dict[str, Any]
StatusHook = Callable[[str, Manifest], dict[str, Any]]
ConnectionHook = Callable[[str, Manifest], dict[str, bytes]]

# (apiVersion, kind) -> extra status / connection details the real provider writes.
STATUS: dict[tuple[str, str], StatusHook] = {}
CONNECTION: dict[tuple[str, str], ConnectionHook] = {}

_TRUE = "True"


def _condition(kind: str, reason: str) -> dict[str, str]:
    return {
        "type": kind,
        "status": _TRUE,
        "reason": reason,
        "lastTransitionTime": "2026-01-01T00:00:00Z",
    }


def _package_status() -> dict[str, Any]:
    return {
        "conditions": [
            _condition("Installed", "ActivePackageRevision"),
            _condition("Healthy", "HealthyPackageRevision"),
        ]
    }


def _managed_status() -> dict[str, Any]:
    return {
        "conditions": [_condition("Ready", "Available"), _condition("Synced", "ReconcileSuccess")]
    }


def observe(key: str, desired: Manifest) -> Observed:
    """The observed form of a desired resource, as if its provider made it ready."""
    manifest = copy.deepcopy(desired)
    meta = manifest.setdefault("metadata", {})
    meta.setdefault("name", f"{key}-abcde")
    meta.setdefault("annotations", {})["crossplane.io/composition-resource-name"] = key
    api_version, kind = manifest["apiVersion"], manifest["kind"]
    group = api_version.rpartition("/")[0]
    if group == "pkg.crossplane.io" and kind in {"Provider", "Function", "Configuration"}:
        manifest["status"] = _package_status()
    elif group in {"", "rbac.authorization.k8s.io"} or kind.endswith("ProviderConfig"):
        pass
    elif kind == "Object" and group.startswith("kubernetes"):
        inner = copy.deepcopy(manifest["spec"]["forProvider"]["manifest"])
        inner_group = inner["apiVersion"].rpartition("/")[0]
        if inner_group == "pkg.crossplane.io" and inner["kind"] in {"Provider", "Function"}:
            inner["status"] = _package_status()
        manifest["status"] = {**_managed_status(), "atProvider": {"manifest": inner}}
    elif kind == "Release" and group.startswith("helm"):
        manifest["status"] = {**_managed_status(), "atProvider": {"state": "deployed"}}
    else:
        manifest["status"] = _managed_status()
    hook = STATUS.get((api_version, kind))
    if hook is not None:
        manifest["status"] = {**manifest.get("status", {}), **hook(key, manifest)}
    connection_hook = CONNECTION.get((api_version, kind))
    connection = connection_hook(key, manifest) if connection_hook else {}
    return Observed(manifest, connection)
