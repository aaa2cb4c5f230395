"""The infrastructure bundle as an environment releases it: every XR renders."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from forge_dev.render import render
from forge_dev.render.examples import composition_for
from forge_dev.render.load import load_one
from forge_dev.simulate import requests as in_process

ROOT = Path(__file__).resolve().parents[2]
BUNDLE = ROOT / "examples/infrastructure/bundle.yaml"
XRS = [d for d in yaml.safe_load_all(BUNDLE.read_text()) if d]


def environment() -> list[dict]:
    """What the examples' clusters hold: the labelled EnvironmentConfig and friends."""
    pool: list[dict] = []
    for path in sorted(
        (ROOT / "testdata/examples/infrastructure").glob("*/stages/01-*/required.yaml")
    ):
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


FROM_ENVIRONMENT = ROOT / "examples/infrastructure/from-environment"


def test_the_empty_spec_bundle_has_every_api_and_one_environment():
    """The empty-spec XRs (`spec: {}`), each XR converging from the environment alone:
    its example's stages are rendered by the real engine and driven to Ready by the
    preview (tests/tooling/test_preview.py)."""
    xrs = [load_one(p, "XR") for p in sorted(FROM_ENVIRONMENT.glob("*/xr.yaml"))]
    assert sorted(x["kind"] for x in xrs) == sorted(x["kind"] for x in XRS)
    assert all(x["spec"] == {} for x in xrs)
    environment = (FROM_ENVIRONMENT / "environment.yaml").read_text()
    for path in (ROOT / "testdata" / FROM_ENVIRONMENT.relative_to(ROOT)).glob(
        "*/stages/*/required.yaml"
    ):
        assert path.read_text().startswith(environment), path


@pytest.mark.parametrize("example", ["certmanager", "externaldns", "externalsecretsoperator"])
def test_first_call_waits_for_a_named_environment_instead_of_failing(example):
    """Crossplane calls once without required resources and stops at a fatal result."""
    xr = load_one(ROOT / "examples/infrastructure" / example / "xr.yaml", "XR")
    xr["spec"]["environmentConfigRef"] = {"name": "dev"}
    out = in_process.render(in_process.build(xr))
    assert out.fatal == []
    assert out.requirements["environment-configs"].match_name == "dev"
