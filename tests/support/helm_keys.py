"""Catch typos in Helm values for charts that ship no values.schema.json.

Helm accepts any key when a chart has no schema, so a misspelt key is silently
ignored. Every key path we set must therefore exist in the chart's own
values.yaml, except below a key whose default is free-form (an empty map, null
or a list: the chart documents it as "put anything here"), or a path the chart
documents outside values.yaml (``extra``, e.g. Istio's ``profile``).

Istio's charts nest every default under ``_internal_defaults_do_not_set`` while
users set the same keys at the top level; that nesting is looked through.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

ISTIO_DEFAULTS_KEY = "_internal_defaults_do_not_set"


def unknown_keys(
    defaults: Mapping[str, Any], values: Mapping[str, Any], *, extra: Iterable[str] = ()
) -> list[str]:
    """Dotted paths in ``values`` that ``defaults`` (a values.yaml) does not know."""
    if set(defaults) == {ISTIO_DEFAULTS_KEY}:
        defaults = defaults[ISTIO_DEFAULTS_KEY] or {}
    allowed = set(extra)
    problems: list[str] = []
    _walk(defaults, values, "", allowed, problems)
    return problems


def _walk(
    defaults: Any, values: Mapping[str, Any], prefix: str, allowed: set[str], out: list[str]
) -> None:
    for key, value in values.items():
        path = f"{prefix}{key}"
        if path in allowed:
            continue
        if not isinstance(defaults, Mapping) or key not in defaults:
            out.append(f"{path}: not in the chart's values.yaml")
            continue
        default = defaults[key]
        if isinstance(value, Mapping) and isinstance(default, Mapping) and default:
            _walk(default, value, f"{path}.", allowed, out)
        elif isinstance(value, Mapping) and default is not None and not _free_form(default):
            out.append(f"{path}: a map here, but values.yaml has {type(default).__name__}")


def _free_form(default: Any) -> bool:
    """An empty map or a list default: the chart takes whatever is put there."""
    return (isinstance(default, Mapping) and not default) or isinstance(default, list)


def assert_known_keys(
    schema_store: Any,
    chart: str,
    version: str,
    values: Mapping[str, Any],
    *,
    extra: Iterable[str] = (),
) -> None:
    """Fail listing every key path of ``values`` unknown to the chart's values.yaml."""
    defaults = schema_store.helm.load(chart, version).defaults
    problems = unknown_keys(defaults, values, extra=extra)
    assert not problems, f"{chart} {version}: unknown values keys:\n  " + "\n  ".join(problems)
