"""Play the part of the providers between two reconciles.

``observe`` turns a desired composed resource into what the cluster would report once
its provider has created it: a name, Ready/Synced conditions, package health, Release
state, and the kind-specific status (endpoints, ARNs, CAs) and connection details of
the hooks in ``STATUS`` and ``CONNECTION`` (``aws``, ``infrastructure``, ``kubernetes``).
``written`` is what the providers write beside their resources: connection Secrets
(ClusterAuth's kubeconfig, an Object's token), and vCluster's kubeconfig Secret. No
kubelet runs anything: this is the documented stand-in for the providers.
"""

from __future__ import annotations

import base64
import copy
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field

from forge_dev.simulate import aws, infrastructure, kubernetes, vcluster
from forge_dev.simulate.hooks import ConnectionHook, Hooks, Manifest

# (apiVersion, kind) -> extra status / connection details the real provider writes.
STATUS: Hooks = {**aws.STATUS, **infrastructure.STATUS}
CONNECTION: dict[tuple[str, str], ConnectionHook] = {**aws.CONNECTION, **kubernetes.CONNECTION}

_TRUE = "True"


@dataclass
class Observed:
    """An observed composed resource and its connection details."""

    manifest: Manifest
    connection: dict[str, bytes] = field(default_factory=dict)


def _condition(kind: str, reason: str) -> dict[str, str]:
    return {
        "type": kind,
        "status": _TRUE,
        "reason": reason,
        "lastTransitionTime": "2026-01-01T00:00:00Z",
    }


def _package_status() -> Manifest:
    return {
        "conditions": [
            _condition("Installed", "ActivePackageRevision"),
            _condition("Healthy", "HealthyPackageRevision"),
        ]
    }


def _managed_status() -> Manifest:
    return {
        "conditions": [_condition("Ready", "Available"), _condition("Synced", "ReconcileSuccess")]
    }


def uid(manifest: Manifest) -> str:
    """The uid the played API server gives an object (a name-based UUID: stable)."""
    meta = manifest.get("metadata") or {}
    parts = (manifest["apiVersion"], manifest["kind"], meta.get("namespace", ""), meta["name"])
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "/".join(parts)))


def observe(key: str, desired: Manifest) -> Observed:
    """The observed form of a desired resource, as if its provider made it ready."""
    manifest = copy.deepcopy(desired)
    meta = manifest.setdefault("metadata", {})
    meta.setdefault("name", f"{key}-abcde")
    meta.setdefault("uid", uid(manifest))
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
        inner = kubernetes.observed_manifest(inner)
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


def controller_reference(owner: Manifest) -> Manifest:
    """crossplane-runtime's ``meta.AsController(meta.TypedReferenceTo(mr))`` for ``owner``."""
    meta = owner["metadata"]
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": meta["name"],
        "uid": meta.get("uid") or uid(owner),
        "controller": True,
        "blockOwnerDeletion": True,
    }


def connection_secret(observed: Observed) -> Manifest | None:
    """The Secret a managed resource writes its connection details to, if it has any."""
    ref = (observed.manifest.get("spec") or {}).get("writeConnectionSecretToRef")
    if not ref or not observed.connection:
        return None
    meta = observed.manifest["metadata"]
    owner = controller_reference(observed.manifest)
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": ref["name"],
            "namespace": ref.get("namespace", meta["namespace"]),
            "ownerReferences": [owner],
        },
        "type": "connection.crossplane.io/v1alpha1",
        "data": {k: base64.b64encode(v).decode() for k, v in sorted(observed.connection.items())},
    }


def written(observed: Mapping[str, Observed]) -> list[Manifest]:
    """What the providers wrote beside the observed resources, for Crossplane to read.

    Connection Secrets (Crossplane passes their data to the function with the resource)
    the kubeconfig Secret a deployed vCluster writes and the Gateway API CRDs a deployed
    gateway-api-crds chart installs (required resources).
    """
    secrets = [connection_secret(observed[key]) for key in sorted(observed)]
    releases = {key: obs.manifest for key, obs in observed.items()}
    return (
        [s for s in secrets if s is not None]
        + vcluster.written(releases)
        + infrastructure.written(releases)
    )
