"""``make bench``: function-forge against the do-nothing floor, over gRPC, same requests.

For every scenario (``bench/scenarios.py``: each registered API, fully provisioned)
it measures latency at concurrency 1 and throughput at concurrency 8 on both
servers; then cold start (process start to the first successful RunFunction) and
memory under load (10,000 requests at concurrency 16, round-robin over the
scenarios, RSS at 5,000 and 10,000), and the same load over only the examples the
baseline's mix had (``BASELINE_MIX``), so a mix grown by new examples is compared like
for like; then under attack (``bench/hostile.py``): the
worst latency of small calls while 1 MB calls run back to back, and RSS over 300 calls
with 3.9 MB names. It prints a Markdown table, checks the goals
and writes JSON to ``bench/results/``. ``--attack-load`` runs only issue 21's load under
attack instead (``hostile.attack_load``: 64 threads for 60 s, half EKS at its final
stage, half KEDA carrying 450 listed XRs) and prints its figures and goals. Requests
are serialized once, up front, so the client's cost is the same small constant for both
servers.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import crossplane.function.proto.v1.run_function_pb2 as fnv1
import grpc
from crossplane.function import logging as fnlogging
from google.protobuf.internal import api_implementation

from forge.fn import run
from forge_dev.server import FLOOR, FORGE, ServerProcess
from forge_dev.simulate import hostile
from forge_dev.simulate import steady_state as sc

METHOD = "/apiextensions.fn.proto.v1.FunctionRunnerService/RunFunction"
# The requests of the load mix before issue 19 added examples (production,
# cluster-aws-upgrade): its req/s is compared with that mix's, like for like.
BASELINE_MIX = (
    "cluster-aws",
    "cluster-aws-3ng",
    "cluster-aws-10ng",
    "cluster-aws-30ng",
    "cluster-aws-large",
    "cluster-aws-token",
    "cluster-vcluster",
    "certmanager",
    "externaldns",
    "externalsecretsoperator",
    "istio",
    "keda",
    "monitoring",
    "istio-vcluster",
    "monitoring-remote",
    "platformcluster",
)
RESULTS = Path(__file__).resolve().parent / "results"
MIB = 1024.0


@dataclass
class Settings:
    """How hard to push; ``--soak`` multiplies the load."""

    seconds: float = 1.5  # time box per latency and per throughput measurement
    min_samples: int = 200
    max_samples: int = 3000
    warmup: int = 30
    concurrency: int = 8
    load_requests: int = 10_000
    load_concurrency: int = 16
    cold_starts: int = 3


@dataclass
class Figures:
    """One server on one scenario."""

    samples: int
    p50_ms: float
    p99_ms: float
    mean_ms: float
    cpu_ms: float  # server CPU time per request at concurrency 1: the cost, without noise
    rps: float = 0.0


@dataclass
class Row:
    """One scenario: both servers and the ratios."""

    name: str
    kind: str
    observed: int
    in_process_ms: float  # function-forge without gRPC: parse, compose, serialize
    request_kib: float
    response_kib: float
    forge: Figures
    floor: Figures
    ratio: dict[str, float] = field(default_factory=dict)

    @property
    def us_per_resource(self) -> float:
        """In-process microseconds per observed composed resource."""
        return round(self.in_process_ms * 1000 / max(self.observed, 1), 1)


# Calls ---------------------------------------------------------------------------------


def unary(channel: grpc.Channel) -> Callable[..., bytes]:
    """RunFunction taking and returning serialized bytes (no client-side conversion)."""
    return channel.unary_unary(METHOD)


def first_call_seconds(server: ServerProcess, payload: bytes, timeout: float = 30.0) -> float:
    """Seconds from the child's start to its first successful RunFunction."""
    server.wait_listening(timeout)
    deadline = time.monotonic() + timeout
    with grpc.insecure_channel(server.address) as channel:
        call = unary(channel)
        while True:
            try:
                call(payload, timeout=timeout)
                return time.monotonic() - server.started
            except grpc.RpcError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.005)


