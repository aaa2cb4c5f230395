"""``render()``: one XR through one Composition by the real engine, like crossplane render."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from forge_dev.render import engine
from forge_dev.render.errors import RenderError
from forge_dev.render.load import check_composition, check_composition_matches, check_functions
from forge_dev.render.model import RenderResult
from forge_dev.render.runtime import FunctionServers


def function_addresses(composition: Mapping[str, Any], servers: FunctionServers) -> dict[str, str]:
    """The address of every Function the Composition's pipeline calls."""
    steps = (composition.get("spec") or {}).get("pipeline") or []
    names = {(step.get("functionRef") or {}).get("name", "") for step in steps}
    return {name: servers.target(name) for name in sorted(names)}


def render(
    xr: Mapping[str, Any],
    composition: Mapping[str, Any],
    functions: Sequence[Mapping[str, Any]] | None = None,
    *,
    observed: Sequence[Mapping[str, Any]] = (),
    required: Sequence[Mapping[str, Any]] = (),
    credentials: Sequence[Mapping[str, Any]] = (),
    xrd: Mapping[str, Any] | None = None,
    timeout: float = 60.0,
    servers: FunctionServers | None = None,
) -> RenderResult:
    """Render an XR with the real composition engine.

    ``functions`` are Function manifests (None: function-forge only); pass
    ``servers`` (a started FunctionServers) to reuse running functions across
    renders, in which case ``functions`` is ignored. ``observed`` are observed
    composed resources (and Secrets with their connection details), ``required``
    the resources functions may require, ``credentials`` Secrets for steps'
    ``credentials``, ``xrd`` the XR's definition, whose defaults apply to the XR
    as they would on the API server. Raises RenderError (FatalResultError for a
    fatal result).
    """
    check_composition(dict(composition))
    check_composition_matches(xr, composition)

    def run(runner: FunctionServers) -> RenderResult:
        body = engine.request(
            xr,
            composition,
            function_addresses(composition, runner),
            observed=observed,
            required=required,
            credentials=credentials,
            xrd=xrd,
        )
        return engine.run(body, timeout)

    if servers is not None:
        return run(servers)
    fns = None if functions is None else check_functions([dict(f) for f in functions])
    with FunctionServers(fns, startup_timeout=timeout) as own:
        return run(own)


__all__ = ["RenderError", "render"]
