"""Hypothesis strategies for specs the API server would admit, from the generated XRDs.

Structural schema only (types, enums, patterns, lengths, list types); CEL rules aside,
so a drawn spec may still be one the function refuses, naming a field.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import yaml
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parent.parent.parent
MAX_LIST = 3
FREE_KEYS = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=6)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**31), 2**31) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(FREE_KEYS, inner, max_size=3),
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
    low, high = schema.get("minLength", 0), schema.get("maxLength")
    if "pattern" in schema:
        base = st.from_regex(schema["pattern"], fullmatch=True)
        return base.filter(lambda s: low <= len(s) <= (high if high is not None else 10**6))
    return st.text(min_size=low, max_size=min(high if high is not None else 24, low + 24))


def from_schema(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values the structural schema admits; free-form objects get small JSON with plain
    keys (``FREE_KEYS``)."""
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
        return arrays(schema)
    if kind == "object" and "properties" in schema:
        required = set(schema.get("required", []))
        props = {name: from_schema(sub) for name, sub in schema["properties"].items()}
        return st.fixed_dictionaries(
            {n: s for n, s in props.items() if n in required},
            optional={n: s for n, s in props.items() if n not in required},
        )
    if kind == "object" and isinstance(schema.get("additionalProperties"), dict):
        return st.dictionaries(FREE_KEYS, from_schema(schema["additionalProperties"]), max_size=3)
    return st.dictionaries(FREE_KEYS, JSON, max_size=3)


def arrays(schema: dict[str, Any]) -> st.SearchStrategy[list[Any]]:
    low = schema.get("minItems", 0)
    high = min(schema.get("maxItems", low + MAX_LIST), low + MAX_LIST)
    items = from_schema(schema["items"])
    list_type = schema.get("x-kubernetes-list-type")
    if list_type == "set":
        return st.lists(items, min_size=low, max_size=high, unique=True)
    if list_type == "map":
        keys = schema.get("x-kubernetes-list-map-keys", [])
        return st.lists(
            items, min_size=low, max_size=high, unique_by=lambda x: tuple(x.get(k) for k in keys)
        )
    return st.lists(items, min_size=low, max_size=high)
