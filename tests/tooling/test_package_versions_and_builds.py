"""Package versions and stamping, building and pushing with the real CLI, make targets."""

from __future__ import annotations

import copy
import io
import os
import shutil
import stat
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from forge import versions
from forge.xpkg import dependency_name
from forge_dev import tools
from forge_dev.packaging import PackagingError, charts, release
from forge_dev.packaging.__main__ import main as packaging_main
from forge_dev.packaging.assemble import EXAMPLES, assemble, read_apis
from forge_dev.packaging.checks import Contents
from forge_dev.packaging.layout import (
    CLUSTERS,
    FUNCTION,
    LABEL_CHANNEL,
    LABEL_RELEASE,
    PACKAGES,
    REGISTRY,
    composite_type,
    xrd_type,
)
from forge_dev.packaging.semver import Constraint, SemverError, Version
from tests.support.packaging import (
    CONFIGURATIONS,
    FUNCTION_DEPENDENCY,
    ROOT,
    VERSION,
    call_dependency,
    copy_of,
    edit,
    load,
    with_dependency_function_refs,
)

# -- stamping and versions ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "channel"),
    [("v1.2.3", "stable"), ("v1.2.4-dev.3.gabc1234", "dev"), ("v2.0.0-rc.1", "dev")],
)
def test_compositions_carry_the_channel_and_release(tmp_path, version, channel):
    dirs = assemble(ROOT, tmp_path, version)
    sources = {xrd_type(a.xrd): a.compositions for a in read_apis(ROOT)}
    for spec in CONFIGURATIONS:
        contents = load(dirs[spec.name])
        for composition in contents.of_kind("Composition"):
            labels = composition["metadata"]["labels"]
            assert labels[LABEL_CHANNEL] == channel
            assert labels[LABEL_RELEASE] == version
            (source,) = sources[composite_type(composition)]
            stripped = copy.deepcopy(composition)
            for key in (LABEL_CHANNEL, LABEL_RELEASE):
                del stripped["metadata"]["labels"][key]
            assert stripped == source, "only the labels may differ from compositions/"
        (function,) = contents.dependencies("Function")
        assert function["version"] == f">={version}"
        assert Constraint.parse(function["version"]).allows(version)


@pytest.mark.parametrize(
    ("described", "version"),
    [
        ("v1.2.3-0-gabc1234", "v1.2.3"),
        ("v1.2.3-5-gabc1234", "v1.2.4-dev.5.gabc1234"),
        ("v1.2.3-0-gabc1234-dirty", "v1.2.4-dev.0.gabc1234.dirty"),
        ("v2.0.0-rc.1-0-gabc1234", "v2.0.0-rc.1"),
        ("v2.0.0-rc.1-2-gabc1234", "v2.0.0-rc.1.dev.2.gabc1234"),
    ],
)
def test_version_from_git_describe(described, version):
    assert release.from_describe(described) == version
    tag = Version.parse(described.removesuffix("-dirty").rsplit("-", 2)[0])
    assert tag <= Version.parse(version), "a build sorts after the tag it describes"


def test_dev_builds_sort_between_releases():
    assert (
        Version.parse("v1.2.3") < Version.parse("v1.2.4-dev.5.gabc1234") < Version.parse("v1.2.4")
    )
    assert Version.parse("v2.0.0-rc.1") < Version.parse("v2.0.0-rc.1.dev.2.gabc1234")
    assert Version.parse("v1.0.0-dev.2") < Version.parse("v1.0.0-dev.10")


def test_the_checkout_version_is_a_valid_tag_and_label():
    assert release.check(VERSION) == []
    assert release.channel(VERSION) in ("dev", "stable")


@pytest.mark.parametrize("bad", ["1.2.3", "v1.2", "v1.2.3+build.1", "v01.2.3", "v1.2.3-rc.01"])
def test_invalid_versions_are_refused(bad, tmp_path):
    assert release.check(bad)
    with pytest.raises(PackagingError):
        assemble(ROOT, tmp_path, bad)


