"""The vCluster Cluster converged once per session, with generated credentials."""

import pytest

from forge_dev.simulate.vcluster_stages import Credentials
from tests.support.vcluster_cluster import XR, converged


@pytest.fixture(scope="session")
def creds() -> Credentials:
    return Credentials.generate("dev")


@pytest.fixture(scope="session")
def final(creds):
    return converged(XR, creds)[-1]
