"""The API server's own checks, run by ``forge-xp`` (``make tools``).

``crd_for_xrd`` is crossplane-runtime's XRD-to-CRD conversion, the one Crossplane
uses; ``admit`` validates objects the way the API server admits a custom resource
(pruning of unknown fields, defaults, OpenAPI schema, CEL, object metadata), the
checks ``crossplane resource validate`` makes; ``admit_update`` judges an update of an
old object to a new one (ratcheting, CEL transition rules with ``oldSelf``).
"""

from __future__ import annotations

import functools
import json
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from forge_dev.schemas.sources import SchemaSourceError, resolve_schema_root
from forge_dev.tools import DRIVER, tool

# Crossplane's CRD of XRDs: the API server defaults an XRD with it before Crossplane reads it.
XRD_CRD = Path("crds/crossplane/apiextensions.crossplane.io_compositeresourcedefinitions.yaml")


@dataclass(frozen=True)
class Verdict:
    """What the API server would say of one object."""

    api_version: str
    kind: str
    name: str
    namespace: str
    status: str  # valid, invalid or missing-schema
    errors: tuple[str, ...] = ()


def _xrd_defaults() -> list[str]:
    try:
        return [f"--xrd-crd={resolve_schema_root() / XRD_CRD}"]
    except SchemaSourceError:
        return []


def _run(args: Sequence[str], payload: Any) -> Any:
    proc = subprocess.run(
        [str(tool(DRIVER)), *args, *_xrd_defaults()],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"forge-xp {args[0]} failed: {proc.stderr.strip()}")
    return json.loads(proc.stdout)


@functools.lru_cache(maxsize=64)
def _crd_for_xrd_json(xrd_json: str) -> str:
    return json.dumps(_run(["xrd-crd"], json.loads(xrd_json)))


def crd_for_xrd(xrd: Mapping[str, Any]) -> dict[str, Any]:
    """The CustomResourceDefinition Crossplane creates for an XRD."""
    return json.loads(_crd_for_xrd_json(json.dumps(xrd, sort_keys=True)))


def admit(objects: Sequence[Mapping[str, Any]], schemas: Sequence[Path]) -> list[Verdict]:
    """Validate objects against the CRDs and XRDs under ``schemas`` (files or directories)."""
    return _verdicts(list(objects), schemas)


def admit_update(
    updates: Sequence[tuple[Mapping[str, Any], Mapping[str, Any]]], schemas: Sequence[Path]
) -> list[Verdict]:
    """Validate updates, each ``(old, new)``, as the API server admits an update: the
    schema ratcheted against the old object and CEL transition rules given ``oldSelf``."""
    return _verdicts([{"oldObject": old, "object": new} for old, new in updates], schemas)


def _verdicts(payload: list[Any], schemas: Sequence[Path]) -> list[Verdict]:
    out = _run(["validate", "--crds=" + ",".join(str(p) for p in schemas)], payload)
    return [
        Verdict(
            r["apiVersion"],
            r["kind"],
            r["name"],
            r.get("namespace", ""),
            r["status"],
            tuple(r.get("errors") or ()),
        )
        for r in out
    ]
