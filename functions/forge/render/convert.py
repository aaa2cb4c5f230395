"""Conversions between Kubernetes-style dicts and protobuf well-known types.

Crossplane turns a function's Structs back into JSON and then into Go maps, so an
integral number comes out as an integer. We do the same, otherwise every
``replicas: 3`` would print as ``3.0``.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

from google.protobuf import json_format, struct_pb2

from forge.render.errors import RenderError, goquote


def to_struct(obj: Mapping[str, Any]) -> struct_pb2.Struct:
    """Encode a JSON-like mapping as a Struct."""
    return json_format.ParseDict(obj, struct_pb2.Struct())


def to_value(obj: Any) -> struct_pb2.Value:
    """Encode any JSON-like value as a Value."""
    return json_format.ParseDict(obj, struct_pb2.Value())


def from_value(value: struct_pb2.Value) -> Any:
    """Decode a Value, turning integral numbers into ints like Crossplane does."""
    kind = value.WhichOneof("kind")
    if kind == "struct_value":
        return from_struct(value.struct_value)
    if kind == "list_value":
        return [from_value(v) for v in value.list_value.values]
    if kind == "number_value":
        number = value.number_value
        return int(number) if number.is_integer() else number
    if kind == "string_value":
        return value.string_value
    if kind == "bool_value":
        return value.bool_value
    return None


def from_struct(struct: struct_pb2.Struct) -> dict[str, Any]:
    """Decode a Struct into a plain dict."""
    return {key: from_value(val) for key, val in struct.fields.items()}


def secret_data(secret: Mapping[str, Any]) -> dict[str, bytes]:
    """The decoded data of a v1 Secret manifest.

    ``stringData`` is merged over ``data`` the way the API server stores it, so a
    hand-written test Secret works the same as one read back from a cluster.
    """
    out: dict[str, bytes] = {}
    name = (secret.get("metadata") or {}).get("name", "")
    for key, encoded in (secret.get("data") or {}).items():
        try:
            out[key] = base64.b64decode(str(encoded or ""), validate=True)
        except binascii.Error as exc:
            raise RenderError(
                f"cannot decode key {goquote(key)} of Secret {goquote(name)}: {exc}"
            ) from exc
    for key, text in (secret.get("stringData") or {}).items():
        out[key] = str(text).encode()
    return out
