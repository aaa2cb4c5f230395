"""The ``gateway-api-crds`` Helm chart, generated at package time (never committed).

No upstream chart ships the Gateway API CRDs, and provider-kubernetes Objects cannot
carry them (client-side apply puts each CRD, httproutes alone 431 KB, into a 256 KiB
annotation; and every function response would hold ~1 MB). So we build a small chart
from the ``sigs.k8s.io/gateway-api`` Go module at ``versions.GATEWAY_API_VERSION``:
the CRDs of both channels under ``templates/<channel>/``, one channel rendered by
``.Values.channel`` (templates, not ``crds/``, so that an upgrade applies them), each
annotated ``helm.sh/resource-policy: keep`` so that uninstalling the chart never deletes
the users' Gateways and Routes. The upstream ``safe-upgrades`` ValidatingAdmissionPolicy
is left out: it guards hand installs against downgrades and channel switches, which the
chart's pinned version and ``channel`` value decide here.

The archive is deterministic (sorted members, zero times and owners), so one version
always gives the same bytes and digest.
"""

from __future__ import annotations

import gzip
import io
import json
import subprocess
import tarfile
from pathlib import Path

import yaml

from forge import versions
from forge.packaging import PackagingError

NAME = "gateway-api-crds"
MODULE = "sigs.k8s.io/gateway-api"
CHANNELS = ("standard", "experimental")
KEEP = {"helm.sh/resource-policy": "keep"}
CHANNEL_ANNOTATION = "gateway.networking.k8s.io/channel"


def chart_version(tag: str = versions.GATEWAY_API_VERSION) -> str:
    """The chart's SemVer: the Gateway API release without its ``v``."""
    return tag.removeprefix("v")


def module_dir(tag: str = versions.GATEWAY_API_VERSION) -> Path:
    """The module's directory in the Go module cache (downloaded through the proxy)."""
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


def _template(path: Path, channel: str) -> bytes:
    """One CRD file as a template: kept on uninstall, rendered only for its channel."""
    crd = yaml.safe_load(path.read_text(encoding="utf-8"))
    annotations = crd["metadata"].setdefault("annotations", {})
    if annotations.get(CHANNEL_ANNOTATION) != channel:
        raise PackagingError(f"{path}: not a {channel}-channel CRD")
    annotations.update(KEEP)
    body = yaml.safe_dump(crd, sort_keys=False, width=100)
    if "{{" in body:
        raise PackagingError(f"{path}: holds '{{{{', which Helm would read as a template")
    guard = f'{{{{- if eq .Values.channel "{channel}" }}}}\n'
    return (guard + body + "{{- end }}\n").encode()


def chart_files(root: Path, tag: str = versions.GATEWAY_API_VERSION) -> dict[str, bytes]:
    """The chart's files by path inside the archive, from the module at ``root``."""
    version = chart_version(tag)
    chart = {
        "apiVersion": "v2",
        "name": NAME,
        "version": version,
        "appVersion": tag,
        "description": "Gateway API CRDs (standard or experimental channel), kept on uninstall.",
        "type": "application",
    }
    schema = {
        "$schema": "https://json-schema.org/draft-07/schema#",
        "type": "object",
        "properties": {"channel": {"type": "string", "enum": list(CHANNELS)}},
        "additionalProperties": False,
    }
    files = {
        f"{NAME}/Chart.yaml": yaml.safe_dump(chart, sort_keys=False).encode(),
        f"{NAME}/values.yaml": b"# standard or experimental\nchannel: standard\n",
        f"{NAME}/values.schema.json": (json.dumps(schema, indent=2) + "\n").encode(),
    }
    for channel in CHANNELS:
        crds = sorted((root / "config" / "crd" / channel).glob("*.yaml"))
        crds = [p for p in crds if p.name != "kustomization.yaml" and "_vap_" not in p.name]
        if not crds:
            raise PackagingError(f"no {channel} CRDs under {root}")
        for path in crds:
            files[f"{NAME}/templates/{channel}/{path.name}"] = _template(path, channel)
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


def build(out: Path, root: Path | None = None) -> Path:
    """Write ``<out>/charts/gateway-api-crds-<version>.tgz``; return its path."""
    data = archive(chart_files(root or module_dir()))
    path = out / "charts" / f"{NAME}-{chart_version()}.tgz"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path
