"""Helm values validation done the way ``helm install`` does it (Helm v3.21).

Helm validates the *coalesced* values, not ours alone: the chart's values.yaml deep-merged
under ours (maps merge, a user ``null`` deletes a default, other user values replace), then
each enabled subchart's section (``values[<alias or name>]`` merged over the subchart's own
values.yaml, plus ``global``) against that subchart's schema. Ported from helm
``pkg/chartutil/{coalesce,dependencies,jsonschema}.go``. The JSON Schema dialect follows
``$schema``; without one (or with the draft-less ``http://json-schema.org/schema#``) Helm's
validator (santhosh-tekuri/jsonschema v6) uses draft 2020-12, and so do we. ``format`` is
not asserted, as in Helm.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
from jsonschema.exceptions import ValidationError, best_match

from forge_dev.schemas import yamlio
from forge_dev.schemas.sources import HOW_TO, SchemaSourceError, missing_files

Values = dict[str, Any]

_DIALECTS: dict[str, type[Any]] = {
    "json-schema.org/schema": jsonschema.Draft202012Validator,
    "json-schema.org/draft/2020-12/schema": jsonschema.Draft202012Validator,
    "json-schema.org/draft/2019-09/schema": jsonschema.Draft201909Validator,
    "json-schema.org/draft-07/schema": jsonschema.Draft7Validator,
    "json-schema.org/draft-06/schema": jsonschema.Draft6Validator,
    "json-schema.org/draft-04/schema": jsonschema.Draft4Validator,
}
DEFAULT_DIALECT = jsonschema.Draft202012Validator


@dataclass
class Chart:
    """A chart's Chart.yaml, default values, schema and local subcharts."""

    name: str
    path: Path
    meta: Mapping[str, Any]
    defaults: Values
    schema: Mapping[str, Any] | None
    subcharts: dict[str, Chart] = field(default_factory=dict)  # by Chart.yaml name
    _validator: Any = None

    def validator(self) -> Any:
        """The jsonschema validator for this chart's schema (built once)."""
        if self._validator is None and self.schema is not None:
            uri = str(self.schema.get("$schema", "")).split("#")[0]
            uri = uri.removeprefix("http://").removeprefix("https://")
            cls = _DIALECTS.get(uri, DEFAULT_DIALECT) if uri else DEFAULT_DIALECT
            self._validator = cls(self.schema)
        return self._validator


def load_chart(path: Path) -> Chart:
    """Read a chart directory (Chart.yaml, values.yaml, values.schema.json, charts/*)."""
    meta = yamlio.load_file(path / "Chart.yaml") or {}
    values_file = path / "values.yaml"
    defaults = (yamlio.load_file(values_file) if values_file.is_file() else None) or {}
    schema_file = path / "values.schema.json"
    schema = json.loads(schema_file.read_text("utf-8")) if schema_file.is_file() else None
    chart = Chart(str(meta.get("name", path.name)), path, meta, defaults, schema)
    sub_root = path / "charts"
    if sub_root.is_dir():
        for sub in sorted(p for p in sub_root.iterdir() if (p / "Chart.yaml").is_file()):
            loaded = load_chart(sub)
            chart.subcharts[loaded.name] = loaded
    return chart


# -- coalescing (pkg/chartutil/coalesce.go) ---------------------------------------------


def coalesce_tables(dst: Values, src: Values, merge: bool = False) -> Values:
    """Merge defaults ``src`` into user map ``dst`` (``coalesceTablesFullKey``)."""
    src_non_nil = {k for k, v in src.items() if v is not None}
    for key, val in dst.items():
        if val is None:
            src[key] = None
    for key, val in src.items():
        if key in dst and not merge and dst[key] is None and key in src_non_nil:
            del dst[key]
        elif key not in dst:
            dst[key] = val
        elif isinstance(val, dict) and isinstance(dst[key], dict):
            coalesce_tables(dst[key], val, merge)
    return dst


def _coalesce_values(defaults: Values, v: Values, children: set[str]) -> None:
    """Top level of ``coalesceValues``: a user null deletes, maps merge, user wins."""
    for key, dval in copy.deepcopy(defaults).items():
        if key not in v:
            v[key] = dval
        elif v[key] is None:
            del v[key]
        elif isinstance(v[key], dict) and isinstance(dval, dict):
            coalesce_tables(v[key], dval, merge=key in children)


def _coalesce_globals(dest: Values, src: Values) -> None:
    dg, sg = dest.get("global", {}), src.get("global", {})
    if not isinstance(dg, dict) or not isinstance(sg, dict):
        return
    for key, val in sg.items():
        if isinstance(val, dict):
            vv = dict(val)
            if key not in dg:
                dg[key] = vv
            elif isinstance(dg[key], dict):
                coalesce_tables(vv, dg[key], merge=True)
                dg[key] = vv
        elif not isinstance(dg.get(key), dict):
            dg[key] = val
    dest["global"] = dg


@dataclass
class _Dep:
    alias: str
    chart: Chart | None  # None: a remote dependency whose files we do not have
    condition: str = ""
    tags: list[str] = field(default_factory=list)


def _deps(chart: Chart) -> list[_Dep]:
    listed = chart.meta.get("dependencies") or []
    names = {d.get("name") for d in listed}
    deps = [_Dep(n, c) for n, c in chart.subcharts.items() if n not in names]
    for d in listed:
        deps.append(
            _Dep(
                d.get("alias") or d["name"],
                chart.subcharts.get(d["name"]),
                str(d.get("condition") or ""),
                list(d.get("tags") or []),
            )
        )
    return deps


