"""Defaults a composer takes from the EnvironmentConfig when the spec leaves them out.

For defaults that ``ctx.spec``'s flat key mapping cannot express: a value that lands
in a list, inside an optional block, or is derived. The environment's value is checked
like a spec value would be, and a problem is reported against the spec field it fills.
"""

from __future__ import annotations

import re

from forge.core.context import Context
from forge.core.errors import SpecError
from forge.models.infrastructure_fields import REGION_PATTERN


def env_string(ctx: Context, key: str, pattern: str, path: str) -> str | None:
    """The environment's ``key`` when set; fatal on ``path`` when it does not match."""
    value = ctx.env.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not re.match(pattern, value):
        raise SpecError(path, f"is required: the EnvironmentConfig's {key} is not usable here")
    return value


def aws_region(ctx: Context, value: str | None, path: str) -> str:
    """The spec's region, else the EnvironmentConfig's ``region``; fatal when neither."""
    region = value or env_string(ctx, "region", REGION_PATTERN, path)
    if not region:
        raise SpecError(path, "is required: set it in the XR, or region in the EnvironmentConfig")
    return region
