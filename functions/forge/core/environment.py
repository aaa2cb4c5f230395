"""EnvironmentConfig support: ask Crossplane for it, merge it under the XR.

Precedence, lowest first: the shared EnvironmentConfigs (sorted by name, later wins),
the XR's own environment's, then the XR's own spec. A composer declares which
environment keys feed which spec fields; only those are used, so an environment cannot
inject arbitrary spec.
Every call says which EnvironmentConfigs it read, or which selector matched none: an
EnvironmentConfig without the selected label is otherwise dropped without a word.

What only the platform chooses (Argo CD's namespace, tenancy) is read from the platform's
EnvironmentConfigs alone: those the Composition's step input selects. An XR that names
its own (``spec.environmentConfigRef``) gets its defaults from that one, and the
platform's are asked for beside it (``PLATFORM_REQUIREMENT``).

Each EnvironmentConfig the Composition selects belongs to the environment its
``ENVIRONMENT_LABEL`` names; one without it is shared. An XR with a ``Scope`` (a
Cluster: its environment is its name) reads the shared ones and its environment's,
never another environment's, and the keys of one environment (``Scope.keys``) from its
environment's alone. An XR without one (the bundle, PlatformCluster: nobody chooses
their environment, so no tenant can) reads the shared ones alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import crossplane.function.proto.v1.run_function_pb2 as fnv1
from crossplane.function import resource, response

from forge.core.cache import ByteBoundedCache
from forge.versions import GROUP

REQUIREMENT = "environment-configs"
# The Composition's own selection, asked for separately when an XR names another one:
# what only the platform decides (tenancy) is read from there, never from the XR's choice.
PLATFORM_REQUIREMENT = "platform-environment-configs"
API_VERSION = "apiextensions.crossplane.io/v1beta1"
KIND = "EnvironmentConfig"
REASON = "EnvironmentConfigSelection"  # the event reason of what report() says
# The label that puts an EnvironmentConfig in one environment (the Argo CD cluster Secret
# of a Cluster carries it too, with the Cluster's name).
ENVIRONMENT_LABEL = f"{GROUP}/environment"
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
class Scope:
    """The environment an XR belongs to, and the keys only that environment's
    EnvironmentConfig may set (a shared one setting them is ambiguous)."""

    name: str
    keys: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Selection:
    """The EnvironmentConfigs read for one requirement: their names in order, their
    ``data`` merged (shared between calls: read it, never change it), ``key``, their
    bytes and the scope (equal keys, equal selections), the environment read for, those
    left out as other environments', and what was ambiguous (Warning results)."""

    names: tuple[str, ...]
    data: Mapping[str, Any]
    key: bytes
    environment: str | None = None
    left_out: tuple[str, ...] = ()
    ambiguous: tuple[str, ...] = ()


NONE_SELECTED = Selection((), {}, b"")
# The scope of a selection the XR made itself (spec.environmentConfigRef): all it names.
EVERYTHING = Scope("")


def selected(
    req: fnv1.RunFunctionRequest, requirement: str = REQUIREMENT, scope: Scope | None = None
) -> Selection | None:
    """The EnvironmentConfigs Crossplane sent, as ``scope`` reads them (None: the
    shared ones alone; ``EVERYTHING``: all of them); None before Crossplane has answered."""
    if requirement not in req.required_resources:
        return None
    items = req.required_resources[requirement].items
    key = b"".join(
        len(encoded).to_bytes(8, "big") + encoded
        for encoded in (i.resource.SerializeToString(deterministic=True) for i in items)
    )
    if scope is not EVERYTHING:
        key += repr(scope).encode()  # another scope reads another Selection
    found = _SELECTIONS.get((key,))
    if found is None:
        configs = sorted(
            (resource.struct_to_dict(item.resource) for item in items),
            key=lambda c: c.get("metadata", {}).get("name", ""),
        )
        found = _read(configs, key, scope)
        _SELECTIONS.put((key,), found, size=3 * len(key))  # the key, the dicts
    return found


def _name(config: Mapping[str, Any]) -> str:
    return str(config.get("metadata", {}).get("name", ""))


def _environment_of(config: Mapping[str, Any]) -> str | None:
    """The environment an EnvironmentConfig is labelled for; None: it is shared."""
    labels = config.get("metadata", {}).get("labels")
    value = labels.get(ENVIRONMENT_LABEL) if isinstance(labels, Mapping) else None
    return None if value is None else str(value)


