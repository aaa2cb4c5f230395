"""The provider player is ``forge.preview.player``; the tests use it from here.

Two things a real API server and crossplane-runtime add that the player leaves out are
added here: every observed object has a ``metadata.uid`` (deterministic: a name-based
UUID of its apiVersion, kind, namespace and name, so examples and tests agree), and a
connection Secret carries the controller reference to the managed resource that wrote
it (crossplane-runtime v2 ``resource.LocalConnectionSecretFor``). The function trusts
the argocd-manager token's connection Secret only with that reference.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from forge.preview import player
from forge.preview.player import CONNECTION, STATUS, Observed

__all__ = ["CONNECTION", "STATUS", "Observed", "observe", "uid", "written"]
CONNECTION_SECRET_TYPE = "connection.crossplane.io/v1alpha1"


def uid(manifest: Mapping[str, Any]) -> str:
    """The uid the played API server gives an object (stable across runs)."""
    meta = manifest.get("metadata") or {}
    parts = (manifest["apiVersion"], manifest["kind"], meta.get("namespace", ""), meta["name"])
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "/".join(parts)))


def observe(key: str, desired: dict[str, Any]) -> Observed:
    """The player's observed form, with the uid the API server would have given it."""
    observed = player.observe(key, desired)
    observed.manifest["metadata"].setdefault("uid", uid(observed.manifest))
    return observed


def controller_reference(owner: Mapping[str, Any]) -> dict[str, Any]:
    """crossplane-runtime's ``meta.AsController(meta.TypedReferenceTo(owner))``."""
    meta = owner["metadata"]
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": meta["name"],
        "uid": meta.get("uid") or uid(owner),
        "controller": True,
        "blockOwnerDeletion": True,
    }


def written(observed: Mapping[str, Observed]) -> list[dict[str, Any]]:
    """``player.written``, each connection Secret with its writer's controller reference."""
    owners: dict[tuple[str, str], Mapping[str, Any]] = {}
    for obs in observed.values():
        ref = (obs.manifest.get("spec") or {}).get("writeConnectionSecretToRef")
        if ref:
            namespace = ref.get("namespace", obs.manifest["metadata"].get("namespace", ""))
            owners[(namespace, ref["name"])] = obs.manifest
    out = player.written(observed)
    for secret in out:
        meta = secret["metadata"]
        owner = owners.get((meta.get("namespace", ""), meta["name"]))
        if secret.get("type") == CONNECTION_SECRET_TYPE and owner is not None:
            meta["ownerReferences"] = [controller_reference(owner)]
    return out
