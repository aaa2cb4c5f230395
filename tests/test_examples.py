"""Every example, rendered through the real gRPC server: golden, deterministic, valid."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from forge.render.examples import render_stage, stages

ROOT = Path(__file__).resolve().parent.parent
STAGES = list(stages())


@pytest.mark.parametrize("stage", STAGES, ids=lambda s: s.name)
def test_render_matches_golden_file(stage, function_servers):
    assert stage.expected.exists(), (
        "no golden render: run `python -m forge.render.examples --update`"
    )
    assert render_stage(stage, function_servers) == stage.expected.read_text()


@pytest.mark.parametrize("stage", STAGES, ids=lambda s: s.name)
def test_render_is_byte_identical_twice(stage, function_servers):
    assert render_stage(stage, function_servers) == render_stage(stage, function_servers)


@pytest.mark.parametrize("stage", STAGES, ids=lambda s: s.name)
def test_rendered_resources_are_schema_valid(stage, function_servers, assert_schema_valid):
    docs = list(yaml.safe_load_all(render_stage(stage, function_servers)))
    composed = [d for d in docs[1:] if d.get("kind") != "Result"]
    assert composed, "a stage composes at least one resource"
    assert_schema_valid(composed)
    for doc in composed:
        if doc["kind"] == "Object":
            assert_schema_valid(doc["spec"]["forProvider"]["manifest"])


@pytest.mark.parametrize("stage", STAGES, ids=lambda s: s.name)
def test_observed_stage_files_are_valid(stage, assert_schema_valid):
    observed = stage.directory / "observed.yaml"
    if observed.exists():
        assert_schema_valid(list(yaml.safe_load_all(observed.read_text())))


def forge_render(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "forge.render.cli", *args],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": str(ROOT / "functions"), "PATH": "/usr/bin:/bin"},
    )


def test_forge_render_cli_prints_resources_and_results():
    example = "examples/platformcluster"
    done = forge_render(
        f"{example}/xr.yaml",
        "compositions/platformclusters.yaml",
        f"{example}/functions.yaml",
        "-o",
        f"{example}/stages/03-ready/observed.yaml",
        "-r",
    )
    assert done.returncode == 0, done.stderr
    docs = list(yaml.safe_load_all(done.stdout))
    xr = docs[0]
    ready = next(c for c in xr["status"]["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "True"
    annotations = [d["metadata"]["annotations"] for d in docs[1:] if d["kind"] == "Object"]
    assert all("crossplane.io/composition-resource-name" in a for a in annotations)


def test_forge_render_malformed_xr_is_fatal_without_traceback(tmp_path):
    bad = tmp_path / "xr.yaml"
    bad.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "forge.projectcatalyst.io/v1alpha1",
                "kind": "PlatformCluster",
                "metadata": {"name": "platform"},
                "spec": {"stack": {"aws": {"enabled": True, "credentials": {"source": "IRSA"}}}},
            }
        )
    )
    done = forge_render(str(bad), "compositions/platformclusters.yaml")
    assert done.returncode != 0
    assert "spec.stack.aws.credentials.roleArn: is required when source is IRSA" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout
