"""Write an example's observed-state stages from the provider simulator.

    python -m forge_dev.simulate.stages examples/<dir> stage-name [stage-name ...]

Stage N holds the observed resources before render round N (stage 1: nothing
exists yet, so it has no observed file), as the providers would report them
(``forge_dev.simulate.player``, every provider's hooks included, uids and connection
Secrets' controller references too). Every stage's
``required.yaml`` holds the first stage's (the environment's EnvironmentConfigs)
plus what the providers wrote that the function asks for at that stage (an Object's
connection Secret, such as the argocd-manager token's).
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

from forge_dev.paths import stages_dir
from forge_dev.simulate import player
from forge_dev.simulate.converge import play
from forge_dev.simulate.player import Observed
from forge_dev.simulate.requests import Rendered, build, render, step_input
from forge_dev.simulate.required import answer

ENVIRONMENT_CONFIG = "EnvironmentConfig"


def answers(
    xr: dict[str, Any],
    world: list[dict[str, Any]],
    observed: dict[str, Observed],
    given: dict[str, Any] | None,
) -> dict[str, list[dict[str, Any]]]:
    """What Crossplane fetches from ``world`` for the function's requirements (its loop)."""

    def ask(got: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
        return render(build(xr, observed=observed, required=got, step_input=given)).requirements

    return answer(ask, world)


Reconcile = Callable[[dict[str, Observed]], tuple[list[dict[str, Any]], Rendered]]


def reconciler(xr: dict[str, Any], environment: list[dict[str, Any]]) -> Reconcile:
    """One round of ``xr``: what Crossplane fetched for it, and the function's response."""
    given = step_input(xr["kind"])

    def reconcile(observed: dict[str, Observed]) -> tuple[list[dict[str, Any]], Rendered]:
        world = [*environment, *player.written(observed)]
        required = answers(xr, world, observed, given)
        wanted = [o for items in required.values() for o in items]
        fetched = [o for o in world if o in wanted and o["kind"] != ENVIRONMENT_CONFIG]
        return fetched, render(build(xr, observed=observed, required=required, step_input=given))

    return reconcile


def environment_of(example: Path, first_stage: str) -> list[dict[str, Any]]:
    """The environment: the first stage's ``required.yaml`` as written by hand."""
    first = stages_dir(example) / f"01-{first_stage}" / "required.yaml"
    return [d for d in yaml.safe_load_all(first.read_text()) if d] if first.exists() else []


def write_stages(
    example: Path, names: list[str], initial: Mapping[str, Observed] | None = None
) -> None:
    """Render round by round and write ``stages/NN-name/{observed,required}.yaml``.

    ``initial``: what exists before the first round (default nothing). Keys are written
    sorted: a Struct read back from the function has no stable order.
    """
    xr = yaml.safe_load((example / "xr.yaml").read_text())
    first = stages_dir(example) / f"01-{names[0]}" / "required.yaml"
    environment = environment_of(example, names[0])
    reconcile = reconciler(xr, environment)
    rounds = play(reconcile, lambda done: done[1].resources, lambda _: False, len(names), initial)
    for index, (name, (observed, (fetched, _))) in enumerate(
        zip(names, rounds, strict=True), start=1
    ):
        stage = stages_dir(example) / f"{index:02d}-{name}"
        stage.mkdir(parents=True, exist_ok=True)
        if environment or fetched:
            # The first stage's text as written (its comments too), then what was fetched.
            text = first.read_text() if environment else ""
            if fetched:
                text += "---\n" if text else ""
                text += yaml.safe_dump_all(fetched, sort_keys=True)
            (stage / "required.yaml").write_text(text)
        if observed:
            docs = [observed[key].manifest for key in sorted(observed)]
            (stage / "observed.yaml").write_text(yaml.safe_dump_all(docs, sort_keys=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("example", type=Path)
    parser.add_argument("names", nargs="+")
    parser.add_argument("--hooks", action="append", default=[])
    args = parser.parse_args()
    for module in args.hooks:
        importlib.import_module(module)
    write_stages(args.example, args.names)


if __name__ == "__main__":
    main()
