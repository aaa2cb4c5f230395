"""Fuzz the spec of every XR kind the function serves.

Strategies are derived from the generated XRDs (``xrds/*.yaml``), so an API
registered in ``forge.registry`` is fuzzed as soon as its XRD is generated. Whatever
the spec, the function answers either with a render whose every composed resource
(and every manifest inside an Object) is schema-valid, and whose Helm values pass the
chart's schema unless the user supplied free-form ``values``, or with exactly one fatal
result naming a field under ``spec``, and nothing composed. Never an exception, never
an "internal error". A clean render is followed for a few provider rounds, so the
later stages (gated on readiness) see the fuzzed spec too.

``FORGE_FUZZ_EXAMPLES`` sets hypothesis' ``max_examples`` per test and kind
(default 50, derandomized so the normal run is reproducible: about a second per
kind; setting it, as ``make soak`` does with 1,000, also draws fresh random examples).
"""

from __future__ import annotations

import collections
import copy
import functools
import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from google.protobuf import struct_pb2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from forge.core import structs
from forge_dev.schemas.sources import SchemaSourceError
from forge_dev.schemas.store import SchemaStore
from forge_dev.simulate.player import observe
from forge_dev.simulate.requests import Rendered, build, render
from forge_dev.simulate.steady_state import examples, pool_for, required_from, step_input
from tests.support import spec_strategies
from tests.support.schemas import (
    FIELD,
    KINDS,
    inner_manifests,
    spec_schema,
    sub_schema,
    xr_for,
    xrd_of,
)
from tests.support.spec_strategies import ANY_KEYS, json_values

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = int(os.environ.get("FORGE_FUZZ_EXAMPLES", "50"))
ROUNDS = 3  # provider rounds after a clean first render: later stages see fuzzed specs too
MAX_LIST = 4  # list sizes the structural fuzzer generates (huge ones: hardening/test_requests.py)
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    derandomize="FORGE_FUZZ_EXAMPLES" not in os.environ,  # the default run is reproducible
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


# Strategies from structural schemas ----------------------------------------------------

JSON = json_values(ANY_KEYS)


