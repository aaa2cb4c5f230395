"""Errors a composer reports to the user as a fatal result."""

from __future__ import annotations

import json
import re

import pydantic

_PLAIN_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


class SpecError(ValueError):
    """A problem with the XR's spec, reported with the field path."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class FieldError(ValueError):
    """Raised by a model validator to blame one field (``path`` relative to the model)."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(reason)
        self.path = path
        self.reason = reason


def _format_loc(prefix: str, loc: tuple[int | str, ...]) -> str:
    path = prefix
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part.startswith(("function-", "tagged-union")) or part in {"list", "dict"}:
            continue
        elif _PLAIN_KEY.match(part):
            path += f".{part}"
        else:  # a map key such as a label: quoted, so the path stays unambiguous
            path += f"[{json.dumps(part, ensure_ascii=False)}]"
    return path


def from_validation_error(exc: pydantic.ValidationError, prefix: str = "spec") -> SpecError:
    """Turn a pydantic error into a SpecError naming the first failing field.

    The input value is left out on purpose: it may be secret material.
    """
    first = exc.errors(include_url=False, include_input=False)[0]
    reason = first["msg"]
    if reason.startswith("Value error, "):
        reason = reason[len("Value error, ") :]
    if first["type"] == "extra_forbidden":
        reason = "unknown field"
    path = _format_loc(prefix, tuple(first["loc"]))
    error = (first.get("ctx") or {}).get("error")
    if isinstance(error, FieldError):
        path = f"{path}{'' if error.path.startswith('[') else '.'}{error.path}"
        reason = error.reason
    count = exc.error_count()
    if count > 1:
        reason += f" (and {count - 1} more problem{'s' if count > 2 else ''})"
    return SpecError(path, reason)
