"""Checks on an assembled package root: what Crossplane would reject, or install broken.

Each check returns a list of problems (empty when the package is fine) so that a
test can prove it fails on a deliberately broken copy. ``verify`` runs every check
that needs nothing but the files; which apiVersions a Composition composes is only
known by running the function, so ``provider_errors`` takes them as an argument.
Schema validity of ``crossplane.yaml`` is checked against the real meta CRDs by the
test suite (the schema store), not here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from forge import versions
from forge.xpkg import dependency_name
from forge_dev.packaging import release
from forge_dev.packaging.layout import (
    CROSSPLANE_CONSTRAINT,
    LABEL_CHANNEL,
    LABEL_RELEASE,
    META_API_VERSION,
    PackageSpec,
    composite_type,
    load_docs,
    xrd_type,
)
from forge_dev.packaging.semver import Constraint, SemverError

META_GROUP = "meta.pkg.crossplane.io"
# What Crossplane's package linters (crossplane-runtime pkg/xpkg/lint.go) accept.
ALLOWED_KINDS: dict[str, frozenset[tuple[str, str]]] = {
    "Configuration": frozenset(
        {
            ("apiextensions.crossplane.io/v1", "CompositeResourceDefinition"),
            ("apiextensions.crossplane.io/v2", "CompositeResourceDefinition"),
            ("apiextensions.crossplane.io/v1", "Composition"),
            ("apiextensions.crossplane.io/v1alpha1", "ManagedResourceActivationPolicy"),
            ("ops.crossplane.io/v1alpha1", "Operation"),
            ("ops.crossplane.io/v1alpha1", "CronOperation"),
            ("ops.crossplane.io/v1alpha1", "WatchOperation"),
        }
    ),
    "Function": frozenset(
        {
            ("apiextensions.k8s.io/v1", "CustomResourceDefinition"),
            ("apiextensions.k8s.io/v1beta1", "CustomResourceDefinition"),
        }
    ),
}
# Groups served by Kubernetes or Crossplane itself: composing them needs no provider.
CROSSPLANE_GROUPS = frozenset(
    {
        "apiextensions.crossplane.io",
        "pkg.crossplane.io",
        "protection.crossplane.io",
        "ops.crossplane.io",
    }
)
PROVIDER_GROUPS = {
    "helm.m.crossplane.io": versions.PROVIDER_HELM[0],
    "kubernetes.m.crossplane.io": versions.PROVIDER_KUBERNETES[0],
}
PINNED = {
    versions.PROVIDER_HELM[0]: versions.PROVIDER_HELM[1],
    versions.PROVIDER_KUBERNETES[0]: versions.PROVIDER_KUBERNETES[1],
    versions.PROVIDER_AWS_FAMILY: versions.PROVIDER_AWS_VERSION,
}
_AWS_GROUP = re.compile(r"^(?:(?P<family>[a-z0-9]+)\.)?aws\.m\.upbound\.io$")


@dataclass
class Contents:
    """The parsed documents of a package root (``path`` relative to the root)."""

    root: Path
    docs: list[tuple[str, dict[str, Any]]]

    @classmethod
    def load(cls, root: Path) -> Contents:
        docs = []
        for path in sorted(p for p in root.rglob("*") if p.suffix in (".yaml", ".yml")):
            rel = str(path.relative_to(root))
            docs += [(rel, doc) for doc in load_docs(path)]
        return cls(root, docs)

    @property
    def metas(self) -> list[dict[str, Any]]:
        return [d for _, d in self.docs if _group(d) == META_GROUP]

    @property
    def meta(self) -> dict[str, Any]:
        return self.metas[0] if self.metas else {}

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [d for _, d in self.docs if _group(d) != META_GROUP and d.get("kind") == kind]

    def dependencies(self, kind: str) -> list[dict[str, Any]]:
        """``dependsOn`` entries of one package kind (new or deprecated spelling)."""
        deps = self.meta.get("spec", {}).get("dependsOn") or []
        return [d for d in deps if d.get("kind") == kind or kind.lower() in d]


def _group(doc: dict[str, Any]) -> str:
    return str(doc.get("apiVersion", "")).rpartition("/")[0]


def dependency_package(dep: dict[str, Any]) -> str:
    """The repository a ``dependsOn`` entry names."""
    return str(dep.get("package") or dep.get("provider") or dep.get("function") or "")


def _name(doc: dict[str, Any]) -> str:
    return f"{doc.get('kind')} {doc.get('metadata', {}).get('name', '<unnamed>')}"


def meta_errors(contents: Contents, spec: PackageSpec) -> list[str]:
    """One ``crossplane.yaml`` of the right kind, with sound constraints and dependencies."""
    metas = contents.metas
    if len(metas) != 1:
        return [f"expected exactly one package meta object, found {len(metas)}"]
    meta = metas[0]
    errors = []
    if meta.get("apiVersion") != META_API_VERSION or meta.get("kind") != spec.kind:
        errors.append(
            f"meta is {meta.get('apiVersion')} {meta.get('kind')}, "
            f"expected {META_API_VERSION} {spec.kind}"
        )
    body = meta.get("spec") or {}
    constraint = (body.get("crossplane") or {}).get("version")
    if constraint != CROSSPLANE_CONSTRAINT:
        errors.append(
            f"spec.crossplane.version is {constraint!r}, expected {CROSSPLANE_CONSTRAINT!r}"
        )
    if spec.kind == "Function" and "composition" not in (body.get("capabilities") or []):
        errors.append("spec.capabilities must include 'composition' (the function composes)")
    for i, dep in enumerate(body.get("dependsOn") or []):
        where = f"spec.dependsOn[{i}]"
        if not (dep.get("apiVersion") and dep.get("kind") and dep.get("package")):
            errors.append(
                f"{where}: give apiVersion, kind and package (the other form is deprecated)"
            )
        try:
            Constraint.parse(str(dep.get("version", "")))
        except SemverError as exc:
            errors.append(f"{where}.version: {exc}")
    return errors


def kind_errors(contents: Contents, spec: PackageSpec) -> list[str]:
    """Only the kinds Crossplane's linter allows in this package type."""
    allowed = ALLOWED_KINDS[spec.kind]
    return [
        f"{path}: {doc.get('apiVersion')} {doc.get('kind')} is not allowed in a {spec.kind} "
        f"package (allowed: {', '.join(sorted(k for _, k in allowed))})"
        for path, doc in contents.docs
        if _group(doc) != META_GROUP and (doc.get("apiVersion"), doc.get("kind")) not in allowed
    ]


