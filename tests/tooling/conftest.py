"""The packages, assembled once per session from this checkout."""

from pathlib import Path

import pytest

from forge_dev.packaging.assemble import assemble
from tests.support.packaging import ROOT, VERSION


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every package root, assembled from this checkout as `make packages` does."""
    return assemble(ROOT, tmp_path_factory.mktemp("build"), VERSION)
