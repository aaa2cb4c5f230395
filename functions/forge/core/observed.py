"""Read observed state straight from protobuf Structs.

Converting every observed resource to a dict costs more than a whole no-op
function call, so composers read only the few fields they need, in place.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import crossplane.function.proto.v1.run_function_pb2 as fnv1
from google.protobuf import struct_pb2

_STRUCT = struct_pb2.Struct
_LIST = struct_pb2.ListValue


def _plain(value: struct_pb2.Value) -> Any:
    kind = value.WhichOneof("kind")
    if kind == "string_value":
        return value.string_value
    if kind == "struct_value":
        return value.struct_value
    if kind == "list_value":
        return value.list_value
    if kind == "number_value":
        number = value.number_value
        return int(number) if number.is_integer() else number
    if kind == "bool_value":
        return value.bool_value
    return None


def field(obj: struct_pb2.Struct | None, *path: str | int, default: Any = None) -> Any:
    """Return the value at ``path`` (keys and list indexes), or ``default``.

    Scalars come back as Python values; objects and lists stay Structs and
    ListValues so that a caller can keep walking without copying.
    """
    current: Any = obj
    for step in path:
        kind = type(current)
        if kind is _STRUCT and type(step) is str:
            value = current.fields.get(step)
            if value is None:
                return default
        elif (
            kind is _LIST
            and type(step) is int
            and -len(current.values) <= step < len(current.values)
        ):
            value = current.values[step]
        else:
            return default
        current = _plain(value)
    return default if current is None else current


def conditions(obj: struct_pb2.Struct | None) -> Iterator[struct_pb2.Struct]:
    """Yield the status conditions of an object."""
    listed = field(obj, "status", "conditions")
    if isinstance(listed, struct_pb2.ListValue):
        for value in listed.values:
            if value.WhichOneof("kind") == "struct_value":
                yield value.struct_value


def _condition(obj: struct_pb2.Struct | None, condition_type: str) -> struct_pb2.Struct | None:
    """The first status condition of a type (read in place: this runs for every resource)."""
    listed = field(obj, "status", "conditions")
    if type(listed) is not _LIST:
        return None
    for value in listed.values:
        if value.WhichOneof("kind") == "struct_value":
            kind = value.struct_value.fields.get("type")
            if (
                kind is not None
                and kind.WhichOneof("kind") == "string_value"
                and kind.string_value == condition_type
            ):
                return value.struct_value
    return None


def condition_status(obj: struct_pb2.Struct | None, condition_type: str) -> str:
    """Return "True", "False" or "Unknown" for a condition type."""
    condition = _condition(obj, condition_type)
    return "Unknown" if condition is None else str(field(condition, "status", default="Unknown"))


def condition_message(obj: struct_pb2.Struct | None, condition_type: str) -> str:
    """Return the message of a condition, or an empty string."""
    condition = _condition(obj, condition_type)
    return "" if condition is None else str(field(condition, "message", default=""))


class Observed:
    """The observed composed resources of one request, addressed by resource name."""

    def __init__(self, state: fnv1.State) -> None:
        self._resources = state.resources

    def __contains__(self, key: str) -> bool:
        return key in self._resources

    def __iter__(self) -> Iterator[str]:
        """The names of every observed composed resource."""
        return iter(list(self._resources))

    def resource(self, key: str) -> struct_pb2.Struct | None:
        """The observed object, or None when it does not exist yet."""
        if key not in self._resources:
            return None
        return self._resources[key].resource

    def get(self, key: str, *path: str | int, default: Any = None) -> Any:
        """A field of an observed resource, or ``default``."""
        return field(self.resource(key), *path, default=default)

    def connection(self, key: str, name: str) -> bytes | None:
        """A connection detail of an observed resource, kept as bytes (secret material)."""
        if key not in self._resources:
            return None
        details = self._resources[key].connection_details
        return details.get(name)
