"""``python -m forge_dev.e2e_local [SCENARIO ...]``: bring the local environment up, run the
scenarios (all by default), print the summary table, exit 1 if any failed."""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from collections import Counter
from pathlib import Path

from forge_dev.e2e_local.controlplane import ROOT
from forge_dev.e2e_local.env import Environment
from forge_dev.e2e_local.procs import HarnessError
from forge_dev.e2e_local.scenarios import SCENARIOS, Scenario


def table(rows: list[tuple[str, float, str, str]]) -> str:
    """The summary: scenario, seconds, result, detail."""
    head = ("scenario", "seconds", "result", "detail")
    cells = [head] + [(n, f"{s:.1f}", r, d) for n, s, r, d in rows]
    width = [max(len(c[i]) for c in cells) for i in range(3)]
    lines = [
        f"{head[0]:<{width[0]}}  {head[1]:>{width[1]}}  {head[2]:<{width[2]}}  {head[3]}",
        f"{'-' * width[0]}  {'-' * width[1]}  {'-' * width[2]}  {'-' * 6}",
    ]
    for name, seconds, result, detail in rows:
        sec = f"{seconds:.1f}"
        lines.append(f"{name:<{width[0]}}  {sec:>{width[1]}}  {result:<{width[2]}}  {detail}")
    return "\n".join(lines)


def objects_detail(applied: dict, claimed: dict, before: tuple[set, set]) -> str:
    """Who reconciled a scenario's Objects: how many of which kinds the real
    provider-kubernetes applied (or observed), and how many the player played."""
    parts = []
    for what, found, seen in (
        ("provider-kubernetes applied", applied, before[0]),
        ("the player played", claimed, before[1]),
    ):
        kinds = Counter(v.split(" ", 1)[0] for k, v in found.items() if k not in seen)
        if kinds:
            each = ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items()))
            parts.append(f"{what} {kinds.total()} Objects ({each})")
    return "; ".join(parts)


def run_scenario(env: Environment, scenario: Scenario) -> tuple[str, float, str, str]:
    """One scenario: its summary row (name, seconds, result, detail)."""
    print(f"=== {scenario.name} (budget {scenario.budget:.0f}s)", flush=True)
    t = time.monotonic()
    before = (set(env.player.provider_applied), set(env.player.claimed))
    try:
        detail = scenario.run(env, scenario.budget)
        result = "ok"
    except Exception as exc:
        result, detail = "FAIL", str(exc).splitlines()[0]
        print(f"--- {scenario.name} FAILED:\n{exc}", file=sys.stderr)
        if not isinstance(exc, HarnessError):
            traceback.print_exc()
    elapsed = time.monotonic() - t
    if result == "ok" and elapsed > scenario.budget:
        result, detail = "FAIL", f"over its budget of {scenario.budget:.0f}s; {detail}"
    objects = objects_detail(env.player.provider_applied, env.player.claimed, before)
    if objects:
        detail = f"{detail}; {objects}"
    print(f"--- {scenario.name}: {result} in {elapsed:.1f}s: {detail}", flush=True)
    return scenario.name, elapsed, result, detail


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m forge_dev.e2e_local", description=__doc__)
    parser.add_argument("scenarios", nargs="*", help="names (default: all)")
    parser.add_argument(
        "--workdir",
        type=Path,
        default=ROOT / ".cache" / "e2e-local",
        help="logs, certificates and etcd data of the run (default: .cache/e2e-local)",
    )
    parser.add_argument("--list", action="store_true", help="list the scenarios and exit")
    args = parser.parse_args(argv)

    if args.list:
        for s in SCENARIOS:
            print(f"{s.name}\t{s.budget:.0f}s")
        return 0
    names = {s.name for s in SCENARIOS}
    unknown = [n for n in args.scenarios if n not in names]
    if unknown:
        parser.error(f"unknown scenario(s) {unknown}; known: {sorted(names)}")
    chosen = [s for s in SCENARIOS if not args.scenarios or s.name in args.scenarios]

    rows: list[tuple[str, float, str, str]] = []
    t = time.monotonic()
    try:
        env = Environment(args.workdir).__enter__()
    except HarnessError as exc:
        rows.append(("environment", time.monotonic() - t, "FAIL", str(exc).splitlines()[0]))
        print(str(exc), file=sys.stderr)
        print(table(rows))
        return 1
    setup = ", ".join(f"{k} {v:.1f}s" for k, v in env.timings.items())
    rows.append(("environment", time.monotonic() - t, "ok", setup))
    rows.append(("node", 0.0, "ok", env.node.describe()))
    rows.append(("function pod", 0.0, "ok", env.function_detail))
    rows.append(("provider-kubernetes", 0.0, "ok", env.provider_kubernetes_detail))
    try:
        for scenario in chosen:
            rows.append(run_scenario(env, scenario))
        if env.loop and env.loop.errors:
            rows.append(("player", 0.0, "FAIL", env.loop.errors[-1].strip().splitlines()[-1]))
    finally:
        t = time.monotonic()
        env.__exit__(None, None, None)
        rows.append(("teardown", time.monotonic() - t, "ok", f"logs in {args.workdir}/logs"))
    print()
    print(table(rows))
    return 0 if all(r[2] == "ok" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
