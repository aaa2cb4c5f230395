"""Malformed and extreme requests: the function always answers, and says what is wrong.

Over gRPC against the real server where the wire matters (no composite, wrong
kinds); in-process for the many per-kind variations (same code path, much faster).
The fully provisioned scenarios come from ``bench/scenarios.py``, so every API
with an example is covered as soon as it is registered.
"""

from __future__ import annotations

import copy
import re
import time
from collections.abc import Iterator
from typing import Any

import crossplane.function.proto.v1.run_function_pb2 as fnv1
import grpc
import pytest
from crossplane.function import resource
from crossplane.function.proto.v1 import run_function_pb2_grpc as grpcv1

from forge.registry import COMPOSERS
from forge.versions import API_VERSION
from forge_dev.server import FORGE, ServerProcess
from forge_dev.simulate import steady_state as scenarios
from forge_dev.simulate.requests import Rendered, build, render
from tests.support import schemas

SCENARIOS = scenarios.for_tests()
HUGE = 10_000


@pytest.fixture(scope="module")
def stub() -> Iterator[grpcv1.FunctionRunnerServiceStub]:
    """The real server, plaintext on loopback, for the whole module."""
    with ServerProcess(FORGE, "--insecure") as server:
        server.wait_listening()
        with grpc.insecure_channel(server.address) as channel:
            yield grpcv1.FunctionRunnerServiceStub(channel)
        assert server.alive(), f"server died: {server.output()[-2000:]}"


def fatal(rsp: fnv1.RunFunctionResponse) -> list[str]:
    return [r.message for r in rsp.results if r.severity == fnv1.SEVERITY_FATAL]


def assert_answer(
    out: Rendered, assert_schema_valid, field: re.Pattern[str] = schemas.FIELD
) -> None:
    """A schema-valid render or exactly one fatal naming a field, nothing composed."""
    if out.fatal:
        assert len(out.fatal) == 1, out.fatal
        assert field.match(out.fatal[0]), f"fatal does not name a field: {out.fatal[0]}"
        assert out.resources == {}
    else:
        assert_schema_valid(schemas.inner_manifests(out))


# No composite, wrong kinds ------------------------------------------------------------


def test_request_without_observed_composite_gets_a_fatal_not_an_error(stub):
    rsp = stub.RunFunction(fnv1.RunFunctionRequest(), timeout=10)
    assert fatal(rsp) == ["unsupported composite resource kind: (no observed composite resource)"]
    assert not rsp.desired.resources


@pytest.mark.parametrize(
    ("xr", "what"),
    [
        ({"apiVersion": API_VERSION, "kind": "Database"}, f"{API_VERSION} Database"),
        ({"apiVersion": "example.org/v1", "kind": "Cluster"}, "example.org/v1 Cluster"),
        ({"kind": "Cluster"}, "Cluster"),
        ({"apiVersion": API_VERSION}, API_VERSION),
        ({"apiVersion": API_VERSION, "kind": "cluster"}, f"{API_VERSION} cluster"),
        ({"apiVersion": 42, "kind": ["Cluster"]}, "(invalid apiVersion) (invalid kind)"),
    ],
)
def test_wrong_kinds_are_fatal_and_named(stub, xr, what):
    req = build({**xr, "metadata": {"name": "x"}, "spec": {}})
    rsp = stub.RunFunction(req, timeout=10)
    assert len(fatal(rsp)) == 1
    assert fatal(rsp)[0].startswith(f"unsupported composite resource kind: {what}")


def test_desired_state_of_earlier_steps_survives_a_fatal(stub):
    earlier = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "from-step-1"}}
    req = build({"apiVersion": API_VERSION, "kind": "Nope"}, desired={"earlier": earlier})
    rsp = stub.RunFunction(req, timeout=10)
    assert resource.struct_to_dict(rsp.desired.resources["earlier"].resource) == earlier


# Specs that are not objects, huge arrays ----------------------------------------------


@pytest.mark.parametrize("kind", schemas.KINDS)
@pytest.mark.parametrize("spec", ["a string", 42, 1.5, True, [1, 2], [{"name": "x"}]])
def test_non_object_spec_is_fatal_on_spec(kind, spec):
    out = render(build(schemas.xr_for(kind, spec)))
    assert out.fatal == [f"invalid {kind} 'fuzz': spec: must be an object"]
    assert out.resources == {}


@pytest.mark.parametrize("kind", schemas.KINDS)
def test_null_or_missing_spec_answers(kind, assert_schema_valid):
    for xr in (
        schemas.xr_for(kind, None),
        {k: v for k, v in schemas.xr_for(kind, {}).items() if k != "spec"},
    ):
        assert_answer(render(build(xr)), assert_schema_valid)