def latency(call: Callable[..., bytes], payload: bytes, s: Settings) -> list[float]:
    """Sequential calls (concurrency 1) for ``s.seconds``, bounded by sample counts."""
    samples: list[float] = []
    stop = time.perf_counter() + s.seconds
    while len(samples) < s.max_samples and (
        len(samples) < s.min_samples or time.perf_counter() < stop
    ):
        start = time.perf_counter()
        call(payload, timeout=30)
        samples.append(time.perf_counter() - start)
    return samples


async def _throughput(address: str, payload: bytes, concurrency: int, seconds: float) -> float:
    async with grpc.aio.insecure_channel(address) as channel:
        call = channel.unary_unary(METHOD)
        for _ in range(concurrency):
            await call(payload, timeout=30)
        done = 0
        stop = time.perf_counter() + seconds

        async def worker() -> None:
            nonlocal done
            while time.perf_counter() < stop:
                await call(payload, timeout=30)
                done += 1

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return done / (time.perf_counter() - start)


def throughput(address: str, payload: bytes, s: Settings) -> float:
    """Requests per second with ``s.concurrency`` calls in flight."""
    return asyncio.run(_throughput(address, payload, s.concurrency, s.seconds))


def in_process_ms(payload: bytes, rounds: int = 5, seconds: float = 0.15) -> float:
    """The function's own cost: parse, compose, serialize, without gRPC (best round mean).

    The best of a few rounds is stable to a few percent even on a busy machine, which
    is what the node-group scaling check needs.
    """
    log = fnlogging.get_logger()

    def once() -> None:
        run(fnv1.RunFunctionRequest.FromString(payload), log).SerializeToString()

    start = time.perf_counter()
    once()
    count = max(10, int(seconds / max(time.perf_counter() - start, 1e-6)))
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(count):
            once()
        best = min(best, (time.perf_counter() - start) / count)
    return round(best * 1000, 3)


def figures(samples: Sequence[float], cpu: float, rps: float) -> Figures:
    """Percentiles in milliseconds."""
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return Figures(
        samples=len(samples),
        p50_ms=round(cuts[49] * 1000, 3),
        p99_ms=round(cuts[98] * 1000, 3),
        mean_ms=round(statistics.fmean(samples) * 1000, 3),
        cpu_ms=round(cpu * 1000 / len(samples), 3),
        rps=round(rps, 1),
    )


# Phases --------------------------------------------------------------------------------


def measure(scenario: sc.Scenario, forge: ServerProcess, floor: ServerProcess, s: Settings) -> Row:
    """Both servers on one request, interleaved so drift hits both alike."""
    payload = scenario.payload
    results: dict[str, Figures] = {}
    response = b""
    for label, server in (("forge", forge), ("floor", floor)):
        with grpc.insecure_channel(server.address) as channel:
            call = unary(channel)
            reply = call(payload, timeout=30)
            if label == "forge":
                response = reply
                fatal = sc.fatal_messages(fnv1.RunFunctionResponse.FromString(reply))
                if fatal:
                    raise RuntimeError(f"{scenario.name}: fatal result over gRPC: {fatal}")
            for _ in range(s.warmup):
                call(payload, timeout=30)
            cpu = server.cpu_seconds()
            samples = latency(call, payload, s)
            cpu = server.cpu_seconds() - cpu
        results[label] = figures(samples, cpu, throughput(server.address, payload, s))
    ours, base = results["forge"], results["floor"]
    return Row(
        name=scenario.name,
        kind=scenario.kind,
        observed=scenario.observed,
        in_process_ms=in_process_ms(payload),
        request_kib=round(len(payload) / 1024, 1),
        response_kib=round(len(response) / 1024, 1),
        forge=ours,
        floor=base,
        ratio={
            "p50": round(ours.p50_ms / base.p50_ms, 2),
            "cpu": round(ours.cpu_ms / base.cpu_ms, 2),
            "p99": round(ours.p99_ms / base.p99_ms, 2),
            "rps": round(ours.rps / base.rps, 2),
        },
    )


