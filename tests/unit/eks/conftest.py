"""The EKS Cluster's converged renders, computed once per module."""

from __future__ import annotations

import pytest

from forge_dev.simulate.converge import converge
from forge_dev.simulate.requests import (
    Rendered,
)
from tests.support.eks import (
    XR,
    large_xr,
)


@pytest.fixture(scope="session")
def history() -> list[Rendered]:
    return converge(XR, max_rounds=12)


@pytest.fixture(scope="session")
def final(history) -> Rendered:
    return history[-1]


@pytest.fixture(scope="session")
def large() -> list[Rendered]:
    return converge(large_xr(), max_rounds=12)
