"""Which packages exist and what goes into each (their names: ``forge.xpkg``).

The APIs are not listed here: a Configuration takes the XRDs in ``xrds/`` whose
``categories`` name it (``clusters``), and ``configuration-infrastructure`` takes
every XRD no other package claims, so a new API lands in a package without an edit.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from forge import versions
from forge_dev.packaging import PackagingError

META_API_VERSION = "meta.pkg.crossplane.io/v1"
CROSSPLANE_CONSTRAINT = ">=v2.2.0"
LABEL_CHANNEL = f"{versions.GROUP}/channel"
LABEL_RELEASE = f"{versions.GROUP}/release"


@dataclass(frozen=True)
class PackageSpec:
    """One xpkg: its source directory ``package/<name>``, kind and OCI repository name."""

    name: str
    kind: str
    repository: str
    category: str | None = None


REGISTRY = versions.FUNCTION_PACKAGE.rsplit("/", 1)[0]
FUNCTION = PackageSpec("function", "Function", versions.FUNCTION_PACKAGE.rsplit("/", 1)[1])
CLUSTERS = PackageSpec(
    "configuration-clusters", "Configuration", "configuration-clusters", "clusters"
)
INFRASTRUCTURE = PackageSpec(
    "configuration-infrastructure", "Configuration", "configuration-infrastructure"
)
PACKAGES: tuple[PackageSpec, ...] = (FUNCTION, CLUSTERS, INFRASTRUCTURE)


def load_docs(path: Path) -> list[dict[str, Any]]:
    """The non-empty documents of a YAML file, each a mapping."""
    docs = [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None]
    for doc in docs:
        if not isinstance(doc, dict):
            raise PackagingError(f"{path}: every YAML document must be an object")
    return docs


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (readme annotations) as ``|`` blocks, as they were written."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def dump(path: Path, docs: list[dict[str, Any]]) -> None:
    """Write documents as one YAML stream (key order kept, as the generator wrote it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = yaml.dump_all(docs, Dumper=_Dumper, sort_keys=False, width=100)
    path.write_text(text, encoding="utf-8")


def composite_type(composition: dict[str, Any]) -> tuple[str, str]:
    """(group, kind) a Composition composes."""
    ref = composition.get("spec", {}).get("compositeTypeRef", {})
    return str(ref.get("apiVersion", "")).rpartition("/")[0], str(ref.get("kind", ""))


def xrd_type(xrd: dict[str, Any]) -> tuple[str, str]:
    """(group, kind) an XRD defines."""
    spec = xrd.get("spec", {})
    return str(spec.get("group", "")), str(spec.get("names", {}).get("kind", ""))
