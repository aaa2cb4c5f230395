"""``python -m forge_dev.packaging {version,assemble,check,image,image-lock,build,push,chart}``.

``image`` builds the runtime image of each ``--arch`` into ``<out>/runtime-<arch>.tar``
without Docker (forge_dev.packaging.image) and prints its digest and size;
``image-lock`` re-resolves its pinned inputs (``image.lock.json``).

``chart`` writes the gateway-api-crds Helm charts (forge_dev.packaging.charts) into
``<out>/charts/``, from the Go module cache (needs ``go``). ``push`` pushes them with
helm, then the xpkgs with the crossplane CLI (the Function first, then the
Configurations, whose Istio installs the charts).

``version`` needs nothing but the standard library (CI runs it before installing
anything); the other commands import the rest lazily.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from forge_dev.packaging import PackagingError, release


def _run(args: argparse.Namespace, version: str) -> None:
    from forge import versions  # noqa: PLC0415 - lazy: see module docstring
    from forge_dev.packaging import charts, checks  # noqa: PLC0415
    from forge_dev.packaging import commands as xpkg  # noqa: PLC0415
    from forge_dev.packaging.assemble import assemble  # noqa: PLC0415
    from forge_dev.packaging.layout import PACKAGES, REGISTRY  # noqa: PLC0415

    if args.command in ("image", "image-lock"):
        _image(args, version)
        return
    if args.command == "chart":
        for channel, path in charts.build(args.out).items():
            print(f"{versions.GATEWAY_API_CRDS[channel].name}: {path}")
        return
    arches = args.arch or ["amd64"]
    if args.command in ("assemble", "build"):
        for name, path in assemble(args.root, args.out, version).items():
            print(f"{name}: {path}")
    if args.command in ("check", "build"):
        problems = [e for s in PACKAGES for e in checks.verify(args.out / s.name, s, version)]
        if problems:
            raise PackagingError("packages are not releasable:\n  " + "\n  ".join(problems))
    first: list[list[str]] = []  # helm pushes, before the xpkgs that install the charts
    if args.command == "build":
        commands = xpkg.build_commands(args.crossplane, args.out, args.dist, version, arches)
    elif args.command == "push":
        registry = args.registry or REGISTRY
        helm = charts.find_helm(args.helm)
        first = charts.push_commands(helm, args.out, registry, plain_http=args.plain_http)
        commands = xpkg.push_commands(args.crossplane, args.dist, registry, version, arches)
    else:
        return
    cli = xpkg.find_cli(args.crossplane)
    missing = xpkg.missing_inputs(commands)
    if missing:
        raise PackagingError(f"missing (run `make xpkg` first): {', '.join(missing)}")
    missing = charts.missing_archives(args.out) if first else []
    if missing:
        raise PackagingError(f"missing (run `make packages` first): {', '.join(missing)}")
    args.dist.mkdir(parents=True, exist_ok=True)
    xpkg.run([*first, *([cli, *command[1:]] for command in commands)])


def _image(args: argparse.Namespace, version: str) -> None:
    from forge_dev.packaging import image  # noqa: PLC0415 - lazy: see module docstring

    if args.command == "image-lock":
        image.lock(args.root)
        print(f"wrote {image.LOCK}")
        return
    for built in image.build(args.root, args.out, version, args.arch or list(image.ARCHES)):
        size = built.size / (1024 * 1024)
        print(f"{built.tarball}: linux/{built.arch} {built.digest} ({size:.1f} MiB uncompressed)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m forge_dev.packaging", description=__doc__)
    parser.add_argument(
        "command",
        choices=["version", "assemble", "check", "image", "image-lock", "build", "push", "chart"],
    )
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="checkout (default: .)")
    parser.add_argument("--version", help="release version (default: from `git describe`)")
    parser.add_argument("--out", type=Path, default=Path("build"), help="package roots, charts/")
    parser.add_argument("--dist", type=Path, default=Path("dist"), help="built .xpkg files")
    parser.add_argument("--arch", action="append", help="runtime architecture (repeatable)")
    parser.add_argument(
        "--registry",
        help="push to <registry>/<package> and oci://<registry>/charts (default: ours)",
    )
    parser.add_argument("--crossplane", default="crossplane", help="the crossplane CLI")
    parser.add_argument("--helm", help="helm (default: the one `make tools` builds)")
    parser.add_argument(
        "--plain-http", action="store_true", help="push the charts over HTTP (a test registry)"
    )
    args = parser.parse_args(argv)
    version = args.version or release.from_git(args.root)
    if args.command == "version":
        print(version)
        return 0
    if args.helm is None:
        from forge_dev import tools  # noqa: PLC0415 - lazy: see module docstring

        args.helm = str(tools.tools_dir() / tools.HELM)
    try:
        _run(args, version)
    except PackagingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
