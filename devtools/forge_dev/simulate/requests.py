"""Build RunFunctionRequests from plain dicts and read responses back as dicts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import crossplane.function.proto.v1.run_function_pb2 as fnv1
from crossplane.function import logging, resource

from forge.fn import run
from forge_dev.simulate.player import Observed

logging.configure(logging.Level.DISABLED)
LOG = logging.get_logger()


def build(
    xr: dict[str, Any],
    observed: dict[str, Observed] | None = None,
    required: dict[str, list[dict[str, Any]]] | None = None,
    step_input: dict[str, Any] | None = None,
    desired: dict[str, dict[str, Any]] | None = None,
) -> fnv1.RunFunctionRequest:
    """A request as Crossplane would send it."""
    req = fnv1.RunFunctionRequest(meta=fnv1.RequestMeta(tag="test"))
    req.observed.composite.resource.update(xr)
    for key, obs in (observed or {}).items():
        target = req.observed.resources[key]
        target.resource.update(obs.manifest)
        for name, value in obs.connection.items():
            target.connection_details[name] = value
    for name, items in (required or {}).items():
        resources = req.required_resources[name]
        for item in items:
            resources.items.add().resource.update(item)
    if step_input is not None:
        req.input.update(step_input)
    for key, manifest in (desired or {}).items():
        req.desired.resources[key].resource.update(manifest)
    return req


@dataclass
class Rendered:
    """A response, read back as dicts."""

    response: fnv1.RunFunctionResponse
    resources: dict[str, dict[str, Any]]
    ready: dict[str, bool]
    status: dict[str, Any]
    composite_ready: bool
    conditions: dict[str, fnv1.Condition]
    fatal: list[str]
    results: list[fnv1.Result]
    requirements: dict[str, fnv1.ResourceSelector]


def render(req: fnv1.RunFunctionRequest) -> Rendered:
    """Run the function in-process on one request."""
    rsp = run(req, LOG)
    desired = rsp.desired
    return Rendered(
        response=rsp,
        resources={k: resource.struct_to_dict(v.resource) for k, v in desired.resources.items()},
        ready={k: v.ready == fnv1.READY_TRUE for k, v in desired.resources.items()},
        status=resource.struct_to_dict(desired.composite.resource).get("status", {}),
        composite_ready=desired.composite.ready == fnv1.READY_TRUE,
        conditions={c.type: c for c in rsp.conditions},
        fatal=[r.message for r in rsp.results if r.severity == fnv1.SEVERITY_FATAL],
        results=list(rsp.results),
        requirements=dict(rsp.requirements.resources),
    )


def not_required(condition: fnv1.Condition) -> bool:
    """Whether a stage condition says its stage does not apply to the spec (so it is done)."""
    return condition.status == fnv1.STATUS_CONDITION_TRUE and condition.reason == "NotRequired"


# The tests' bundle XRs live in namespace default, which the platform's EnvironmentConfig
# names as its own: every other namespace is a tenant's (docs/tenancy.md).
PLATFORM_TENANCY = {"platformNamespaces": ["default"]}


def environment_config(name: str = "dev", **data: Any) -> dict[str, Any]:
    """An EnvironmentConfig as the generated Compositions select it (by label), with the
    platform's tenancy unless ``data`` says otherwise."""
    data.setdefault("tenancy", PLATFORM_TENANCY)
    return {
        "apiVersion": "apiextensions.crossplane.io/v1beta1",
        "kind": "EnvironmentConfig",
        "metadata": {"name": name, "labels": {"forge.projectcatalyst.io/defaults": "true"}},
        "data": data,
    }


def step_input(kind: str) -> dict[str, Any]:
    """The input the generated Composition of ``kind`` gives the function."""
    from forge_dev import generate as xrdgen  # noqa: PLC0415 - test-only; keeps this module light

    definition = next(d for d in xrdgen.DEFINITIONS if d.kind == kind)
    return xrdgen.composition(definition)["spec"]["pipeline"][0]["input"]


def platform_environment() -> dict[str, list[dict[str, Any]]]:
    """The required resource the platform's tenancy is read from when an XR names its own
    EnvironmentConfig: the Composition's selection (``platform-environment-configs``)."""
    return {"platform-environment-configs": [environment_config("platform")]}
