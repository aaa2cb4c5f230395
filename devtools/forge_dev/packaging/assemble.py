"""Assemble each package's root directory exactly as ``crossplane xpkg build`` reads it.

``build/<package>/`` holds ``crossplane.yaml`` and, for a Configuration, its APIs
(``apis/<plural>/definition.yaml`` and ``composition.yaml``); ``build/examples/<package>/``
holds the example XRs for the package's examples layer. Two things are stamped
for the release:

- every Composition gets the labels ``forge.projectcatalyst.io/channel`` (``dev`` or
  ``stable``) and ``forge.projectcatalyst.io/release`` (the version); Crossplane
  copies them onto the CompositionRevision, which is what an XR selects to follow
  a channel or pin a release;
- the Configuration's dependency on our Function becomes ``>=<version>``: the
  Compositions of a release need the function of at least that release.
"""

from __future__ import annotations

import copy
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from forge import versions
from forge_dev.packaging import PackagingError, release
from forge_dev.packaging.layout import (
    LABEL_CHANNEL,
    LABEL_RELEASE,
    PACKAGES,
    PackageSpec,
    composite_type,
    dump,
    load_docs,
    xrd_type,
)

EXAMPLES = "examples"


@dataclass
class Api:
    """One XRD and its Compositions, as read from ``xrds/`` and ``compositions/``."""

    xrd: dict[str, Any]
    compositions: list[dict[str, Any]] = field(default_factory=list)

    @property
    def plural(self) -> str:
        return str(self.xrd["spec"]["names"]["plural"])

    @property
    def categories(self) -> list[str]:
        return list(self.xrd["spec"]["names"].get("categories") or [])


def read_apis(root: Path) -> list[Api]:
    """Every API of the checkout; a Composition without its XRD is an error, not dropped."""
    apis: dict[tuple[str, str], Api] = {}
    for path in sorted((root / "xrds").glob("*.yaml")):
        for doc in load_docs(path):
            if doc.get("kind") != "CompositeResourceDefinition":
                raise PackagingError(f"{path}: {doc.get('kind')} is not an XRD")
            apis[xrd_type(doc)] = Api(doc)
    for path in sorted((root / "compositions").glob("*.yaml")):
        for doc in load_docs(path):
            if doc.get("kind") != "Composition":
                raise PackagingError(f"{path}: {doc.get('kind')} is not a Composition")
            api = apis.get(composite_type(doc))
            if api is None:
                group, kind = composite_type(doc)
                raise PackagingError(f"{path}: no XRD in xrds/ defines {kind}.{group}")
            api.compositions.append(doc)
    return list(apis.values())


def select(apis: list[Api], spec: PackageSpec) -> list[Api]:
    """The APIs a Configuration package ships (none for the Function)."""
    if spec.kind != "Configuration":
        return []
    if spec.category is not None:
        return [api for api in apis if spec.category in api.categories]
    claimed = {p.category for p in PACKAGES if p.category is not None}
    return [api for api in apis if not claimed.intersection(api.categories)]


def stamp_composition(composition: dict[str, Any], version: str) -> dict[str, Any]:
    """The Composition with the channel and release labels of ``version``."""
    out = copy.deepcopy(composition)
    labels = out.setdefault("metadata", {}).setdefault("labels", {})
    labels[LABEL_CHANNEL] = release.channel(version)
    labels[LABEL_RELEASE] = version
    return out


def stamp_meta(meta: dict[str, Any], version: str) -> dict[str, Any]:
    """``crossplane.yaml`` with the Function dependency raised to this release."""
    out = copy.deepcopy(meta)
    for dep in out.get("spec", {}).get("dependsOn") or []:
        if versions.FUNCTION_PACKAGE in (dep.get("package"), dep.get("function")):
            dep["version"] = f">={version}"
    return out


def example_xrs(root: Path) -> list[tuple[Path, dict[str, Any]]]:
    """(example directory, XR) of every ``examples/**/xr.yaml`` of our API group."""
    found = []
    for path in sorted((root / EXAMPLES).rglob("xr.yaml")):
        for doc in load_docs(path):
            if doc.get("apiVersion") == versions.API_VERSION:
                found.append((path.parent, doc))
    return found


def assemble(root: Path, out: Path, version: str) -> dict[str, Path]:
    """Write every package root under ``out``; return package name -> directory."""
    problems = release.check(version)
    if problems:
        raise PackagingError("; ".join(problems))
    apis = read_apis(root)
    dirs: dict[str, Path] = {}
    for spec in PACKAGES:
        dest = out / spec.name
        examples = out / EXAMPLES / spec.name
        for path in (dest, examples):
            shutil.rmtree(path, ignore_errors=True)
        source = root / "package" / spec.name / "crossplane.yaml"
        if not source.is_file():
            raise PackagingError(f"{source} is missing")
        dump(dest / "crossplane.yaml", [stamp_meta(m, version) for m in load_docs(source)])
        chosen = select(apis, spec)
        for api in chosen:
            dump(dest / "apis" / api.plural / "definition.yaml", [api.xrd])
            stamped = [stamp_composition(c, version) for c in api.compositions]
            dump(dest / "apis" / api.plural / "composition.yaml", stamped)
        kinds = {xrd_type(api.xrd)[1] for api in chosen}
        for directory, xr in example_xrs(root):
            if xr.get("kind") in kinds:
                name = "-".join(directory.relative_to(root / EXAMPLES).parts)
                dump(examples / f"{name}.yaml", [xr])
        dirs[spec.name] = dest
    return dirs