def composite_type_errors(contents: Contents, spec: PackageSpec) -> list[str]:
    """Every Composition composes an XRD of this package; every XRD has its Composition."""
    if spec.kind != "Configuration":
        return []
    xrds = {xrd_type(x): x for x in contents.of_kind("CompositeResourceDefinition")}
    compositions = contents.of_kind("Composition")
    errors = [] if xrds else ["the Configuration ships no XRD"]
    for comp in compositions:
        group, kind = composite_type(comp)
        version = comp.get("spec", {}).get("compositeTypeRef", {}).get("apiVersion", "")
        xrd = xrds.get((group, kind))
        if xrd is None:
            errors.append(f"{_name(comp)}: compositeTypeRef {version} {kind} has no XRD here")
            continue
        served = {
            f"{group}/{v['name']}"
            for v in xrd["spec"].get("versions", [])
            if v.get("served") and v.get("referenceable")
        }
        if version not in served:
            errors.append(f"{_name(comp)}: {version} is not a served, referenceable version")
    names = {c.get("metadata", {}).get("name") for c in compositions}
    for xrd in xrds.values():
        default = (xrd["spec"].get("defaultCompositionRef") or {}).get("name")
        if default not in names:
            errors.append(f"{_name(xrd)}: defaultCompositionRef {default!r} is not in the package")
    return errors


def function_ref_errors(contents: Contents) -> list[str]:
    """Every pipeline step calls the Function by the name Crossplane installs our dependency as."""
    compositions = contents.of_kind("Composition")
    if not compositions:
        return []
    deps = contents.dependencies("Function")
    if len(deps) != 1:
        return [f"expected one Function in spec.dependsOn, found {len(deps)}"]
    package = dependency_package(deps[0])
    expected = dependency_name(package)
    errors = []
    for comp in compositions:
        if comp.get("spec", {}).get("mode") != "Pipeline":
            errors.append(f"{_name(comp)}: mode must be Pipeline")
        for step in comp.get("spec", {}).get("pipeline") or []:
            ref = (step.get("functionRef") or {}).get("name")
            if ref != expected:
                errors.append(
                    f"{_name(comp)} step {step.get('step')!r}: functionRef {ref!r}, but Crossplane "
                    f"installs the dependency {package} as Function {expected!r}"
                )
    return errors


def provider_for(api_version: str) -> str | None:
    """The provider repository serving an apiVersion; None when Kubernetes or Crossplane does.

    ``aws.m.upbound.io`` (the AWS ProviderConfigs) is served by provider-family-aws,
    which every AWS family provider pulls in: it maps to the ``provider-aws-`` prefix.
    """
    group = api_version.rpartition("/")[0]
    if "." not in group or group.endswith(".k8s.io") or group in CROSSPLANE_GROUPS:
        return None
    if group in PROVIDER_GROUPS:
        return PROVIDER_GROUPS[group]
    m = _AWS_GROUP.match(group)
    if m:
        return f"{versions.PROVIDER_AWS_REPOSITORY}-{m['family'] or ''}"
    return f"<no known provider serves {group}>"


