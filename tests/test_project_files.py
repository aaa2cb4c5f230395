"""The project's own files say what a newcomer reads first: `make help`, the package metadata."""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DESCRIBED_TARGET = re.compile(r"^([^\s:#=]+):[^=].*## ", re.MULTILINE)


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_help_lists_every_described_target():
    """Every target with a `## description` is listed, digits in its name or not (e2e)."""
    described = set(DESCRIBED_TARGET.findall((ROOT / "Makefile").read_text()))
    assert {"e2e", "help", "render", "test"} <= described
    out = subprocess.run(
        ["make", "--no-print-directory", "-s", "help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    listed = {line.split("\t", 1)[0] for line in out.splitlines() if line.strip()}
    assert described <= listed, f"missing from make help: {sorted(described - listed)}"


def test_license_is_an_spdx_expression():
    """A TOML table makes setuptools warn (three times) that it is deprecated."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert pyproject["project"]["license"] == "Apache-2.0"
    # The SPDX string form needs setuptools 77 or newer to build.
    requires = pyproject["build-system"]["requires"]
    floor = next(r for r in requires if r.startswith("setuptools"))
    major = int(re.fullmatch(r"setuptools>=(\d+)(\.\d+)*", floor).group(1))
    assert major >= 77


def recipe(target: str) -> list[str]:
    """The recipe lines of one Makefile target."""
    lines = (ROOT / "Makefile").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"{target}:"))
    body = []
    for line in lines[start + 1 :]:
        if not line.startswith("\t"):
            break
        body.append(line.strip())
    return body


@pytest.mark.parametrize("target", ["test", "conformance"])
def test_tests_get_their_schemas_before_they_run(target):
    """A fresh clone's `make test` fetches the schemas (or stops with one message) first."""
    body = recipe(target)
    ensure = next(i for i, line in enumerate(body) if "-m forge_dev.schemas.ensure" in line)
    pytest_run = next(i for i, line in enumerate(body) if "-m pytest" in line)
    assert ensure < pytest_run
