"""Requests an attacker (or a bug) could send: each gets a clear answer naming the field.

In-process, on the same code path the server runs. Each case reproduced a crash, a
composition into a namespace called "None", or a message quoting raw input.
"""

from __future__ import annotations

import copy

import pytest
from bench import scenarios

from forge import xrdgen
from forge.apis import COMPOSERS, NAMESPACED
from tests.support.request import build, render

SCENARIOS = {s.kind: s for s in reversed(scenarios.for_tests())}
KINDS = sorted(kind for _, kind in COMPOSERS)
MAX_MESSAGE = 400


def xr_of(kind: str) -> dict:
    return copy.deepcopy(SCENARIOS[kind].xr)


def only_fatal(xr: dict) -> str:
    """The one fatal result of a first call with ``xr``; nothing composed."""
    out = render(build(xr))
    assert len(out.fatal) == 1, out.fatal
    assert out.resources == {}
    assert len(out.fatal[0]) < MAX_MESSAGE, "a message must not carry the input"
    return out.fatal[0]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name", [5, True, None, {"a": "b"}, ["x"]])
def test_a_name_that_is_not_a_string_is_fatal_on_metadata_name(kind, name):
    xr = xr_of(kind)
    xr["metadata"]["name"] = name
    assert only_fatal(xr) == f"invalid {kind}: metadata.name: is required, a string"


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name", ["a" * 254, "x" * 4_000_000, "Dev", "ünï", "a_b", "-a"])
def test_a_name_kubernetes_would_refuse_is_fatal_and_not_quoted(kind, name):
    xr = xr_of(kind)
    xr["metadata"]["name"] = name
    message = only_fatal(xr)
    assert message.startswith(f"invalid {kind}: metadata.name: must be a DNS-1123 subdomain")
    assert name not in message


@pytest.mark.parametrize("kind", sorted(NAMESPACED))
@pytest.mark.parametrize("namespace", [None, "", 7, "n" * 64, "Team"])
def test_a_namespaced_xr_without_a_valid_namespace_is_fatal(kind, namespace):
    """It used to compose its Releases into a namespace called "None"."""
    xr = xr_of(kind)
    if namespace is None:
        del xr["metadata"]["namespace"]
    else:
        xr["metadata"]["namespace"] = namespace
    assert only_fatal(xr).startswith(f"invalid {kind}: metadata.namespace: ")


def test_namespaced_kinds_are_the_xrds_namespaced_ones():
    scopes = {d.kind: d.scope for d in xrdgen.DEFINITIONS}
    assert {kind for kind, scope in scopes.items() if scope == "Namespaced"} == NAMESPACED


@pytest.mark.parametrize(
    ("xr", "said"),
    [
        ({"apiVersion": "x" * 1_000_000, "kind": "Cluster"}, "(invalid apiVersion) Cluster"),
        ({"apiVersion": "v1", "kind": "K" * 100_000}, "v1 (invalid kind)"),
        ({"apiVersion": {"a": 1}, "kind": ["Cluster"]}, "(invalid apiVersion) (invalid kind)"),
    ],
)
def test_an_unknown_kind_is_named_only_when_it_looks_like_one(xr, said):
    message = only_fatal({**xr, "metadata": {"name": "x"}})
    assert message == f"unsupported composite resource kind: {said}"


INTEGER, BOOLEAN = "Input should be a valid integer", "Input should be a valid boolean"


@pytest.mark.parametrize(
    ("kind", "path", "value", "rule"),
    [
        *[("Cluster", ("nodeGroups", 0, "minSize"), v, INTEGER) for v in ("1", True, 1.5)],
        *[("KEDA", ("operator", "replicas"), v, INTEGER) for v in ("2", True)],
        *[("KEDA", ("metricsServer", "enabled"), v, BOOLEAN) for v in ("true", 1)],
    ],
)
def test_numbers_and_booleans_are_strict(kind, path, value, rule):
    """ "1" and true used to pass as integers (and "true" as a boolean)."""
    xr = xr_of(kind)
    target = xr["spec"]
    for step in path[:-1]:
        target = target.setdefault(step, {}) if isinstance(step, str) else target[step]
    target[path[-1]] = value
    scenario = SCENARIOS[kind]
    req = build(xr)
    req.required_resources.MergeFrom(scenario.request.required_resources)
    req.input.CopyFrom(scenario.request.input)
    out = render(req)
    where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)
    assert len(out.fatal) == 1, out.fatal
    assert f": spec{where}: {rule}" in out.fatal[0]
