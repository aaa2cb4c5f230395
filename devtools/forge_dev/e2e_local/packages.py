"""Packages as users install them.

- ``build``: the package roots assembled as ``python -m forge_dev.packaging assemble`` writes
  them, each built into an xpkg by the real ``crossplane xpkg build`` (the crossplane CLI
  v2.2.0, ``.cache/tools/crossplane-cli``); the Function embeds the runtime image that
  ``forge_dev.packaging.image`` builds, as ``make packages`` does.
- ``Registry``: go-containerregistry's registry on 127.0.0.1 (``forge-e2e-oci registry``);
  ``push`` pushes an xpkg there with the real ``crossplane xpkg push``. Crossplane and the
  e2e node's containerd pull from it.
- ``function_pod``: the pod Crossplane's default package runtime runs our Function in.
"""

from __future__ import annotations

import json
import socket
import subprocess
import tarfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from forge_dev.e2e_local.controlplane import ROOT, TOOLS
from forge_dev.e2e_local.crossplane import NAMESPACE
from forge_dev.e2e_local.kube import Kube
from forge_dev.e2e_local.procs import HarnessError, Proc, Procs, free_port, wait_for

FUNCTION_NAME = "input-output-hk-catalyst-forge-function-forge"
PKG = "pkg.crossplane.io/v1"
MANIFEST_TYPES = (
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)


def cli() -> Path:
    """The real crossplane CLI (v2.2.0), built by ``make tools``."""
    from forge_dev import tools  # noqa: PLC0415 (the function's)

    try:
        return tools.tool(tools.CLI)
    except Exception as exc:
        raise HarnessError(f"{exc}") from None


def _run(argv: list[str], what: str, timeout: float = 120) -> str:
    out = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    if out.returncode != 0:
        raise HarnessError(f"{what} failed ({' '.join(argv)}): {out.stdout}{out.stderr}")
    return out.stdout


@dataclass(frozen=True)
class Built:
    """One package built into an xpkg file."""

    name: str  # the package's name: function, configuration-clusters, ...
    kind: str  # Function or Configuration
    repository: str  # its repository path, ours without the registry host
    file: Path


def build(workdir: Path, version: str, runtime_image: Path | None = None) -> dict[str, Built]:
    """Every package of this checkout, assembled as ``python -m forge_dev.packaging assemble``
    does and built by ``crossplane xpkg build``; the Function embeds ``runtime_image`` (a
    ``docker save`` tarball of ``forge_dev.packaging.image``), as ``make packages`` does."""
    from forge_dev.packaging.assemble import EXAMPLES, assemble  # noqa: PLC0415 (the function's)
    from forge_dev.packaging.layout import PACKAGES, REGISTRY  # noqa: PLC0415

    out = workdir / "packages"
    roots = assemble(ROOT, out / "build", version)
    built = {}
    for spec in PACKAGES:
        root = roots[spec.name]
        file = out / f"{spec.name}-{version}.xpkg"
        embedded = []
        if spec.kind == "Function" and runtime_image is not None:
            embedded = [f"--embed-runtime-image-tarball={runtime_image}"]
        _run(
            [
                str(cli()),
                "xpkg",
                "build",
                f"--package-root={root}",
                f"--examples-root={root.parent / EXAMPLES / spec.name}",
                f"--package-file={file}",
                *embedded,
            ],
            f"crossplane xpkg build of {spec.name}",
        )
        # ghcr.io/input-output-hk/catalyst-forge/<repository> -> <host>/input-output-hk/...
        repository = f"{REGISTRY.split('/', 1)[1]}/{spec.repository}"
        built[spec.name] = Built(spec.name, spec.kind, repository, file)
    return built


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


