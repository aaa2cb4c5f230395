"""SchemaStore: finds the schema of any object we emit and validates it.

CRDs are indexed by file name (``<group>_<plural>.yaml``) and parsed only when a kind of
that group is first asked for, so a test run pays for the few providers it touches. Core
kinds without a CRD use the hand-written schemas of ``builtin.py``. A kind with no schema is
an error (never a silent skip): the message says which pinned file is missing or how to add
the CRD.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from forge_dev.schemas import yamlio
from forge_dev.schemas.apiserver import crd_for_xrd
from forge_dev.schemas.builtin import BUILTIN_KINDS
from forge_dev.schemas.helm import HelmCharts
from forge_dev.schemas.objectmeta import NameRule
from forge_dev.schemas.sources import (
    HOW_TO,
    SchemaSourceError,
    missing_files,
    missing_summary,
    resolve_schema_root,
)
from forge_dev.schemas.structural import CelRule, cel_rules, validate_resource

_CRD_FILE = re.compile(r"^(?P<group>[a-z0-9.-]+)_(?P<plural>[a-z0-9-]+)\.ya?ml$")


class SchemaValidationError(AssertionError):
    """An object failed schema validation; the message lists every error."""


@dataclass(frozen=True)
class KindSchema:
    """The schema serving one apiVersion/kind, and where it came from."""

    api_version: str
    kind: str
    schema: Mapping[str, Any]
    namespaced: bool
    served: bool = True
    name_rule: NameRule = "subdomain"
    source: str = ""


def split_api_version(api_version: str) -> tuple[str, str]:
    """``group/version`` -> (group, version); the core group is ``""``."""
    group, _, version = api_version.rpartition("/")
    return group, version


def describe(obj: Any) -> str:
    """``apiVersion kind/name`` of an object, for messages."""
    if not isinstance(obj, Mapping):
        return f"<{type(obj).__name__}>"
    meta = obj.get("metadata") if isinstance(obj.get("metadata"), Mapping) else {}
    name = meta.get("name") or meta.get("generateName") or "<unnamed>"
    ns = f"{meta['namespace']}/" if meta.get("namespace") else ""
    return f"{obj.get('apiVersion')} {obj.get('kind')} {ns}{name}"


class SchemaStore:
    """All schemas under one root (``crds/``, ``charts/``) plus built-in and added ones."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        if not (self.root / "crds").is_dir():
            raise SchemaSourceError(
                f"schema root {self.root} has no crds/ directory ({missing_summary(self.root)}); "
                f"{HOW_TO}"
            )
        self._kinds: dict[tuple[str, str], KindSchema] = {
            key: KindSchema(key[0], key[1], b.schema, b.namespaced, True, b.name_rule, "builtin")
            for key, b in BUILTIN_KINDS.items()
        }
        self._group_files: dict[str, list[Path]] = {}
        self._loaded_groups: dict[str, list[Path]] = {}
        self._other_files: list[Path] = []
        for path in sorted((self.root / "crds").rglob("*.y*ml")):
            m = _CRD_FILE.match(path.name)
            if m:
                self._group_files.setdefault(m["group"], []).append(path)
            else:
                self._other_files.append(path)
        self.helm = HelmCharts(self.root)

    @classmethod
    def default(cls) -> SchemaStore:
        """The store at the resolved schema root (see ``sources.resolve_schema_root``)."""
        return cls(resolve_schema_root())

    # -- registering -------------------------------------------------------------------

    def add_crd(self, crd: Mapping[str, Any], source: str = "added") -> None:
        """Register every version of a CustomResourceDefinition (overrides earlier ones)."""
        spec = crd["spec"]
        namespaced = spec.get("scope", "Namespaced") == "Namespaced"
        for v in spec.get("versions") or []:
            schema = ((v.get("schema") or {}).get("openAPIV3Schema")) or {}
            api_version = f"{spec['group']}/{v['name']}"
            self._kinds[(api_version, spec["names"]["kind"])] = KindSchema(
                api_version,
                spec["names"]["kind"],
                schema,
                namespaced,
                bool(v.get("served", True)),
                source=source,
            )

    def add_xrd(self, xrd: Mapping[str, Any]) -> None:
        """Register the CRD Crossplane generates for an XRD (its own conversion, via forge-xp)."""
        self.add_crd(crd_for_xrd(xrd), source=f"XRD {xrd['metadata']['name']}")

    def _load(self, paths: Iterable[Path]) -> None:
        for path in paths:
            for doc in yamlio.load_all(path.read_text(encoding="utf-8")):
                if isinstance(doc, Mapping) and doc.get("kind") == "CustomResourceDefinition":
                    self.add_crd(doc, source=str(path))

    # -- looking up --------------------------------------------------------------------

    def lookup(self, api_version: str, kind: str) -> KindSchema:
        """The schema for apiVersion/kind, or SchemaSourceError saying how to get it."""
        key = (api_version, kind)
        if key in self._kinds:
            return self._kinds[key]
        group, version = split_api_version(api_version)
        if group in self._group_files:
            files = self._group_files.pop(group)
            self._loaded_groups[group] = files
            self._load(files)
        elif self._other_files:
            files, self._other_files = self._other_files, []
            self._load(files)
        if key in self._kinds:
            return self._kinds[key]
        raise SchemaSourceError(self._unknown_message(api_version, kind, group, version))

    def _unknown_message(self, api_version: str, kind: str, group: str, version: str) -> str:
        same_kind = sorted(av for av, k in self._kinds if k == kind)
        if same_kind:
            return (
                f"{api_version} {kind}: no such version; the schemas know {kind} as "
                f"{', '.join(same_kind)}"
            )
        if not group:
            known = ", ".join(sorted(k for av, k in BUILTIN_KINDS if av == "v1"))
            return (
                f"{api_version} {kind}: core kind without a built-in schema (built-in: {known}); "
                "add one to forge/schemas/builtin.py"
            )
        if group in self._loaded_groups:
            kinds = sorted({k for av, k in self._kinds if split_api_version(av)[0] == group})
            files = ", ".join(str(p) for p in self._loaded_groups[group])
            return (
                f"{api_version} {kind}: group {group} has no kind {kind} (its CRDs: {files}; "
                f"kinds: {', '.join(kinds)}); pin the missing CRD in "
                f"forge/schemas/sources.lock.yaml, then {HOW_TO}"
            )
        missing = [m for m in missing_files(self.root, "crds/") if f"/{group}_" in m]
        if missing:
            files = ", ".join(str(self.root / m) for m in missing)
            return f"{api_version} {kind}: schema file missing: {files}; {HOW_TO}"
        return (
            f"{api_version} {kind}: no CRD for group {group} under {self.root / 'crds'}; "
            f"{HOW_TO}, or pin the CRD in forge/schemas/sources.lock.yaml, or register it with "
            "SchemaStore.add_crd()/add_xrd()"
        )

    def cel_rules(self, api_version: str, kind: str) -> list[CelRule]:
        """The CEL rules (x-kubernetes-validations) of a kind; they are not evaluated here."""
        return cel_rules(self.lookup(api_version, kind).schema)

    # -- validating --------------------------------------------------------------------

    def validate(self, obj: Any) -> list[str]:
        """Every schema error of one Kubernetes object (empty list when valid)."""
        if not isinstance(obj, Mapping):
            return ["(root): must be an object"]
        api_version, kind = obj.get("apiVersion"), obj.get("kind")
        errors = [
            f"{field}: required field missing"
            for field, value in (("apiVersion", api_version), ("kind", kind))
            if not isinstance(value, str) or not value
        ]
        if errors:
            return errors
        try:
            ks = self.lookup(api_version, kind)
        except SchemaSourceError as exc:
            return [str(exc)]
        if not ks.served:
            return [f"apiVersion: {api_version} {kind} is not served by its CRD ({ks.source})"]
        errors = validate_resource(ks.schema, obj, ks.name_rule)
        meta = obj.get("metadata")
        if not ks.namespaced and isinstance(meta, Mapping) and meta.get("namespace"):
            errors.append(f"metadata.namespace: must not be set, {kind} is cluster-scoped")
        return errors

    def assert_valid(self, obj: Any) -> None:
        """Raise SchemaValidationError listing every error of ``obj``."""
        errors = self.validate(obj)
        if errors:
            raise SchemaValidationError(
                f"{describe(obj)} is invalid:\n" + "\n".join(f"  - {e}" for e in errors)
            )

    def validate_file(self, path: Path | str) -> list[str]:
        """Errors of every document of a (multi-document) YAML file, prefixed by document."""
        errors: list[str] = []
        text = Path(path).read_text(encoding="utf-8")
        for i, doc in enumerate(yamlio.load_all(text)):
            if doc is None:
                continue
            errors += [f"{path}#{i} {describe(doc)}: {e}" for e in self.validate(doc)]
        return errors

    # -- Helm --------------------------------------------------------------------------

    def validate_helm_values(
        self, chart: str, version: str, values: Mapping[str, Any]
    ) -> list[str]:
        """Errors of Helm values for chart/version, checked the way ``helm install`` does."""
        return self.helm.validate(chart, version, values)

    def has_values_schema(self, chart: str, version: str) -> bool:
        """Whether the chart ships values.schema.json (else only merge-level checks happen)."""
        return self.helm.has_values_schema(chart, version)
