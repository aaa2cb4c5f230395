"""The generated XRDs read as the hardening tests need them: kinds, spec schemas, XRs."""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

import yaml

from forge.registry import COMPOSERS
from forge.versions import GROUP, VERSION
from forge_dev.simulate.requests import Rendered

ROOT = Path(__file__).resolve().parents[2]

KINDS = sorted(kind for group, kind in COMPOSERS if group == GROUP)


@functools.cache
def xrd_of(kind: str) -> dict[str, Any]:
    """The generated XRD of a kind (it must exist: ``make xrds``)."""
    for path in sorted((ROOT / "xrds").glob("*.yaml")):
        doc = yaml.safe_load(path.read_text())
        if doc["spec"]["names"]["kind"] == kind:
            return doc
    raise AssertionError(f"no XRD for {kind} in xrds/: run make xrds")


def spec_schema(xrd: dict[str, Any]) -> dict[str, Any]:
    """The openAPIV3Schema of ``spec`` in the XRD's only version."""
    (version,) = xrd["spec"]["versions"]
    return version["schema"]["openAPIV3Schema"]["properties"]["spec"]


def xr_for(kind: str, spec: Any, name: str = "fuzz") -> dict[str, Any]:
    """An XR of a kind, namespaced when its XRD says so."""
    meta: dict[str, Any] = {"name": name}
    if xrd_of(kind)["spec"]["scope"] == "Namespaced":
        meta["namespace"] = "default"
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": kind, "metadata": meta, "spec": spec}


def sub_schema(schema: dict[str, Any], path: tuple[Any, ...]) -> dict[str, Any] | None:
    """The schema of the value at ``path``, or None where the schema is free-form."""
    for step in path:
        if isinstance(step, int):
            schema = schema.get("items") or {}
        elif step in schema.get("properties", {}):
            schema = schema["properties"][step]
        elif isinstance(schema.get("additionalProperties"), dict):
            schema = schema["additionalProperties"]
        else:
            return None
    return schema


FIELD = re.compile(
    r"^invalid (?P<kind>\w+) '(?P<name>[^']*)': "
    r"spec(\.[A-Za-z0-9_-]+|\[\d+\]|\[\"[A-Za-z0-9._:/-]+\"\]|\[<key>\])*: \S"
)


def inner_manifests(out: Rendered) -> list[dict[str, Any]]:
    """Composed resources, plus the manifest inside every provider-kubernetes Object."""
    found = []
    for manifest in out.resources.values():
        found.append(manifest)
        if manifest.get("kind") == "Object" and manifest["apiVersion"].startswith("kubernetes."):
            found.append(manifest["spec"]["forProvider"]["manifest"])
    return found
