"""Errors a composer reports to the user as a fatal result.

A message names the field path and the rule broken; it never quotes an input value,
which may be secret material. A path names a map key only when the key is a short
identifier (a field name, a label key), never an arbitrary string.
"""

from __future__ import annotations

import json
import re

import pydantic

_PLAIN_KEY = re.compile(r"^[A-Za-z0-9_-]{1,63}$")
_QUOTABLE_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,62}$")
UNNAMED_KEY = "[<key>]"
# A fatal message stays readable and bounded, whatever the input.
MAX_PROBLEMS = 20


class SpecError(ValueError):
    """Problems with the XR's spec, each reported with its field path.

    ``path`` and ``reason`` are the first problem's (kept for callers that report one).
    """

    def __init__(self, path: str, reason: str, more: tuple[tuple[str, str], ...] = ()) -> None:
        self.problems = ((path, reason), *more)
        super().__init__("; ".join(f"{p}: {r}" for p, r in self.problems))
        self.path = path
        self.reason = reason


class PendingRequirementError(Exception):
    """Crossplane has not yet sent a required resource this call cannot be judged without.

    The call composes nothing new and asks again: Crossplane calls the function until its
    requirements settle, and applies only the last answer.
    """


class ConflictError(ValueError):
    """This XR would compose what an older one owns: it refuses (the message names it)."""


class FieldError(ValueError):
    """Raised by a model validator to blame one field (``path`` relative to the model)."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(reason)
        self.path = path
        self.reason = reason


def key_segment(key: str) -> str:
    """A map key as a path segment: ``.key``, ``["key"]``, or ``[<key>]`` for any other."""
    if _PLAIN_KEY.match(key):
        return f".{key}"
    if _QUOTABLE_KEY.match(key):
        return f"[{json.dumps(key)}]"
    return UNNAMED_KEY


def _format_loc(prefix: str, loc: tuple[int | str, ...]) -> str:
    path = prefix
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part.startswith(("function-", "tagged-union")) or part in {"list", "dict"}:
            continue
        else:
            path += key_segment(part)
    return path


def _problem(error: dict, prefix: str) -> tuple[str, str]:
    """One pydantic error as (path, reason); a FieldError blames its own sub-path."""
    reason = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        reason = "unknown field"
    path = _format_loc(prefix, tuple(error["loc"]))
    cause = (error.get("ctx") or {}).get("error")
    if isinstance(cause, FieldError):
        path = f"{path}{'' if cause.path.startswith('[') else '.'}{cause.path}"
        reason = cause.reason
    return path, reason


def from_validation_error(exc: pydantic.ValidationError, prefix: str = "spec") -> SpecError:
    """Every problem of a pydantic error at once, unknown fields first.

    An unknown field is usually a typo, and the cause of the "required" error
    that comes with it, so it leads. Input values are left out on purpose: they
    may be secret material.
    """
    errors = exc.errors(include_url=False, include_input=False)
    errors.sort(key=lambda e: e["type"] != "extra_forbidden")  # stable: pydantic's order kept
    problems = list(dict.fromkeys(_problem(e, prefix) for e in errors))
    shown, hidden = problems[:MAX_PROBLEMS], len(problems) - MAX_PROBLEMS
    if hidden > 0:
        last_path, last_reason = shown[-1]
        plural = "s" if hidden > 1 else ""
        shown[-1] = (last_path, f"{last_reason} (and {hidden} more problem{plural})")
    (path, reason), *rest = shown
    return SpecError(path, reason, tuple(rest))