class Registry:
    """An OCI registry on 127.0.0.1 (Crossplane pulls from it over plain HTTP, as
    go-containerregistry does for loopback registries)."""

    def __init__(self, workdir: Path, binary: Path | None = None) -> None:
        self.workdir = workdir
        self.binary = binary or TOOLS / "forge-e2e-oci"
        self.procs = Procs()
        self.port = 0

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> Registry:
        if not self.binary.exists():
            raise HarnessError(f"missing {self.binary}: run `make kube-tools`")
        self.port = free_port()
        self.procs.start(
            Proc(
                "registry",
                [str(self.binary), "registry", self.host],
                self.workdir / "logs" / "registry.log",
            )
        )
        wait_for(
            f"registry on {self.host}",
            lambda: _port_open(self.port),
            timeout=20,
            alive=self.procs.check_alive,
        )
        return self

    def push(self, package: Built, tag: str) -> str:
        """Push a built xpkg with ``crossplane xpkg push``; the reference pushed (plain
        HTTP: go-containerregistry speaks it to a loopback registry)."""
        ref = f"{self.host}/{package.repository}:{tag}"
        _run(
            [str(cli()), "xpkg", "push", f"--package-files={package.file}", ref],
            f"crossplane xpkg push of {package.name}",
        )
        return ref

    def stop(self) -> None:
        self.procs.stop_all()


def manifest_digest(registry: str, repository: str, tag: str) -> str:
    """The digest the registry serves for ``repository:tag`` (what a pull resolves to)."""
    req = urllib.request.Request(
        f"http://{registry}/v2/{repository}/manifests/{tag}",
        method="HEAD",
        headers={"Accept": ", ".join(MANIFEST_TYPES)},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        return resp.headers["Docker-Content-Digest"]


def config_diff_ids(registry: str, repository: str, digest: str) -> list[str]:
    """The layer diff IDs of an image's config, as the registry serves it."""

    def get(path: str, accept: str) -> dict:
        req = urllib.request.Request(f"http://{registry}/v2/{repository}/{path}")
        req.add_header("Accept", accept)
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.load(resp)

    manifest = get(f"manifests/{digest}", ", ".join(MANIFEST_TYPES))
    if "manifests" in manifest:  # an index: the first image's (one per architecture)
        manifest = get(f"manifests/{manifest['manifests'][0]['digest']}", ", ".join(MANIFEST_TYPES))
    config = get(f"blobs/{manifest['config']['digest']}", "*/*")
    return config["rootfs"]["diff_ids"]


def tarball_diff_ids(tarball: Path) -> list[str]:
    """The layer diff IDs of a ``docker save`` tarball's image."""
    with tarfile.open(tarball) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))[0]
        return json.load(tar.extractfile(manifest["Config"]))["rootfs"]["diff_ids"]


@dataclass(frozen=True)
class FunctionPod:
    """The pod Crossplane's package runtime runs a package in (our function, a provider)."""

    name: str
    node: str
    image: str  # the pod's image reference
    image_id: str  # the digest the node's runtime resolved it to (repository@sha256:...)


def function_pod(kube: Kube) -> FunctionPod | None:
    """Our Function's pod, once it is Running and Ready (None before)."""
    return package_pod(kube, "function", FUNCTION_NAME)


def package_pod(kube: Kube, kind: str, name: str) -> FunctionPod | None:
    """The pod of package ``name`` (``kind``: function or provider, the label Crossplane's
    package runtime gives its pods), once it is Running and Ready (None before)."""
    pods = kube.list(
        "v1",
        "Pod",
        namespace=NAMESPACE,
        label_selector=f"pkg.crossplane.io/{kind}={name}",
    )
    for pod in pods:
        status = pod.get("status") or {}
        statuses = status.get("containerStatuses") or []
        if status.get("phase") == "Running" and statuses and all(c.get("ready") for c in statuses):
            return FunctionPod(
                pod["metadata"]["name"],
                pod["spec"].get("nodeName", ""),
                statuses[0]["image"],
                statuses[0]["imageID"],
            )
    return None


def configuration_object(name: str, package: str) -> dict:
    """A Configuration as a user installs it: Crossplane resolves its dependencies."""
    return {
        "apiVersion": PKG,
        "kind": "Configuration",
        "metadata": {"name": name},
        "spec": {"package": package},
    }


def function_object(package: str) -> dict:
    """Our Function under its dependency name, as ``bootstrap/`` ships it."""
    return {
        "apiVersion": PKG,
        "kind": "Function",
        "metadata": {"name": FUNCTION_NAME},
        "spec": {"package": package},
    }
