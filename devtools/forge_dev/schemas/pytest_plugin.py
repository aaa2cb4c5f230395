"""Pytest fixtures for schema validation (``pytest_plugins = ["forge_dev.schemas.pytest_plugin"]``).

A missing schema root fails the test with the how-to message instead of skipping it: a
skipped schema check would hide exactly the bugs these tests exist for.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import pytest

from forge_dev.schemas.sources import SchemaSourceError
from forge_dev.schemas.store import SchemaStore, SchemaValidationError, describe

_store: SchemaStore | None = None
_store_error: str | None = None


def _default_store() -> SchemaStore:
    """One store per session; a lookup failure is remembered and reported by every user."""
    global _store, _store_error  # noqa: PLW0603 - session-wide cache
    if _store is None and _store_error is None:
        try:
            _store = SchemaStore.default()
        except SchemaSourceError as exc:
            _store_error = str(exc)
    if _store is None:
        pytest.fail(f"schema files not available: {_store_error}", pytrace=False)
    return _store


@pytest.fixture(scope="session")
def schema_store() -> SchemaStore:
    """The SchemaStore at the resolved schema root; fails (not skips) when there is none."""
    return _default_store()


@pytest.fixture(scope="session")
def assert_schema_valid(schema_store: SchemaStore) -> Callable[[Any], None]:
    """``assert_schema_valid(obj_or_list)``: one assertion listing the errors of every object."""

    def check(objs: Mapping[str, Any] | Iterable[Mapping[str, Any]]) -> None:
        items = [objs] if isinstance(objs, Mapping) else list(objs)
        report = []
        for obj in items:
            errors = schema_store.validate(obj)
            if errors:
                report.append(f"{describe(obj)}:\n" + "\n".join(f"  - {e}" for e in errors))
        if report:
            raise SchemaValidationError(
                f"{len(report)} of {len(items)} objects invalid:\n" + "\n".join(report)
            )

    return check
