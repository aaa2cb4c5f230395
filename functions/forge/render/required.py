"""Stand-ins for the cluster: required resources and connection Secrets.

Crossplane reads both from the API server; we read them from the files given
with ``-e`` and ``-o``. Selectors follow Crossplane's fetcher: apiVersion and
kind must match, then ``match_name`` (one object), ``match_labels`` (a subset
match) or neither (every object of that kind), in a stable order.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import crossplane.function.proto.v1.run_function_pb2 as fnv1

from forge.render.convert import secret_data, to_struct


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return obj.get("metadata") or {}


def matches(obj: Mapping[str, Any], selector: fnv1.ResourceSelector) -> bool:
    """Whether one manifest satisfies a selector (namespace only when the selector sets it)."""
    if obj.get("apiVersion") != selector.api_version or obj.get("kind") != selector.kind:
        return False
    namespace = selector.namespace if selector.HasField("namespace") else ""
    if namespace and _meta(obj).get("namespace", "") != namespace:
        return False
    match = selector.WhichOneof("match")
    if match == "match_name":
        return _meta(obj).get("name") == selector.match_name
    if match == "match_labels":
        labels = _meta(obj).get("labels") or {}
        return all(labels.get(k) == v for k, v in selector.match_labels.labels.items())
    return True


def fetch(
    resources: Sequence[Mapping[str, Any]], selector: fnv1.ResourceSelector
) -> fnv1.Resources:
    """The resources a selector asks for; empty (not an error) when none match."""
    ordered = sorted(
        resources, key=lambda r: (_meta(r).get("namespace", ""), _meta(r).get("name", ""))
    )
    found = [r for r in ordered if matches(r, selector)]
    if selector.WhichOneof("match") == "match_name":
        found = found[:1]  # there can only be one object with a given name
    return fnv1.Resources(items=[fnv1.Resource(resource=to_struct(r)) for r in found])


def selector_from_composition(sel: Mapping[str, Any]) -> fnv1.ResourceSelector:
    """A Composition step's ``requirements.requiredResources`` entry as a selector."""
    out = fnv1.ResourceSelector(api_version=sel.get("apiVersion", ""), kind=sel.get("kind", ""))
    if sel.get("namespace") is not None:
        out.namespace = sel["namespace"]
    if sel.get("name") is not None:
        out.match_name = sel["name"]
    elif sel.get("matchLabels"):
        out.match_labels.labels.update(sel["matchLabels"])
    return out


class Secrets:
    """Secrets found among the inputs, looked up by namespace and name."""

    def __init__(self, objects: Iterable[Mapping[str, Any]]) -> None:
        self._by_key: dict[tuple[str, str], Mapping[str, Any]] = {}
        for obj in objects:
            if obj.get("apiVersion") == "v1" and obj.get("kind") == "Secret":
                key = (_meta(obj).get("namespace", ""), _meta(obj).get("name", ""))
                self._by_key.setdefault(key, obj)

    def get(self, namespace: str, name: str) -> Mapping[str, Any] | None:
        """The Secret with this namespace and name, if it was given."""
        return self._by_key.get((namespace, name))

    def connection_details(self, owner: Mapping[str, Any]) -> dict[str, bytes]:
        """Connection details of an object, from its writeConnectionSecretToRef Secret.

        A namespaced object always writes to its own namespace; a cluster scoped
        one names the namespace in the ref. A missing Secret means no details,
        as in Crossplane (which ignores NotFound here).
        """
        ref = (owner.get("spec") or {}).get("writeConnectionSecretToRef")
        if not isinstance(ref, Mapping) or not ref.get("name"):
            return {}
        namespace = _meta(owner).get("namespace") or ref.get("namespace", "")
        secret = self.get(namespace, ref["name"])
        return secret_data(secret) if secret is not None else {}
