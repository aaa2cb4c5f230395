"""Render through the real engine: Crossplane core's ``internal render``.

This is what ``crossplane composition render --crossplane-binary`` runs: the real
composite reconciler on an in-memory client, calling the functions over gRPC. We
build its RenderRequest (as the crossplane CLI does from its files) and read back
its RenderResponse through ``forge-xp render``, which also applies the XRD's
defaults to the XR the way ``--xrd`` does.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping, Sequence
from typing import Any

from forge_dev.render.errors import FatalResultError, RenderError
from forge_dev.render.model import ANNOTATION_RESOURCE_NAME, RenderResult, Result
from forge_dev.tools import CORE, DRIVER, MissingToolError, tool

EXIT_PIPELINE_FATAL = 3  # crossplane internal render's exit code for a fatal result
CONDITION_TIME = "2024-01-01T00:00:00Z"  # crossplane render's stable lastTransitionTime


def request(
    xr: Mapping[str, Any],
    composition: Mapping[str, Any],
    functions: Mapping[str, str],
    *,
    observed: Sequence[Mapping[str, Any]] = (),
    required: Sequence[Mapping[str, Any]] = (),
    credentials: Sequence[Mapping[str, Any]] = (),
    xrd: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A RenderRequest in protobuf JSON; ``functions`` maps Function names to addresses."""
    composite: dict[str, Any] = {
        "compositeResource": xr,
        "composition": composition,
        "functions": [{"name": n, "address": a} for n, a in sorted(functions.items())],
        "observedResources": list(observed),
        "requiredResources": list(required),
        "credentials": list(credentials),
    }
    if xrd is not None:
        composite["compositeResourceDefinition"] = xrd
    return {"composite": composite}


def run(body: Mapping[str, Any], timeout: float) -> RenderResult:
    """Run one RenderRequest through the engine and read its output as crossplane render does."""
    try:
        command = [str(tool(DRIVER)), "render", f"--crossplane={tool(CORE)}"]
    except MissingToolError as exc:
        raise RenderError(str(exc)) from None
    try:
        proc = subprocess.run(
            [*command, f"--timeout={timeout}s"],
            input=json.dumps(body),
            capture_output=True,
            text=True,
            timeout=timeout + 30,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise RenderError(f"the render engine did not finish in {timeout:g}s") from exc
    error = _engine_error(proc.stderr)
    if proc.returncode not in (0, EXIT_PIPELINE_FATAL) or not proc.stdout:
        raise RenderError(error or f"the render engine exited with code {proc.returncode}")
    out = json.loads(proc.stdout).get("composite") or {}
    result = _result(body["composite"]["compositeResource"], out)
    if proc.returncode == EXIT_PIPELINE_FATAL:
        raise FatalResultError(error, result)
    return result


def _engine_error(stderr: str) -> str:
    """The engine's own error line, without the program-name prefix."""
    lines = [line for line in stderr.splitlines() if line.startswith("crossplane: error: ")]
    if not lines:
        return stderr.strip()[-2000:]
    return lines[-1].removeprefix("crossplane: error: ")


def _stable_conditions(obj: dict[str, Any]) -> dict[str, Any]:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if "lastTransitionTime" in cond:
            cond["lastTransitionTime"] = CONDITION_TIME
    return obj


def _resource_name(obj: Mapping[str, Any]) -> str:
    return ((obj.get("metadata") or {}).get("annotations") or {}).get(ANNOTATION_RESOURCE_NAME, "")


def _result(xr: Mapping[str, Any], out: Mapping[str, Any]) -> RenderResult:
    composed = [_stable_conditions(dict(o)) for o in out.get("composedResources") or []]
    return RenderResult(
        composite=_stable_conditions(dict(out.get("compositeResource") or {})),
        observed_composite=dict(xr),
        resources=sorted(composed, key=_resource_name),
        deleted=list(out.get("deletedResources") or []),
        # The engine records per-resource events in Go map order: sorted, so the output is stable.
        results=sorted(
            Result(severity=e.get("type", ""), reason=e.get("reason", ""), message=e["message"])
            for e in out.get("events") or []
        ),
        requirements=list(out.get("requiredResources") or []),
    )