@pytest.mark.parametrize(
    ("constraint", "version", "allowed"),
    [
        (">=v1.4.0, <v2.0.0", "v1.4.0", True),
        (">=v1.4.0, <v2.0.0", "v1.9.9", True),
        (">=v1.4.0, <v2.0.0", "v2.0.0", False),
        (">=v1.4.0, <v2.0.0", "v1.3.9", False),
        (">=v1.4.0", "v1.5.0-rc.1", False),  # pre-releases only match pre-release bounds
        (">=v0.2.0-dev.1", "v0.2.0-dev.4.gabc", True),
        (">=v0.2.0-dev.1", "v0.2.0", True),
        (">= 1.0.0 <2.0.0 || >=3.0.0", "v3.1.0", True),
        (">= 1.0.0 <2.0.0 || >=3.0.0", "v2.1.0", False),
        ("v1.2.3", "v1.2.3", True),
    ],
)
def test_semver_constraints_follow_crossplane(constraint, version, allowed):
    assert Constraint.parse(constraint).allows(version) is allowed


@pytest.mark.parametrize("bad", ["", "~>1.4", ">=", ">=vX", "1.2.3 ||"])
def test_semver_rejects_bad_constraints(bad):
    with pytest.raises(SemverError):
        Constraint.parse(bad)


def test_dependency_names_match_crossplane():
    """The names Crossplane gives dependencies (xpkg.ToDNSLabel of the repository path)."""
    assert (
        dependency_name("xpkg.crossplane.io/crossplane-contrib/function-patch-and-transform")
        == "crossplane-contrib-function-patch-and-transform"
    )
    assert dependency_name("xpkg.upbound.io/upbound/provider-aws-eks") == "upbound-provider-aws-eks"
    assert FUNCTION_DEPENDENCY == "input-output-hk-catalyst-forge-function-forge"


def test_a_composition_without_its_xrd_is_an_error(tmp_path):
    root = tmp_path / "root"
    for name in ("package", "compositions", EXAMPLES):
        shutil.copytree(ROOT / name, root / name)
    (root / "xrds").mkdir()
    with pytest.raises(PackagingError, match="no XRD in xrds/ defines"):
        assemble(root, tmp_path / "build", "v0.1.0")


# -- building and pushing -----------------------------------------------------------------

FAKE_CLI = """#!/usr/bin/env bash
printf '%s\\n' "$*" >> "$(dirname "$0")/calls.log"
for arg in "$@"; do
  case "$arg" in --package-file=*) touch "${arg#--package-file=}" ;; esac
done
"""
DEV = "v0.1.0-dev.1.gabcdef0"


@pytest.fixture
def releasable_root(tmp_path: Path) -> Path:
    """A copy of the checkout's package sources whose Compositions pass every check."""
    root = tmp_path / "root"
    for name in ("package", "xrds", "compositions", EXAMPLES):
        shutil.copytree(ROOT / name, root / name)
    with_dependency_function_refs_in_sources(root)
    return root


def with_dependency_function_refs_in_sources(root: Path) -> None:
    for path in (root / "compositions").glob("*.yaml"):
        edit(path, call_dependency)


def _fake(path: Path) -> Path:
    path.parent.mkdir(exist_ok=True)
    path.write_text(FAKE_CLI)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


@pytest.fixture
def fake_cli(tmp_path: Path) -> Path:
    return _fake(tmp_path / "bin" / "crossplane")


@pytest.fixture
def fake_helm(tmp_path: Path) -> Path:
    """A helm logging into the same calls.log as the fake crossplane CLI (one order)."""
    return _fake(tmp_path / "bin" / "helm")


def calls(cli: Path) -> list[str]:
    return (cli.parent / "calls.log").read_text().splitlines()