def array_paths(schema: dict[str, Any], prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Paths (through objects only) of every array field of a spec schema."""
    found = []
    for name, sub in schema.get("properties", {}).items():
        if sub.get("type") == "array":
            found.append((*prefix, name))
        elif sub.get("type") == "object":
            found += array_paths(sub, (*prefix, name))
    return found


def distinct(item: Any, keys: list[str], index: int) -> Any:
    """A copy of a list item whose map keys (``x-kubernetes-list-map-keys``) are unique."""
    item = copy.deepcopy(item)
    for key in keys:
        if isinstance(item, dict) and isinstance(item.get(key), str):
            item[key] = f"{item[key][:50]}-{index}"
    return item


def huge_cases() -> list[tuple[str, tuple[str, ...]]]:
    return [
        (k, p) for k in schemas.KINDS for p in array_paths(schemas.spec_schema(schemas.xrd_of(k)))
    ]


@pytest.mark.parametrize(
    ("kind", "path"), huge_cases(), ids=lambda v: ".".join(v) if isinstance(v, tuple) else v
)
def test_huge_arrays_answer_quickly(kind, path, assert_schema_valid):
    """10,000 items in any list: one fatal naming it, or a (valid) render, within seconds."""
    base = next(s for s in SCENARIOS if s.kind == kind)
    xr = copy.deepcopy(base.xr)
    target = xr.setdefault("spec", {})
    for step in path[:-1]:
        target = target.setdefault(step, {})
    current = target.get(path[-1])
    item = current[0] if isinstance(current, list) and current else "x"
    keys = schemas.sub_schema(schemas.spec_schema(schemas.xrd_of(kind)), path).get(
        "x-kubernetes-list-map-keys", []
    )
    target[path[-1]] = [distinct(item, keys, i) for i in range(HUGE)]
    start = time.monotonic()
    out = render(base.with_xr(xr))
    elapsed = time.monotonic() - start
    assert_answer(out, assert_schema_valid)
    assert elapsed < 10, f"{elapsed:.1f}s for {HUGE} items in spec.{'.'.join(path)}"


# Names at and beyond the limits, unicode --------------------------------------------

NAMES = {
    "label-max": "a" * 63,
    "label-over": "a" * 64,
    "subdomain-max": ".".join(["b" * 62] * 4)[:253],
    "subdomain-over": "c" * 254,
    "unicode": "ünïcødé-名前-🚀",
    "upper": "Dev",
    "dots": "team.dev",
}
NAME_FIELD = re.compile(r"^invalid \w+( '[a-z0-9.-]+')?: metadata\.name: \S")


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
@pytest.mark.parametrize("name", sorted(NAMES))
def test_names_at_and_over_limits(scenario, name, assert_schema_valid):
    """Every composed name stays valid (hashed when too long), or one fatal on metadata.name."""
    xr = copy.deepcopy(scenario.xr)
    xr["metadata"]["name"] = NAMES[name]
    out = render(scenario.with_xr(xr))
    if out.fatal:
        assert len(out.fatal) == 1 and NAME_FIELD.match(out.fatal[0]), out.fatal
        return
    assert_schema_valid(schemas.inner_manifests(out))


# Observed state that makes no sense ----------------------------------------------------

GARBAGE_STATUS: dict[str, Any] = {
    "string-status": "garbage",
    "conditions-not-a-list": {"conditions": "Ready"},
    "conditions-of-junk": {"conditions": [1, None, "x", {"type": 5, "status": ["True"]}]},
    "at-provider-list": {"conditions": [], "atProvider": [1, 2]},
    "ready-false": {"conditions": [{"type": "Ready", "status": "False", "reason": "Boom"}]},
}


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
@pytest.mark.parametrize("garbage", sorted(GARBAGE_STATUS))
def test_garbage_observed_status_never_breaks_the_function(scenario, garbage, assert_schema_valid):
    """Providers report nonsense: nothing raises, nothing composed disappears, XR not Ready."""
    req = fnv1.RunFunctionRequest()
    req.CopyFrom(scenario.request)
    for observed in req.observed.resources.values():
        observed.resource["status"] = GARBAGE_STATUS[garbage]
        observed.connection_details.clear()
    out = render(req)
    assert not out.fatal, out.fatal
    assert set(req.observed.resources) <= set(out.resources), "composed resources disappeared"
    assert not out.composite_ready
    assert_schema_valid(schemas.inner_manifests(out))


def test_every_registered_kind_has_a_scenario():
    """Malformed-state tests need a fully provisioned example of every kind."""
    assert {kind for _, kind in COMPOSERS} <= {s.kind for s in SCENARIOS}
