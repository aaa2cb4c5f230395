"""``render()``: one XR through one Composition's pipeline, like crossplane render."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import crossplane.function.proto.v1.run_function_pb2 as fnv1

from forge.render.assemble import assemble
from forge.render.convert import to_struct
from forge.render.errors import RenderError
from forge.render.load import check_composition, check_functions
from forge.render.model import ANNOTATION_RESOURCE_NAME, RenderResult
from forge.render.pipeline import check_composition_matches, run_pipeline
from forge.render.required import Secrets
from forge.render.runtime import FunctionServers

ERR_ANONYMOUS = (
    f'encountered composed resource without required "{ANNOTATION_RESOURCE_NAME}" annotation'
)


def observed_by_name(observed: Sequence[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """Observed composed resources keyed by composition resource name.

    A v1 Secret without the annotation is accepted: it is there only to supply
    some resource's connection details.
    """
    out: dict[str, Mapping[str, Any]] = {}
    for obj in observed:
        meta = obj.get("metadata") or {}
        name = (meta.get("annotations") or {}).get(ANNOTATION_RESOURCE_NAME, "")
        if name:
            out[name] = obj
        elif not (obj.get("apiVersion") == "v1" and obj.get("kind") == "Secret"):
            raise RenderError(f"{ERR_ANONYMOUS}: {obj.get('kind', '')}/{meta.get('name', '')}")
    return out


def observed_state(
    xr: Mapping[str, Any], observed: Mapping[str, Mapping[str, Any]], secrets: Secrets
) -> fnv1.State:
    """The observed XR and composed resources, with their connection details."""
    state = fnv1.State()
    state.composite.resource.CopyFrom(to_struct(xr))
    state.composite.connection_details.update(secrets.connection_details(xr))
    for name, obj in observed.items():
        state.resources[name].resource.CopyFrom(to_struct(obj))
        state.resources[name].connection_details.update(secrets.connection_details(obj))
    return state


def render(
    xr: Mapping[str, Any],
    composition: Mapping[str, Any],
    functions: Sequence[Mapping[str, Any]] | None = None,
    *,
    observed: Sequence[Mapping[str, Any]] = (),
    required: Sequence[Mapping[str, Any]] = (),
    credentials: Sequence[Mapping[str, Any]] = (),
    context: Mapping[str, Any] | None = None,
    timeout: float = 60.0,
    servers: FunctionServers | None = None,
) -> RenderResult:
    """Render an XR: run the Composition's pipeline and build the output objects.

    ``functions`` are Function manifests (None: function-forge only); pass
    ``servers`` (a started FunctionServers) to reuse running functions across
    renders, in which case ``functions`` is ignored. ``observed`` are observed
    composed resources (and Secrets), ``required`` the resources functions may
    require, ``credentials`` Secrets for steps' ``credentials``, ``context``
    initial pipeline context values. Raises RenderError (FatalResultError for
    a fatal result).
    """
    check_composition(dict(composition))
    check_composition_matches(xr, composition)
    by_name = observed_by_name(observed)
    state = observed_state(xr, by_name, Secrets([*observed, *required]))

    def run(runner: FunctionServers) -> RenderResult:
        out = run_pipeline(
            runner,
            composition,
            state,
            required=required,
            credentials=Secrets(credentials),
            context=context,
            timeout=timeout,
        )
        return assemble(xr, by_name, out)

    if servers is not None:
        return run(servers)
    fns = None if functions is None else check_functions([dict(f) for f in functions])
    with FunctionServers(fns, startup_timeout=timeout) as own:
        return run(own)
