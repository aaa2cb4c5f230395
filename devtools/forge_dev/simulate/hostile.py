"""Requests that try to stall or exhaust the server, for the benchmark and the tests.

- ``large_call``: a vCluster Cluster carrying 1 MB of chart values, the slowest kind of
  large call that is still valid (hundreds of milliseconds of composing);
- ``small_call``: the KEDA example, fully provisioned (under a millisecond);
- ``hostile_name``: an XR whose name is ``size`` bytes (Kubernetes allows 253);
- ``padded``: a valid PlatformCluster request of about ``size`` bytes.

``stall`` and ``names_rss`` measure what they do to a running server (``make bench``).
"""

from __future__ import annotations

import copy
import threading
import time
from typing import Any

import crossplane.function.proto.v1.run_function_pb2 as fnv1
import grpc
from crossplane.function.proto.v1 import run_function_pb2_grpc as grpcv1

from forge_dev.simulate import scenarios

LARGE_VALUES_KEYS = 10_000  # about 1 MB of values (30,000: about 3 MB)


def _by_name(name: str) -> scenarios.Scenario:
    return next(s for s in scenarios.for_tests() if s.name == name)


def large_call(keys: int = LARGE_VALUES_KEYS) -> fnv1.RunFunctionRequest:
    """The fully provisioned vCluster Cluster with ``keys`` entries of ``spec.vcluster.values``
    (about 100 bytes each)."""
    scenario = _by_name("cluster-vcluster")
    xr = copy.deepcopy(scenario.xr)
    values = {f"key{i}": {"text": "x" * 40, "list": [1, 2, 3]} for i in range(keys)}
    xr["spec"].setdefault("vcluster", {})["values"] = values
    return scenario.with_xr(xr)


def small_call() -> fnv1.RunFunctionRequest:
    """The fully provisioned KEDA example."""
    return _by_name("keda").request


def hostile_name(size: int, salt: int = 0) -> fnv1.RunFunctionRequest:
    """The KEDA example under a name of ``size`` characters (unique per ``salt``)."""
    scenario = _by_name("keda")
    xr = copy.deepcopy(scenario.xr)
    prefix = f"n{salt}-"
    xr["metadata"]["name"] = prefix + "a" * (size - len(prefix))
    return scenario.with_xr(xr)


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


# Measurements (bench/run.py) -----------------------------------------------------------


def _worst_ms(
    stub: grpcv1.FunctionRunnerServiceStub, req: fnv1.RunFunctionRequest, n: int
) -> float:
    worst = 0.0
    for _ in range(n):
        start = time.perf_counter()
        stub.RunFunction(req, timeout=60)
        worst = max(worst, time.perf_counter() - start)
    return round(worst * 1000, 2)


def stall(
    address: str, calls: int = 300, large: fnv1.RunFunctionRequest | None = None
) -> dict[str, Any]:
    """The worst latency of ``calls`` small calls alone, then while 1 MB calls (or ``large``)
    run back to back."""
    large, small = large or large_call(), small_call()
    with grpc.insecure_channel(address) as channel:
        stub = grpcv1.FunctionRunnerServiceStub(channel)
        _worst_ms(stub, small, 30)
        alone = _worst_ms(stub, small, calls)
        large_ms = _worst_ms(stub, large, 3)
        stop = threading.Event()

        def flood() -> None:
            while not stop.is_set():
                stub.RunFunction(large, timeout=60)

        thread = threading.Thread(target=flood)
        thread.start()
        try:
            time.sleep(0.05)
            loaded = _worst_ms(stub, small, calls)
        finally:
            stop.set()
            thread.join()
    return {
        "large_call_kib": round(large.ByteSize() / 1024),
        "large_call_ms": large_ms,
        "small_worst_alone_ms": alone,
        "small_worst_during_large_ms": loaded,
        "added_ms": round(loaded - alone, 2),
    }


def names_rss(server: Any, calls: int = 300, size: int = int(3.9 * 1024 * 1024)) -> dict[str, Any]:
    """RSS over ``calls`` calls, each under a new name of ``size`` bytes (after a warm-up)."""
    with grpc.insecure_channel(server.address) as channel:
        stub = grpcv1.FunctionRunnerServiceStub(channel)
        for salt in range(50):  # gRPC and malloc keep some buffers: measure after them
            stub.RunFunction(hostile_name(size, -salt - 1), timeout=60)
        before = server.rss_kib()
        for salt in range(calls):
            stub.RunFunction(hostile_name(size, salt), timeout=60)
        after = server.rss_kib()
    return {
        "calls": calls,
        "name_mib": round(size / 1024 / 1024, 1),
        "rss_before_mib": round(before / 1024, 1),
        "rss_after_mib": round(after / 1024, 1),
        "growth_mib": round((after - before) / 1024, 1),
    }
