"""Render every example, stage by stage: the project's main job (`make render`).

An example is a directory under ``examples/`` with an ``xr.yaml``; its stages
are ``stages/NN-name/`` directories holding the observed composed resources
(``observed.yaml``) and required resources (``required.yaml``) of that moment.
Each stage's render is kept as ``expected.yaml`` (the golden file):

    python -m forge_dev.render.examples            # print every render, fail if a golden differs
    python -m forge_dev.render.examples --quiet    # only compare with the goldens
    python -m forge_dev.render.examples --update   # rewrite the golden files
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from forge_dev.paths import ROOT
from forge_dev.render import FunctionServers, RenderError, render, to_yaml_stream
from forge_dev.render.load import load_one, load_stream


@dataclass(frozen=True)
class Stage:
    """One render of one example."""

    example: Path
    directory: Path

    @property
    def name(self) -> str:
        return str(self.directory.relative_to(ROOT))

    @property
    def expected(self) -> Path:
        return self.directory / "expected.yaml"


def composition_for(xr: dict) -> Path:
    """The checked-in Composition for an XR's kind (one per API)."""
    kind = xr["kind"]
    for path in sorted((ROOT / "compositions").glob("*.yaml")):
        comp = load_one(path, "composition")
        if comp["spec"]["compositeTypeRef"]["kind"] == kind:
            return path
    raise RenderError(f"no Composition in compositions/ for kind {kind}")


def xrd_for(xr: dict) -> Path:
    """The checked-in XRD that defines an XR's kind."""
    group = xr["apiVersion"].partition("/")[0]
    for path in sorted((ROOT / "xrds").glob("*.yaml")):
        xrd = load_one(path, "XRD")
        if xrd["spec"]["group"] == group and xrd["spec"]["names"]["kind"] == xr["kind"]:
            return path
    raise RenderError(f"no XRD in xrds/ for kind {xr['kind']}")


def stages(root: Path = ROOT) -> Iterator[Stage]:
    """Every (example, stage), in a stable order."""
    for xr_file in sorted((root / "examples").glob("**/xr.yaml")):
        example = xr_file.parent
        dirs = sorted(p for p in (example / "stages").glob("*") if p.is_dir())
        for directory in dirs or [example]:
            yield Stage(example, directory)


def render_stage(stage: Stage, servers: FunctionServers) -> str:
    """The YAML stream for one stage, as ``crossplane composition render -r --xrd`` prints it."""
    xr = load_one(stage.example / "xr.yaml", "composite resource")
    composition = load_one(composition_for(xr), "composition")
    observed = stage.directory / "observed.yaml"
    required = stage.directory / "required.yaml"
    result = render(
        xr,
        composition,
        observed=load_stream(observed) if observed.exists() else (),
        required=load_stream(required) if required.exists() else (),
        xrd=load_one(xrd_for(xr), "XRD"),
        servers=servers,
    )
    return to_yaml_stream(result, include_results=True)


def main(argv: list[str] | None = None) -> int:
    """Render all stages and compare each with its golden; or rewrite the goldens."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quiet", action="store_true", help="compare only, print nothing else")
    mode.add_argument("--update", action="store_true", help="rewrite expected.yaml")
    args = parser.parse_args(argv)
    stale: list[str] = []
    rendered = list(stages())
    with FunctionServers() as servers:
        for stage in rendered:
            text = render_stage(stage, servers)
            if args.update:
                stage.expected.write_text(text)
            elif not stage.expected.exists() or stage.expected.read_text() != text:
                stale.append(stage.name)
            if not (args.update or args.quiet):
                print(f"# {stage.name}")
                sys.stdout.write(text)
    examples = len({stage.example for stage in rendered})
    what = f"rendered {len(rendered)} stages of {examples} examples with Crossplane's engine"
    if stale:
        print(
            f"{what}; {len(stale)} differ from their golden (rewrite with --update):",
            file=sys.stderr,
        )
        print("\n".join(f"  {name}" for name in stale), file=sys.stderr)
        return 1
    verdict = "goldens rewritten" if args.update else "every one matches its golden expected.yaml"
    print(f"{what}; {verdict}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
