"""Crossplane's function pipeline rules, step by step.

Mirrors ``crossplane render`` (cmd/crank/render) and the composite controller:
desired state and context flow from each step to the next; a step is called
again while it asks for new required resources (at most 5 extra calls); the
shortest non-zero TTL wins; a fatal result stops everything.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import crossplane.function.proto.v1.run_function_pb2 as fnv1
from google.protobuf import json_format, struct_pb2

from forge.render.convert import secret_data, to_struct, to_value
from forge.render.errors import FatalResultError, RenderError, goquote
from forge.render.model import Result
from forge.render.required import Secrets, fetch, selector_from_composition

MAX_REQUIREMENTS_ITERATIONS = 5
CONDITION_TIME = "2024-01-01T00:00:00Z"  # crossplane render's fixed lastTransitionTime
CAPABILITIES = (
    fnv1.CAPABILITY_CAPABILITIES,
    fnv1.CAPABILITY_REQUIRED_RESOURCES,
    fnv1.CAPABILITY_CREDENTIALS,
    fnv1.CAPABILITY_CONDITIONS,
    fnv1.CAPABILITY_REQUIRED_SCHEMAS,
)
_STATUS = {fnv1.STATUS_CONDITION_TRUE: "True", fnv1.STATUS_CONDITION_FALSE: "False"}


class Runner(Protocol):
    """Something that can call a Function by name (FunctionServers, or a test fake)."""

    def run(
        self, name: str, req: fnv1.RunFunctionRequest, timeout: float
    ) -> fnv1.RunFunctionResponse:
        """Call the named Function once."""
        ...


@dataclass
class PipelineOutput:
    """What the last step left behind, plus what every step reported."""

    desired: fnv1.State | None
    context: struct_pb2.Struct | None
    conditions: list[dict[str, Any]] = field(default_factory=list)
    results: list[Result] = field(default_factory=list)
    ttl: float | None = None
    requirements: dict[str, dict[str, Any]] = field(default_factory=dict)


def check_composition_matches(xr: Mapping[str, Any], comp: Mapping[str, Any]) -> None:
    """The checks ``crossplane render`` makes before it runs anything."""
    spec = comp.get("spec") or {}
    ref = spec.get("compositeTypeRef") or {}
    if ref.get("kind") != xr.get("kind"):
        raise RenderError(
            f"composition's compositeTypeRef.kind ({ref.get('kind', '')}) "
            f"does not match XR's kind ({xr.get('kind', '')})"
        )
    if ref.get("apiVersion") != xr.get("apiVersion"):
        raise RenderError(
            f"composition's compositeTypeRef.apiVersion ({ref.get('apiVersion', '')}) "
            f"does not match XR's apiVersion ({xr.get('apiVersion', '')})"
        )
    xr_spec = xr.get("spec") or {}
    selector = (xr_spec.get("crossplane") or {}).get("compositionSelector") or xr_spec.get(
        "compositionSelector"
    )
    name = (comp.get("metadata") or {}).get("name", "")
    labels = (comp.get("metadata") or {}).get("labels") or {}
    for key, want in ((selector or {}).get("matchLabels") or {}).items():
        if key not in labels:
            raise RenderError(
                f"composition {goquote(name)} is missing required label {goquote(key)}"
            )
        if labels[key] != want:
            raise RenderError(
                f"composition {goquote(name)} has incorrect value for label {goquote(key)}: "
                f"want {goquote(str(want))}, got {goquote(str(labels[key]))}"
            )
    if spec.get("mode") != "Pipeline":
        raise RenderError(
            "render only supports Composition Function pipelines: "
            f"Composition {goquote(name)} must use spec.mode: Pipeline"
        )


def _requirements_equal(a: fnv1.Requirements | None, b: fnv1.Requirements | None) -> bool:
    """proto.Equal semantics: two absent messages are equal, absent != present."""
    if a is None or b is None:
        return a is None and b is None
    return a == b


def _fatal(rsp: fnv1.RunFunctionResponse) -> fnv1.Result | None:
    return next((r for r in rsp.results if r.severity == fnv1.SEVERITY_FATAL), None)


def run_step(
    runner: Runner,
    function: str,
    step: str,
    req: fnv1.RunFunctionRequest,
    *,
    required: Sequence[Mapping[str, Any]],
    deadline: float,
) -> fnv1.RunFunctionResponse:
    """Call a step, then call it again with what it requires until that stabilizes.

    Like Crossplane's FetchingFunctionRunner: each new call gets the bootstrap
    resources plus a fresh fetch of every requirement and the context the last
    call returned; desired state is not carried between these calls.
    """
    prev: fnv1.Requirements | None = None
    bootstrap = fnv1.RunFunctionRequest()  # a copy: clearing a map may detach its values
    bootstrap.required_resources.MergeFrom(req.required_resources)
    bootstrap.required_schemas.MergeFrom(req.required_schemas)
    for _ in range(MAX_REQUIREMENTS_ITERATIONS + 1):
        try:
            rsp = runner.run(function, req, deadline - time.monotonic())
        except RenderError as exc:
            raise RenderError(f"cannot run pipeline step {goquote(step)}: {exc}") from exc
        if _fatal(rsp) is not None:
            return rsp
        new = rsp.requirements if rsp.HasField("requirements") else None
        if _requirements_equal(new, prev):
            return rsp
        prev = new
        for name in ("extra_resources", "required_resources", "required_schemas"):
            req.ClearField(name)
        req.required_resources.MergeFrom(bootstrap.required_resources)
        req.required_schemas.MergeFrom(bootstrap.required_schemas)
        if new is not None:
            for key, sel in new.extra_resources.items():
                req.extra_resources[key].CopyFrom(fetch(required, sel))
            for key, sel in new.resources.items():
                req.required_resources[key].CopyFrom(fetch(required, sel))
            for key in new.schemas:
                req.required_schemas[key].CopyFrom(fnv1.Schema())  # we are given no schemas
        if rsp.HasField("context"):
            req.context.CopyFrom(rsp.context)
        else:
            req.ClearField("context")
    raise RenderError(
        f"cannot run pipeline step {goquote(step)}: requirements didn't stabilize "
        f"after the maximum number of iterations ({MAX_REQUIREMENTS_ITERATIONS})"
    )


def build_request(
    step: Mapping[str, Any],
    observed: fnv1.State,
    desired: fnv1.State | None,
    context: struct_pb2.Struct | None,
    *,
    required: Sequence[Mapping[str, Any]],
    credentials: Secrets,
) -> fnv1.RunFunctionRequest:
    """The first request of a step: state, input, credentials, bootstrap requirements."""
    name = str(step.get("step", ""))
    req = fnv1.RunFunctionRequest(observed=observed)
    if desired is not None:
        req.desired.CopyFrom(desired)
    if context is not None:
        req.context.CopyFrom(context)
    if step.get("input") is not None:
        if not isinstance(step["input"], Mapping):
            raise RenderError(
                f"cannot unmarshal input for Composition pipeline step {goquote(name)}: "
                "input must be an object"
            )
        req.input.CopyFrom(to_struct(step["input"]))
    for cred in step.get("credentials") or []:
        ref = cred.get("secretRef")
        if cred.get("source") != "Secret" or not ref:
            continue
        secret = credentials.get(ref.get("namespace", ""), ref.get("name", ""))
        if secret is None:
            raise RenderError(
                f"cannot get credentials from secret {goquote(ref.get('name', ''))}: "
                f"secret {goquote(ref.get('name', ''))} not found"
            )
        req.credentials[cred["name"]].credential_data.data.update(secret_data(secret))
    bootstrap = step.get("requirements") or {}
    for sel in bootstrap.get("requiredResources") or []:
        req.required_resources[sel["requirementName"]].CopyFrom(
            fetch(required, selector_from_composition(sel))
        )
    for sel in bootstrap.get("requiredSchemas") or []:
        req.required_schemas[sel["requirementName"]].CopyFrom(fnv1.Schema())
    # Crossplane tags a request with a hash of its content, taken before meta is set.
    req.meta.tag = hashlib.sha256(req.SerializeToString(deterministic=True)).hexdigest()
    req.meta.capabilities.extend(CAPABILITIES)
    return req


def _condition(c: fnv1.Condition) -> dict[str, Any]:
    cond: dict[str, Any] = {
        "type": c.type,
        "status": _STATUS.get(c.status, "Unknown"),
        "lastTransitionTime": CONDITION_TIME,
        "reason": c.reason,
    }
    if c.message:
        cond["message"] = c.message
    return cond


def run_pipeline(
    runner: Runner,
    composition: Mapping[str, Any],
    observed: fnv1.State,
    *,
    required: Sequence[Mapping[str, Any]] = (),
    credentials: Secrets | None = None,
    context: Mapping[str, Any] | None = None,
    timeout: float = 60.0,
) -> PipelineOutput:
    """Run every step of a Pipeline-mode Composition in order."""
    deadline = time.monotonic() + timeout
    creds = credentials or Secrets(())
    desired: fnv1.State | None = fnv1.State()  # the pipeline starts with empty desired state
    fctx: struct_pb2.Struct | None = struct_pb2.Struct()
    for key, value in (context or {}).items():
        fctx.fields[key].CopyFrom(to_value(value))
    out = PipelineOutput(desired=desired, context=fctx)
    for step in (composition.get("spec") or {}).get("pipeline") or []:
        name = str(step.get("step", ""))
        req = build_request(step, observed, desired, fctx, required=required, credentials=creds)
        fn_name = str((step.get("functionRef") or {}).get("name", ""))
        rsp = run_step(runner, fn_name, name, req, required=required, deadline=deadline)
        if rsp.meta.HasField("ttl"):
            ttl = rsp.meta.ttl.ToTimedelta().total_seconds()
            if ttl > 0 and (out.ttl is None or ttl < out.ttl):
                out.ttl = ttl
        desired = rsp.desired if rsp.HasField("desired") else None
        fctx = rsp.context if rsp.HasField("context") else None
        out.conditions.extend(_condition(c) for c in rsp.conditions)
        if rsp.HasField("requirements"):
            out.requirements[name] = json_format.MessageToDict(rsp.requirements)
        for res in rsp.results:
            if res.severity == fnv1.SEVERITY_FATAL:
                raise FatalResultError(name, res.message, out.requirements)
            reason = res.reason if res.HasField("reason") else None
            out.results.append(Result(name, fnv1.Severity.Name(res.severity), res.message, reason))
    out.desired, out.context = desired, fctx
    return out