def _read(configs: list[dict[str, Any]], key: bytes, scope: Scope | None) -> Selection:
    """What ``scope`` reads of ``configs`` (sorted by name): the shared ones, then its
    environment's (labelled for it; else, unlabelled, named after it), merged in name
    order; one environment's keys only from its environment's."""
    if scope is EVERYTHING:
        return Selection(tuple(_name(c) for c in configs), merged_data(configs), key)
    shared = [c for c in configs if _environment_of(c) is None]
    left_out = tuple(_name(c) for c in configs if _environment_of(c) is not None)
    if scope is None:
        return Selection(tuple(_name(c) for c in shared), merged_data(shared), key, None, left_out)
    own = [c for c in configs if _environment_of(c) == scope.name]
    left_out = tuple(n for n in left_out if n not in {_name(c) for c in own})
    if not own:  # one named after the environment, labelled for none (the earlier contract)
        own = [c for c in shared if _name(c) == scope.name]
        shared = [c for c in shared if _name(c) != scope.name]
    ambiguous: list[str] = []
    if len(own) > 1:
        names = [_name(c) for c in own]
        ambiguous.append(
            f"EnvironmentConfigs {', '.join(names)} are all labelled {ENVIRONMENT_LABEL}="
            f"{scope.name}: their data merge in name order ({names[-1]} wins); keep one "
            f"EnvironmentConfig per environment"
        )
    shared_data: dict[str, Any] = {}
    for config in shared:
        data = dict(config.get("data") or {})
        scoped = sorted(k for k in scope.keys if lookup(data, k) is not None)
        if scoped:
            ambiguous.append(
                f"EnvironmentConfig {_name(config)} is labelled for no environment, so its "
                f"{', '.join(scoped)} (the keys of one environment) are not read for "
                f"environment {scope.name}: label it {ENVIRONMENT_LABEL}=<its environment>, "
                "or move them to environment "
                f"{scope.name}'s EnvironmentConfig"
            )
            data = _without(data, scoped)
        shared_data = deep_merge(shared_data, data)
    data = deep_merge(shared_data, merged_data(own))
    names = tuple(_name(c) for c in [*shared, *own])
    return Selection(names, data, key, scope.name, left_out, tuple(ambiguous))


def _without(data: Mapping[str, Any], dotted_keys: list[str]) -> dict[str, Any]:
    """A copy of ``data`` without the values at ``dotted_keys`` (``argocd.roleArn``)."""
    copy = dict(data)
    for dotted in dotted_keys:
        *parents, leaf = dotted.split(".")
        target = copy
        for part in parents:
            target[part] = dict(target[part])
            target = target[part]
        target.pop(leaf, None)
    return copy


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


def why_none_read(selector: Selector, found: Selection) -> str:
    """Why ``found`` holds no EnvironmentConfig: none matched, or those that matched are
    other environments' (an error that blames the environment says so)."""
    if found.left_out:
        return (
            f"those selected by {selector.describe()} ({', '.join(found.left_out)}) are "
            f"labelled {ENVIRONMENT_LABEL} for {_other_environments(found)}"
        )
    return f"none matched {selector.describe()}"


def _other_environments(found: Selection) -> str:
    if found.environment is None:
        return "an environment, and this XR reads only shared ones"
    return f"environments other than {found.environment}"


def report(rsp: fnv1.RunFunctionResponse, selector: Selector, found: Selection) -> None:
    """Say which EnvironmentConfigs were read, or which selector matched none, and warn
    of what was ambiguous.

    A missing named one is a Warning (the user named it); an empty label selection is
    Normal, as an environment without EnvironmentConfigs is legitimate.
    """
    result = rsp.results.add(severity=fnv1.SEVERITY_NORMAL, reason=REASON)
    names = found.names
    environment = "" if found.environment is None else f" for environment {found.environment}"
    if names:
        plural = "s" if len(names) > 1 else ""
        result.message = (
            f"read EnvironmentConfig{plural} {', '.join(names)}{environment}, selected by "
            f"{selector.describe()}"
        )
        if found.left_out:
            result.message += f"; left out as other environments': {', '.join(found.left_out)}"
    elif found.left_out:
        result.message = f"read no EnvironmentConfig{environment}: {why_none_read(selector, found)}"
    else:
        result.message = none_selected(selector)
        if selector.name:
            result.severity = fnv1.SEVERITY_WARNING
    for message in found.ambiguous:
        rsp.results.add(severity=fnv1.SEVERITY_WARNING, reason=REASON, message=message)