def coalesce(chart: Chart, values: Mapping[str, Any], deps: list[_Dep] | None = None) -> Values:
    """Helm's ``CoalesceValues``: user ``values`` over the chart's and its subcharts' defaults."""
    deps = _deps(chart) if deps is None else deps
    v: Values = copy.deepcopy(dict(values))
    _coalesce_values(chart.defaults, v, {d.alias for d in deps})
    for dep in deps:
        if dep.chart is None:
            continue
        if dep.alias not in v:
            v[dep.alias] = {}
        if not isinstance(v[dep.alias], dict):
            raise TypeError(f"type mismatch on {dep.alias}: {v[dep.alias]!r}")
        _coalesce_globals(v[dep.alias], v)
        v[dep.alias] = coalesce(dep.chart, v[dep.alias])
    return v


# -- dependency conditions (pkg/chartutil/dependencies.go) ------------------------------


def _path_value(values: Mapping[str, Any], dotted: str) -> tuple[bool, Any]:
    cur: Any = values
    for part in dotted.split("."):
        if not isinstance(cur, Mapping) or part not in cur:
            return False, None
        cur = cur[part]
    return True, cur


def enabled_deps(chart: Chart, values: Mapping[str, Any], prefix: str = "") -> list[_Dep]:
    """Dependencies left after Helm's tags and ``condition`` checks on coalesced values."""
    deps = _deps(chart)
    cvals = coalesce(chart, values, deps)
    tags = cvals.get("tags") if isinstance(cvals.get("tags"), Mapping) else None
    kept = []
    for dep in deps:
        enabled = True
        if tags is not None and dep.tags:
            flags = [tags[t] for t in dep.tags if isinstance(tags.get(t), bool)]
            enabled = any(flags) or not flags
        for cond in (c.strip() for c in dep.condition.split(",")):
            found, val = _path_value(cvals, prefix + cond) if cond else (False, None)
            if found and isinstance(val, bool):
                enabled = val
                break
        if enabled:
            kept.append(dep)
    return kept


# -- validation (pkg/chartutil/jsonschema.go) -------------------------------------------


def _format(err: ValidationError, label: str) -> str:
    path = ".".join(str(p) for p in err.absolute_path) or "(root)"
    detail = ""
    if err.context:
        deepest = best_match(err.context)
        sub = ".".join(str(p) for p in deepest.absolute_path) or "(root)"
        detail = f" (closest: {sub}: {deepest.message})"
    return f"{label}: {path}: {err.message}{detail}"


def schema_errors(chart: Chart, values: Mapping[str, Any], label: str) -> list[str]:
    """``ValidateAgainstSchema``: this chart's schema, then each enabled subchart's."""
    errors: list[str] = []
    if chart.schema is not None:
        found = sorted(
            chart.validator().iter_errors(values), key=lambda e: [str(p) for p in e.absolute_path]
        )
        errors += [_format(e, label) for e in found]
    for dep in enabled_deps(chart, values):
        raw = values.get(dep.alias)
        if dep.chart is None or raw is None:
            continue
        if not isinstance(raw, Mapping):
            errors.append(
                f"{label}.{dep.alias}: values must be an object, got {type(raw).__name__}"
            )
            continue
        errors += schema_errors(dep.chart, raw, f"{label}.{dep.alias}")
    return errors


class HelmCharts:
    """The charts under ``<root>/charts/<chart>/<version>/``, loaded on first use."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._charts: dict[tuple[str, str], Chart] = {}

    def load(self, chart: str, version: str) -> Chart:
        """The chart, or SchemaSourceError naming what is missing and how to get it."""
        key = (chart, version)
        if key not in self._charts:
            path = self.root / "charts" / chart / version
            if not (path / "Chart.yaml").is_file():
                raise SchemaSourceError(self._missing_message(chart, version, path))
            self._charts[key] = load_chart(path)
        return self._charts[key]

    def _missing_message(self, chart: str, version: str, path: Path) -> str:
        missing = missing_files(self.root, f"charts/{chart}/{version}/")
        if missing:
            files = ", ".join(str(self.root / m) for m in missing)
            return f"Helm chart {chart} {version}: schema files missing: {files}; {HOW_TO}"
        have = sorted(p.name for p in (self.root / "charts" / chart).glob("*") if p.is_dir())
        return (
            f"Helm chart {chart} {version}: not in the schema store ({path} does not exist; "
            f"versions present: {', '.join(have) or 'none'}); pin its Chart.yaml, values.yaml "
            f"and values.schema.json in forge/schemas/sources.lock.yaml, then {HOW_TO}"
        )

    def has_values_schema(self, chart: str, version: str) -> bool:
        """Whether the chart has values.schema.json; without it only merging is checked."""
        return self.load(chart, version).schema is not None

    def coalesced(self, chart: str, version: str, values: Mapping[str, Any]) -> Values:
        """The values Helm would render with (defaults merged, disabled subcharts left out)."""
        c = self.load(chart, version)
        return coalesce(c, values, enabled_deps(c, values))

    def unchecked_dependencies(
        self, chart: str, version: str, values: Mapping[str, Any]
    ) -> list[str]:
        """Enabled dependencies whose files are not in the store (remote charts)."""
        return [d.alias for d in enabled_deps(self.load(chart, version), values) if d.chart is None]

    def validate(self, chart: str, version: str, values: Mapping[str, Any]) -> list[str]:
        """Every schema error of ``values`` for chart/version (empty when valid)."""
        try:
            c = self.load(chart, version)
            merged = coalesce(c, values, enabled_deps(c, values))
        except SchemaSourceError as exc:
            return [str(exc)]
        except TypeError as exc:
            return [f"{chart}: {exc}"]
        return schema_errors(c, merged, chart)
