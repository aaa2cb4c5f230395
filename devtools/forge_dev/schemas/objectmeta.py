"""ObjectMeta checks that the API server does itself (CRD schemas leave ``metadata`` open).

``OBJECT_META_SCHEMA`` gives field names and types (validated by the structural engine);
``check_meta_syntax`` adds the name, label and annotation syntax rules of
k8s.io/apimachinery (DNS-1123 names, qualified keys, 63-character label values).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal

NameRule = Literal["subdomain", "label", "path-segment"]

_STR: dict[str, Any] = {"type": "string"}
_STR_MAP: dict[str, Any] = {"type": "object", "additionalProperties": _STR}
_TIME: dict[str, Any] = {"type": "string", "nullable": True}

OWNER_REFERENCE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["apiVersion", "kind", "name", "uid"],
    "properties": {
        "apiVersion": _STR,
        "kind": _STR,
        "name": _STR,
        "uid": _STR,
        "controller": {"type": "boolean"},
        "blockOwnerDeletion": {"type": "boolean"},
    },
}

OBJECT_META_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": _STR,
        "generateName": _STR,
        "namespace": _STR,
        "selfLink": _STR,
        "uid": _STR,
        "resourceVersion": _STR,
        "generation": {"type": "integer", "format": "int64"},
        "creationTimestamp": _TIME,
        "deletionTimestamp": _TIME,
        "deletionGracePeriodSeconds": {"type": "integer", "format": "int64"},
        "labels": _STR_MAP,
        "annotations": _STR_MAP,
        "ownerReferences": {"type": "array", "items": OWNER_REFERENCE_SCHEMA},
        "finalizers": {"type": "array", "items": _STR},
        "managedFields": {
            "type": "array",
            "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
        },
    },
}

_DNS_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
DNS1123_LABEL = re.compile(rf"^{_DNS_LABEL}$")
DNS1123_SUBDOMAIN = re.compile(rf"^{_DNS_LABEL}(\.{_DNS_LABEL})*$")
_QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_ANNOTATIONS_MAX_BYTES = 256 * 1024


def name_errors(value: str, rule: NameRule) -> list[str]:
    """Why ``value`` is not a valid object name under ``rule`` (empty if valid)."""
    if rule == "path-segment":
        if value in (".", "..") or "/" in value or "%" in value:
            return ["may not be '.' or '..' and may not contain '/' or '%'"]
        return []
    if rule == "label":
        if len(value) > 63:
            return ["must be no more than 63 characters"]
        if not DNS1123_LABEL.match(value):
            return ["must be a lowercase RFC 1123 label (a-z, 0-9, '-')"]
        return []
    if len(value) > 253:
        return ["must be no more than 253 characters"]
    if not DNS1123_SUBDOMAIN.match(value):
        return ["must be a lowercase RFC 1123 subdomain (a-z, 0-9, '-', '.')"]
    return []


def qualified_name_errors(key: str) -> list[str]:
    """Why ``key`` is not a qualified name like ``example.com/my-key`` (label/annotation key)."""
    prefix, slash, name = key.rpartition("/")
    errs: list[str] = []
    if slash:
        if not prefix:
            errs.append("prefix part must be non-empty")
        elif len(prefix) > 253 or not DNS1123_SUBDOMAIN.match(prefix):
            errs.append("prefix part must be a lowercase RFC 1123 subdomain")
    if not name:
        errs.append("name part must be non-empty")
    elif len(name) > 63:
        errs.append("name part must be no more than 63 characters")
    elif not _QUALIFIED_NAME.match(name):
        errs.append("name part must consist of alphanumerics, '-', '_' or '.'")
    return errs


def label_value_errors(value: str) -> list[str]:
    """Why ``value`` is not a valid label value (empty if valid)."""
    if len(value) > 63:
        return ["must be no more than 63 characters"]
    if value and not _QUALIFIED_NAME.match(value):
        return ["must be empty or consist of alphanumerics, '-', '_' or '.'"]
    return []


def check_meta_syntax(meta: Mapping[str, Any], path: str, rule: NameRule) -> list[str]:
    """Syntax errors in names, labels and annotations of an ObjectMeta (types checked elsewhere)."""
    errs: list[str] = []
    name = meta.get("name")
    if isinstance(name, str):
        errs += [f"{path}.name: {e}" for e in name_errors(name, rule)]
    gen = meta.get("generateName")
    if isinstance(gen, str) and gen.rstrip("-"):
        errs += [f"{path}.generateName: {e}" for e in name_errors(gen.rstrip("-"), rule)]
    ns = meta.get("namespace")
    if isinstance(ns, str):
        errs += [f"{path}.namespace: {e}" for e in name_errors(ns, "label")]
    labels = meta.get("labels")
    if isinstance(labels, Mapping):
        for k, v in labels.items():
            if isinstance(k, str):
                errs += [f"{path}.labels[{k}]: key {e}" for e in qualified_name_errors(k)]
            if isinstance(v, str):
                errs += [f"{path}.labels[{k}]: value {e}" for e in label_value_errors(v)]
    annotations = meta.get("annotations")
    if isinstance(annotations, Mapping):
        size = 0
        for k, v in annotations.items():
            if isinstance(k, str):
                errs += [f"{path}.annotations[{k}]: key {e}" for e in qualified_name_errors(k)]
                size += len(k.encode())
            if isinstance(v, str):
                size += len(v.encode())
        if size > _ANNOTATIONS_MAX_BYTES:
            errs.append(f"{path}.annotations: total size {size} bytes exceeds 262144")
    for i, fin in enumerate(meta.get("finalizers") or []):
        if isinstance(fin, str):
            errs += [f"{path}.finalizers[{i}]: {e}" for e in qualified_name_errors(fin)]
    return errs
