"""Render every example, stage by stage: the project's main job (`make render`).

An example is a directory under ``examples/`` with an ``xr.yaml``; its stages are
``testdata/examples/<example>/stages/NN-name/`` directories holding the observed composed resources
(``observed.yaml``) and required resources (``required.yaml``) of that moment.
Each stage's render is kept as ``expected.yaml`` (the golden file):

    python -m forge_dev.render.examples            # a line per example; fail if a golden differs
    python -m forge_dev.render.examples --yaml     # also print every stage's render
    python -m forge_dev.render.examples --quiet    # only compare with the goldens
    python -m forge_dev.render.examples --update   # rewrite the golden files
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from forge_dev.paths import ROOT, stages_dir
from forge_dev.render import FunctionServers, RenderError, RenderResult, render, to_yaml_stream
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
        dirs = sorted(p for p in stages_dir(example).glob("*") if p.is_dir())
        for directory in dirs or [example]:
            yield Stage(example, directory)


def render_result(stage: Stage, servers: FunctionServers) -> RenderResult:
    """One stage through the real engine, as ``crossplane composition render --xrd`` runs it."""
    xr = load_one(stage.example / "xr.yaml", "composite resource")
    composition = load_one(composition_for(xr), "composition")
    observed = stage.directory / "observed.yaml"
    required = stage.directory / "required.yaml"
    return render(
        xr,
        composition,
        observed=load_stream(observed) if observed.exists() else (),
        required=load_stream(required) if required.exists() else (),
        xrd=load_one(xrd_for(xr), "XRD"),
        servers=servers,
    )


def render_stage(stage: Stage, servers: FunctionServers) -> str:
    """The YAML stream for one stage, as ``crossplane composition render -r --xrd`` prints it."""
    return to_yaml_stream(render_result(stage, servers), include_results=True)


def summary(example: Path, done: list[tuple[Stage, RenderResult, bool]]) -> str:
    """One line for an example: its stages, what its last stage composes, and the verdict."""
    last = done[-1][1]
    stale = [stage.directory.name for stage, _, match in done if not match]
    verdict = f"{len(stale)} differ: {', '.join(stale)}" if stale else "all match their goldens"
    ready = last.condition("Ready")
    state = "Ready" if ready and ready.get("status") == "True" else "not Ready"
    return (
        f"{example.relative_to(ROOT)}: {len(done)} stages, {len(last.resources)} composed "
        f"resources at the last ({state}); {verdict}"
    )


def main(argv: list[str] | None = None) -> int:
    """Render all stages and compare each with its golden; or rewrite the goldens."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quiet", action="store_true", help="compare only, print nothing else")
    mode.add_argument("--yaml", action="store_true", help="also print every stage's render")
    mode.add_argument("--update", action="store_true", help="rewrite expected.yaml")
    args = parser.parse_args(argv)
    stale: list[str] = []
    rendered = list(stages())
    by_example: dict[Path, list[tuple[Stage, RenderResult, bool]]] = {}
    with FunctionServers() as servers:
        for stage in rendered:
            result = render_result(stage, servers)
            text = to_yaml_stream(result, include_results=True)
            match = stage.expected.exists() and stage.expected.read_text() == text
            if args.update:
                stage.expected.write_text(text)
            elif not match:
                stale.append(stage.name)
            if args.yaml:
                print(f"# {stage.name}")
                sys.stdout.write(text)
            by_example.setdefault(stage.example, []).append((stage, result, match))
    if not (args.quiet or args.update):
        for example, done in by_example.items():
            print(summary(example, done))
    what = f"rendered {len(rendered)} stages of {len(by_example)} examples with Crossplane's engine"
    if stale:
        print(
            f"{what}; {len(stale)} differ from their golden (rewrite with make fixtures):",
            file=sys.stderr,
        )
        print("\n".join(f"  {name}" for name in stale), file=sys.stderr)
        return 1
    verdict = "goldens rewritten" if args.update else "every one matches its golden expected.yaml"
    print(f"{what}; {verdict}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
