"""Write an example's observed-state stages from the provider simulator.

    python -m tests.support.stages examples/<dir> stage-name [stage-name ...]

Stage N holds the observed resources before render round N (stage 1: nothing
exists yet, so it has no observed file), as the providers would report them
(``forge.preview.player``, every provider's hooks included).
"""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path

import yaml

from tests.support.providers import observe
from tests.support.request import build, render, step_input


def write_stages(example: Path, names: list[str], max_rounds: int = 12) -> None:
    """Render round by round and write ``stages/NN-name/observed.yaml``."""
    xr = yaml.safe_load((example / "xr.yaml").read_text())
    observed = {}
    for index, name in enumerate(names, start=1):
        stage = example / "stages" / f"{index:02d}-{name}"
        stage.mkdir(parents=True, exist_ok=True)
        required_file = stage / "required.yaml"
        required = (
            {"environment-configs": list(yaml.safe_load_all(required_file.read_text()))}
            if required_file.exists()
            else None
        )
        if observed:
            docs = [observed[key].manifest for key in sorted(observed)]
            text = yaml.safe_dump_all(docs, sort_keys=False)
            (stage / "observed.yaml").write_text(text)
        given = step_input(xr["kind"])
        out = render(build(xr, observed=observed, required=required, step_input=given))
        observed = {key: observe(key, manifest) for key, manifest in out.resources.items()}
        if index > max_rounds:
            break


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
