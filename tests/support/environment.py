"""An example XR's spec as the function sees it, its EnvironmentConfig merged under it."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

from forge.core import environment
from forge.registry import BY_KIND
from forge_dev.paths import stages_dir

ROOT = Path(__file__).resolve().parents[2]


def with_environment(path: str, xr: dict[str, Any]) -> dict[str, Any]:
    """The example's spec as the function sees it: its EnvironmentConfig merged under it.

    Uses the example's first stage ``required.yaml`` and every ``*ENV_DEFAULTS``
    mapping of the kind's model module.
    """
    spec = xr.get("spec", {})
    stages = sorted(stages_dir((ROOT / path).parent).glob("*/required.yaml"))
    if not stages:
        return spec
    envs = [d for d in yaml.safe_load_all(stages[0].read_text()) if d]
    data = {k: v for env in envs for k, v in (env.get("data") or {}).items()}
    module = sys.modules[BY_KIND[xr["kind"]].spec.__module__]
    mapping = {
        k: v
        for name, table in vars(module).items()
        if name.endswith("ENV_DEFAULTS")
        for k, v in table.items()
    }
    return environment.deep_merge(environment.defaults_from(data, mapping), spec)
