"""Required resources for requests built by hand (the bench and lifecycle tests).

Selectors follow Crossplane's fetcher: apiVersion and kind must match, then
``match_name`` (one object), ``match_labels`` (a subset match) or neither (every
object of that kind), in a stable order. Renders through the real engine do not
use this: the engine fetches required resources itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import crossplane.function.proto.v1.run_function_pb2 as fnv1
from crossplane.function import resource

from forge_dev.simulate.requests import render


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
    return fnv1.Resources(
        items=[fnv1.Resource(resource=resource.dict_to_struct(dict(r))) for r in found]
    )


def answer(
    ask: Callable[[dict[str, list[dict[str, Any]]]], Mapping[str, fnv1.ResourceSelector]],
    world: Sequence[Mapping[str, Any]],
    rounds: int = 5,
) -> dict[str, list[dict[str, Any]]]:
    """Crossplane's requirement loop: ask with what was fetched so far until it is stable.

    ``ask`` runs the function with the answers so far and returns its requirements;
    each is answered from ``world``; a bounded number of rounds, as Crossplane does.
    """
    got: dict[str, list[dict[str, Any]]] = {}
    for _ in range(rounds):
        wanted = {
            name: [resource.struct_to_dict(item.resource) for item in fetch(world, selector).items]
            for name, selector in ask(got).items()
        }
        if wanted == got:
            break
        got = wanted
    return got


def answer_request(
    req: fnv1.RunFunctionRequest, world: Sequence[Mapping[str, Any]], rounds: int = 5
) -> fnv1.RunFunctionRequest:
    """``req`` with its required resources answered from ``world`` (``answer``)."""

    def ask(got: dict[str, list[dict[str, Any]]]) -> Mapping[str, fnv1.ResourceSelector]:
        _fill(req, got)
        return render(req).requirements

    _fill(req, answer(ask, world, rounds))
    return req


def _fill(req: fnv1.RunFunctionRequest, found: Mapping[str, list[dict[str, Any]]]) -> None:
    req.ClearField("required_resources")
    for name, items in found.items():
        resources = req.required_resources[name]
        for item in items:
            resources.items.add().resource.update(item)
