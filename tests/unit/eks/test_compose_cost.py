"""Composing reads state in place: its cost per call does not grow by whole-object copies.

Converting a protobuf Struct to a dict costs about as much as writing it; the composers
read the few fields they need with ``forge.core.observed.field`` instead. A conversion
per composed resource made one more node group cost about a third more than it should
(``make bench``'s per-resource figure).
"""

from __future__ import annotations

from typing import Any

import pytest
from google.protobuf import json_format

from forge.fn import run
from forge_dev.simulate.converge import converge
from forge_dev.simulate.requests import LOG, build
from tests.support.eks import observed_of, xr_with


def _group(name: str) -> dict[str, Any]:
    return {"name": name, "instanceType": "t3.large", "minSize": 1, "maxSize": 3}


def _conversions(monkeypatch: pytest.MonkeyPatch, xr: dict[str, Any]) -> int:
    """Structs converted to dicts while composing the converged XR once more."""
    final = converge(xr, max_rounds=12)[-1]
    req = build(xr, observed=observed_of(final))
    count = 0
    convert = json_format.MessageToDict

    def counting(*args: Any, **kwargs: Any) -> Any:
        nonlocal count
        count += 1
        return convert(*args, **kwargs)

    with monkeypatch.context() as patched:
        patched.setattr(json_format, "MessageToDict", counting)
        rsp = run(req, LOG)
    assert "teardown-gate" in rsp.desired.resources, "the gate (and what it holds) is composed"
    return count


def test_struct_conversions_do_not_grow_with_node_groups(monkeypatch):
    one = _conversions(monkeypatch, xr_with(nodeGroups=[_group("general")]))
    four = _conversions(monkeypatch, xr_with(nodeGroups=[_group(f"g{i}") for i in range(4)]))
    assert four == one, f"{one} conversions with one node group, {four} with four"
