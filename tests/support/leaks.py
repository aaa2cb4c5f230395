"""Find secret material where it must not be."""

from __future__ import annotations

import base64
import json
from typing import Any

from crossplane.function import resource

from forge_dev.simulate.requests import Rendered


def forms(secret: str) -> list[str]:
    """The secret as text and in the encodings it could be smuggled in."""
    raw = secret.encode()
    once = base64.b64encode(raw).decode()
    twice = base64.b64encode(once.encode()).decode()
    return [secret, once, twice]


def assert_only_in_secrets(
    out: Rendered, secrets: list[str], allowed: set[str] | None = None
) -> None:
    """Secret material appears only in v1 Secrets (those in ``allowed`` if given)."""
    needles = [f for s in secrets for f in forms(s)]
    for key, manifest in out.resources.items():
        is_secret = manifest.get("apiVersion") == "v1" and manifest.get("kind") == "Secret"
        if is_secret and (allowed is None or key in allowed):
            continue
        _assert_absent(f"composed resource {key}", manifest, needles)
    _assert_absent("XR status", out.status, needles)
    for condition in out.response.conditions:
        _assert_absent(f"condition {condition.type}", condition.message, needles)
    for result in out.results:
        _assert_absent("result", result.message, needles)
    _assert_absent("context", resource.struct_to_dict(out.response.context), needles)


def _assert_absent(where: str, value: Any, needles: list[str]) -> None:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    for needle in needles:
        assert needle not in text, f"secret material found in {where}"
