"""``forge-render``: the command line of ``crossplane composition render``, locally.

Same arguments, flags and output; function-forge is run from this checkout
instead of a Docker image, Development-runtime Functions are dialled as usual.
"""

from __future__ import annotations

import argparse
import re
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from forge.render.api import render
from forge.render.errors import RenderError, goquote
from forge.render.load import check_functions, load_one, load_stream, parse_value
from forge.render.output import to_yaml_stream
from forge.render.runtime import FunctionServers

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
    """The argument parser, flags named as in crossplane render."""
    p = argparse.ArgumentParser(
        prog=PROG,
        description=(
            "Render an XR through a Pipeline-mode Composition, like 'crossplane composition "
            "render', printing the XR and its composed resources as a YAML stream. "
            "function-forge is started from this checkout; other Functions must be annotated "
            "render.crossplane.io/runtime: Development (target annotation "
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
        "--context-files",
        action="append",
        type=_key_value,
        default=[],
        metavar="KEY=FILE",
        help="Context key whose value is a JSON/YAML file.",
    )
    p.add_argument(
        "--context-values",
        action="append",
        type=_key_value,
        default=[],
        metavar="KEY=VALUE",
        help="Context key and JSON/YAML value (wins over files).",
    )
    p.add_argument(
        "-r",
        "--include-function-results",
        action="store_true",
        help="Include results from Functions as resources of kind: Result.",
    )
    p.add_argument(
        "-x",
        "--include-full-xr",
        action="store_true",
        help="Include the input XR's spec and metadata in the rendered XR.",
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
        metavar="PATH",
        help="YAML file or directory of resources Functions may require.",
    )
    p.add_argument(
        "--extra-resources", metavar="PATH", help="Same as --required-resources (deprecated name)."
    )
    p.add_argument(
        "-c",
        "--include-context",
        action="store_true",
        help="Include the context as a resource of kind: Context.",
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
        "--timeout",
        type=parse_duration,
        default=60.0,
        metavar="DURATION",
        help="How long to run before timing out (default 1m).",
    )
    p.add_argument("--verbose", action="store_true", help="Log TTL and function targets to stderr.")
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


def _optional_stream(path: str | None, what: str) -> list[dict[str, Any]]:
    if not path:
        return []
    try:
        return load_stream(path)
    except RenderError as exc:
        raise RenderError(f"cannot load {what} from {goquote(path)}: {exc}") from exc


def _context(args: argparse.Namespace) -> dict[str, Any]:
    ctx: dict[str, Any] = {}
    for key, file in args.context_files:
        try:
            ctx[key] = parse_value(Path(file).read_text(encoding="utf-8"))
        except OSError as exc:
            raise RenderError(f"cannot read context value for key {goquote(key)}: {exc}") from exc
    for key, value in args.context_values:
        ctx[key] = parse_value(value)
    return ctx


def run(args: argparse.Namespace) -> str:
    """Load every input, render, and return the YAML stream."""
    try:
        xr = load_one(args.composite_resource, "composite resource")
    except RenderError as exc:
        raise RenderError(
            f"cannot load composite resource from {goquote(args.composite_resource)}: {exc}"
        ) from exc
    try:
        comp = load_one(args.composition, "composition")
    except RenderError as exc:
        raise RenderError(
            f"cannot load Composition from {goquote(args.composition)}: {exc}"
        ) from exc
    fns = _functions(args)
    credentials = _optional_stream(args.function_credentials, "secrets")
    observed = _optional_stream(args.observed_resources, "observed composed resources")
    required = _optional_stream(args.extra_resources, "extra resources")
    required += _optional_stream(args.required_resources, "required resources")
    with FunctionServers(fns, startup_timeout=args.timeout) as servers:
        try:
            result = render(
                xr,
                comp,
                observed=observed,
                required=required,
                credentials=credentials,
                context=_context(args),
                timeout=args.timeout,
                servers=servers,
            )
        except RenderError as exc:
            raise RenderError(f"cannot render composite resource: {exc}") from exc
    if args.verbose:
        print(f"{PROG}: ttl: {result.ttl if result.ttl is not None else 'none'}", file=sys.stderr)
    return to_yaml_stream(
        result,
        include_full_xr=args.include_full_xr,
        include_results=args.include_function_results,
        include_context=args.include_context,
    )


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