def cold_start(module: tuple[str, ...], payload: bytes, runs: int) -> dict[str, Any]:
    """Median of ``runs`` fresh starts, each until the first successful RunFunction."""
    times = []
    for _ in range(runs):
        with ServerProcess(module, "--insecure") as server:
            times.append(first_call_seconds(server, payload))
    return {"median_s": round(statistics.median(times), 3), "runs_s": [round(t, 3) for t in times]}


async def _load(
    server: ServerProcess, requests: Sequence[tuple[str, bytes]], total: int, concurrency: int
) -> dict[str, Any]:
    """``total`` requests round-robin over ``requests`` (name, payload); RSS at the start,
    middle and end; each error sample names its request."""
    marks: dict[str, int] = {}
    errors: list[str] = []
    fatal = 0
    issued = 0
    completed = 0
    half = total // 2
    async with grpc.aio.insecure_channel(server.address) as channel:
        call = channel.unary_unary(METHOD)
        for _, payload in requests:
            await call(payload, timeout=30)
        marks["start"] = server.rss_kib()

        async def worker() -> None:
            nonlocal issued, completed, fatal
            while issued < total:
                name, payload = requests[issued % len(requests)]
                issued += 1
                try:
                    reply = await call(payload, timeout=60)
                    if sc.fatal_messages(fnv1.RunFunctionResponse.FromString(reply)):
                        fatal += 1
                except grpc.RpcError as err:
                    errors.append(f"{name}: {err.code()}: {err.details()}")
                completed += 1
                if completed == half:
                    marks["half"] = server.rss_kib()

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
        marks["end"] = server.rss_kib()
    return {
        "requests": total,
        "concurrency": concurrency,
        "seconds": round(elapsed, 2),
        "rps": round(total / elapsed, 1),
        "grpc_errors": len(errors),
        "error_samples": errors[:5],
        "fatal_results": fatal,
        "alive": server.alive(),
        "rss_mib": {k: round(v / MIB, 1) for k, v in marks.items()},
        "growth_last_half_pct": round(100 * (marks["end"] - marks["half"]) / marks["half"], 2),
    }


def load(
    module: tuple[str, ...], requests: Sequence[tuple[str, bytes]], s: Settings
) -> dict[str, Any]:
    """A fresh server under ``s.load_requests`` requests at ``s.load_concurrency``."""
    with ServerProcess(module, "--insecure") as server:
        server.wait_listening()
        return asyncio.run(_load(server, requests, s.load_requests, s.load_concurrency))


def under_attack() -> dict[str, Any]:
    """A fresh server each: small calls while 1 MB calls run; RSS under hostile names."""
    with ServerProcess(FORGE, "--insecure") as server:
        server.wait_listening()
        stall = hostile.stall(server.address)
    with ServerProcess(FORGE, "--insecure") as server:
        server.wait_listening()
        names = hostile.names_rss(server)
    return {"stall": stall, "names": names}


# Report --------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    model = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu": model or platform.processor(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "grpcio": grpc.__version__,
        "protobuf": api_implementation.Type(),
        "loadavg": [round(x, 2) for x in os.getloadavg()],
    }


