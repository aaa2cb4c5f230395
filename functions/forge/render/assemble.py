"""Turn the pipeline's final desired state into the objects crossplane render prints.

Composed resources get the metadata Crossplane's composite controller adds
(composition-resource-name annotation, composite label, generateName, the XR as
controller owner, the XR's namespace); the XR gets its desired status plus a
Ready condition computed from the readiness the functions reported.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import crossplane.function.proto.v1.run_function_pb2 as fnv1

from forge.render.convert import from_struct
from forge.render.errors import RenderError, goquote
from forge.render.model import (
    ANNOTATION_RESOURCE_NAME,
    LABEL_CLAIM_NAME,
    LABEL_CLAIM_NAMESPACE,
    LABEL_COMPOSITE,
    RenderResult,
)
from forge.render.pipeline import CONDITION_TIME, PipelineOutput

SYSTEM_CONDITION_TYPES = ("Ready", "Synced", "Healthy")
FIRST_N = 3


def _set(meta: dict[str, Any], key: str, value: str) -> None:
    """Kubernetes' unstructured setters: an empty value removes the field."""
    if value:
        meta[key] = value
    else:
        meta.pop(key, None)


def stable_n_and_some_more(names: list[str], n: int = FIRST_N) -> str:
    """crossplane-runtime's StableNAndSomeMore: 'a, b, and c' / 'a, b, c, and 2 more'."""
    names = sorted(names)
    if len(names) > n:
        return f"{', '.join(names[:n])}, and {len(names) - n} more"
    if len(names) == n:
        return f"{', '.join(names[: n - 1])}, and {names[n - 1]}"
    return ", ".join(names)


def _conditions_equal(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    keys = ("type", "status", "reason", "message")
    same = all(a.get(k, "") == b.get(k, "") for k in keys)
    if a.get("observedGeneration") and b.get("observedGeneration"):
        return same and a["observedGeneration"] == b["observedGeneration"]
    return same


def set_condition(obj: dict[str, Any], cond: dict[str, Any]) -> None:
    """ConditionedStatus.SetConditions: replace the same type unless it is equal."""
    conds = obj.setdefault("status", {}).setdefault("conditions", [])
    exists = False
    for i, existing in enumerate(conds):
        if existing.get("type") != cond["type"]:
            continue
        if not _conditions_equal(existing, cond):
            conds[i] = cond
        exists = True
    if not exists:
        conds.append(cond)


def composed_metadata(cd: dict[str, Any], xr: Mapping[str, Any], name: str) -> None:
    """What SetComposedResourceMetadata adds to a composed resource."""
    xr_meta = xr.get("metadata") or {}
    xr_labels = xr_meta.get("labels") or {}
    meta = cd.setdefault("metadata", {})
    prefix = xr_labels.get(LABEL_COMPOSITE) or xr_meta.get("name", "")
    if not meta.get("name") and not meta.get("generateName"):
        meta["generateName"] = f"{prefix}-"
    if xr_meta.get("namespace"):
        meta["namespace"] = xr_meta["namespace"]
    meta["annotations"] = {**(meta.get("annotations") or {}), ANNOTATION_RESOURCE_NAME: name}
    labels = {**(meta.get("labels") or {}), LABEL_COMPOSITE: prefix}
    claim_ref = (xr.get("spec") or {}).get("claimRef") or {}
    if xr_labels.get(LABEL_CLAIM_NAME) and xr_labels.get(LABEL_CLAIM_NAMESPACE):
        labels[LABEL_CLAIM_NAMESPACE] = xr_labels[LABEL_CLAIM_NAMESPACE]
        labels[LABEL_CLAIM_NAME] = xr_labels[LABEL_CLAIM_NAME]
    elif claim_ref:
        labels[LABEL_CLAIM_NAMESPACE] = claim_ref.get("namespace", "")
        labels[LABEL_CLAIM_NAME] = claim_ref.get("name", "")
    meta["labels"] = labels
    owner = {
        "apiVersion": xr.get("apiVersion", ""),
        "kind": xr.get("kind", ""),
        "name": xr_meta.get("name", ""),
        "uid": xr_meta.get("uid", ""),
        "controller": True,
        "blockOwnerDeletion": True,
    }
    refs = list(meta.get("ownerReferences") or [])
    for ref in refs:
        if ref.get("controller") and ref.get("uid", "") != owner["uid"]:
            raise RenderError(
                f"cannot render composed resource {goquote(name)} metadata: cannot set composite "
                f"resource {goquote(owner['name'])} as controller ref of composed resource: "
                f"{meta.get('name', '')} is already controlled by {ref.get('kind', '')} "
                f"{ref.get('name', '')} (UID {ref.get('uid', '')})"
            )
    same = [i for i, ref in enumerate(refs) if ref.get("uid", "") == owner["uid"]]
    if same:
        refs[same[0]] = owner
    else:
        refs.append(owner)
    meta["ownerReferences"] = refs


def _ready_condition(desired: fnv1.State | None, unready: list[str]) -> dict[str, Any]:
    composite_ready = desired.composite.ready if desired is not None else fnv1.READY_UNSPECIFIED
    cond: dict[str, Any] = {
        "type": "Ready",
        "status": "True",
        "reason": "Available",
        "lastTransitionTime": CONDITION_TIME,
    }
    if composite_ready == fnv1.READY_FALSE:
        cond.update(status="False", reason="Creating")
    elif composite_ready == fnv1.READY_UNSPECIFIED and unready:
        cond.update(status="False", reason="Creating")
        cond["message"] = f"Unready resources: {stable_n_and_some_more(unready)}"
    return cond


def assemble(
    xr: Mapping[str, Any], observed: Mapping[str, Mapping[str, Any]], out: PipelineOutput
) -> RenderResult:
    """Build the RenderResult from the final desired state and what the steps reported."""
    desired = out.desired
    resources: list[dict[str, Any]] = []
    ready: dict[str, bool] = {}
    desired_resources = desired.resources if desired is not None else {}
    for name in sorted(desired_resources):
        dr = desired_resources[name]
        ready[name] = dr.ready == fnv1.READY_TRUE
        cd = from_struct(dr.resource)
        if name in observed:  # an existing composed resource keeps its name and namespace
            meta = cd.setdefault("metadata", {})
            obs_meta = observed[name].get("metadata") or {}
            for key in ("namespace", "name", "generateName"):
                _set(meta, key, obs_meta.get(key, ""))
        composed_metadata(cd, xr, name)
        resources.append(cd)

    composite: dict[str, Any] = {}
    if desired is not None and desired.HasField("composite"):
        composite = from_struct(desired.composite.resource)
    xr_meta = xr.get("metadata") or {}
    composite["apiVersion"] = xr.get("apiVersion", "")
    composite["kind"] = xr.get("kind", "")
    meta = composite.setdefault("metadata", {})
    _set(meta, "name", xr_meta.get("name", ""))
    _set(meta, "namespace", xr_meta.get("namespace", ""))
    unready = [name for name, ok in ready.items() if not ok]
    set_condition(composite, _ready_condition(desired, unready))
    for cond in out.conditions:
        if cond["type"] not in SYSTEM_CONDITION_TYPES:  # functions may not set system conditions
            set_condition(composite, cond)

    return RenderResult(
        composite=composite,
        observed_composite=copy.deepcopy(dict(xr)),
        resources=resources,
        ready=ready,
        results=list(out.results),
        context=from_struct(out.context) if out.context is not None else None,
        ttl=out.ttl,
        requirements=dict(out.requirements),
    )
