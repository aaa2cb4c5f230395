"""Validation of values against Kubernetes structural (CRD) OpenAPI v3 schemas.

Written here rather than with a JSON Schema library because Kubernetes semantics differ:
fields not in ``properties`` are unknown (rejected) unless
``x-kubernetes-preserve-unknown-fields``; ``x-kubernetes-int-or-string`` and
``x-kubernetes-embedded-resource`` change typing; ``nullable`` gates null; defaults satisfy
``required``; ``exclusiveMinimum`` is a boolean; list types ``set``/``map`` demand unique
items; ``anyOf``/``oneOf``/``allOf``/``not`` only add value checks. CEL rules
(``x-kubernetes-validations``) are not evaluated (no CEL engine); ``cel_rules`` lists them.
Errors are strings ``<json path>: <problem>``, e.g. ``spec.forProvider.foo: unknown field``.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import ipaddress
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from forge_dev.schemas.objectmeta import OBJECT_META_SCHEMA, NameRule, check_meta_syntax

Schema = Mapping[str, Any]

_RESOURCE_KEYS = ("apiVersion", "kind", "metadata")
_SIMPLE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
_DATE_TIME = re.compile(
    r"^\d{4}-\d{2}-\d{2}([Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}:?\d{2})?)?$"
)
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-?([0-9a-fA-F]{4}-?){3}[0-9a-fA-F]{12}$")
_INT_RANGES = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}


@dataclass(frozen=True)
class CelRule:
    """An ``x-kubernetes-validations`` rule found in a schema (not evaluated)."""

    path: str
    rule: str
    message: str


def child(path: str, key: str) -> str:
    """JSON path of a named field."""
    return f"{path}.{key}" if path else key


def entry(path: str, key: object) -> str:
    """JSON path of a map entry or list item (``[key]``, ``[3]``)."""
    return f"{path}[{key}]"


def _show(path: str) -> str:
    return path or "(root)"


def type_name(value: Any) -> str:
    """The JSON type name of a Python value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, list | tuple):
        return "array"
    return type(value).__name__


def _is_type(value: Any, typ: str) -> bool:
    if typ == "object":
        return isinstance(value, Mapping)
    if typ == "array":
        return isinstance(value, list | tuple)
    if typ == "string":
        return isinstance(value, str)
    if typ == "boolean":
        return isinstance(value, bool)
    if typ == "integer":
        if isinstance(value, bool):
            return False
        return isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    if typ == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    return True


def _normalise(value: Any) -> Any:
    """YAML timestamps become strings, as Kubernetes' YAML-to-JSON conversion does."""
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return value


def _canonical(value: Any) -> str:
    """A key for equality in JSON terms (1 == 1.0, True != 1)."""
    return json.dumps(value, sort_keys=True, default=str)


