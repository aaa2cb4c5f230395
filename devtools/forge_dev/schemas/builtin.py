"""Hand-written schemas for the few core Kubernetes kinds we compose that have no CRD.

Small on purpose: enough to reject unknown top-level fields and wrong types (the usual
composition bugs), in the same structural form as CRD schemas so one engine checks both.
Fields follow the Kubernetes API reference for core/v1, apps/v1, rbac.authorization.k8s.io/v1,
storage.k8s.io/v1 and policy/v1.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from forge_dev.schemas.objectmeta import NameRule

_STR: dict[str, Any] = {"type": "string"}
_BOOL: dict[str, Any] = {"type": "boolean"}
_STR_LIST: dict[str, Any] = {"type": "array", "items": _STR}
_INT_OR_STRING: dict[str, Any] = {"x-kubernetes-int-or-string": True}
# Secret/ConfigMap data keys: IsConfigMapKey in k8s.io/apimachinery.
_KEY_PATTERN = r"^[-._a-zA-Z0-9]+$"


def _map(values: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "additionalProperties": values,
        "x-forge-key-pattern": _KEY_PATTERN,
    }


def _root(**props: Any) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {"apiVersion": _STR, "kind": _STR, "metadata": {"type": "object"}, **props},
    }


_OBJECT_REF = {
    "type": "object",
    "properties": dict.fromkeys(
        ("apiVersion", "kind", "name", "namespace", "uid", "fieldPath", "resourceVersion"), _STR
    ),
}
_LOCAL_REF = {"type": "object", "properties": {"name": _STR}}
_LABEL_SELECTOR = {
    "type": "object",
    "properties": {
        "matchLabels": {"type": "object", "additionalProperties": _STR},
        "matchExpressions": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["key", "operator"],
                "properties": {"key": _STR, "operator": _STR, "values": _STR_LIST},
            },
        },
    },
}
_POLICY_RULE = {
    "type": "object",
    "required": ["verbs"],
    "properties": {
        "verbs": _STR_LIST,
        "apiGroups": _STR_LIST,
        "resources": _STR_LIST,
        "resourceNames": _STR_LIST,
        "nonResourceURLs": _STR_LIST,
    },
}
_RULES = {"type": "array", "items": _POLICY_RULE}
_SUBJECTS = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["kind", "name"],
        "properties": {"kind": _STR, "apiGroup": _STR, "name": _STR, "namespace": _STR},
    },
}
_ROLE_REF = {
    "type": "object",
    "required": ["apiGroup", "kind", "name"],
    "properties": {"apiGroup": _STR, "kind": _STR, "name": _STR},
}


@dataclass(frozen=True)
class BuiltinKind:
    """A core kind: its schema, whether it is namespaced and how its name is checked."""

    schema: dict[str, Any]
    namespaced: bool
    name_rule: NameRule = "subdomain"


BUILTIN_KINDS: dict[tuple[str, str], BuiltinKind] = {
    ("v1", "Secret"): BuiltinKind(
        _root(
            data=_map({"type": "string", "format": "byte"}),
            stringData=_map(_STR),
            type=_STR,
            immutable=_BOOL,
        ),
        namespaced=True,
    ),
    ("v1", "ConfigMap"): BuiltinKind(
        _root(
            data=_map(_STR),
            binaryData=_map({"type": "string", "format": "byte"}),
            immutable=_BOOL,
        ),
        namespaced=True,
    ),
    ("v1", "Namespace"): BuiltinKind(
        _root(
            spec={"type": "object", "properties": {"finalizers": _STR_LIST}},
            status={
                "type": "object",
                "properties": {
                    "phase": {"type": "string", "enum": ["Active", "Terminating"]},
                    "conditions": {
                        "type": "array",
                        "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                    },
                },
            },
        ),
        namespaced=False,
        name_rule="label",
    ),
    # Only observed (Istio's gateway Service): the status a load balancer writes is checked.
    ("v1", "Service"): BuiltinKind(
        _root(
            spec={"type": "object", "x-kubernetes-preserve-unknown-fields": True},
            status={
                "type": "object",
                "properties": {
                    "loadBalancer": {
                        "type": "object",
                        "properties": {
                            "ingress": {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "x-kubernetes-preserve-unknown-fields": True,
                                    "properties": {"ip": _STR, "hostname": _STR},
                                },
                            }
                        },
                    },
                    "conditions": {"type": "array", "items": {"type": "object"}},
                },
            },
        ),
        namespaced=True,
        name_rule="label",
    ),
    ("v1", "ServiceAccount"): BuiltinKind(
        _root(
            secrets={"type": "array", "items": _OBJECT_REF},
            imagePullSecrets={"type": "array", "items": _LOCAL_REF},
            automountServiceAccountToken=_BOOL,
        ),
        namespaced=True,
    ),
    # The teardown controller: the pod template is the API server's to check.
    ("apps/v1", "Deployment"): BuiltinKind(
        _root(
            spec={
                "type": "object",
                "required": ["selector", "template"],
                "properties": {
                    "replicas": {"type": "integer"},
                    "selector": _LABEL_SELECTOR,
                    "strategy": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                    "template": {
                        "type": "object",
                        "properties": {
                            "metadata": {
                                "type": "object",
                                "x-kubernetes-preserve-unknown-fields": True,
                            },
                            "spec": {
                                "type": "object",
                                "x-kubernetes-preserve-unknown-fields": True,
                            },
                        },
                    },
                },
            }
        ),
        namespaced=True,
    ),
    ("rbac.authorization.k8s.io/v1", "ClusterRole"): BuiltinKind(
        _root(
            rules=_RULES,
            aggregationRule={
                "type": "object",
                "properties": {"clusterRoleSelectors": {"type": "array", "items": _LABEL_SELECTOR}},
            },
        ),
        namespaced=False,
        name_rule="path-segment",
    ),
    ("rbac.authorization.k8s.io/v1", "Role"): BuiltinKind(
        _root(rules=_RULES), namespaced=True, name_rule="path-segment"
    ),
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"): BuiltinKind(
        _root(subjects=_SUBJECTS, roleRef=_ROLE_REF) | {"required": ["roleRef"]},
        namespaced=False,
        name_rule="path-segment",
    ),
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): BuiltinKind(
        _root(subjects=_SUBJECTS, roleRef=_ROLE_REF) | {"required": ["roleRef"]},
        namespaced=True,
        name_rule="path-segment",
    ),
    ("policy/v1", "PodDisruptionBudget"): BuiltinKind(
        _root(
            spec={
                "type": "object",
                "properties": {
                    "minAvailable": _INT_OR_STRING,
                    "maxUnavailable": _INT_OR_STRING,
                    "selector": _LABEL_SELECTOR,
                    "unhealthyPodEvictionPolicy": {
                        "type": "string",
                        "enum": ["IfHealthyBudget", "AlwaysAllow"],
                    },
                },
            }
        ),
        namespaced=True,
    ),
    ("storage.k8s.io/v1", "StorageClass"): BuiltinKind(
        _root(
            provisioner=_STR,
            parameters={"type": "object", "additionalProperties": _STR},
            reclaimPolicy={"type": "string", "enum": ["Delete", "Retain"]},
            volumeBindingMode={"type": "string", "enum": ["Immediate", "WaitForFirstConsumer"]},
            allowVolumeExpansion=_BOOL,
            mountOptions=_STR_LIST,
            allowedTopologies={
                "type": "array",
                "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
            },
        )
        | {"required": ["provisioner"]},
        namespaced=False,
    ),
}
