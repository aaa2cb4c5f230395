"""Requests that try to stall or exhaust the server, for the benchmark and the tests.

- ``large_call``: a vCluster Cluster carrying 1 MB of chart values, the slowest kind of
  large call that is still valid (hundreds of milliseconds of composing);
- ``small_call``: the KEDA example, fully provisioned (under a millisecond);
- ``hostile_name``: an XR whose name is ``size`` bytes (Kubernetes allows 253);
- ``padded``: a valid PlatformCluster request of about ``size`` bytes;
- ``attack_requests``: issue 21's load mix: the EKS example at its final stage, and the
  KEDA example carrying ``LISTED_XRS`` other bundle XRs in the answers to the
  one-per-cluster listing (``forge.tenancy``), each older, in its own namespace and
  cluster (so the KEDA call is accepted, after judging every one of them).

``stall`` and ``names_rss`` measure what they do to a running server (``make bench``);
``attack_load`` runs issue 21's load under attack (``python -m bench.run --attack-load``).
"""

from __future__ import annotations

import collections
import copy
import statistics
import threading
import time
from dataclasses import dataclass
from typing import Any

import crossplane.function.proto.v1.run_function_pb2 as fnv1
import grpc
from crossplane.function.proto.v1 import run_function_pb2_grpc as grpcv1

from forge_dev.simulate import steady_state as scenarios

LARGE_VALUES_KEYS = 10_000  # about 1 MB of values (30,000: about 3 MB)
METHOD = "/apiextensions.fn.proto.v1.FunctionRunnerService/RunFunction"
LISTED_XRS = 450
ATTACK_THREADS = 64
ATTACK_SECONDS = 60.0
EKS_FINAL = "cluster-aws"
BUNDLE = (
    "certmanager",
    "externaldns",
    "externalsecretsoperator",
    "istio",
    "keda",
    "monitoring",
)
EARLIER, LATER = "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"


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


# Issue 21: load under attack -----------------------------------------------------------------


def attack_requests(listed: int = LISTED_XRS) -> dict[str, fnv1.RunFunctionRequest]:
    """``eks``: the EKS example at its final stage; ``keda``: the KEDA example carrying
    ``listed`` older infrastructure XRs (every kind, each in its own tenant namespace and
    reaching its own cluster through a namespaced ProviderConfig), answered under the
    every-namespace listings the function made before it listed only the namespaces that
    can share a target. The payload is issue 21's; the function now never reads it."""
    from forge import tenancy  # noqa: PLC0415 - the requirement names the listing uses
    from forge.registry import NAMESPACED  # noqa: PLC0415

    built, skipped = scenarios.build_all({EKS_FINAL, *BUNDLE}, node_groups=())
    by_name = {s.name: s for s in built}
    missing = {EKS_FINAL, *BUNDLE} - set(by_name)
    if missing:
        raise RuntimeError(f"scenarios not built: {sorted(missing)} ({skipped})")
    others = []
    for i in range(listed):
        xr = copy.deepcopy(by_name[BUNDLE[i % len(BUNDLE)]].xr)
        xr["metadata"] = {
            "name": f"{xr['metadata']['name']}-{i:03d}",
            "namespace": f"team-{i:03d}",
            "creationTimestamp": EARLIER,
        }
        xr["spec"]["providerConfigRef"] = {"kind": "ProviderConfig", "name": f"cluster-{i:03d}"}
        others.append(xr)
    keda = by_name["keda"]
    me = copy.deepcopy(keda.xr)
    me["metadata"]["creationTimestamp"] = LATER
    req = keda.with_xr(me)
    for kind in sorted(NAMESPACED):
        answer = req.required_resources[f"{tenancy.REQUIREMENT_PREFIX}{kind.lower()}"]
        for xr in others:
            if xr["kind"] == kind:
                answer.items.add().resource.update(xr)
    return {"eks": by_name[EKS_FINAL].request, "keda": req}


@dataclass
class _Tally:
    """What the client threads saw (appended under the GIL: lists are thread-safe)."""

    admitted: dict[str, list[float]]
    codes: collections.Counter
    fatal: collections.Counter


def _percentile_ms(samples: list[float], pct: int) -> float | None:
    if len(samples) < 2:
        return round(samples[0] * 1000, 1) if samples else None
    return round(statistics.quantiles(samples, n=100, method="inclusive")[pct - 1] * 1000, 1)


