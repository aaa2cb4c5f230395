"""vCluster in the Cluster tests: its kubeconfig Secret as a required resource.

The player (``forge_dev.simulate.vcluster``) writes the ``vc-<name>`` Secret once the release
is deployed; here it is handed to the in-process function as Crossplane would.

    python -m forge_dev.simulate.vcluster_stages examples/cluster-vcluster

rewrites the example's observed stages from the provider player, with placeholder
credentials (no real private key is checked in).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import yaml

from forge_dev.paths import stages_dir
from forge_dev.simulate import vcluster
from forge_dev.simulate.converge import play
from forge_dev.simulate.requests import Observed, build, render
from forge_dev.simulate.vcluster import Credentials, kubeconfig, kubeconfig_secret

__all__ = ["REQUIREMENT", "Credentials", "kubeconfig", "kubeconfig_secret", "required_fn"]

REQUIREMENT = "vcluster-kubeconfig"


def deployed(observed: dict[str, Observed], key: str) -> bool:
    """Whether an observed Release is Ready and deployed."""
    return key in observed and vcluster.deployed(observed[key].manifest)


def required_fn(creds: Credentials, release_key: str = "vcluster"):
    """``lifecycle.converge``'s ``required``: the Secret exists once the vCluster runs."""

    def required(observed: dict[str, Observed]) -> dict[str, list[dict[str, Any]]]:
        if not deployed(observed, release_key):
            return {}
        return {REQUIREMENT: [kubeconfig_secret(observed[release_key].manifest, creds)]}

    return required


def _dump(path: Path, docs: list[dict[str, Any]]) -> None:
    path.write_text(yaml.safe_dump_all(docs, sort_keys=True))


def write_example_stages(example: Path, names: list[str]) -> None:
    """Render round by round from nothing; keep the rounds that start the named stages.

    Stage ``n`` starts at the first round whose input has the resources of that
    moment: 01 nothing, 02 the vCluster deployed, 03 Crossplane deployed, 04 all.
    """
    xr = yaml.safe_load((example / "xr.yaml").read_text())
    creds = Credentials.placeholder()
    required = required_fn(creds)
    moments = [
        lambda obs: not obs,
        lambda obs: deployed(obs, "vcluster") and "crossplane" not in obs,
        lambda obs: deployed(obs, "crossplane") and not any(k.startswith("stack-") for k in obs),
        lambda obs: False,
    ]
    played = play(
        lambda observed: render(build(xr, observed=observed, required=required(observed))),
        lambda out: out.resources,
        lambda out: out.composite_ready,
        max_rounds=12,
    )
    rounds = [(observed, out.composite_ready) for observed, out in played]
    for index, name in enumerate(names):
        if index == len(names) - 1:
            chosen = next(obs for obs, ready in rounds if ready)
        else:
            chosen = next(obs for obs, _ in rounds if moments[index](obs))
        stage = stages_dir(example) / f"{index + 1:02d}-{name}"
        stage.mkdir(parents=True, exist_ok=True)
        if chosen:
            _dump(stage / "observed.yaml", [chosen[k].manifest for k in sorted(chosen)])
        needed = required(chosen).get(REQUIREMENT, [])
        if needed:
            _dump(stage / "required.yaml", needed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("example", type=Path)
    parser.add_argument(
        "names", nargs="*", default=["created", "vcluster-up", "crossplane-up", "ready"]
    )
    args = parser.parse_args()
    write_example_stages(args.example, args.names)


if __name__ == "__main__":
    main()
