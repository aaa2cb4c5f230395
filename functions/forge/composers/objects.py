"""Wrap manifests in provider-kubernetes Objects and install the stack through them.

Objects are what make orphaning possible: Crossplane deletes every directly
composed resource with its XR, but an Object whose management policies omit
Delete leaves its manifest in place. That is how a stack outlives its XR.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from forge.composers.access import ObjectConnection
from forge.composers.stack import StackItem
from forge.core import naming
from forge.core.context import Context
from forge.core.observed import condition_status
from forge.models.base import ProviderConfigRef

OBJECT_API_VERSION = "kubernetes.m.crossplane.io/v1alpha1"
ORPHAN_POLICIES = ["Observe", "Create", "Update", "LateInitialize"]
_KUBERNETES_GROUP = OBJECT_API_VERSION.split("/", 1)[0]


@dataclass(frozen=True)
class Target:
    """Where Objects apply their manifests: a ProviderConfig, and the Objects' namespace."""

    provider_config: ProviderConfigRef
    namespace: str
    orphan: bool


def wrap(
    ctx: Context,
    key: str,
    manifest: dict[str, Any],
    target: Target,
    *,
    orphan: bool,
    connection: ObjectConnection | None = None,
) -> dict[str, Any]:
    """An Object applying ``manifest`` through ``target``'s ProviderConfig.

    With ``connection``, provider-kubernetes copies the named fields of the applied
    object into a connection Secret in the Object's namespace (and nowhere else).
    """
    spec: dict[str, Any] = {
        "forProvider": {"manifest": manifest},
        "providerConfigRef": target.provider_config.model_dump(),
    }
    if connection is not None:
        spec["connectionDetails"] = _connection_details(manifest, connection)
        spec["writeConnectionSecretToRef"] = {"name": connection.secret}
    if orphan:
        spec["managementPolicies"] = ORPHAN_POLICIES
    if manifest["apiVersion"].startswith("pkg.crossplane.io/") and manifest["kind"] in {
        "Provider",
        "Function",
    }:
        # Packages report Installed and Healthy, never Ready: wait for both.
        spec["readiness"] = {"policy": "AllTrue"}
    if manifest["apiVersion"].startswith(f"{_KUBERNETES_GROUP}/") and manifest["kind"] in {
        "ProviderConfig",
        "ClusterProviderConfig",
    }:
        # provider-kubernetes (v1.2.1) never finds one of its own ProviderConfigs up to
        # date (it writes their status under a field manager it then wants to migrate:
        # crossplane-contrib/provider-kubernetes#540), so SuccessfulCreate never turns
        # Ready; judge the live object instead: Ready once it has the credentials applied.
        source = manifest["spec"]["credentials"]["source"]
        spec["readiness"] = {
            "policy": "DeriveFromCelQuery",
            "celQuery": f"object.spec.credentials.source == '{source}'",
        }
    return {
        "apiVersion": OBJECT_API_VERSION,
        "kind": "Object",
        "metadata": {"name": naming.name(ctx.name, key), "namespace": target.namespace},
        "spec": spec,
    }


def observer(
    ctx: Context, key: str, ref: dict[str, Any], target: Target, *, ready_when: str
) -> dict[str, Any]:
    """An Observe-only Object: reads the object ``ref`` names into its status, never
    creates, changes or deletes it; Ready when the CEL query ``ready_when`` holds."""
    return {
        "apiVersion": OBJECT_API_VERSION,
        "kind": "Object",
        "metadata": {"name": naming.name(ctx.name, key), "namespace": target.namespace},
        "spec": {
            "managementPolicies": ["Observe"],
            "forProvider": {"manifest": ref},
            "providerConfigRef": target.provider_config.model_dump(),
            "readiness": {"policy": "DeriveFromCelQuery", "celQuery": ready_when},
        },
    }


def _connection_details(
    manifest: dict[str, Any], connection: ObjectConnection
) -> list[dict[str, str]]:
    """provider-kubernetes' references to fields of the applied object itself."""
    meta = manifest["metadata"]
    where = {"name": meta["name"]}
    if "namespace" in meta:
        where["namespace"] = meta["namespace"]
    return [
        {
            "apiVersion": manifest["apiVersion"],
            "kind": manifest["kind"],
            **where,
            "fieldPath": path,
            "toConnectionSecretKey": key,
        }
        for key, path in sorted(connection.fields.items())
    ]


@dataclass(frozen=True)
class PackageStatus:
    """What the platform needs to know about one installed package."""

    name: str
    package: str
    installed: bool
    healthy: bool

    def as_status(self) -> dict[str, Any]:
        return {"package": self.package, "installed": self.installed, "healthy": self.healthy}


def _package_status(ctx: Context, key: str, manifest: dict[str, Any]) -> PackageStatus:
    observed = ctx.observed.get(key, "status", "atProvider", "manifest")
    return PackageStatus(
        name=manifest["metadata"]["name"],
        package=manifest["spec"]["package"],
        installed=condition_status(observed, "Installed") == "True",
        healthy=condition_status(observed, "Healthy") == "True",
    )


@dataclass(frozen=True)
class Installation:
    """The outcome of one ``install`` call, for stages and status."""

    packages: list[PackageStatus]
    config_keys: list[str]

    @property
    def pending(self) -> list[str]:
        return sorted(p.name for p in self.packages if not (p.installed and p.healthy))


def install(
    ctx: Context,
    items: list[StackItem],
    target: Target,
    *,
    prefix: str,
    never_delete: frozenset[str] = frozenset(),
) -> Installation:
    """Compose the stack as Objects; ProviderConfigs wait for healthy packages.

    ``never_delete`` names items that stay orphaned even when the target
    allows deletion (the provider that would have to delete itself).
    """
    packages: list[PackageStatus] = []
    for item in items:
        if item.phase == "config":
            continue
        key = f"{prefix}{item.key}"
        orphan = target.orphan or item.key in never_delete
        ctx.compose(key, wrap(ctx, key, item.manifest, target, orphan=orphan))
        if item.phase == "package":
            packages.append(_package_status(ctx, key, item.manifest))
    packages_ready = all(p.installed and p.healthy for p in packages)
    config_keys: list[str] = []
    for item in items:
        key = f"{prefix}{item.key}"
        if item.phase == "config" and (packages_ready or ctx.is_composed(key)):
            orphan = target.orphan or item.key in never_delete
            ctx.compose(key, wrap(ctx, key, item.manifest, target, orphan=orphan))
            config_keys.append(key)
    return Installation(packages, config_keys)
