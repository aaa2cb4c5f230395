"""The infrastructure bundle as an environment releases it: every XR renders."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from forge.render import render
from forge.render.examples import composition_for
from forge.render.load import load_one

ROOT = Path(__file__).resolve().parent.parent
BUNDLE = ROOT / "examples/infrastructure/bundle.yaml"
XRS = [d for d in yaml.safe_load_all(BUNDLE.read_text()) if d]


def environment() -> list[dict]:
    """What the examples' clusters hold: the labelled EnvironmentConfig and friends."""
    pool: list[dict] = []
    for path in sorted((ROOT / "examples/infrastructure").glob("*/stages/01-*/required.yaml")):
        pool += [d for d in yaml.safe_load_all(path.read_text()) if d and d not in pool]
    return pool


def test_bundle_holds_one_of_each_infrastructure_api():
    assert sorted(x["kind"] for x in XRS) == sorted(
        ["CertManager", "ExternalDNS", "ExternalSecretsOperator", "Istio", "KEDA", "Monitoring"]
    )
    assert all(x["metadata"].get("namespace") for x in XRS)


@pytest.mark.parametrize("xr", XRS, ids=lambda x: x["kind"])
def test_bundle_xr_renders_its_chart(xr, function_servers, assert_schema_valid):
    composition = load_one(composition_for(xr), "composition")
    result = render(xr, composition, required=environment(), servers=function_servers)
    releases = [r for r in result.resources if r["kind"] == "Release"]
    assert releases, "the first render installs a chart"
    assert all(r["metadata"]["namespace"] == xr["metadata"]["namespace"] for r in releases)
    assert_schema_valid(result.resources)
