"""EnvironmentConfig support: ask Crossplane for it, merge it under the XR.

Precedence, lowest first: the EnvironmentConfigs (sorted by name, later wins),
then the XR's own spec. A composer declares which environment keys feed which
spec fields; only those are used, so an environment cannot inject arbitrary spec.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import crossplane.function.proto.v1.run_function_pb2 as fnv1
from crossplane.function import resource, response

REQUIREMENT = "environment-configs"
API_VERSION = "apiextensions.crossplane.io/v1beta1"
KIND = "EnvironmentConfig"


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


def _lookup(data: Mapping[str, Any], dotted: str) -> Any:
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
        value = _lookup(env, env_key)
        if value is None:
            continue
        target = fragment
        *parents, leaf = spec_path.split(".")
        for part in parents:
            target = target.setdefault(part, {})
        target[leaf] = value
    return fragment


def request(
    rsp: fnv1.RunFunctionResponse,
    *,
    name: str | None,
    labels: Mapping[str, str] | None,
) -> None:
    """Ask for the environment's EnvironmentConfigs, the same way on every call."""
    if name:
        response.require_resources(rsp, REQUIREMENT, API_VERSION, KIND, match_name=name)
    elif labels:
        response.require_resources(rsp, REQUIREMENT, API_VERSION, KIND, match_labels=dict(labels))


def merged_data(req: fnv1.RunFunctionRequest) -> dict[str, Any]:
    """The ``data`` of the required EnvironmentConfigs, merged in name order."""
    if REQUIREMENT not in req.required_resources:
        return {}
    items = req.required_resources[REQUIREMENT].items
    configs = sorted(
        (resource.struct_to_dict(item.resource) for item in items),
        key=lambda c: c.get("metadata", {}).get("name", ""),
    )
    data: dict[str, Any] = {}
    for config in configs:
        data = deep_merge(data, config.get("data") or {})
    return data