def attack_load(
    server: Any,
    requests: dict[str, fnv1.RunFunctionRequest] | None = None,
    *,
    threads: int = ATTACK_THREADS,
    seconds: float = ATTACK_SECONDS,
    settle: float = 5.0,
) -> dict[str, Any]:
    """``threads`` client threads for ``seconds``, half sending each kind back to back (a
    refused call is sent again at once, as an attacker would). Latency is counted for
    admitted calls only; RSS at the start (after one call of each kind), its peak
    (sampled every 50 ms), and ``settle`` seconds after the load."""
    requests = requests or attack_requests()
    payloads = {kind: req.SerializeToString() for kind, req in requests.items()}
    kinds = sorted(payloads)
    tally = _Tally({k: [] for k in kinds}, collections.Counter(), collections.Counter())
    replies: dict[str, list[bytes]] = {k: [] for k in kinds}
    with grpc.insecure_channel(
        server.address,
        options=[("grpc.max_receive_message_length", 64 << 20)],
    ) as channel:
        call = channel.unary_unary(METHOD)
        for kind in kinds:  # warm-up: imports, caches, the first of each kind
            for _ in range(3):
                replies[kind].append(call(payloads[kind], timeout=120))
        start_kib = server.rss_kib()
        peak_kib = start_kib
        stop = threading.Event()
        deadline = time.monotonic() + seconds

        def client(kind: str) -> None:
            payload = payloads[kind]
            while time.monotonic() < deadline:
                began = time.perf_counter()
                try:
                    reply = call(payload, timeout=120)
                except grpc.RpcError as err:
                    tally.codes[err.code().name] += 1
                    continue
                tally.admitted[kind].append(time.perf_counter() - began)
                tally.codes["OK"] += 1
                if len(replies[kind]) < 50:
                    replies[kind].append(reply)

        def monitor() -> None:
            nonlocal peak_kib
            while not stop.wait(0.05):
                peak_kib = max(peak_kib, server.rss_kib())

        watcher = threading.Thread(target=monitor)
        watcher.start()
        workers = [
            threading.Thread(target=client, args=(kinds[i % len(kinds)],)) for i in range(threads)
        ]
        began = time.monotonic()
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        elapsed = time.monotonic() - began
        time.sleep(settle)
        stop.set()
        watcher.join()
        after_kib = server.rss_kib()
    for kind, kept in replies.items():
        for reply in kept:
            rsp = fnv1.RunFunctionResponse.FromString(reply)
            if scenarios.fatal_messages(rsp):
                tally.fatal[kind] += 1
    total = sum(tally.codes.values())
    return {
        "threads": threads,
        "seconds": round(elapsed, 1),
        "listed_xrs": sum(
            len(answer.items)
            for name, answer in requests["keda"].required_resources.items()
            if name.startswith("tenancy-")
        ),
        "request_kib": {k: round(len(p) / 1024, 1) for k, p in payloads.items()},
        "requests": total,
        "codes": dict(tally.codes.most_common()),
        "other_errors": sum(
            n for c, n in tally.codes.items() if c not in {"OK", "RESOURCE_EXHAUSTED"}
        ),
        "fatal_in_sampled_replies": dict(tally.fatal),
        "admitted": {
            kind: {
                "calls": len(samples),
                "p50_ms": _percentile_ms(samples, 50),
                "p99_ms": _percentile_ms(samples, 99),
                "max_ms": round(max(samples) * 1000, 1) if samples else None,
            }
            for kind, samples in tally.admitted.items()
        },
        "rss_mib": {
            "start": round(start_kib / 1024, 1),
            "peak": round(peak_kib / 1024, 1),
            "after": round(after_kib / 1024, 1),
        },
        "alive": server.alive(),
    }


def attack_goals(figures: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """Issue 21's goals for the load under attack: (goal, figure, met)."""
    worst = max((a["p99_ms"] or 0.0) for a in figures["admitted"].values())
    rss = figures["rss_mib"]
    grown = round(rss["after"] - rss["start"], 1)
    return [
        (
            "no error but RESOURCE_EXHAUSTED",
            f"{figures['other_errors']} other errors, fatal in sampled replies "
            f"{figures['fatal_in_sampled_replies'] or 0}",
            figures["other_errors"] == 0
            and not figures["fatal_in_sampled_replies"]
            and figures["alive"],
        ),
        ("admitted calls' p99 under 1 s", f"worst p99 {worst} ms", worst < 1000),
        ("RSS back within 20 MB of the start", f"{grown:+} MiB after", grown <= 20),
    ]
