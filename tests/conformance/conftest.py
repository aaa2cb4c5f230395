"""Real Crossplane is the judge: these tests run its engine and the API server's checks.

The tools come from ``make tools``. Without them a test here skips with the command to
run, except under CI (``CI`` set), where a missing tool fails the run.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from forge_dev import tools
from forge_dev.schemas.sources import resolve_schema_root

ROOT = Path(__file__).resolve().parents[2]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.conformance)


@pytest.fixture(autouse=True, scope="session")
def _real_tools() -> None:
    if tools.available():
        return
    message = f"the real Crossplane tools are not built in {tools.tools_dir()}: run `make tools`"
    if os.environ.get("CI"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def schema_dirs() -> list[Path]:
    """What the API server would know: the real CRDs beside us and our XRDs."""
    return [resolve_schema_root() / "crds", ROOT / "xrds"]
