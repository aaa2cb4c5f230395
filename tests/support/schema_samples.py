"""Sample objects for the schema checker's tests: an XRD, its XR, a Helm Release."""

from __future__ import annotations

from typing import Any

Obj = dict[str, Any]


def release() -> Obj:
    return {
        "apiVersion": "helm.m.crossplane.io/v1beta1",
        "kind": "Release",
        "metadata": {"name": "vcluster", "namespace": "team-a", "labels": {"app": "vc"}},
        "spec": {
            "providerConfigRef": {"kind": "ProviderConfig", "name": "x"},
            "forProvider": {
                "chart": {
                    "name": "vcluster",
                    "repository": "https://charts.loft.sh",
                    "version": "0.36.1",
                },
                "namespace": "vcluster",
                "values": {"controlPlane": {"distro": {"k8s": {"enabled": True}}}},
                "set": [{"name": "a.b", "value": "1"}],
            },
        },
    }


def xrd(scope: str | None = None) -> Obj:
    spec: Obj = {
        "group": "forge.example.org",
        "names": {"kind": "Workspace", "plural": "workspaces"},
        "versions": [
            {
                "name": "v1alpha1",
                "served": True,
                "referenceable": True,
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {
                                "type": "object",
                                "required": ["size"],
                                "properties": {
                                    "size": {"type": "string", "enum": ["small", "large"]},
                                    "nodes": {"type": "integer", "minimum": 1, "maximum": 10},
                                },
                            },
                            "status": {
                                "type": "object",
                                "properties": {"endpoint": {"type": "string"}},
                            },
                        },
                    }
                },
            }
        ],
    }
    if scope:
        spec["scope"] = scope
    return {
        "apiVersion": "apiextensions.crossplane.io/v2",
        "kind": "CompositeResourceDefinition",
        "metadata": {"name": "workspaces.forge.example.org"},
        "spec": spec,
    }


def workspace(**meta: Any) -> Obj:
    return {
        "apiVersion": "forge.example.org/v1alpha1",
        "kind": "Workspace",
        "metadata": {"name": "ws", "namespace": "team-a", **meta},
        "spec": {
            "size": "small",
            "nodes": 3,
            "crossplane": {
                "compositionRef": {"name": "workspaces"},
                "compositionUpdatePolicy": "Manual",
                "resourceRefs": [{"apiVersion": "v1", "kind": "Secret", "name": "s"}],
            },
        },
        "status": {
            "endpoint": "https://ws",
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "Available",
                    "lastTransitionTime": "2026-01-01T00:00:00Z",
                    "observedGeneration": 2,
                }
            ],
        },
    }