def goals(
    rows: list[Row], cold: dict[str, Any], mem: dict[str, Any], attack: dict[str, Any]
) -> list[dict[str, Any]]:
    """The issue's goals, each with its figure and whether it is met."""
    out: list[dict[str, Any]] = []

    def goal(name: str, value: float | str, target: str, met: bool) -> None:
        out.append({"goal": name, "value": value, "target": target, "met": met})

    by_name = {r.name: r for r in rows}
    three = next((r for r in rows if r.name.endswith("-3ng")), None)
    if three:
        goal(f"{three.name} p50 vs floor", three.ratio["p50"], "<= 2.5x", three.ratio["p50"] <= 2.5)
        base = three.name[: -len("3ng")]
        ten, thirty = by_name.get(f"{base}10ng"), by_name.get(f"{base}30ng")
        if ten and thirty:
            low, high = slope(three, ten), slope(ten, thirty)
            goal(
                "cost of one more resource, 10->30 vs 3->10 node groups",
                f"{high * 1000:.1f} vs {low * 1000:.1f} us per resource (in-process)",
                "not growing (<= 1.25x)",
                high <= 1.25 * low,
            )
    start = cold["forge"]["median_s"]
    goal("cold start (median)", f"{start} s", "<= 1.5 s", start <= 1.5)
    end = mem["forge"]["rss_mib"]["end"]
    goal(f"RSS after {mem['forge']['requests']} requests", f"{end} MiB", "<= 80 MiB", end <= 80)
    growth = mem["forge"]["growth_last_half_pct"]
    goal("RSS growth over the last half", f"{growth} %", "< 5 %", growth < 5)
    for load_name in ("forge", "forge_baseline_mix"):
        load_run = mem[load_name]
        errors = load_run["grpc_errors"] + load_run["fatal_results"]
        mix = "" if load_name == "forge" else " (the baseline's mix)"
        goal(f"errors under load{mix}", errors, "0", errors == 0 and load_run["alive"])
    added = attack["stall"]["added_ms"]
    goal(
        f"worst small-call latency added while {attack['stall']['large_call_kib']} KiB calls run",
        f"{added} ms",
        "< 100 ms",
        added < 100,
    )
    names = attack["names"]
    goal(
        f"RSS over {names['calls']} calls with {names['name_mib']} MB names",
        f"{names['growth_mib']:+} MiB",
        "flat (< 10 MiB)",
        names["growth_mib"] < 10,
    )
    return out


def slope(small: Row, big: Row) -> float:
    """In-process milliseconds per additional observed resource between two scenarios."""
    return (big.in_process_ms - small.in_process_ms) / (big.observed - small.observed)


def mix_cost(rows: list[Row]) -> dict[str, Any]:
    """The load mix's mean cost per request, all of it and the baseline's examples only:
    a mix grown by heavier examples serves fewer req/s for the same cost per request."""
    baseline = [r for r in rows if r.name in BASELINE_MIX]

    def mean_cpu(chosen: list[Row]) -> float:
        return round(statistics.fmean(r.forge.cpu_ms for r in chosen), 2) if chosen else 0.0

    return {
        "requests": len(rows),
        "cpu_ms": mean_cpu(rows),
        "baseline_requests": len(baseline),
        "baseline_cpu_ms": mean_cpu(baseline),
    }


