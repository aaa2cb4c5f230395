"""The real provider-kubernetes as a Provider xpkg, built here from its Go module.

``make kube-tools`` builds its ``cmd/provider`` (``tools/provider-kubernetes`` pins the
release) into ``.cache/tools/provider-kubernetes``. ``build`` writes that program's image
with ``forge_dev.packaging.image.build_static`` (at the path its own Dockerfile installs it,
``cluster/images/provider-kubernetes/Dockerfile``) and the package root from the module's
``package/``: its ``crossplane.yaml`` (the Provider's meta) and ``crds/``, unchanged; then
``crossplane xpkg build --embed-runtime-image-tarball`` makes the xpkg. e2e-local pushes it
to its registry and Crossplane installs it in place of the stand-in.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from forge_dev.packaging import PackagingError, image

MODULE = "github.com/crossplane-contrib/provider-kubernetes"
WRAPPER = Path(__file__).resolve().parents[3] / "tools" / "provider-kubernetes"
BINARY = "provider-kubernetes"  # in .cache/tools
PROGRAM = image.Program(
    title="provider-kubernetes",
    description="Crossplane provider-kubernetes, built from its Go module",
    source=f"https://{MODULE}",
    entrypoint=("/usr/local/bin/crossplane-kubernetes-provider",),
    env=("PATH=/usr/local/bin",),
    ports=(),
)


@dataclass(frozen=True)
class BuiltProvider:
    """The xpkg and the runtime image it embeds."""

    version: str  # the module's release, e.g. v1.2.1
    xpkg: Path
    image: image.BuiltImage


def _go(args: list[str]) -> str:
    go = shutil.which("go")
    if go is None:
        raise PackagingError("go is not on PATH: the provider's package comes from its Go module")
    out = subprocess.run(
        [go, *args], cwd=WRAPPER, capture_output=True, text=True, timeout=300, check=False
    )
    if out.returncode != 0:
        raise PackagingError(f"go {' '.join(args)} in {WRAPPER}: {out.stderr.strip()}")
    return out.stdout.strip()


def module() -> tuple[str, Path]:
    """The pinned release and its source in Go's module cache (downloaded if missing)."""
    _go(["mod", "download", MODULE])
    version, directory = _go(["list", "-m", "-f", "{{.Version}} {{.Dir}}", MODULE]).split(" ", 1)
    return version, Path(directory)


def package_root(source: Path, out: Path) -> Path:
    """The package root: the module's ``package/crossplane.yaml`` and ``package/crds``."""
    if out.exists():
        shutil.rmtree(out)
    (out / "crds").mkdir(parents=True)
    shutil.copyfile(source / "package" / "crossplane.yaml", out / "crossplane.yaml")
    crds = sorted((source / "package" / "crds").glob("*.yaml"))
    if not crds:
        raise PackagingError(f"{source}: no CRDs under package/crds")
    for crd in crds:
        shutil.copyfile(crd, out / "crds" / crd.name)
    return out


def build(binary: Path, cli: Path, out: Path, arch: str = "amd64") -> BuiltProvider:
    """The Provider xpkg in ``out``: the program's image embedded, the module's package."""
    version, source = module()
    tarball = out / f"provider-kubernetes-runtime-{arch}.tar"
    tag = f"provider-kubernetes:{version}-{arch}"
    built = image.build_static(binary, tarball, PROGRAM, version=version, arch=arch, tag=tag)
    root = package_root(source, out / "package")
    xpkg = out / f"provider-kubernetes-{version}.xpkg"
    result = subprocess.run(
        [
            str(cli),
            "xpkg",
            "build",
            f"--package-root={root}",
            f"--embed-runtime-image-tarball={tarball}",
            f"--package-file={xpkg}",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if result.returncode != 0:
        raise PackagingError(f"crossplane xpkg build of provider-kubernetes: {result.stderr}")
    return BuiltProvider(version, xpkg, built)
