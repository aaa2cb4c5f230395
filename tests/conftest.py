"""Shared fixtures: schema validation (real CRDs and chart schemas)."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "functions"))
sys.path.insert(0, str(ROOT))

import pytest  # noqa: E402

from forge_dev.render import FunctionServers  # noqa: E402

pytest_plugins = ["forge_dev.schemas.pytest_plugin", "tests.support.crd_subsets"]


@pytest.fixture(scope="session")
def function_servers():
    """One real function-forge gRPC server (a subprocess) for every render in the session."""
    with FunctionServers() as servers:
        yield servers
