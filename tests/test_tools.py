"""`make tools`: the real Crossplane tools are built, or the target says what is missing."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_without_go_make_tools_names_what_is_missing(tmp_path: Path):
    done = subprocess.run(
        ["make", "--no-print-directory", "tools", f"TOOLS={tmp_path}", "GO=no-such-go"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode != 0
    assert "Go (no-such-go) is not installed" in done.stderr
    assert "Go module proxy" in done.stderr
    assert not list(tmp_path.iterdir()), "nothing is faked without Go"


def test_ci_builds_the_tools_and_runs_the_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make tools" in ci and "make test" in ci