def test_build_and_push_run_helm_and_the_crossplane_cli_in_order(
    releasable_root, fake_cli, fake_helm, tmp_path
):
    out, dist = tmp_path / "build", tmp_path / "dist"
    out.mkdir()
    for arch in ("amd64", "arm64"):
        (out / f"runtime-{arch}.tar").write_bytes(b"")
    common = ["--root", str(releasable_root), "--out", str(out), "--dist", str(dist)]
    common += [
        "--version",
        DEV,
        "--arch",
        "amd64",
        "--arch",
        "arm64",
        "--crossplane",
        str(fake_cli),
        "--helm",
        str(fake_helm),
    ]
    assert packaging_main(["build", *common]) == 0
    built = calls(fake_cli)
    assert built == [
        f"xpkg build --package-root={out}/function --examples-root={out}/examples/function "
        f"--embed-runtime-image-tarball={out}/runtime-amd64.tar "
        f"--package-file={dist}/function-forge-{DEV}-amd64.xpkg",
        f"xpkg build --package-root={out}/function --examples-root={out}/examples/function "
        f"--embed-runtime-image-tarball={out}/runtime-arm64.tar "
        f"--package-file={dist}/function-forge-{DEV}-arm64.xpkg",
        *(
            f"xpkg build --package-root={out}/{name} --examples-root={out}/examples/{name} "
            f"--package-file={dist}/{name}-{DEV}.xpkg"
            for name in ("configuration-clusters", "configuration-infrastructure")
        ),
    ]
    args = ["push", *common, "--registry", "localhost:5001/forge"]
    assert packaging_main(args) == 1  # the charts are not written yet: nothing is pushed
    assert calls(fake_cli) == built
    (out / "charts").mkdir()
    for chart in versions.GATEWAY_API_CRDS.values():
        (out / "charts" / f"{chart.name}-{chart.version}.tgz").write_bytes(b"")
    assert packaging_main(args) == 0
    # The charts first: the Configurations' Istio installs them.
    assert calls(fake_cli)[len(built) :] == [
        f"push {out}/charts/gateway-api-crds-1.5.1.tgz oci://localhost:5001/forge/charts",
        f"push {out}/charts/gateway-api-crds-experimental-1.5.1.tgz "
        "oci://localhost:5001/forge/charts",
        f"xpkg push --package-files={dist}/function-forge-{DEV}-amd64.xpkg,"
        f"{dist}/function-forge-{DEV}-arm64.xpkg localhost:5001/forge/function-forge:{DEV}",
        f"xpkg push --package-files={dist}/configuration-clusters-{DEV}.xpkg "
        f"localhost:5001/forge/configuration-clusters:{DEV}",
        f"xpkg push --package-files={dist}/configuration-infrastructure-{DEV}.xpkg "
        f"localhost:5001/forge/configuration-infrastructure:{DEV}",
    ]
    pushed = len(calls(fake_cli))
    assert packaging_main([*args, "--plain-http"]) == 0  # make push PLAIN_HTTP=1 (make e2e)
    assert calls(fake_cli)[pushed].endswith("oci://localhost:5001/forge/charts --plain-http")


def test_charts_are_pushed_where_the_istio_release_pulls_them(tmp_path):
    commands = charts.push_commands("helm", tmp_path, REGISTRY)
    assert {c[3] for c in commands} == {versions.CHARTS_REPOSITORY}
    assert {c.repository for c in versions.GATEWAY_API_CRDS.values()} == {
        versions.CHARTS_REPOSITORY
    }
    local = charts.push_commands("helm", tmp_path, "127.0.0.1:5000/x", plain_http=True)
    assert all(c[3:] == ["oci://127.0.0.1:5000/x/charts", "--plain-http"] for c in local)


def test_push_says_helm_is_missing(releasable_root, fake_cli, tmp_path, capsys):
    args = ["push", "--root", str(releasable_root), "--out", str(tmp_path), "--version", DEV]
    assert packaging_main([*args, "--crossplane", str(fake_cli), "--helm", "no-such-helm"]) == 1
    assert "helm (no-such-helm) is not built: run `make tools`" in capsys.readouterr().err


def test_build_refuses_a_package_that_fails_a_check(releasable_root, fake_cli, tmp_path, capsys):
    meta = releasable_root / "package" / CLUSTERS.name / "crossplane.yaml"
    edit(meta, lambda d: d[0]["spec"]["dependsOn"][1].update(version=">=v0.0.1"))
    args = ["build", "--root", str(releasable_root), "--out", str(tmp_path / "b")]
    assert packaging_main([*args, "--version", DEV, "--crossplane", str(fake_cli)]) == 1
    assert "packages are not releasable" in capsys.readouterr().err
    assert not (fake_cli.parent / "calls.log").exists()


