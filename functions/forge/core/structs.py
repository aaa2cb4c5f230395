"""Write plain data into protobuf Structs, faster than ``Struct.update``.

Every composed resource goes through this on every call: protobuf's own
``Struct.update`` walks an ``isinstance`` chain and two method calls per value;
this does the same upb writes, in the same order, with one ``type()`` dispatch.
Anything that is not plain JSON data (subclasses, tuples, Structs) takes
protobuf's own path, so the result and the errors are exactly ``update``'s.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from google.protobuf import struct_pb2


def fill(struct: struct_pb2.Struct, mapping: Mapping[str, Any]) -> None:
    """``struct.update(mapping)``."""
    fields = struct.fields
    for key, value in mapping.items():
        _set(fields[key], value)


def _set(target: struct_pb2.Value, value: Any) -> None:
    kind = type(value)
    if kind is str:
        target.string_value = value
    elif kind is dict:
        struct = target.struct_value
        struct.Clear()
        fields = struct.fields
        for key, item in value.items():
            _set(fields[key], item)
    elif kind is list:
        values = target.list_value
        values.Clear()
        add = values.values.add
        for item in value:
            _set(add(), item)
    elif kind is bool:
        target.bool_value = value
    elif kind is int or kind is float:
        target.number_value = value
    elif value is None:
        target.null_value = struct_pb2.NULL_VALUE
    else:
        scratch = struct_pb2.Struct()
        scratch.update({"value": value})
        target.CopyFrom(scratch.fields["value"])