def from_schema(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values the API server would admit, free-form keys of any text (the fuzzers' form)."""
    return spec_strategies.from_schema(schema, keys=ANY_KEYS, max_list=MAX_LIST)


@functools.cache
def example_specs(kind: str) -> tuple[dict[str, Any], ...]:
    """The specs of the kind's examples (starting points close to real use)."""
    specs = []
    for directory in examples().values():
        xr = yaml.safe_load((directory / "xr.yaml").read_text())
        if xr.get("kind") == kind:
            specs.append(xr.get("spec") or {})
    return tuple(specs)


@st.composite
def near_examples(draw: st.DrawFn, kind: str, schema: dict[str, Any]) -> dict[str, Any]:
    """An example's spec with one field, present or not, set to an admitted value."""
    spec = copy.deepcopy(draw(st.sampled_from(example_specs(kind))))
    objects = [p for p in paths(spec) if isinstance(get(spec, p), dict)]
    path = draw(st.sampled_from(objects))
    target, where = get(spec, path), sub_schema(schema, path)
    if where is None or not where.get("properties"):
        return spec
    name = draw(st.sampled_from(sorted(where["properties"])))
    target[name] = draw(from_schema(where["properties"][name]))
    return spec


def get(value: Any, path: tuple[Any, ...]) -> Any:
    """The value at a path of :func:`paths`."""
    for step in path:
        value = value[step]
    return value


def admitted(kind: str, schema: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Specs from the schema alone, and close variations of the kind's examples."""
    if not example_specs(kind):
        return from_schema(schema)
    return st.one_of(from_schema(schema), near_examples(kind, schema))


# Mutations beyond the schema -----------------------------------------------------------

BAD_VALUES = st.sampled_from(
    [
        None,
        0,
        -1,
        2**63,
        1.5,
        True,
        "",
        "x",
        "ünïcødé-名前-🚀",
        "a" * 64,
        "a" * 254,
        "A-UPPER",
        "-leading-dash",
        [],
        [1, "two", None],
        {},
        {"unexpected": "field"},
    ]
)


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path into a JSON value (the root included)."""
    out = [prefix]
    if isinstance(value, dict):
        for key, sub in value.items():
            out += paths(sub, (*prefix, key))
    elif isinstance(value, list):
        for index, sub in enumerate(value):
            out += paths(sub, (*prefix, index))
    return out


@st.composite
def mutated(draw: st.DrawFn, kind: str, schema: dict[str, Any]) -> Any:
    """An admitted spec with one thing broken: a wrong value or an unknown field."""
    spec = copy.deepcopy(draw(admitted(kind, schema)))
    path = draw(st.sampled_from(paths(spec)))
    target = get(spec, path)
    if isinstance(target, dict) and draw(st.booleans()):
        target[draw(st.sampled_from(["unknownField", "Spec", "ünï", "x" * 300]))] = draw(JSON)
        return spec
    bad = draw(BAD_VALUES)
    if not path:
        return bad
    get(spec, path[:-1])[path[-1]] = bad
    return spec


# The property ----------------------------------------------------------------------------

# "invalid <Kind> '<name>': spec.a.b[0]["map key"][<key>]: <reason>" ([<key>]: a key that
# is not a short identifier, left unquoted)


def user_values(value: Any) -> bool:
    """Whether a spec carries free-form Helm ``values`` anywhere (then the user owns them)."""
    if isinstance(value, dict):
        if value.get("values"):
            return True
        return any(user_values(v) for v in value.values())
    return isinstance(value, list) and any(user_values(v) for v in value)


def helm_errors(out: Rendered, store: SchemaStore) -> list[str]:
    """Chart-schema errors of the values of every Release whose chart is in the store."""
    errors = []
    for manifest in out.resources.values():
        if manifest["kind"] != "Release" or not manifest["apiVersion"].startswith("helm."):
            continue
        provider = manifest["spec"]["forProvider"]
        chart = provider["chart"]
        try:
            store.has_values_schema(chart["name"], chart["version"])
        except SchemaSourceError:
            continue  # a fuzzed chartVersion: no such chart to check against
        values = provider.get("values") or {}
        errors += store.validate_helm_values(chart["name"], chart["version"], values)
    return errors


def assert_answers(
    xr: dict[str, Any], assert_schema_valid, store: SchemaStore | None = None
) -> None:
    """A schema-valid render (over a few provider rounds) or one fatal naming a field.

    The request carries what a real one would: the Composition's step input and the
    environment of the kind's examples (so defaults such as the region come in).
    """
    given = step_input(xr["kind"])
    required = required_from(xr, pool_for(xr["kind"]), given)
    observed: dict[str, Any] = {}
    for _ in range(ROUNDS):
        req = build(xr, observed=observed, required=required(observed), step_input=given)
        out = render(req)
        if out.fatal:
            assert observed == {}, f"fatal only after the first round: {out.fatal}"
            assert len(out.fatal) == 1, out.fatal
            assert FIELD.match(out.fatal[0]), f"fatal does not name a spec field: {out.fatal[0]}"
            assert out.resources == {}, "a fatal result must not compose anything"
            return
        assert_schema_valid(inner_manifests(out))
        if store is not None and not user_values(xr["spec"]):
            assert helm_errors(out, store) == []
        if out.composite_ready:
            return
        observed = {key: observe(key, m) for key, m in out.resources.items()}


@pytest.mark.parametrize("kind", KINDS)
def test_admitted_specs_render_or_name_a_field(kind, assert_schema_valid, schema_store):
    """Specs the API server would admit (CEL aside): valid resources and Helm values
    (unless the user gave free-form values), or one field error."""
    schema = spec_schema(xrd_of(kind))

    @FUZZ
    @given(spec=admitted(kind, schema))
    def check(spec: dict[str, Any]) -> None:
        assert_answers(xr_for(kind, spec), assert_schema_valid, schema_store)

    check()


@pytest.mark.parametrize("kind", KINDS)
def test_broken_specs_render_or_name_a_field(kind, assert_schema_valid):
    """One wrong value or unknown field anywhere: still an answer, never an exception."""
    schema = spec_schema(xrd_of(kind))

    @FUZZ
    @given(spec=mutated(kind, schema))
    def check(spec: Any) -> None:
        assert_answers(xr_for(kind, spec), assert_schema_valid)

    check()


# The core's fast Struct writer ----------------------------------------------------------

PLAIN = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63)
    | st.floats(allow_nan=False)
    | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(st.text(max_size=8), inner, max_size=4)
        | st.builds(
            collections.OrderedDict, st.dictionaries(st.text(max_size=4), inner, max_size=2)
        )
    ),
    max_leaves=20,
)


@FUZZ
@given(data=st.dictionaries(st.text(max_size=8), PLAIN, max_size=6))
def test_structs_fill_writes_exactly_what_struct_update_writes(data):
    expected, actual = struct_pb2.Struct(), struct_pb2.Struct()
    expected.update(data)
    structs.fill(actual, data)
    assert actual.SerializeToString(deterministic=True) == expected.SerializeToString(
        deterministic=True
    )


def test_structs_fill_rejects_what_struct_update_rejects():
    for bad in ({"x": {1, 2}}, {"x": [object()]}, {"x": {"y": b"bytes"}}):
        with pytest.raises(ValueError, match="Unexpected type"):
            struct_pb2.Struct().update(bad)
        with pytest.raises(ValueError, match="Unexpected type"):
            structs.fill(struct_pb2.Struct(), bad)


def test_every_registered_kind_has_a_generated_xrd():
    """The fuzzers cover every kind: none is served without its XRD."""
    for kind in KINDS:
        assert spec_schema(xrd_of(kind))["type"] == "object"
