"""Hypothesis strategies for specs the API server would admit, from the generated XRDs.

Structural schema only (types, enums, patterns, lengths, list types); CEL rules aside,
so a drawn spec may still be one the function refuses, naming a field. Free-form
objects get small JSON whose keys ``keys`` draws: plain words by default (the tenancy
property), any text for the fuzzers.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import yaml
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[2]
MAX_LIST = 3
FREE_KEYS = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=6)
ANY_KEYS = st.text(max_size=8)


def json_values(keys: st.SearchStrategy[str] = FREE_KEYS) -> st.SearchStrategy[Any]:
    """Small JSON values: scalars, lists and objects, up to eight leaves."""
    return st.recursive(
        st.none() | st.booleans() | st.integers(-(2**31), 2**31) | st.text(max_size=12),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=3),
        max_leaves=8,
    )


@functools.cache
def spec_schema(kind: str) -> dict[str, Any]:
    """The openAPIV3Schema of ``spec`` in the kind's generated XRD (``xrds/``)."""
    for path in sorted((ROOT / "xrds").glob("*.yaml")):
        doc = yaml.safe_load(path.read_text())
        if doc["spec"]["names"]["kind"] == kind:
            (version,) = doc["spec"]["versions"]
            return version["schema"]["openAPIV3Schema"]["properties"]["spec"]
    raise AssertionError(f"no XRD for {kind} in xrds/")


def strings(schema: dict[str, Any]) -> st.SearchStrategy[str]:
    """Strings within the schema's pattern and length bounds, lengths at the edges included."""
    low = schema.get("minLength", 0)
    high = schema.get("maxLength")
    if "pattern" in schema:
        base = st.from_regex(schema["pattern"], fullmatch=True)
        return base.filter(lambda s: low <= len(s) <= (high if high is not None else 10**6))
    top = high if high is not None else low + 24
    edges = [st.text(min_size=top, max_size=top)] if high is not None else []
    return st.one_of(st.text(min_size=low, max_size=min(top, low + 24)), *edges)


def from_schema(
    schema: dict[str, Any],
    *,
    keys: st.SearchStrategy[str] = FREE_KEYS,
    max_list: int = MAX_LIST,
) -> st.SearchStrategy[Any]:
    """Values the structural schema admits (CEL rules aside)."""

    def draw(sub: dict[str, Any]) -> st.SearchStrategy[Any]:
        return from_schema(sub, keys=keys, max_list=max_list)

    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema.get("type")
    if kind == "string":
        return strings(schema)
    if kind == "integer":
        return st.integers(schema.get("minimum", -(2**31)), schema.get("maximum", 2**31))
    if kind == "number":
        return st.floats(schema.get("minimum"), schema.get("maximum"), allow_nan=False)
    if kind == "boolean":
        return st.booleans()
    if kind == "array":
        return arrays(schema, draw(schema["items"]), max_list)
    if kind == "object" and "properties" in schema:
        required = set(schema.get("required", []))
        props = {name: draw(sub) for name, sub in schema["properties"].items()}
        return st.fixed_dictionaries(
            {n: s for n, s in props.items() if n in required},
            optional={n: s for n, s in props.items() if n not in required},
        )
    if kind == "object" and isinstance(schema.get("additionalProperties"), dict):
        return st.dictionaries(keys, draw(schema["additionalProperties"]), max_size=3)
    return st.dictionaries(keys, json_values(keys), max_size=3)


def arrays(
    schema: dict[str, Any], items: st.SearchStrategy[Any], max_list: int = MAX_LIST
) -> st.SearchStrategy[list[Any]]:
    """Lists honouring minItems/maxItems and list-type set/map uniqueness."""
    low = schema.get("minItems", 0)
    high = min(schema.get("maxItems", low + max_list), low + max_list)
    list_type = schema.get("x-kubernetes-list-type")
    if list_type == "set":
        return st.lists(items, min_size=low, max_size=high, unique=True)
    if list_type == "map":
        names = schema.get("x-kubernetes-list-map-keys", [])
        return st.lists(
            items, min_size=low, max_size=high, unique_by=lambda x: tuple(x.get(k) for k in names)
        )
    return st.lists(items, min_size=low, max_size=high)
