"""Usages: deletion ordering that Kubernetes garbage collection does not give.

When an XR is deleted, every composed resource is deleted at once. A Usage
holds the used resource back until its user is gone (e.g. a ProviderConfig
until the Releases that need it have finished uninstalling).
"""

from __future__ import annotations

from typing import Any

from google.protobuf import struct_pb2

from forge.core import naming

USAGE_API_VERSION = "protection.crossplane.io/v1beta1"


def _ref(manifest: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": manifest["apiVersion"],
        "kind": manifest["kind"],
        "resourceRef": {"name": manifest["metadata"]["name"]},
    }


def named(composed: struct_pb2.Struct) -> dict[str, Any]:
    """A resource composed in this call, as ``usage`` reads it (kind, name, namespace).

    Read in place (converting the whole Struct costs about as much as writing it); what
    we compose always has an ``apiVersion``, a ``kind`` and a ``metadata.name``.
    """
    fields = composed.fields
    meta = fields["metadata"].struct_value.fields
    metadata = {"name": meta["name"].string_value}
    namespace = meta.get("namespace")
    if namespace is not None:
        metadata["namespace"] = namespace.string_value
    return {
        "apiVersion": fields["apiVersion"].string_value,
        "kind": fields["kind"].string_value,
        "metadata": metadata,
    }


def usage(*, of: dict[str, Any], by: dict[str, Any], name: str | None = None) -> dict[str, Any]:
    """A namespaced Usage: ``of`` cannot be deleted while ``by`` exists.

    Both must live in the same namespace (the Usage's). ``replayDeletion``
    retries a blocked deletion as soon as the user is gone, so teardown does
    not wait for the next garbage-collection pass. ``name`` replaces the default
    ``<of>-used-by-<by>`` where resources of several kinds share a name.

    A composed Usage that is no longer desired waits for ``by`` to be gone before it
    goes (crossplane v2.3.4 internal/controller/protection/usage/reconciler.go:316-353),
    and holds ``of`` meanwhile: ``of`` must be something that only goes with the XR
    (or with ``by``), never something a spec change removes while ``by`` stays.
    """
    namespace = of["metadata"].get("namespace")
    kind = "Usage" if namespace else "ClusterUsage"
    metadata: dict[str, Any] = {
        "name": name or naming.name(of["metadata"]["name"], "used-by", by["metadata"]["name"])
    }
    if namespace:
        metadata["namespace"] = namespace
    return {
        "apiVersion": USAGE_API_VERSION,
        "kind": kind,
        "metadata": metadata,
        "spec": {"of": _ref(of), "by": _ref(by), "replayDeletion": True},
    }
