"""Requests that try to stall or exhaust the server, for the benchmark and the tests.

- ``large_call``: a vCluster Cluster carrying 1 MB of chart values, the slowest kind of
  large call that is still valid (hundreds of milliseconds of composing);
- ``small_call``: the KEDA example, fully provisioned (under a millisecond);
- ``hostile_name``: an XR whose name is ``size`` bytes (Kubernetes allows 253);
- ``padded``: a valid PlatformCluster request of about ``size`` bytes.
"""

from __future__ import annotations

import copy
from typing import Any

import crossplane.function.proto.v1.run_function_pb2 as fnv1

from bench import scenarios

LARGE_VALUES_KEYS = 10_000  # about 1 MB of values (30,000: about 3 MB)


def _by_name(name: str) -> scenarios.Scenario:
    return next(s for s in scenarios.for_tests() if s.name == name)


def _with_xr(scenario: scenarios.Scenario, xr: dict[str, Any]) -> fnv1.RunFunctionRequest:
    req = fnv1.RunFunctionRequest()
    req.CopyFrom(scenario.request)
    req.observed.composite.resource.Clear()
    req.observed.composite.resource.update(xr)
    return req


def large_call(keys: int = LARGE_VALUES_KEYS) -> fnv1.RunFunctionRequest:
    """The fully provisioned vCluster Cluster with ``keys`` entries of ``spec.vcluster.values``
    (about 100 bytes each)."""
    scenario = _by_name("cluster-vcluster")
    xr = copy.deepcopy(scenario.xr)
    values = {f"key{i}": {"text": "x" * 40, "list": [1, 2, 3]} for i in range(keys)}
    xr["spec"].setdefault("vcluster", {})["values"] = values
    return _with_xr(scenario, xr)


def small_call() -> fnv1.RunFunctionRequest:
    """The fully provisioned KEDA example."""
    return _by_name("keda").request


def hostile_name(size: int, salt: int = 0) -> fnv1.RunFunctionRequest:
    """The KEDA example under a name of ``size`` characters (unique per ``salt``)."""
    scenario = _by_name("keda")
    xr = copy.deepcopy(scenario.xr)
    prefix = f"n{salt}-"
    xr["metadata"]["name"] = prefix + "a" * (size - len(prefix))
    return _with_xr(scenario, xr)


def padded(size: int) -> fnv1.RunFunctionRequest:
    """A valid PlatformCluster request of about ``size`` bytes (a large annotation)."""
    req = fnv1.RunFunctionRequest(meta=fnv1.RequestMeta(tag="padded"))
    req.observed.composite.resource.update(
        {
            "apiVersion": "forge.projectcatalyst.io/v1alpha1",
            "kind": "PlatformCluster",
            "metadata": {"name": "platform", "annotations": {"pad": ""}},
            "spec": {},
        }
    )
    pad = size - req.ByteSize() - 16
    req.observed.composite.resource["metadata"]["annotations"]["pad"] = "x" * pad
    return req