def test_build_says_what_is_missing(releasable_root, tmp_path, capsys, fake_cli):
    args = ["build", "--root", str(releasable_root), "--out", str(tmp_path / "b"), "--version", DEV]
    assert packaging_main([*args, "--crossplane", "no-such-crossplane-cli"]) == 1
    assert "the crossplane CLI (no-such-crossplane-cli) is not installed" in capsys.readouterr().err
    assert packaging_main([*args, "--crossplane", str(fake_cli)]) == 1
    assert "runtime-amd64.tar" in capsys.readouterr().err  # `make image` first


@pytest.mark.skipif(
    not tools.available(tools.CLI) and not os.environ.get("CI"),
    reason="the crossplane CLI is not built: run `make tools`",
)
@pytest.mark.parametrize("spec", PACKAGES, ids=lambda s: s.name)
def test_the_real_crossplane_cli_builds_each_package(built, spec, tmp_path):
    """`crossplane xpkg build` parses and lints the package (the Function without a runtime)."""
    root = copy_of(built, spec, tmp_path)
    with_dependency_function_refs(root)
    result = subprocess.run(
        [
            str(tools.tool(tools.CLI)),
            "xpkg",
            "build",
            f"--package-root={root}",
            f"--examples-root={built[spec.name].parent / EXAMPLES / spec.name}",
            f"--package-file={tmp_path / 'out.xpkg'}",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out.xpkg").stat().st_size > 0
    kinds = [(d["apiVersion"], d["kind"]) for d in xpkg_documents(tmp_path / "out.xpkg")]
    shipped = Contents.load(root).docs
    assert sorted(kinds) == sorted((d["apiVersion"], d["kind"]) for _, d in shipped)
    if spec is FUNCTION:
        assert ("apiextensions.k8s.io/v1", "CustomResourceDefinition") in kinds


def xpkg_documents(xpkg: Path) -> list[dict[str, Any]]:
    """The documents of an xpkg's package.yaml (the OCI image layer that holds it)."""
    with tarfile.open(xpkg) as image:
        for member in image.getmembers():
            if not member.isfile() or member.name in ("manifest.json", "index.json"):
                continue
            blob = image.extractfile(member)
            assert blob is not None
            data = blob.read()
            if not _is_tar(data):  # a config or manifest blob, not a layer
                continue
            with tarfile.open(fileobj=io.BytesIO(data)) as layer:
                if "package.yaml" in layer.getnames():
                    text = layer.extractfile("package.yaml").read().decode()
                    return [d for d in yaml.safe_load_all(text) if d]
    raise AssertionError(f"{xpkg} holds no package.yaml")


def _is_tar(data: bytes) -> bool:
    try:
        with tarfile.open(fileobj=io.BytesIO(data)):
            return True
    except tarfile.ReadError:
        return False


# -- Makefile targets without their tools --------------------------------------------------


def make(*args: str) -> subprocess.CompletedProcess[str]:
    """Run a make target without letting it (re)build the venv."""
    return subprocess.run(
        ["make", "--no-print-directory", "-o", ".venv/.installed", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"},
    )


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
@pytest.mark.parametrize(
    ("target", "variable", "message"),
    [
        (
            "xpkg",
            "CROSSPLANE=no-such-crossplane",
            "make xpkg: the crossplane CLI (no-such-crossplane)",
        ),
        (
            "push",
            "CROSSPLANE=no-such-crossplane",
            "make push: the crossplane CLI (no-such-crossplane)",
        ),
        ("push", "HELM=no-such-helm", "make push: helm (no-such-helm) is not built"),
    ],
)
def test_make_targets_stop_when_their_tool_is_missing(target, variable, message):
    result = make(target, variable)
    assert result.returncode != 0
    assert message in result.stderr


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
@pytest.mark.skipif(shutil.which("go") is None, reason="the charts need go (module cache)")
def test_make_packages_assembles_without_docker_or_cli():
    result = make("packages", f"VERSION={DEV}", "CROSSPLANE=no-such-crossplane")
    assert result.returncode == 0, result.stderr
    contents = Contents.load(ROOT / "build" / CLUSTERS.name)
    assert contents.meta["kind"] == "Configuration"
    assert contents.dependencies("Function")[0]["version"] == f">={DEV}"
    for chart in versions.GATEWAY_API_CRDS.values():  # what make push pushes with helm
        assert (ROOT / "build" / "charts" / f"{chart.name}-{chart.version}.tgz").stat().st_size
