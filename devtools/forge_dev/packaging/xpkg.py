"""The ``crossplane xpkg build`` and ``push`` command lines for every package.

The Function is built once per architecture, each embedding that architecture's
runtime image (a ``docker save`` tarball), and pushed as one multi-platform
package; a Configuration is architecture-independent and built once. The Function
is pushed first: the Configurations depend on it.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from forge_dev.packaging import PackagingError
from forge_dev.packaging.layout import FUNCTION, PACKAGES, PackageSpec

INSTALL_HINT = (
    "install it with `curl -sL https://raw.githubusercontent.com/crossplane/crossplane/main/"
    "install.sh | sh` and put it on PATH (or pass CROSSPLANE=/path/to/crossplane)"
)


def package_file(dist: Path, spec: PackageSpec, version: str, arch: str | None = None) -> Path:
    """``dist/<repository>-<version>[-<arch>].xpkg``."""
    suffix = f"-{arch}" if arch else ""
    return dist / f"{spec.repository}-{version}{suffix}.xpkg"


def runtime_tarball(build: Path, arch: str) -> Path:
    """Where ``make image`` saves the runtime image of one architecture."""
    return build / f"runtime-{arch}.tar"


def build_commands(
    cli: str, build: Path, dist: Path, version: str, arches: list[str]
) -> list[list[str]]:
    """Every ``crossplane xpkg build`` invocation, in order."""
    commands = []
    for spec in PACKAGES:
        common = [
            cli,
            "xpkg",
            "build",
            f"--package-root={build / spec.name}",
            f"--examples-root={build / 'examples' / spec.name}",
        ]
        if spec is FUNCTION:
            for arch in arches:
                commands.append(
                    [
                        *common,
                        f"--embed-runtime-image-tarball={runtime_tarball(build, arch)}",
                        f"--package-file={package_file(dist, spec, version, arch)}",
                    ]
                )
        else:
            commands.append([*common, f"--package-file={package_file(dist, spec, version)}"])
    return commands


def push_commands(
    cli: str, dist: Path, registry: str, version: str, arches: list[str]
) -> list[list[str]]:
    """Every ``crossplane xpkg push`` invocation, the Function first."""
    commands = []
    for spec in PACKAGES:
        arch_list: list[str | None] = list(arches) if spec is FUNCTION else [None]
        files = ",".join(str(package_file(dist, spec, version, a)) for a in arch_list)
        ref = f"{registry.rstrip('/')}/{spec.repository}:{version}"
        commands.append([cli, "xpkg", "push", f"--package-files={files}", ref])
    return commands


def find_cli(cli: str) -> str:
    """The crossplane CLI's path, or PackagingError saying how to get it."""
    found = shutil.which(cli)
    if found is None:
        raise PackagingError(f"the crossplane CLI ({cli}) is not installed: {INSTALL_HINT}")
    return found


def missing_inputs(commands: list[list[str]]) -> list[str]:
    """Input files a command list names that do not exist (runtime tarballs, xpkgs)."""
    missing = []
    for command in commands:
        for arg in command:
            key, _, value = arg.partition("=")
            if (
                key in ("--embed-runtime-image-tarball", "--package-root")
                and not Path(value).exists()
            ):
                missing.append(value)
            if key == "--package-files":
                missing += [f for f in value.split(",") if not Path(f).exists()]
    return missing


def run(commands: list[list[str]]) -> None:
    """Run the commands one by one, echoing each; stop at the first failure."""
    for command in commands:
        print("+ " + " ".join(command), flush=True)
        result = subprocess.run(command, check=False)
        if result.returncode != 0:
            raise PackagingError(f"{command[0]} {command[1]} {command[2]} failed")