def provider_errors(contents: Contents, composed: Iterable[str]) -> list[str]:
    """Each composed apiVersion has its provider in ``dependsOn``; no provider is unused."""
    deps = {dependency_package(d) for d in contents.dependencies("Provider")}
    used: set[str] = set()
    errors = []
    for api_version in sorted(set(composed)):
        wanted = provider_for(api_version)
        if wanted is None:
            continue
        if wanted.endswith("-"):  # provider-family-aws comes with any AWS family provider
            if not any(d.startswith(wanted) for d in deps):
                errors.append(f"composes {api_version}, but no {wanted}* provider is a dependency")
        elif wanted in deps:
            used.add(wanted)
        else:
            errors.append(f"composes {api_version}, but no dependency provides it ({wanted})")
    if versions.PROVIDER_AWS_FAMILY in deps and any(
        d.startswith(f"{versions.PROVIDER_AWS_REPOSITORY}-") for d in used
    ):
        used.add(versions.PROVIDER_AWS_FAMILY)  # pinned beside the families that need it
    errors += [f"depends on {d}, but composes nothing it provides" for d in sorted(deps - used)]
    return errors


def version_errors(contents: Contents, spec: PackageSpec, version: str) -> list[str]:
    """Release labels, the Function and provider constraints, and versions.py agree."""
    errors = release.check(version)
    if errors:
        return errors
    channel = release.channel(version)
    for comp in contents.of_kind("Composition"):
        labels = comp.get("metadata", {}).get("labels") or {}
        if labels.get(LABEL_RELEASE) != version or labels.get(LABEL_CHANNEL) != channel:
            errors.append(
                f"{_name(comp)}: labels {LABEL_RELEASE}={labels.get(LABEL_RELEASE)!r}, "
                f"{LABEL_CHANNEL}={labels.get(LABEL_CHANNEL)!r}; expected {version!r}, {channel!r}"
            )
    constraint = (contents.meta.get("spec", {}).get("crossplane") or {}).get("version")
    crossplane = f"v{versions.CROSSPLANE.version.lstrip('v')}"
    if constraint and not _allows(constraint, crossplane):
        errors.append(
            f"crossplane.version {constraint!r} excludes the pinned Crossplane {crossplane}"
        )
    for dep in contents.dependencies("Function"):
        package = dependency_package(dep)
        if package != versions.FUNCTION_PACKAGE:
            errors.append(f"Function dependency {package}: expected {versions.FUNCTION_PACKAGE}")
        if dep.get("version") != f">={version}":
            errors.append(
                f"Function dependency version {dep.get('version')!r}: expected '>={version}'"
            )
    for dep in contents.dependencies("Provider"):
        errors += _provider_version_errors(dep)
    if (
        spec.kind == "Function"
        and channel == release.STABLE
        and version != versions.FUNCTION_VERSION
    ):
        errors.append(
            f"release {version} but versions.FUNCTION_VERSION is {versions.FUNCTION_VERSION}: "
            "bump it so that the self-management stack installs this release"
        )
    return errors


def _allows(constraint: str, version: str) -> bool:
    try:
        return Constraint.parse(constraint).allows(version)
    except SemverError:
        return False


def _provider_version_errors(dep: dict[str, Any]) -> list[str]:
    """A provider's constraint is exactly the version this release pins (and the stack
    installs): Crossplane installs the newest version a range allows, which the stack
    would then lower."""
    package = dependency_package(dep)
    pinned = PINNED.get(package)
    if pinned is None and package.startswith(f"{versions.PROVIDER_AWS_REPOSITORY}-"):
        pinned = versions.PROVIDER_AWS_VERSION
    if pinned is None:
        return [f"Provider dependency {package} is not pinned in forge/versions.py"]
    if dep.get("version") != pinned:
        return [
            f"Provider dependency {package} version {dep.get('version')!r}: must be exactly "
            f"the pinned {pinned!r} (forge/versions.py)"
        ]
    return []


def verify(root: Path, spec: PackageSpec, version: str) -> list[str]:
    """Every check that needs only the files, prefixed with the package name."""
    contents = Contents.load(root)
    errors = (
        meta_errors(contents, spec)
        + kind_errors(contents, spec)
        + composite_type_errors(contents, spec)
        + function_ref_errors(contents)
        + version_errors(contents, spec, version)
    )
    return [f"{spec.name}: {e}" for e in errors]
