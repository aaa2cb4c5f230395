"""The packaging tests' shared paths and readers."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from forge import versions
from forge.xpkg import dependency_name
from forge_dev.packaging import release
from forge_dev.packaging.checks import Contents
from forge_dev.packaging.layout import (
    PACKAGES,
    PackageSpec,
    load_docs,
)

ROOT = Path(__file__).resolve().parents[2]


VERSION = release.from_git(ROOT)  # what `make packages` stamps


CONFIGURATIONS = [p for p in PACKAGES if p.kind == "Configuration"]


FUNCTION_DEPENDENCY = dependency_name(versions.FUNCTION_PACKAGE)


def load(path: Path) -> Contents:
    return Contents.load(path)


def copy_of(built: dict[str, Path], spec: PackageSpec, tmp_path: Path) -> Path:
    """A scratch copy of one assembled package, to break."""
    return Path(shutil.copytree(built[spec.name], tmp_path / spec.name))


def edit(path: Path, change: Callable[[list[dict[str, Any]]], None]) -> None:
    """Rewrite a YAML file of a package copy through ``change(docs)``."""
    docs = load_docs(path)
    change(docs)
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False))


def call_dependency(compositions: list[dict[str, Any]]) -> None:
    for composition in compositions:
        for step in composition["spec"]["pipeline"]:
            step["functionRef"]["name"] = FUNCTION_DEPENDENCY


def with_dependency_function_refs(path: Path) -> None:
    """Point every pipeline step at the name Crossplane installs our Function dependency as."""
    for composition in path.rglob("composition.yaml"):
        edit(composition, call_dependency)
