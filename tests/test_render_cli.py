"""forge-render: crossplane composition render's command line over Crossplane's own engine."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from forge_dev import tools
from forge_dev.paths import stages_dir
from forge_dev.render import cli

ROOT = Path(__file__).resolve().parent.parent
PLATFORM = ROOT / "examples" / "platformcluster"
COMPOSITION = ROOT / "compositions" / "platformclusters.yaml"

pytestmark = pytest.mark.skipif(
    not tools.available() and not os.environ.get("CI"), reason="run `make tools`"
)


def forge_render(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "forge_dev.render.cli", *args],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        env={"PYTHONPATH": str(ROOT / "functions"), "PATH": "/usr/bin:/bin", **env},
    )


def test_prints_the_xr_composed_resources_and_results():
    done = forge_render(
        str(PLATFORM / "xr.yaml"),
        str(COMPOSITION),
        str(PLATFORM / "functions.yaml"),
        "-o",
        str(stages_dir(PLATFORM) / "03-ready/observed.yaml"),
        "-r",
    )
    assert done.returncode == 0, done.stderr
    docs = list(yaml.safe_load_all(done.stdout))
    xr = docs[0]
    ready = next(c for c in xr["status"]["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "True"
    # The engine's own conditions, which no function sets.
    assert {"Synced", "Responsive"} <= {c["type"] for c in xr["status"]["conditions"]}
    names = [
        d["metadata"]["annotations"]["crossplane.io/composition-resource-name"]
        for d in docs[1:]
        if d["kind"] != "Result"
    ]
    assert names == sorted(names)
    results = [d for d in docs if d["kind"] == "Result"]
    assert results and all(set(r) >= {"severity", "reason", "message"} for r in results)


def test_include_full_xr_keeps_the_input_spec():
    done = forge_render(str(PLATFORM / "xr.yaml"), str(COMPOSITION), "-x")
    assert done.returncode == 0, done.stderr
    xr = next(yaml.safe_load_all(done.stdout))
    given = yaml.safe_load((PLATFORM / "xr.yaml").read_text())
    assert xr["spec"]["stack"] == given["spec"]["stack"]
    assert "resourceRefs" in xr["spec"]["crossplane"]


def test_a_fatal_result_exits_non_zero_with_the_engine_message(tmp_path: Path):
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
    done = forge_render(str(bad), str(COMPOSITION))
    assert done.returncode == 1
    assert 'pipeline step "compose" returned a fatal result' in done.stderr
    assert "spec.stack.aws.credentials.roleArn: is required when source is IRSA" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout


def test_a_missing_engine_says_how_to_build_it(tmp_path: Path):
    done = forge_render(str(PLATFORM / "xr.yaml"), str(COMPOSITION), FORGE_TOOLS_DIR=str(tmp_path))
    assert done.returncode == 1
    assert "run `make tools`" in done.stderr
    assert "Traceback" not in done.stderr


def test_composition_for_another_kind_is_refused(tmp_path: Path):
    done = forge_render(str(PLATFORM / "xr.yaml"), str(ROOT / "compositions" / "kedas.yaml"))
    assert done.returncode == 1
    assert "compositeTypeRef.kind (KEDA) does not match XR's kind (PlatformCluster)" in done.stderr


def test_other_runtimes_are_refused(tmp_path: Path):
    fn = tmp_path / "functions.yaml"
    fn.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "pkg.crossplane.io/v1",
                "kind": "Function",
                "metadata": {"name": "function-other"},
                "spec": {"package": "xpkg.crossplane.io/crossplane-contrib/function-other:v1"},
            }
        )
    )
    done = forge_render(str(PLATFORM / "xr.yaml"), str(COMPOSITION), str(fn))
    assert done.returncode == 1
    assert "only Development-runtime functions" in done.stderr


def test_parse_duration():
    assert cli.parse_duration("1m30s") == 90
    assert cli.parse_duration("500ms") == 0.5
    with pytest.raises(Exception, match="invalid duration"):
        cli.parse_duration("soon")


def test_help_names_the_crossplane_render_flags():
    text = cli.parser().format_help()
    for flag in ("-o", "-e", "-r", "-x", "-a", "--xrd", "--function-credentials", "--timeout"):
        assert flag in text
