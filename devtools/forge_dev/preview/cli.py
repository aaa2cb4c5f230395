"""``forge-preview`` (``python -m forge_dev.preview``, ``make preview XR=...``): an XR to Ready.

Renders the XR round by round with Crossplane's engine, the player answering for the
providers, then prints the XR and every composed resource as a YAML stream (as
``forge-render`` does) and, as YAML comments after it, the table of rounds and a verdict.
Exits 1 when the XR is not Ready within ``--max-rounds`` or a render fails.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from forge_dev.paths import stages_dir
from forge_dev.preview.report import as_comments, table, verdict
from forge_dev.preview.rounds import MAX_ROUNDS, preview
from forge_dev.render import FunctionServers, RenderError, to_yaml_stream
from forge_dev.render.examples import composition_for, xrd_for
from forge_dev.render.load import load_one, load_stream

PROG = "forge-preview"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description=__doc__)
    p.add_argument("xr", metavar="XR", type=Path, help="A YAML file with the XR.")
    p.add_argument(
        "-e",
        "--required-resources",
        action="append",
        default=[],
        type=Path,
        metavar="PATH",
        help=(
            "YAML file or directory of what exists before the XR: EnvironmentConfigs, CRDs "
            "(repeatable). Default: the required.yaml of the first stage of the XR's example "
            "(testdata/<XR's directory>/stages/01-*/), when there is one."
        ),
    )
    p.add_argument(
        "--composition", type=Path, help="Default: the one in compositions/ for the XR's kind."
    )
    p.add_argument("--xrd", type=Path, help="Default: the one in xrds/ for the XR's kind.")
    p.add_argument(
        "--max-rounds",
        type=int,
        default=MAX_ROUNDS,
        metavar="N",
        help=f"Give up after N reconciles (default {MAX_ROUNDS}).",
    )
    p.add_argument(
        "-r",
        "--include-function-results",
        action="store_true",
        help="Include the last round's events as resources of kind: Result.",
    )
    return p


def default_required(xr: Path) -> list[Path]:
    """The example's first stage's required.yaml: what exists when its XR is created."""
    stages = sorted(p for p in stages_dir(xr.parent).glob("*") if p.is_dir())
    first = stages[0] / "required.yaml" if stages else None
    return [first] if first is not None and first.is_file() else []


def _required(args: argparse.Namespace) -> list[dict[str, Any]]:
    paths = args.required_resources
    if not paths:
        paths = default_required(args.xr)
        for path in paths:
            shown = path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path
            print(f"{PROG}: -e {shown} (the example's first stage; -e to choose)", file=sys.stderr)
    return [obj for path in paths for obj in load_stream(path)]


def run(args: argparse.Namespace) -> tuple[str, bool]:
    """The output and whether the XR became Ready."""
    xr = load_one(args.xr, "composite resource")
    composition = load_one(args.composition or composition_for(xr), "Composition")
    xrd = load_one(args.xrd or xrd_for(xr), "XRD")
    required = _required(args)
    with FunctionServers() as servers:
        result = preview(
            xr,
            composition,
            servers=servers,
            xrd=xrd,
            required=required,
            max_rounds=args.max_rounds,
        )
    stream = to_yaml_stream(result.result, include_results=args.include_function_results)
    return stream + as_comments(["", *table(result.rounds), "", verdict(result)]), result.ready


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    args = parser().parse_args(argv)
    if args.max_rounds < 1:
        print(f"{PROG}: error: --max-rounds must be at least 1", file=sys.stderr)
        return 2
    try:
        out, ready = run(args)
    except RenderError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    sys.stdout.write(out)
    sys.stdout.flush()
    return 0 if ready else 1


if __name__ == "__main__":
    sys.exit(main())