def _json_equal(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    return _canonical(a) == _canonical(b)


@cache
def _regex(pattern: str) -> re.Pattern[str] | None:
    try:
        return re.compile(pattern)
    except re.error:
        return None


def format_error(fmt: str, value: Any) -> str | None:
    """Why ``value`` violates ``format`` (None if valid or the format is not checked)."""
    if fmt in _INT_RANGES and isinstance(value, int | float) and not isinstance(value, bool):
        lo, hi = _INT_RANGES[fmt]
        return None if lo <= value <= hi else f"out of {fmt} range"
    if not isinstance(value, str):
        return None
    checks = {
        "byte": _is_base64,
        "date-time": _DATE_TIME.match,
        "date": _DATE.match,
        "uuid": _UUID.match,
        "ipv4": lambda v: _ip_ok(ipaddress.IPv4Address, v),
        "ipv6": lambda v: _ip_ok(ipaddress.IPv6Address, v),
        "cidr": lambda v: _ip_ok(lambda x: ipaddress.ip_network(x, strict=False), v),
    }
    check = checks.get(fmt)
    if check is None or check(value):
        return None
    return f"must be a valid {fmt} string, got {value!r}"


def _is_base64(value: str) -> bool:
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def _ip_ok(parse: Any, value: str) -> bool:
    try:
        parse(value)
    except ValueError:
        return False
    return True


class StructuralValidator:
    """Collects errors while walking a value against a structural schema."""

    def __init__(self, name_rule: NameRule = "subdomain") -> None:
        self.errors: list[str] = []
        self.name_rule = name_rule

    def resource(self, schema: Schema, obj: Any, path: str = "") -> list[str]:
        """Validate a top-level or embedded resource (apiVersion/kind/metadata are implicit)."""
        self.check(schema, obj, path, strict=True, resource=True)
        return self.errors

    def check(
        self, s: Schema, v: Any, path: str, *, strict: bool = True, resource: bool = False
    ) -> None:
        """Validate ``v`` against ``s``; ``strict`` is False inside anyOf/oneOf/allOf/not."""
        v = _normalise(v)
        if v is None:
            self._null(s, path, strict)
            return
        if s.get("x-kubernetes-int-or-string"):
            # JSON has one number type: 1.0 is the integer 1 (a protobuf Struct, which
            # carries composed resources, keeps every number as a double).
            if not (isinstance(v, str) or _is_type(v, "integer")):
                self.errors.append(
                    f"{_show(path)}: must be an integer or a string, got {type_name(v)}"
                )
                return
        elif (typ := s.get("type")) and not _is_type(v, typ):
            self.errors.append(f"{_show(path)}: must be {typ}, got {type_name(v)} ({v!r:.60})")
            return
        if "enum" in s and not any(_json_equal(v, e) for e in s["enum"]):
            allowed = ", ".join(json.dumps(e) for e in s["enum"])
            self.errors.append(f"{_show(path)}: must be one of [{allowed}], got {json.dumps(v)}")
        if isinstance(v, str):
            self._string(s, v, path)
        elif isinstance(v, int | float) and not isinstance(v, bool):
            self._number(s, v, path)
        elif isinstance(v, list | tuple):
            self._array(s, v, path, strict)
        elif isinstance(v, Mapping):
            self._object(
                s, v, path, strict, resource or bool(s.get("x-kubernetes-embedded-resource"))
            )
        self._combinators(s, v, path)

    def _null(self, s: Schema, path: str, strict: bool) -> None:
        if s.get("nullable"):
            return
        untyped = "type" not in s and not s.get("x-kubernetes-int-or-string")
        if untyped and (not strict or s.get("x-kubernetes-preserve-unknown-fields")):
            return
        self.errors.append(f"{_show(path)}: must not be null (schema is not nullable)")

    def _string(self, s: Schema, v: str, path: str) -> None:
        p = _show(path)
        if "minLength" in s and len(v) < s["minLength"]:
            self.errors.append(f"{p}: must be at least {s['minLength']} characters long")
        if "maxLength" in s and len(v) > s["maxLength"]:
            self.errors.append(f"{p}: must be at most {s['maxLength']} characters long")
        if "pattern" in s:
            rx = _regex(s["pattern"])
            if rx is not None and not rx.search(v):
                self.errors.append(f"{p}: must match pattern {s['pattern']!r}, got {v!r}")
        if "format" in s and (err := format_error(s["format"], v)):
            self.errors.append(f"{p}: {err}")

    def _number(self, s: Schema, v: float, path: str) -> None:
        p = _show(path)
        if "minimum" in s:
            excl = s.get("exclusiveMinimum") is True
            if v < s["minimum"] or (excl and v == s["minimum"]):
                self.errors.append(f"{p}: must be {'>' if excl else '>='} {s['minimum']}")
        elif (
            isinstance(s.get("exclusiveMinimum"), int | float)
            and not isinstance(s["exclusiveMinimum"], bool)
            and v <= s["exclusiveMinimum"]
        ):
            self.errors.append(f"{p}: must be > {s['exclusiveMinimum']}")
        if "maximum" in s:
            excl = s.get("exclusiveMaximum") is True
            if v > s["maximum"] or (excl and v == s["maximum"]):
                self.errors.append(f"{p}: must be {'<' if excl else '<='} {s['maximum']}")
        elif (
            isinstance(s.get("exclusiveMaximum"), int | float)
            and not isinstance(s["exclusiveMaximum"], bool)
            and v >= s["exclusiveMaximum"]
        ):
            self.errors.append(f"{p}: must be < {s['exclusiveMaximum']}")
        if s.get("multipleOf") and abs((q := v / s["multipleOf"]) - round(q)) > 1e-9:
            self.errors.append(f"{p}: must be a multiple of {s['multipleOf']}")
        if "format" in s and (err := format_error(s["format"], v)):
            self.errors.append(f"{p}: {err}")

    def _array(self, s: Schema, v: Sequence[Any], path: str, strict: bool) -> None:
        p = _show(path)
        if "minItems" in s and len(v) < s["minItems"]:
            self.errors.append(f"{p}: must have at least {s['minItems']} items")
        if "maxItems" in s and len(v) > s["maxItems"]:
            self.errors.append(f"{p}: must have at most {s['maxItems']} items")
        items = s.get("items")
        if isinstance(items, Mapping):
            for i, item in enumerate(v):
                self.check(items, item, entry(path, i), strict=strict)
        list_type = s.get("x-kubernetes-list-type")
        if list_type == "set" or s.get("uniqueItems"):
            self._unique(v, path, lambda item: _canonical(_normalise(item)), "value")
        elif list_type == "map":
            keys = list(s.get("x-kubernetes-list-map-keys") or [])
            self._unique(
                v,
                path,
                lambda item: (
                    _canonical([item.get(k) for k in keys])
                    if isinstance(item, Mapping)
                    else _canonical(item)
                ),
                "entry for key " + "/".join(keys),
            )

    def _unique(self, v: Sequence[Any], path: str, key: Any, what: str) -> None:
        seen: dict[str, int] = {}
        for i, item in enumerate(v):
            k = key(item)
            if k in seen:
                self.errors.append(f"{entry(path, i)}: duplicate {what} {k} (same as [{seen[k]}])")
            else:
                seen[k] = i

    def _object(
        self, s: Schema, v: Mapping[Any, Any], path: str, strict: bool, resource: bool
    ) -> None:
        p = _show(path)
        props: Mapping[str, Any] = s.get("properties") or {}
        addl = s.get("additionalProperties")
        preserve = bool(s.get("x-kubernetes-preserve-unknown-fields"))
        for key, val in v.items():
            if not isinstance(key, str):
                self.errors.append(f"{entry(path, key)}: object keys must be strings")
                continue
            if resource and key in _RESOURCE_KEYS:
                self._resource_field(key, val, child(path, key), props.get(key))
            elif key in props:
                self.check(props[key], val, child(path, key), strict=strict)
            elif isinstance(addl, Mapping):
                self._map_key(s, key, path)
                self.check(addl, val, entry(path, key), strict=strict)
            elif addl is False or (strict and not preserve and addl is not True):
                where = child(path, key) if _SIMPLE_KEY.match(key) else entry(path, key)
                self.errors.append(f"{where}: unknown field")
        for req in s.get("required") or []:
            if req not in v and "default" not in (props.get(req) or {}):
                self.errors.append(f"{child(path, req)}: required field missing")
        if "minProperties" in s and len(v) < s["minProperties"]:
            self.errors.append(f"{p}: must have at least {s['minProperties']} properties")
        if "maxProperties" in s and len(v) > s["maxProperties"]:
            self.errors.append(f"{p}: must have at most {s['maxProperties']} properties")
        if resource and s.get("x-kubernetes-embedded-resource"):
            for key in ("apiVersion", "kind"):
                if not v.get(key):
                    self.errors.append(
                        f"{child(path, key)}: required field missing (embedded resource)"
                    )

    def _map_key(self, s: Schema, key: str, path: str) -> None:
        """Key syntax of a map (``x-forge-key-pattern``, used by built-in Secret/ConfigMap)."""
        pattern = s.get("x-forge-key-pattern")
        if pattern and (len(key) > 253 or not re.match(pattern, key)):
            self.errors.append(f"{entry(path, key)}: invalid key (must match {pattern}, <= 253)")

    def _resource_field(self, key: str, val: Any, path: str, schema: Schema | None) -> None:
        """apiVersion/kind/metadata of a resource: ObjectMeta rules plus the schema's own."""
        if key != "metadata":
            if not isinstance(val, str):
                self.errors.append(f"{path}: must be string, got {type_name(val)}")
            elif schema:
                self.check(schema, val, path)
            return
        if not isinstance(val, Mapping):
            self.errors.append(f"{path}: must be object, got {type_name(val)}")
            return
        self.check(OBJECT_META_SCHEMA, val, path)
        self.errors.extend(check_meta_syntax(val, path, self.name_rule))
        meta_props = (schema or {}).get("properties") or {}
        for field in ("name", "generateName"):
            if field in meta_props and field in val:
                self.check(meta_props[field], val[field], child(path, field))

    def _combinators(self, s: Schema, v: Any, path: str) -> None:
        for sub in s.get("allOf") or []:
            self.errors.extend(self._branch(sub, v, path))
        if "anyOf" in s:
            results = [self._branch(sub, v, path) for sub in s["anyOf"]]
            if all(results):
                why = " | ".join("; ".join(r) for r in results)
                self.errors.append(f"{_show(path)}: must match at least one anyOf schema ({why})")
        if "oneOf" in s:
            results = [self._branch(sub, v, path) for sub in s["oneOf"]]
            matched = sum(1 for r in results if not r)
            if matched != 1:
                why = "" if matched else " (" + " | ".join("; ".join(r) for r in results) + ")"
                self.errors.append(
                    f"{_show(path)}: must match exactly one oneOf schema, matched {matched}{why}"
                )
        if "not" in s and not self._branch(s["not"], v, path):
            self.errors.append(f"{_show(path)}: must not match the 'not' schema")

    def _branch(self, s: Schema, v: Any, path: str) -> list[str]:
        sub = StructuralValidator(self.name_rule)
        sub.check(s, v, path, strict=False)
        return sub.errors


def validate_value(schema: Schema, value: Any, path: str = "") -> list[str]:
    """Errors of ``value`` against ``schema`` (a plain value, not a resource)."""
    v = StructuralValidator()
    v.check(schema, value, path)
    return v.errors


def validate_resource(schema: Schema, obj: Any, name_rule: NameRule = "subdomain") -> list[str]:
    """Errors of a whole Kubernetes object against its openAPIV3Schema."""
    if not isinstance(obj, Mapping):
        return [f"(root): must be object, got {type_name(obj)}"]
    return StructuralValidator(name_rule).resource(schema, obj)


def cel_rules(schema: Schema, path: str = "") -> list[CelRule]:
    """Every ``x-kubernetes-validations`` rule in ``schema``, with the path it applies to."""
    found = [
        CelRule(_show(path), r.get("rule", ""), r.get("message", ""))
        for r in schema.get("x-kubernetes-validations") or []
    ]
    for key, sub in (schema.get("properties") or {}).items():
        found += cel_rules(sub, child(path, key))
    if isinstance(schema.get("items"), Mapping):
        found += cel_rules(schema["items"], entry(path, "*"))
    if isinstance(schema.get("additionalProperties"), Mapping):
        found += cel_rules(schema["additionalProperties"], entry(path, "*"))
    return found