def table(
    rows: list[Row], cold: dict[str, Any], mem: dict[str, Any], attack: dict, info: dict
) -> str:
    """The Markdown table `make bench` prints (the figures are never pasted by hand)."""
    mix, like = mix_cost(rows), mem["forge_baseline_mix"]
    lines = [
        f"Machine: {info['nproc']} CPUs ({info['cpu']}), Python {info['python']}, "
        f"grpcio {info['grpcio']}, protobuf {info['protobuf']} backend; load average "
        f"{info['loadavg_before'][0]} before, {info['loadavg'][0]} after (1 min).",
        "",
        "| request | observed | in-process ms | in-process us/resource "
        "| forge p50 / p99 ms | floor p50 / p99 ms "
        "| p50 ratio | CPU ms/req forge / floor | forge req/s (c=8) | floor req/s (c=8) "
        "| req/s ratio |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for r in rows:
        lines.append(
            f"| {r.name} | {r.observed} | {r.in_process_ms:.2f} | {r.us_per_resource:.1f} "
            f"| {r.forge.p50_ms:.2f} / {r.forge.p99_ms:.2f} "
            f"| {r.floor.p50_ms:.2f} / {r.floor.p99_ms:.2f} | {r.ratio['p50']:.2f}x "
            f"| {r.forge.cpu_ms:.2f} / {r.floor.cpu_ms:.2f} "
            f"| {r.forge.rps:.0f} | {r.floor.rps:.0f} | {r.ratio['rps']:.2f}x |"
        )
    ours, base = mem["forge"], mem["floor"]
    lines += [
        "",
        f"Cold start (process start to first successful RunFunction, median of "
        f"{len(cold['forge']['runs_s'])}): forge {cold['forge']['median_s']:.2f} s, "
        f"floor {cold['floor']['median_s']:.2f} s.",
        f"Memory ({ours['requests']} requests at concurrency {ours['concurrency']}, "
        f"round-robin over the requests above): forge RSS {ours['rss_mib']['end']} MiB "
        f"(growth over the last half {ours['growth_last_half_pct']} %), "
        f"floor {base['rss_mib']['end']} MiB; {ours['grpc_errors']} gRPC errors, "
        f"{ours['fatal_results']} fatal results, {ours['rps']:.0f} req/s.",
        f"Load mix: {mix['requests']} requests, forge CPU {mix['cpu_ms']} ms per request "
        f"on average (c=1); the baseline's {mix['baseline_requests']}: "
        f"{mix['baseline_cpu_ms']} ms, and under the same load "
        f"{like['rps']:.0f} req/s, {like['grpc_errors']} gRPC errors, "
        f"{like['fatal_results']} fatal results, RSS {like['rss_mib']['end']} MiB.",
        f"Under attack: small calls (keda) worst {attack['stall']['small_worst_alone_ms']} ms "
        f"alone, {attack['stall']['small_worst_during_large_ms']} ms while "
        f"{attack['stall']['large_call_kib']} KiB calls (composing "
        f"{attack['stall']['large_call_ms']} ms each) run back to back "
        f"(+{attack['stall']['added_ms']} ms); RSS {attack['names']['rss_before_mib']} -> "
        f"{attack['names']['rss_after_mib']} MiB over {attack['names']['calls']} calls with "
        f"{attack['names']['name_mib']} MB names.",
    ]
    return "\n".join(lines)


def save(report: dict[str, Any]) -> Path:
    """``bench/results/bench-<time>.json`` and a copy as ``latest.json``."""
    RESULTS.mkdir(exist_ok=True)
    stamp = report["when"].replace(":", "").replace("+0000", "Z")
    path = RESULTS / f"bench-{stamp}.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    (RESULTS / "latest.json").write_text(path.read_text())
    return path


def attack_load(args: argparse.Namespace) -> int:
    """Issue 21's load under attack on a fresh server; print the figures and the goals."""
    load_before = [round(x, 2) for x in os.getloadavg()]
    requests = hostile.attack_requests(args.listed)
    flags = [f"--{flag}" for flag in args.server_flag or []]
    with ServerProcess(FORGE, "--insecure", *flags) as server:
        server.wait_listening()
        figures = hostile.attack_load(server, requests, threads=args.threads, seconds=args.seconds)
    info = {**machine(), "loadavg_before": load_before}
    checked = hostile.attack_goals(figures)
    report = {
        "when": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": info,
        "server_flags": flags,
        "attack_load": figures,
        "goals": [{"goal": g, "value": v, "met": m} for g, v, m in checked],
    }
    RESULTS.mkdir(exist_ok=True)
    stamp = report["when"].replace(":", "").replace("+0000", "Z")
    path = RESULTS / f"attack-load-{stamp}.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    rss = figures["rss_mib"]
    print(
        f"Load under attack: {figures['threads']} threads for {figures['seconds']} s, "
        f"{figures['listed_xrs']} listed XRs (requests: "
        + ", ".join(f"{k} {v} KiB" for k, v in figures["request_kib"].items())
        + f"), server {' '.join(flags) or 'defaults'}; machine {info['nproc']} CPUs, "
        f"load {info['loadavg_before'][0]} before, {info['loadavg'][0]} after"
    )
    print(
        f"requests {figures['requests']}: "
        + ", ".join(f"{code} {n}" for code, n in figures["codes"].items())
    )
    for kind, a in figures["admitted"].items():
        print(
            f"admitted {kind}: {a['calls']} calls, p50 {a['p50_ms']} ms, p99 {a['p99_ms']} ms, "
            f"max {a['max_ms']} ms"
        )
    print(f"RSS start {rss['start']} MiB, peak {rss['peak']} MiB, after {rss['after']} MiB")
    for goal, value, met in checked:
        print(f"{'met   ' if met else 'MISSED'} {goal}: {value}")
    print(f"wrote {path}")
    return 1 if args.strict and not all(m for _, _, m in checked) else 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; with --strict, exit 1 when a goal is missed or an API is skipped."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--soak", action="store_true", help="5x the load, longer time boxes")
    parser.add_argument("--only", nargs="*", help="scenario names (default: all)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a goal is missed")
    attack = parser.add_argument_group("load under attack (issue 21)")
    attack.add_argument("--attack-load", action="store_true", help="run only the load under attack")
    attack.add_argument("--threads", type=int, default=hostile.ATTACK_THREADS)
    attack.add_argument("--seconds", type=float, default=hostile.ATTACK_SECONDS)
    attack.add_argument("--listed", type=int, default=hostile.LISTED_XRS)
    attack.add_argument(
        "--server-flag",
        action="append",
        metavar="FLAG[=VALUE]",
        help="a flag for the server, without its dashes (max-concurrent-rpcs=4); repeatable",
    )
    args = parser.parse_args(argv)
    if args.attack_load:
        return attack_load(args)
    s = Settings()
    if args.soak:
        s = Settings(seconds=4.0, max_samples=10_000, load_requests=50_000, cold_starts=5)

    load_before = [round(x, 2) for x in os.getloadavg()]
    started = time.monotonic()
    scenarios, skipped = sc.build_all(set(args.only) if args.only else None)
    for skip in skipped:
        print(f"warning: {skip.name}: {skip.reason}", file=sys.stderr)
    if not scenarios:
        print("no scenario to run", file=sys.stderr)
        return 1
    print(f"built {len(scenarios)} requests in {time.monotonic() - started:.1f} s", file=sys.stderr)
    first = next((x for x in scenarios if x.name.endswith("-3ng")), scenarios[0])

    cold = {
        "request": first.name,
        "forge": cold_start(FORGE, first.payload, s.cold_starts),
        "floor": cold_start(FLOOR, first.payload, s.cold_starts),
    }
    rows: list[Row] = []
    with ServerProcess(FORGE, "--insecure") as forge, ServerProcess(FLOOR, "--insecure") as floor:
        forge.wait_listening()
        floor.wait_listening()
        for scenario in scenarios:
            rows.append(measure(scenario, forge, floor, s))
            print(f"measured {scenario.name}", file=sys.stderr)
    requests = [(x.name, x.payload) for x in scenarios]
    mem = {"forge": load(FORGE, requests, s), "floor": load(FLOOR, requests, s)}
    baseline = [(name, payload) for name, payload in requests if name in BASELINE_MIX]
    mem["forge_baseline_mix"] = load(FORGE, baseline or requests, s)
    attack = under_attack()
    info = {**machine(), "loadavg_before": load_before}
    checked = goals(rows, cold, mem, attack)
    path = save(
        {
            "when": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "machine": info,
            "settings": asdict(s),
            "scenarios": [{**asdict(r), "us_per_resource": r.us_per_resource} for r in rows],
            "mix": mix_cost(rows),
            "cold_start": cold,
            "memory": mem,
            "attack": attack,
            "goals": checked,
            "skipped": [asdict(x) for x in skipped],
        }
    )
    print(table(rows, cold, mem, attack, info))
    print()
    for g in checked:
        state = "met   " if g["met"] else "MISSED"
        print(f"{state} {g['goal']}: {g['value']} (goal {g['target']})")
    print(f"\nwrote {path}")
    missed = [g for g in checked if not g["met"]]
    return 1 if args.strict and (missed or skipped) else 0


if __name__ == "__main__":
    sys.exit(main())
