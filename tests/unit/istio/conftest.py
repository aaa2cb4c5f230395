"""Istio with its ingress gateway, converged once per session."""

import pytest

from tests.support.istio import converged, xr_with


@pytest.fixture(scope="session")
def with_gateway():
    return converged(xr_with(ingressGateway={"enabled": True}))
