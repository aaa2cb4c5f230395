"""Build the CRD that Crossplane generates for a CompositeResourceDefinition.

So composite resources (XRs) of our own XRDs can be validated like any other CRD object.
Mirrors ``ForCompositeResource``/``genCrdVersion`` and the schema helpers in
crossplane-runtime ``pkg/xcrd`` (crd.go, schemas.go): only ``spec`` and ``status`` of the
XRD schema are kept (plus root description and CEL rules), ``metadata.name`` gets
``maxLength: 63``, Crossplane's machinery fields go under ``spec.crossplane`` (v2 scopes
Namespaced/Cluster) or directly under ``spec`` (LegacyCluster), and ``status.conditions``
is added.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

_STR: dict[str, Any] = {"type": "string"}
_MAX_XR_NAME = 63


def _match_labels_selector() -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["matchLabels"],
        "properties": {"matchLabels": {"type": "object", "additionalProperties": _STR}},
    }


def _name_ref() -> dict[str, Any]:
    return {"type": "object", "required": ["name"], "properties": {"name": _STR}}


def spec_props(scope: str, default_update_policy: str | None) -> dict[str, Any]:
    """Crossplane's spec fields (``CompositeResourceSpecProps``)."""
    ref_props = {"apiVersion": _STR, "name": _STR, "kind": _STR}
    if scope != "Namespaced":
        ref_props["namespace"] = _STR
    update_policy: dict[str, Any] = {"type": "string", "enum": ["Automatic", "Manual"]}
    if default_update_policy is not None:
        update_policy["default"] = default_update_policy
    props: dict[str, Any] = {
        "compositionRef": _name_ref(),
        "compositionSelector": _match_labels_selector(),
        "compositionRevisionRef": _name_ref(),
        "compositionRevisionSelector": _match_labels_selector(),
        "compositionUpdatePolicy": update_policy,
        "resourceRefs": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": ref_props,
                "required": ["apiVersion", "kind"],
            },
            "x-kubernetes-list-type": "atomic",
        },
    }
    if scope == "LegacyCluster":
        props["claimRef"] = {
            "type": "object",
            "required": ["apiVersion", "kind", "namespace", "name"],
            "properties": dict.fromkeys(("apiVersion", "kind", "namespace", "name"), _STR),
        }
        props["writeConnectionSecretToRef"] = {
            "type": "object",
            "required": ["name", "namespace"],
            "properties": {"name": _STR, "namespace": _STR},
        }
        return props
    return {
        "crossplane": {
            "type": "object",
            "description": "Configures how Crossplane will reconcile this composite resource",
            "properties": props,
        }
    }


def status_props(scope: str) -> dict[str, Any]:
    """Crossplane's status fields (``CompositeResourceStatusProps``)."""
    props: dict[str, Any] = {
        "conditions": {
            "description": "Conditions of the resource.",
            "type": "array",
            "x-kubernetes-list-map-keys": ["type"],
            "x-kubernetes-list-type": "map",
            "items": {
                "type": "object",
                "required": ["lastTransitionTime", "reason", "status", "type"],
                "properties": {
                    "lastTransitionTime": {"type": "string", "format": "date-time"},
                    "message": _STR,
                    "reason": _STR,
                    "status": _STR,
                    "type": _STR,
                    "observedGeneration": {"type": "integer", "format": "int64"},
                },
            },
        }
    }
    if scope == "LegacyCluster":
        props["connectionDetails"] = {
            "type": "object",
            "properties": {"lastPublishedTime": {"type": "string", "format": "date-time"}},
        }
        props["claimConditionTypes"] = {
            "type": "array",
            "x-kubernetes-list-type": "set",
            "items": _STR,
        }
    return props


def _version_schema(xs: Mapping[str, Any], scope: str, policy: str | None) -> dict[str, Any]:
    """``genCrdVersion`` + the spec/status additions of ``ForCompositeResource``."""
    old_max = ((xs.get("properties") or {}).get("metadata") or {}).get("properties", {})
    old_max = (old_max.get("name") or {}).get("maxLength")
    max_len = min(_MAX_XR_NAME, old_max) if isinstance(old_max, int) else _MAX_XR_NAME
    root: dict[str, Any] = {
        "type": "object",
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {
                "type": "object",
                "properties": {"name": {"type": "string", "maxLength": max_len}},
            },
        },
    }
    for key in ("description", "x-kubernetes-validations"):
        if key in xs:
            root[key] = copy.deepcopy(xs[key])
    x_props = xs.get("properties") or {}
    x_spec, x_status = x_props.get("spec") or {}, x_props.get("status") or {}
    spec: dict[str, Any] = {"type": "object", "properties": {}}
    for key in ("required", "x-kubernetes-validations", "oneOf"):
        if x_spec.get(key):
            spec[key] = copy.deepcopy(x_spec[key])
    for key in ("x-kubernetes-preserve-unknown-fields", "description"):
        if key in x_spec:
            spec[key] = x_spec[key]
    spec["properties"].update(copy.deepcopy(x_spec.get("properties") or {}))
    spec["properties"].update(spec_props(scope, policy))
    status: dict[str, Any] = {"type": "object", "properties": {}}
    for key in ("required", "x-kubernetes-validations", "oneOf", "description"):
        if x_status.get(key):
            status[key] = copy.deepcopy(x_status[key])
    status["properties"].update(copy.deepcopy(x_status.get("properties") or {}))
    status["properties"].update(status_props(scope))
    root["properties"]["spec"] = spec
    root["properties"]["status"] = status
    return root


def crd_from_xrd(xrd: Mapping[str, Any]) -> dict[str, Any]:
    """The CustomResourceDefinition Crossplane creates for the XRs of ``xrd`` (v1 or v2)."""
    spec = xrd["spec"]
    is_v2 = str(xrd.get("apiVersion", "")).endswith("/v2")
    scope = spec.get("scope") or ("Namespaced" if is_v2 else "LegacyCluster")
    policy = spec.get("defaultCompositionUpdatePolicy", "Automatic")
    names = copy.deepcopy(dict(spec["names"]))
    names["categories"] = [*names.get("categories", []), "composite"]
    versions = []
    for vr in spec["versions"]:
        xs = ((vr.get("schema") or {}).get("openAPIV3Schema")) or None
        if xs is None:
            raise ValueError(f"XRD {xrd['metadata']['name']} version {vr['name']} has no schema")
        version: dict[str, Any] = {
            "name": vr["name"],
            "served": vr.get("served", False),
            "storage": vr.get("referenceable", False),
            "schema": {"openAPIV3Schema": _version_schema(xs, scope, policy)},
            "subresources": {"status": {}},
        }
        if vr.get("deprecated"):
            version["deprecated"] = True
        versions.append(version)
    crd_spec: dict[str, Any] = {
        "group": spec["group"],
        "names": names,
        "scope": "Namespaced" if scope == "Namespaced" else "Cluster",
        "versions": versions,
    }
    if "conversion" in spec:
        crd_spec["conversion"] = copy.deepcopy(spec["conversion"])
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": xrd["metadata"]["name"]},
        "spec": crd_spec,
    }
