"""Stages of a Kubernetes upgrade: an EKS Cluster Ready at one minor, then asked for the next.

    python -m forge_dev.simulate.upgrade_stages examples/cluster-aws-upgrade NAME [NAME ...]

The example's ``xr.yaml`` asks for ``kubernetesVersion`` N. The player first drives the
same XR at N-1 to Ready (the cluster as it ran before the change); the stages are then
the rounds of the XR at N from there, written as ``forge_dev.simulate.stages`` writes
them: what the function asks for at each step shows the order (control plane, then
add-ons, then node groups).
"""

from __future__ import annotations

import argparse
import copy
from pathlib import Path
from typing import Any

import yaml

from forge_dev.simulate import stages
from forge_dev.simulate.converge import play
from forge_dev.simulate.player import Observed, observe

MAX_ROUNDS = 16


def previous(version: str) -> str:
    """The minor version before ``version`` (1.35 -> 1.34)."""
    major, minor = version.split(".")
    return f"{major}.{int(minor) - 1}"


def ready_before(xr: dict[str, Any], environment: list[dict[str, Any]]) -> dict[str, Observed]:
    """What exists once ``xr`` at the minor before its ``kubernetesVersion`` is Ready."""
    before = copy.deepcopy(xr)
    before["spec"]["kubernetesVersion"] = previous(xr["spec"]["kubernetesVersion"])
    rounds = play(
        stages.reconciler(before, environment),
        lambda done: done[1].resources,
        lambda done: done[1].composite_ready,
        MAX_ROUNDS,
    )
    *_, (_, (_, last)) = rounds
    if not last.composite_ready:
        raise SystemExit(f"{before['metadata']['name']}: not Ready after {MAX_ROUNDS} rounds")
    return {key: observe(key, manifest) for key, manifest in last.resources.items()}


def write_example_stages(example: Path, names: list[str]) -> None:
    """Write the stages of the upgrade the example's XR asks for."""
    xr = yaml.safe_load((example / "xr.yaml").read_text())
    initial = ready_before(xr, stages.environment_of(example, names[0]))
    stages.write_stages(example, names, initial=initial)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("example", type=Path)
    parser.add_argument("names", nargs="+")
    args = parser.parse_args()
    write_example_stages(args.example, args.names)


if __name__ == "__main__":
    main()
