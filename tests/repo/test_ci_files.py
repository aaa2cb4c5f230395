"""CI workflow, shell scripts, runtime image and the kind end-to-end script.

The workflow is checked against GitHub's workflow schema (check-jsonschema, offline),
every shell script of the repository with shellcheck; each check is shown to fail on a
broken copy. ``make e2e`` must never fail a run on a machine without its tools.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.y*ml"))
SHEBANG = re.compile(rb"^#!\s*(/usr/bin/env\s+)?(/bin/|/usr/bin/)?(ba|da|k)?sh\b")


def run(*args: str | Path, **kwargs) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, check=False, **kwargs
    )


def workflow() -> dict:
    return yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yaml").read_text())


# -- the workflow ---------------------------------------------------------------------------


def check_workflow(*paths: Path) -> subprocess.CompletedProcess[str]:
    return run(BIN / "check-jsonschema", "--builtin-schema", "vendor.github-workflows", *paths)


def test_workflows_match_the_github_schema():
    assert WORKFLOWS
    result = check_workflow(*WORKFLOWS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_schema_check_catches_a_broken_workflow(tmp_path):
    broken = yaml.safe_load(WORKFLOWS[0].read_text())
    del broken["jobs"]["lint"]["runs-on"]
    broken["jobs"]["test"]["strategy"]["fail-fast"] = "sometimes"
    path = tmp_path / "ci.yaml"
    path.write_text(yaml.safe_dump(broken))
    result = check_workflow(path)
    assert result.returncode != 0
    assert "jobs.lint" in result.stdout or "runs-on" in result.stdout


def test_tests_run_on_every_supported_python():
    spec = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    low, high = (int(m) for m in re.findall(r"3\.(\d+)", spec))
    supported = [f"3.{minor}" for minor in range(low, high)]  # ">=3.11,<3.14"
    assert workflow()["jobs"]["test"]["strategy"]["matrix"]["python"] == supported


def test_build_is_multi_arch_and_push_only_on_main_and_tags():
    jobs = workflow()["jobs"]
    build = jobs["build"]
    uses = [step.get("uses", "").split("@")[0] for step in build["steps"]]
    assert not [u for u in uses if u.startswith("docker/")], "no Docker, buildx or QEMU"
    assert build["container"].startswith("debian:12")  # apt's sources name the Debian archive
    runs = "\n".join(step.get("run", "") for step in build["steps"])
    assert runs.count("make xpkg") == 2 and "sha256sum --check" in runs
    assert "ARCH=" not in runs, "make xpkg builds both architectures by default"
    push = jobs["push"]
    assert "refs/heads/main" in push["if"] and "refs/tags/v" in push["if"]
    assert {"lint", "test", "build", "e2e"} <= set(push["needs"])
    assert "amd64 arm64" in next(s["run"] for s in push["steps"] if "make push" in s.get("run", ""))
    assert push["permissions"]["packages"] == "write"
    assert any("make push" in step.get("run", "") for step in push["steps"])
    on = workflow()[True] if True in workflow() else workflow()["on"]  # YAML 1.1 reads `on` as True
    assert on["push"]["tags"] == ["v*"] and on["push"]["branches"] == ["main"]


# -- shell scripts --------------------------------------------------------------------------


def shell_scripts() -> list[Path]:
    """Every shell script git would see (tracked or not ignored): by extension or shebang."""
    listed = run("git", "ls-files", "--cached", "--others", "--exclude-standard", cwd=ROOT)
    assert listed.returncode == 0, listed.stderr
    scripts = []
    for rel in sorted(set(listed.stdout.splitlines())):
        path = ROOT / rel
        if not path.is_file():
            continue
        with path.open("rb") as handle:
            head = handle.readline()
        if path.suffix in (".sh", ".bash") or SHEBANG.match(head):
            scripts.append(path)
    return scripts


def shellcheck(*paths: Path) -> subprocess.CompletedProcess[str]:
    return run(BIN / "shellcheck", "--external-sources", *paths, cwd=ROOT)


def test_every_shell_script_passes_shellcheck():
    scripts = shell_scripts()
    assert {ROOT / ".ci" / "run", ROOT / "e2e" / "run.sh"} <= set(scripts)
    result = shellcheck(*scripts)
    assert result.returncode == 0, result.stdout + result.stderr


def test_shellcheck_catches_a_broken_script(tmp_path):
    broken = tmp_path / "broken.sh"
    broken.write_text('#!/usr/bin/env bash\nrm -rf $1/build\ncd "$(dirname "$0")"\n')
    result = shellcheck(broken)
    assert result.returncode != 0
    assert "SC2086" in result.stdout


# -- the runtime image ----------------------------------------------------------------------


def test_the_image_has_one_way_to_be_built():
    """forge_dev.packaging.image is it: no Dockerfile to drift from it."""
    assert not (ROOT / "Dockerfile").exists()
    assert not (ROOT / ".dockerignore").exists()
    makefile = (ROOT / "Makefile").read_text()
    image_recipe = re.search(r"^image:.*\n((?:\t.*\n)+)", makefile, re.M).group(1)
    assert "docker" not in image_recipe.lower()
    assert "$(PACKAGING) image" in image_recipe


def test_entry_point_accepts_the_flags_crossplane_passes():
    result = run(BIN / "function-forge", "--help")
    assert result.returncode == 0, result.stderr
    for flag in ("--insecure", "--debug", "--address", "--tls-server-certs-dir"):
        assert flag in result.stdout


# -- the kind end-to-end test ---------------------------------------------------------------


def bare_path(tmp_path: Path, *tools: str) -> str:
    """A PATH with only the named tools, to play a machine that lacks the others."""
    bindir = tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    for tool in tools:
        found = shutil.which(tool)
        if found:
            (bindir / tool).symlink_to(found)
    return str(bindir)


@pytest.mark.parametrize(("required", "code"), [("0", 0), ("1", 1)])
def test_e2e_skips_and_names_what_is_missing(tmp_path, required, code):
    env = {"PATH": bare_path(tmp_path, "dirname"), "E2E_REQUIRED": required, "HOME": str(tmp_path)}
    result = run(shutil.which("bash"), ROOT / "e2e" / "run.sh", env=env, cwd=tmp_path)
    assert result.returncode == code, result.stdout + result.stderr
    assert result.stdout.startswith("SKIP e2e: missing:")
    for tool in ("docker", "kind", "helm", "kubectl", "curl", "crossplane"):
        assert f"  - {tool}\n" in result.stdout


def _has_everything() -> bool:
    tools = all(shutil.which(t) for t in ("docker", "kind", "helm", "kubectl", "crossplane"))
    return tools and run("docker", "info").returncode == 0


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
@pytest.mark.skipif(_has_everything(), reason="this machine can run the e2e: `make e2e` does")
def test_make_e2e_reports_a_skip_here_without_failing():
    result = run(
        "make", "--no-print-directory", "e2e", cwd=ROOT, env={**os.environ, "E2E_REQUIRED": "0"}
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SKIP e2e: missing:" in result.stdout


def argocd_secret(config: dict) -> dict:
    data = {"name": "dev", "server": "https://dev.cluster-dev.svc", "config": json.dumps(config)}
    return {"data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}}


def kubeconfig_of(secret: dict, *args: str) -> subprocess.CompletedProcess[str]:
    return run(
        sys.executable,
        ROOT / "e2e" / "argocd_kubeconfig.py",
        "kubeconfig",
        *args,
        input=json.dumps(secret),
    )


def test_e2e_builds_a_verified_kubeconfig_from_the_argocd_secret():
    tls = {"caData": "Q0E=", "certData": "Q0VSVA==", "keyData": "S0VZ", "insecure": False}
    result = kubeconfig_of(
        argocd_secret({"tlsClientConfig": tls}), "--server", "https://127.0.0.1:1"
    )
    assert result.returncode == 0, result.stderr
    config = json.loads(result.stdout)
    cluster = config["clusters"][0]["cluster"]
    assert cluster == {
        "server": "https://127.0.0.1:1",
        "certificate-authority-data": "Q0E=",
        "tls-server-name": "dev.cluster-dev.svc",
    }
    assert config["users"][0]["user"] == {
        "client-certificate-data": "Q0VSVA==",
        "client-key-data": "S0VZ",
    }


def test_e2e_refuses_an_unverified_argocd_secret():
    tls = {"caData": "Q0E=", "certData": "Q0VSVA==", "keyData": "S0VZ", "insecure": True}
    result = kubeconfig_of(argocd_secret({"tlsClientConfig": tls}))
    assert result.returncode != 0
    assert "not a verified client-certificate config" in result.stderr
