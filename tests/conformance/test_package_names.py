"""``forge.xpkg`` is Crossplane's naming of packages, held equal to the Go code itself.

``forge-dnslabel`` (tools/cmd/forge-dnslabel, built by ``make tools``) calls
crossplane-runtime's ``xpkg.ToDNSLabel`` and go-containerregistry's reference parsing,
as crossplane v2.3.4's resolver does when it installs a dependency.
"""

from __future__ import annotations

import os
import subprocess

import pytest

from forge import versions
from forge.xpkg import dependency_name, dns_label
from forge_dev import tools
from tests.support.packages import KNOWN, dependencies

REPOSITORIES = sorted(
    {
        *KNOWN,
        *(repository for _, repository in dependencies()),
        versions.PROVIDER_HELM[0],
        versions.PROVIDER_KUBERNETES[0],
        versions.FUNCTION_PACKAGE,
        # How go-containerregistry reads references: tags, digests, ports, Docker Hub.
        "xpkg.crossplane.io/crossplane-contrib/provider-helm:v1.4.0",
        f"ghcr.io/org/function-x@sha256:{'a' * 64}",
        "localhost:5000/forge/function-forge:v0.1.0",
        "localhost/forge/provider",
        "provider-helm",
        "docker.io/provider-helm",
        "index.docker.io/crossplane/provider-helm",
        "crossplane-contrib/provider-helm",
    }
)
TEXTS = [
    "",
    "-",
    "a",
    "crossplane-contrib/provider-helm",
    "/leading/and/trailing/",
    ":colon:",
    "UPPER-lower.9",
    "two//separators..here",
    "under_score and space",
    "é-accented/ü.x",
    "a" * 62 + "-b",
    "a" * 63 + "-b",
    "a" * 61 + "/-" + "b" * 10,
    "é" * 30 + "/abc" + "d" * 40,
    "x" * 100,
]


def _forge_dnslabel(*args: str) -> list[str]:
    name = tools.DNSLABEL
    if not tools.available(name):
        message = f"{name} is not built in {tools.tools_dir()}: run `make tools`"
        if os.environ.get("CI"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    out = subprocess.run(
        [str(tools.tool(name)), *args], check=True, capture_output=True, text=True
    ).stdout
    return out.split("\n")[:-1]


def test_dependency_names_equal_crossplanes():
    assert _forge_dnslabel(*REPOSITORIES) == [dependency_name(r) for r in REPOSITORIES]


def test_to_dns_label_equals_crossplanes():
    assert _forge_dnslabel("-raw", "--", *TEXTS) == [dns_label(t) for t in TEXTS]
