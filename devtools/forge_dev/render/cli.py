"""``forge-render``: ``crossplane composition render`` for this checkout, without Docker.

Same arguments, flags and output as the crossplane CLI, and the same engine: Crossplane
core's ``internal render`` (the real composite reconciler), which the CLI runs with
``--crossplane-binary``. function-forge is run from this checkout instead of a Docker
image; other Functions must use the Development runtime. Built by ``make tools``.
"""

from __future__ import annotations

import argparse
import re
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType
from typing import Any

from forge_dev.render.api import render
from forge_dev.render.errors import FatalResultError, RenderError, goquote
from forge_dev.render.load import check_functions, load_one, load_stream
from forge_dev.render.output import to_yaml_stream
from forge_dev.render.runtime import FunctionServers

PROG = "forge-render"
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str) -> float:
    """A Go duration (``1m``, ``1m30s``, ``500ms``) in seconds."""
    pos, total = 0, 0.0
    while pos < len(text):
        match = _DURATION_PART.match(text, pos)
        if match is None:
            raise argparse.ArgumentTypeError(f"invalid duration {goquote(text)}")
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos = match.end()
    if not text:
        raise argparse.ArgumentTypeError('invalid duration ""')
    return total


def _key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {goquote(text)}")
    return key, value


def parser() -> argparse.ArgumentParser:
    """The argument parser, flags named as in crossplane composition render."""
    p = argparse.ArgumentParser(
        prog=PROG,
        description=(
            "Render an XR through a Pipeline-mode Composition with Crossplane's own engine "
            "(crossplane internal render), printing the XR and its composed resources as a "
            "YAML stream. function-forge is started from this checkout; other Functions must "
            "be annotated render.crossplane.io/runtime: Development (target annotation "
            "render.crossplane.io/runtime-development-target, default localhost:9443)."
        ),
    )
    p.add_argument("composite_resource", metavar="XR", help="A YAML file specifying the XR.")
    p.add_argument("composition", metavar="COMPOSITION", help="A YAML file with the Composition.")
    p.add_argument(
        "functions",
        metavar="FUNCTIONS",
        nargs="?",
        help="A YAML file or directory of Function manifests (default: function-forge only).",
    )
    p.add_argument(
        "-r",
        "--include-function-results",
        action="store_true",
        help="Include the engine's events as resources of kind: Result.",
    )
    p.add_argument(
        "-x",
        "--include-full-xr",
        action="store_true",
        help="Merge the rendered XR over the input XR's spec and metadata.",
    )
    p.add_argument(
        "-o",
        "--observed-resources",
        metavar="PATH",
        help="YAML file or directory of observed composed resources (and Secrets).",
    )
    p.add_argument(
        "-e",
        "--required-resources",
        action="append",
        default=[],
        metavar="PATH",
        help="YAML file or directory of resources Functions may require (repeatable).",
    )
    p.add_argument(
        "--extra-resources",
        action="append",
        default=[],
        metavar="PATH",
        help="Same as --required-resources (deprecated name).",
    )
    p.add_argument(
        "--function-credentials",
        metavar="PATH",
        help="YAML file or directory of Secrets for steps' credentials.",
    )
    p.add_argument(
        "-a",
        "--function-annotations",
        action="append",
        type=_key_value,
        default=[],
        metavar="KEY=VALUE",
        help="Override an annotation on every Function.",
    )
    p.add_argument(
        "--xrd",
        metavar="PATH",
        help="The XR's CompositeResourceDefinition: its defaults apply to the XR.",
    )
    p.add_argument(
        "--timeout",
        type=parse_duration,
        default=60.0,
        metavar="DURATION",
        help="How long to run before timing out (default 1m).",
    )
    p.add_argument(
        "--verbose", action="store_true", help="Print the engine's events to stderr as well."
    )
    return p


def _functions(args: argparse.Namespace) -> list[dict[str, Any]] | None:
    if args.functions is None:
        return None
    try:
        fns = check_functions(load_stream(args.functions))
    except RenderError as exc:
        raise RenderError(f"cannot load functions from {goquote(args.functions)}: {exc}") from exc
    for fn in fns:
        annotations = fn.setdefault("metadata", {}).setdefault("annotations", {})
        annotations.update(dict(args.function_annotations))
    return fns


def _load(path: str | None, what: str) -> list[dict[str, Any]]:
    if not path:
        return []
    try:
        return load_stream(path)
    except RenderError as exc:
        raise RenderError(f"cannot load {what} from {goquote(path)}: {exc}") from exc


def _load_one(path: str, what: str) -> dict[str, Any]:
    try:
        return load_one(path, what)
    except RenderError as exc:
        raise RenderError(f"cannot load {what} from {goquote(path)}: {exc}") from exc


def run(args: argparse.Namespace) -> str:
    """Load every input, render, and return the YAML stream."""
    xr = _load_one(args.composite_resource, "composite resource")
    comp = _load_one(args.composition, "Composition")
    xrd = _load_one(args.xrd, "XRD") if args.xrd else None
    required = [
        obj
        for path in [*args.extra_resources, *args.required_resources]
        for obj in _load(path, "required resources")
    ]
    with FunctionServers(_functions(args), startup_timeout=args.timeout) as servers:
        try:
            result = render(
                xr,
                comp,
                observed=_load(args.observed_resources, "observed composed resources"),
                required=required,
                credentials=_load(args.function_credentials, "secrets"),
                xrd=xrd,
                timeout=args.timeout,
                servers=servers,
            )
        except FatalResultError as exc:
            if args.verbose:
                _print_events(exc.partial.results)
            raise RenderError(f"cannot render composite resource: {exc}") from exc
        except RenderError as exc:
            raise RenderError(f"cannot render composite resource: {exc}") from exc
    if args.verbose:
        _print_events(result.results)
    return to_yaml_stream(
        result,
        include_full_xr=args.include_full_xr,
        include_results=args.include_function_results,
    )


def _print_events(results: Sequence[Any]) -> None:
    for r in results:
        print(f"{PROG}: {r.severity} {r.reason}: {r.message}", file=sys.stderr)


def _terminate(signum: int, _: FrameType | None) -> None:
    raise SystemExit(128 + signum)  # unwinds through FunctionServers, which stops our function


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the forge-render console script; returns the exit code."""
    args = parser().parse_args(argv)
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminate) if main_thread else None
    try:
        out = run(args)
    except RenderError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)
    sys.stdout.write(out)
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
