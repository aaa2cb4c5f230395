"""EnvironmentConfig support: ask Crossplane for it, merge it under the XR.

Precedence, lowest first: the EnvironmentConfigs (sorted by name, later wins),
then the XR's own spec. A composer declares which environment keys feed which
spec fields; only those are used, so an environment cannot inject arbitrary spec.
Every call says which EnvironmentConfigs it read, or which selector matched none: an
EnvironmentConfig without the selected label is otherwise dropped without a word.

What only the platform chooses (Argo CD's namespace, tenancy) is read from the platform's
EnvironmentConfigs alone: those the Composition's step input selects. An XR that names
its own (``spec.environmentConfigRef``) gets its defaults from that one, and the
platform's are asked for beside it (``PLATFORM_REQUIREMENT``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import crossplane.function.proto.v1.run_function_pb2 as fnv1
from crossplane.function import resource, response

from forge.core.cache import ByteBoundedCache

REQUIREMENT = "environment-configs"
# The Composition's own selection, asked for separately when an XR names another one:
# what only the platform decides (tenancy) is read from there, never from the XR's choice.
PLATFORM_REQUIREMENT = "platform-environment-configs"
API_VERSION = "apiextensions.crossplane.io/v1beta1"
KIND = "EnvironmentConfig"
REASON = "EnvironmentConfigSelection"  # the event reason of what report() says
# Selections already converted, by their bytes: converting a large EnvironmentConfig (a
# long tenancy list) costs milliseconds, and the same one comes back on every call.
CACHE_BYTES = 16 * 1024 * 1024
_SELECTIONS = ByteBoundedCache(CACHE_BYTES)


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Merge ``override`` into a copy of ``base``; nested mappings merge, the rest replace."""
    merged = dict(base)
    for key, value in override.items():
        current = merged.get(key)
        if isinstance(current, Mapping) and isinstance(value, Mapping):
            merged[key] = deep_merge(current, value)
        else:
            merged[key] = value
    return merged


def lookup(data: Mapping[str, Any], dotted: str) -> Any:
    """The value at a dotted key (``argocd.roleArn``), or None when any part is missing."""
    current: Any = data
    for part in dotted.split("."):
        if not isinstance(current, Mapping) or part not in current:
            return None
        current = current[part]
    return current


def defaults_from(env: Mapping[str, Any], mapping: Mapping[str, str]) -> dict[str, Any]:
    """Build a spec fragment from environment data: ``{spec.path: env.key}``."""
    fragment: dict[str, Any] = {}
    for spec_path, env_key in mapping.items():
        value = lookup(env, env_key)
        if value is None:
            continue
        target = fragment
        *parents, leaf = spec_path.split(".")
        for part in parents:
            target = target.setdefault(part, {})
        target[leaf] = value
    return fragment


@dataclass(frozen=True)
class Selector:
    """How the EnvironmentConfigs are selected, and where that choice was made."""

    name: str | None
    labels: Mapping[str, str] | None
    source: str  # the field that chose it, for messages

    def describe(self) -> str:
        """``name 'dev' (spec...)`` or ``label k=v (the Composition's ...)``, for messages."""
        if self.name:
            return f"name {self.name!r} ({self.source})"
        pairs = ",".join(f"{k}={v}" for k, v in sorted((self.labels or {}).items()))
        return f"label{'s' if len(self.labels or {}) > 1 else ''} {pairs} ({self.source})"


def request(
    rsp: fnv1.RunFunctionResponse, selector: Selector, requirement: str = REQUIREMENT
) -> None:
    """Ask for the environment's EnvironmentConfigs, the same way on every call."""
    if selector.name:
        response.require_resources(rsp, requirement, API_VERSION, KIND, match_name=selector.name)
    elif selector.labels:
        labels = dict(selector.labels)
        response.require_resources(rsp, requirement, API_VERSION, KIND, match_labels=labels)


@dataclass(frozen=True)
class Selection:
    """The EnvironmentConfigs Crossplane sent for one requirement: their names in order,
    their ``data`` merged (shared between calls: read it, never change it), and ``key``,
    their bytes (equal keys, equal selections)."""

    names: tuple[str, ...]
    data: Mapping[str, Any]
    key: bytes


NONE_SELECTED = Selection((), {}, b"")


def selected(req: fnv1.RunFunctionRequest, requirement: str = REQUIREMENT) -> Selection | None:
    """The EnvironmentConfigs Crossplane sent; None before it has answered."""
    if requirement not in req.required_resources:
        return None
    items = req.required_resources[requirement].items
    key = b"".join(
        len(encoded).to_bytes(8, "big") + encoded
        for encoded in (i.resource.SerializeToString(deterministic=True) for i in items)
    )
    found = _SELECTIONS.get((key,))
    if found is None:
        configs = sorted(
            (resource.struct_to_dict(item.resource) for item in items),
            key=lambda c: c.get("metadata", {}).get("name", ""),
        )
        names = tuple(c.get("metadata", {}).get("name", "") for c in configs)
        found = Selection(names, merged_data(configs), key)
        _SELECTIONS.put((key,), found, size=3 * len(key))  # the key, the dicts
    return found


def merged_data(configs: list[dict[str, Any]]) -> dict[str, Any]:
    """The ``data`` of the EnvironmentConfigs, merged in order (later wins)."""
    data: dict[str, Any] = {}
    for config in configs:
        data = deep_merge(data, config.get("data") or {})
    return data


def none_selected(selector: Selector) -> str:
    """Why no EnvironmentConfig was read: the selector that matched nothing."""
    message = f"no EnvironmentConfig matched {selector.describe()}, so none was read"
    if selector.labels and not selector.name:
        message += (
            "; one without that label is not selected: label it, or name it in "
            "spec.environmentConfigRef.name"
        )
    return message


def report(rsp: fnv1.RunFunctionResponse, selector: Selector, names: tuple[str, ...]) -> None:
    """Say which EnvironmentConfigs were read, or which selector matched none.

    A missing named one is a Warning (the user named it); an empty label selection is
    Normal, as an environment without EnvironmentConfigs is legitimate.
    """
    result = rsp.results.add(severity=fnv1.SEVERITY_NORMAL, reason=REASON)
    if names:
        plural = "s" if len(names) > 1 else ""
        result.message = (
            f"read EnvironmentConfig{plural} {', '.join(names)}, selected by {selector.describe()}"
        )
    else:
        result.message = none_selected(selector)
        if selector.name:
            result.severity = fnv1.SEVERITY_WARNING
