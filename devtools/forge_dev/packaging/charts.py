"""The Gateway API CRDs as Helm charts, generated at package time (never committed).

No upstream chart ships the Gateway API CRDs, and provider-kubernetes Objects cannot
carry them (client-side apply puts each CRD, httproutes alone 431 KB, into a 256 KiB
annotation; and every function response would hold ~1 MB). So we build small charts
from the ``sigs.k8s.io/gateway-api`` Go module at ``versions.GATEWAY_API_VERSION``, one
per channel (``versions.GATEWAY_API_CRDS``): ``gateway-api-crds`` (standard) and
``gateway-api-crds-experimental``. Each holds only its channel's CRDs, as templates (not
``crds/``, so that an upgrade applies them), each annotated
``helm.sh/resource-policy: keep`` so that uninstalling never deletes the users' Gateways
and Routes.

One chart per channel, not one chart with a ``channel`` value: Helm stores a release
(its chart's templates and the rendered manifest, gzipped) in one Secret, which the API
server caps at 1 MiB. With both channels in one chart the experimental release does not
fit (``data: Too long: may not be more than 1048576 bytes``) and the standard one fills
96% of it; one channel per chart leaves room for the CRDs to grow.

The upstream ``safe-upgrades`` ValidatingAdmissionPolicy is left out: it guards hand
installs against downgrades and channel switches, which the pinned chart decides here.
The archive is deterministic (sorted members, zero times and owners), so one version
always gives the same bytes and digest.
"""

from __future__ import annotations

import gzip
import io
import json
import shutil
import subprocess
import tarfile
from pathlib import Path

import yaml

from forge import versions
from forge.versions import Chart
from forge_dev.packaging import PackagingError

MODULE = "sigs.k8s.io/gateway-api"
CHANNELS = tuple(versions.GATEWAY_API_CRDS)
KEEP = {"helm.sh/resource-policy": "keep"}
CHANNEL_ANNOTATION = "gateway.networking.k8s.io/channel"
# No values: the chart's name is its channel. A value given anyway is an error.
SCHEMA = {
    "$schema": "https://json-schema.org/draft-07/schema#",
    "type": "object",
    "additionalProperties": False,
}


def module_dir(tag: str = versions.GATEWAY_API_VERSION) -> Path:
    """The module's directory in the Go module cache (downloaded through the proxy)."""
    if shutil.which("go") is None:
        raise PackagingError(
            f"go is not installed: the gateway-api-crds charts are generated from the {MODULE} "
            "Go module (install Go 1.26 or newer)"
        )
    out = subprocess.run(
        ["go", "mod", "download", "-json", f"{MODULE}@{tag}"],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    if out.returncode != 0:
        raise PackagingError(f"go mod download {MODULE}@{tag} failed: {out.stdout}{out.stderr}")
    return Path(json.loads(out.stdout)["Dir"])


def upstream_crds(root: Path, channel: str) -> list[Path]:
    """The channel's CRD files in the module (not its kustomization nor its policy)."""
    crds = sorted((root / "config" / "crd" / channel).glob("*.yaml"))
    crds = [p for p in crds if p.name != "kustomization.yaml" and "_vap_" not in p.name]
    if not crds:
        raise PackagingError(f"no {channel} CRDs under {root}")
    return crds


def _template(path: Path, channel: str) -> bytes:
    """One CRD file as a template: kept on uninstall, otherwise as upstream wrote it."""
    crd = yaml.safe_load(path.read_text(encoding="utf-8"))
    annotations = crd["metadata"].setdefault("annotations", {})
    if annotations.get(CHANNEL_ANNOTATION) != channel:
        raise PackagingError(f"{path}: not a {channel}-channel CRD")
    annotations.update(KEEP)
    body = yaml.safe_dump(crd, sort_keys=False, width=100)
    if "{{" in body:
        raise PackagingError(f"{path}: holds '{{{{', which Helm would read as a template")
    return body.encode()


def chart_files(root: Path, channel: str) -> dict[str, bytes]:
    """One channel's chart, its files by path inside the archive, from the module at ``root``."""
    chart: Chart = versions.GATEWAY_API_CRDS[channel]
    meta = {
        "apiVersion": "v2",
        "name": chart.name,
        "version": chart.version,
        "appVersion": versions.GATEWAY_API_VERSION,
        "description": f"Gateway API CRDs, {channel} channel, kept on uninstall.",
        "type": "application",
    }
    files = {
        f"{chart.name}/Chart.yaml": yaml.safe_dump(meta, sort_keys=False).encode(),
        f"{chart.name}/values.yaml": f"# None: this chart is the {channel} channel.\n".encode(),
        f"{chart.name}/values.schema.json": (json.dumps(SCHEMA, indent=2) + "\n").encode(),
    }
    for path in upstream_crds(root, channel):
        files[f"{chart.name}/templates/{path.name}"] = _template(path, channel)
    return files


def archive(files: dict[str, bytes]) -> bytes:
    """A .tgz of ``files`` whose bytes depend only on their names and contents."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(files):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(files[name]), 0o644, 0
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(files[name]))
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=0, compresslevel=9) as gz:
        gz.write(raw.getvalue())
    return out.getvalue()


def archive_path(out: Path, channel: str) -> Path:
    """``<out>/charts/<chart>-<version>.tgz``, as ``helm package`` names an archive."""
    chart = versions.GATEWAY_API_CRDS[channel]
    return out / "charts" / f"{chart.name}-{chart.version}.tgz"


def build(out: Path, root: Path | None = None) -> dict[str, Path]:
    """Write every channel's chart archive under ``<out>/charts/``; return them by channel."""
    root = root or module_dir()
    paths = {}
    for channel in CHANNELS:
        paths[channel] = path = archive_path(out, channel)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(archive(chart_files(root, channel)))
    return paths


def push_commands(
    helm: str, out: Path, registry: str, *, plain_http: bool = False
) -> list[list[str]]:
    """Every ``helm push`` of the archives ``build`` wrote under ``out``.

    ``registry`` is the prefix the packages go to (``layout.REGISTRY`` by default); the
    charts go to ``oci://<registry>/charts/<chart>:<version>``, which is
    ``versions.CHARTS_REPOSITORY`` for ours. ``plain_http`` for a registry without TLS.
    """
    target = f"oci://{registry.rstrip('/')}/charts"
    flags = ["--plain-http"] if plain_http else []
    return [[helm, "push", str(archive_path(out, c)), target, *flags] for c in CHANNELS]


def missing_archives(out: Path) -> list[str]:
    """The chart archives ``build`` has not written under ``out`` (``make packages``)."""
    return [str(p) for c in CHANNELS if not (p := archive_path(out, c)).exists()]


def find_helm(helm: str) -> str:
    """helm's path, or PackagingError saying how to get it."""
    found = shutil.which(helm)
    if found is None:
        raise PackagingError(f"helm ({helm}) is not built: run `make tools` (or pass HELM=...)")
    return found
