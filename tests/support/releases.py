"""An infrastructure API's render with its environment, and what it gives: its one Helm
Release, or a refusal."""

from __future__ import annotations

import copy
from typing import Any

import crossplane.function.proto.v1.run_function_pb2 as fnv1

from forge_dev.simulate.converge import CheckFn, converge
from forge_dev.simulate.requests import Rendered, build, platform_environment, render, step_input


def only_release(out: Rendered, key: str) -> dict[str, Any]:
    """The render composed exactly one resource, ``key``, with no fatal result: that Release."""
    assert not out.fatal
    assert sorted(out.resources) == [key]
    return out.resources[key]


def assert_chart(
    release: dict[str, Any], chart: str, repository: str, version: str, namespace: str
) -> None:
    """The Release installs ``chart`` at ``version`` from ``repository`` into ``namespace``."""
    provider = release["spec"]["forProvider"]
    assert provider["chart"] == {"name": chart, "repository": repository, "version": version}
    assert provider["namespace"] == namespace


def assert_refused(out: Rendered, message: str) -> None:
    """One fatal result, containing ``message`` (the field and the reason); nothing composed."""
    assert len(out.fatal) == 1, out.fatal
    assert message in out.fatal[0]
    assert out.resources == {}


def run_named_environment(
    xr: dict[str, Any], observed: dict[str, Any] | None, env: dict[str, Any] | None
) -> Rendered:
    """Render ``xr`` (which names the EnvironmentConfig ``dev``) as Crossplane calls once it
    fetched ``env`` (None: fetched, and none matched) and the platform's selection."""
    required = {"environment-configs": [env] if env else [], **platform_environment()}
    return render(build(xr, observed, required, step_input(xr["kind"])))


def naming_environment(xr: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``xr`` with ``spec``, naming the EnvironmentConfig ``dev``."""
    out = copy.deepcopy(xr)
    out["spec"] = {"environmentConfigRef": {"name": "dev"}, **spec}
    return out


def configured(xr: dict[str, Any], env: dict[str, Any], check: CheckFn | None = None) -> Rendered:
    """Converge an API that installs its chart, then configures it (a ClusterIssuer, a
    ClusterSecretStore): three rounds, both stages True, Ready. The last render."""
    history = converge(
        xr,
        required=lambda _: {"environment-configs": [env], **platform_environment()},
        step_input=step_input(xr["kind"]),
        check=check,
    )
    assert len(history) == 3
    final = history[-1]
    assert final.composite_ready
    assert {t: c.status for t, c in final.conditions.items()} == {
        "ChartInstalled": fnv1.STATUS_CONDITION_TRUE,
        "ConfigurationReady": fnv1.STATUS_CONDITION_TRUE,
    }
    return final
