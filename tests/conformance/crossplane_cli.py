"""``crossplane beta validate``, the crossplane CLI's own validation, offline.

The CLI would download Crossplane's package for its built-in CRDs; we lay those CRDs
(``crds/crossplane`` beside us, the ones that package carries) into its cache instead.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from forge import versions
from forge_dev import tools

IMAGE = f"xpkg.crossplane.io/crossplane/crossplane:v{versions.CROSSPLANE.version}"
_LINE = re.compile(r"^\[(?P<mark>[✓x!])\] (?:.*? error )?(?P<gvk>\S*?, Kind=\S+?),? (?P<name>\S+)")


def validate(
    objects: Sequence[Mapping[str, Any]], schema_root: Path, xrds: Path, work: Path
) -> dict[tuple[str, str], str]:
    """(``group/version, Kind=kind``, name) -> valid, invalid or missing-schema."""
    cache = work / "cache" / IMAGE.replace(":", "@")
    cache.mkdir(parents=True)
    for crd in (schema_root / "crds" / "crossplane").glob("*.yaml"):
        shutil.copy(crd, cache)
    extensions = work / "extensions"
    for provider in (schema_root / "crds").iterdir():
        if provider.is_dir() and provider.name != "crossplane":
            shutil.copytree(provider, extensions / provider.name)
    shutil.copytree(xrds, extensions / "xrds")
    resources = work / "resources.yaml"
    resources.write_text(yaml.safe_dump_all(list(objects), sort_keys=False))
    done = subprocess.run(
        [
            str(tools.tool(tools.CLI)),
            "beta",
            "validate",
            str(extensions),
            str(resources),
            f"--cache-dir={work / 'cache'}",
            f"--crossplane-image={IMAGE}",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    verdicts: dict[tuple[str, str], str] = {}
    for line in done.stdout.splitlines():
        if line.startswith("[!] could not find CRD/XRD for: "):
            gvk = line.removeprefix("[!] could not find CRD/XRD for: ")
            verdicts[(gvk, "")] = "missing-schema"
            continue
        match = _LINE.match(line)
        if match:
            key = (match["gvk"], match["name"])
            status = "valid" if match["mark"] == "✓" else "invalid"
            if verdicts.get(key) != "invalid":
                verdicts[key] = status
    if "Total" not in done.stdout:
        raise RuntimeError(f"crossplane beta validate failed: {done.stderr.strip()}")
    return verdicts


def key(obj: Mapping[str, Any]) -> tuple[str, str]:
    """How the CLI names an object in its output."""
    group_version = obj["apiVersion"] if "/" in obj["apiVersion"] else f"/{obj['apiVersion']}"
    return (f"{group_version}, Kind={obj['kind']}", obj["metadata"]["name"])
