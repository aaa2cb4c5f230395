"""Every Helm Release is retried after a failed install.

provider-helm counts a ``failed`` release whose values did not change as up to date, so
without ``spec.rollbackLimit`` a failed first install is never retried (its
``shouldRollBack`` needs the limit; a failed revision 1 is uninstalled and installed
again, a later one rolled back). Every API's every Release, fully provisioned, sets it.
"""

from __future__ import annotations

import pytest

from forge.composers import helm
from forge_dev.simulate import scenarios
from forge_dev.simulate.requests import render

SCENARIOS = scenarios.for_tests()


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_every_release_retries_a_failed_install(scenario, assert_schema_valid):
    releases = [m for m in render(scenario.request).resources.values() if m["kind"] == "Release"]
    if scenario.kind not in {"PlatformCluster"}:
        assert releases, f"{scenario.name} composes no Release"
    for release in releases:
        assert release["spec"]["rollbackLimit"] == helm.ROLLBACK_LIMIT, release["metadata"]
    assert_schema_valid(releases)  # placed where provider-helm's CRD has it
