"""The Crossplane packages: assembled as the build does, checked as Crossplane would.

Every check runs on the real packages and on a deliberately broken copy, so that each
is shown to catch what it is for. Which apiVersions a package composes comes from
rendering every example of its APIs, stage by stage, through the function with the
step input of the package's own Composition.
"""

from __future__ import annotations

import copy
import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from forge import versions
from forge.xpkg import dependency_name
from forge_dev import tools
from forge_dev.packaging import PackagingError, charts, checks, release
from forge_dev.packaging.__main__ import main as packaging_main
from forge_dev.packaging.assemble import EXAMPLES, assemble, example_xrs, read_apis
from forge_dev.packaging.checks import Contents
from forge_dev.packaging.layout import (
    CLUSTERS,
    FUNCTION,
    INFRASTRUCTURE,
    LABEL_CHANNEL,
    LABEL_RELEASE,
    PACKAGES,
    REGISTRY,
    PackageSpec,
    composite_type,
    load_docs,
    xrd_type,
)
from forge_dev.packaging.semver import Constraint, SemverError, Version
from forge_dev.paths import stages_dir

ROOT = Path(__file__).resolve().parent.parent
VERSION = release.from_git(ROOT)  # what `make packages` stamps
CONFIGURATIONS = [p for p in PACKAGES if p.kind == "Configuration"]
FUNCTION_DEPENDENCY = dependency_name(versions.FUNCTION_PACKAGE)
ANNOTATION = "crossplane.io/composition-resource-name"


# -- assembling and rendering ------------------------------------------------------------


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every package root, assembled from this checkout as `make packages` does."""
    return assemble(ROOT, tmp_path_factory.mktemp("build"), VERSION)


def load(path: Path) -> Contents:
    return Contents.load(path)


def copy_of(built: dict[str, Path], spec: PackageSpec, tmp_path: Path) -> Path:
    """A scratch copy of one assembled package, to break."""
    return Path(shutil.copytree(built[spec.name], tmp_path / spec.name))


def edit(path: Path, change: Callable[[list[dict[str, Any]]], None]) -> None:
    """Rewrite a YAML file of a package copy through ``change(docs)``."""
    docs = load_docs(path)
    change(docs)
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False))


def _call_dependency(compositions: list[dict[str, Any]]) -> None:
    for composition in compositions:
        for step in composition["spec"]["pipeline"]:
            step["functionRef"]["name"] = FUNCTION_DEPENDENCY


def with_dependency_function_refs(path: Path) -> None:
    """Point every pipeline step at the name Crossplane installs our Function dependency as."""
    for composition in path.rglob("composition.yaml"):
        edit(composition, _call_dependency)


def golden_api_versions(stage: Path) -> set[str]:
    """The apiVersions Crossplane's engine composed at one example stage (its golden)."""
    docs = load_docs(stage / "expected.yaml")
    return {
        d["apiVersion"]
        for d in docs
        if ANNOTATION in ((d.get("metadata") or {}).get("annotations") or {})
    }


@pytest.fixture(scope="module")
def composed(built: dict[str, Path]) -> dict[str, dict[str, set[str]]]:
    """Package -> XR kind -> apiVersions composed over all of that kind's example stages."""
    out: dict[str, dict[str, set[str]]] = {}
    for spec in CONFIGURATIONS:
        compositions = {composite_type(c): c for c in load(built[spec.name]).of_kind("Composition")}
        per_kind: dict[str, set[str]] = {kind: set() for _, kind in compositions}
        for directory, xr in example_xrs(ROOT):
            composition = compositions.get((xr["apiVersion"].rpartition("/")[0], xr["kind"]))
            if composition is None:
                continue
            for stage in sorted(p for p in stages_dir(directory).glob("*") if p.is_dir()):
                per_kind[xr["kind"]] |= golden_api_versions(stage)
        out[spec.name] = per_kind
    return out


# -- what goes where ---------------------------------------------------------------------


def test_every_api_ships_in_exactly_one_configuration(built):
    source = {xrd_type(a.xrd): a for a in read_apis(ROOT)}
    shipped: dict[tuple[str, str], list[str]] = {}
    for spec in CONFIGURATIONS:
        for xrd in load(built[spec.name]).of_kind("CompositeResourceDefinition"):
            shipped.setdefault(xrd_type(xrd), []).append(spec.name)
            assert xrd == source[xrd_type(xrd)].xrd, "an XRD must ship exactly as generated"
    assert set(shipped) == set(source)
    assert all(len(names) == 1 for names in shipped.values()), shipped
    clusters = {k for k, names in shipped.items() if names == [CLUSTERS.name]}
    assert clusters == {k for k, a in source.items() if "clusters" in a.categories}
    assert load(built[INFRASTRUCTURE.name]).of_kind("CompositeResourceDefinition")


def test_the_function_package_holds_only_its_meta(built):
    contents = load(built[FUNCTION.name])
    assert [path for path, _ in contents.docs] == ["crossplane.yaml"]
    assert contents.meta["spec"]["capabilities"] == ["composition"]


def test_every_api_has_an_example_that_renders(composed):
    """The provider check sees only what the examples compose: every API needs one."""
    missing = [kind for kinds in composed.values() for kind, avs in kinds.items() if not avs]
    assert not missing, f"APIs without a rendering example under examples/: {missing}"


def test_examples_layer_holds_the_example_xrs(built):
    for spec in CONFIGURATIONS:
        kinds = {
            xrd_type(x)[1] for x in load(built[spec.name]).of_kind("CompositeResourceDefinition")
        }
        layer = built[spec.name].parent / EXAMPLES / spec.name
        xrs = [doc for path in sorted(layer.glob("*.yaml")) for doc in load_docs(path)]
        assert xrs and {xr["kind"] for xr in xrs} <= kinds


# -- the checks pass on the real packages -------------------------------------------------


@pytest.mark.parametrize("spec", PACKAGES, ids=lambda s: s.name)
def test_crossplane_yaml_is_valid_against_the_meta_schema(built, spec, assert_schema_valid):
    assert_schema_valid(load(built[spec.name]).meta)


@pytest.mark.parametrize("spec", PACKAGES, ids=lambda s: s.name)
def test_static_checks_pass(built, spec):
    contents = load(built[spec.name])
    assert checks.meta_errors(contents, spec) == []
    assert checks.kind_errors(contents, spec) == []
    assert checks.composite_type_errors(contents, spec) == []
    assert checks.version_errors(contents, spec, VERSION) == []


@pytest.mark.parametrize("spec", CONFIGURATIONS, ids=lambda s: s.name)
def test_every_composed_api_version_comes_from_a_dependency(built, composed, spec):
    api_versions = set().union(*composed[spec.name].values())
    assert api_versions, "nothing rendered"
    assert checks.provider_errors(load(built[spec.name]), api_versions) == []


@pytest.mark.parametrize("spec", CONFIGURATIONS, ids=lambda s: s.name)
def test_function_refs_call_the_installed_dependency(built, spec):
    assert checks.function_ref_errors(load(built[spec.name])) == []


# -- each check fails on a broken copy ----------------------------------------------------


def test_meta_schema_rejects_unknown_and_missing_fields(built, tmp_path, schema_store):
    root = copy_of(built, CLUSTERS, tmp_path)

    def typo(docs):
        docs[0]["spec"]["dependsOn"][0]["versions"] = docs[0]["spec"]["dependsOn"][0].pop("version")

    edit(root / "crossplane.yaml", typo)
    errors = schema_store.validate(load(root).meta)
    assert "spec.dependsOn[0].versions: unknown field" in errors
    assert "spec.dependsOn[0].version: required field missing" in errors


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.append(copy.deepcopy(d[0])), "exactly one package meta object, found 2"),
        (
            lambda d: d[0].update(kind="Provider"),
            "expected meta.pkg.crossplane.io/v1 Configuration",
        ),
        (
            lambda d: d[0]["spec"]["crossplane"].update(version=">=v1.20.0"),
            "spec.crossplane.version is '>=v1.20.0'",
        ),
        (
            lambda d: d[0]["spec"]["dependsOn"][1].update(
                provider=d[0]["spec"]["dependsOn"][1].pop("package")
            ),
            "spec.dependsOn[1]: give apiVersion, kind and package",
        ),
        (
            lambda d: d[0]["spec"]["dependsOn"][1].update(version="~>1.4"),
            "spec.dependsOn[1].version:",
        ),
    ],
    ids=["two-metas", "wrong-kind", "old-crossplane", "deprecated-form", "bad-constraint"],
)
def test_meta_check_fails_on_a_broken_copy(built, tmp_path, change, message):
    root = copy_of(built, CLUSTERS, tmp_path)
    edit(root / "crossplane.yaml", change)
    errors = checks.meta_errors(load(root), CLUSTERS)
    assert any(message in e for e in errors), errors


def test_function_meta_needs_the_composition_capability(built, tmp_path):
    root = copy_of(built, FUNCTION, tmp_path)
    edit(root / "crossplane.yaml", lambda d: d[0]["spec"].pop("capabilities"))
    assert checks.meta_errors(load(root), FUNCTION) == [
        "spec.capabilities must include 'composition' (the function composes)"
    ]


def test_kind_check_rejects_what_crossplane_would_not_install(built, tmp_path):
    config = copy_of(built, CLUSTERS, tmp_path)
    crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition"}
    (config / "crd.yaml").write_text(yaml.safe_dump(crd))
    xr = example_xrs(ROOT)[0][1]
    (config / "xr.yaml").write_text(yaml.safe_dump(xr))  # why examples live outside the root
    errors = checks.kind_errors(load(config), CLUSTERS)
    assert [e.split(":")[0] for e in errors] == ["crd.yaml", "xr.yaml"]
    assert "CustomResourceDefinition is not allowed in a Configuration package" in errors[0]

    function = copy_of(built, FUNCTION, tmp_path)
    xrd = load(built[CLUSTERS.name]).of_kind("CompositeResourceDefinition")[0]
    (function / "xrd.yaml").write_text(yaml.safe_dump(xrd))
    errors = checks.kind_errors(load(function), FUNCTION)
    assert len(errors) == 1
    assert "CompositeResourceDefinition is not allowed in a Function package" in errors[0]


def test_composite_type_check_fails_without_the_xrd(built, tmp_path):
    root = copy_of(built, CLUSTERS, tmp_path)
    definition = sorted(root.glob("apis/*/definition.yaml"))[0]
    plural = definition.parent.name
    definition.unlink()
    errors = checks.composite_type_errors(load(root), CLUSTERS)
    assert len(errors) == 1
    assert errors[0].startswith(f"Composition {plural}: compositeTypeRef")
    assert errors[0].endswith("has no XRD here")


def test_composite_type_check_fails_on_an_unserved_version_or_missing_composition(built, tmp_path):
    root = copy_of(built, CLUSTERS, tmp_path)
    first, second = sorted(root.glob("apis/*/composition.yaml"))[:2]

    def old_version(docs):
        ref = docs[0]["spec"]["compositeTypeRef"]
        ref["apiVersion"] = ref["apiVersion"].replace(versions.VERSION, "v1beta1")

    edit(first, old_version)
    second.unlink()
    errors = checks.composite_type_errors(load(root), CLUSTERS)
    assert any("v1beta1 is not a served, referenceable version" in e for e in errors), errors
    assert any(
        f"defaultCompositionRef {second.parent.name!r} is not in the package" in e for e in errors
    ), errors


def test_a_configuration_without_apis_is_rejected(built, tmp_path):
    root = copy_of(built, CLUSTERS, tmp_path)
    shutil.rmtree(root / "apis")
    assert checks.composite_type_errors(load(root), CLUSTERS) == ["the Configuration ships no XRD"]


def test_function_ref_check_passes_on_the_dependency_name_and_fails_otherwise(built, tmp_path):
    root = copy_of(built, CLUSTERS, tmp_path)
    with_dependency_function_refs(root)
    assert checks.function_ref_errors(load(root)) == []

    composition = sorted(root.glob("apis/*/composition.yaml"))[0]
    edit(composition, lambda d: d[0]["spec"]["pipeline"][0]["functionRef"].update(name="other"))
    errors = checks.function_ref_errors(load(root))
    assert len(errors) == 1
    assert "functionRef 'other', but Crossplane installs the dependency" in errors[0]
    assert FUNCTION_DEPENDENCY in errors[0]

    def two_functions(docs):
        docs[0]["spec"]["dependsOn"].append(copy.deepcopy(docs[0]["spec"]["dependsOn"][0]))

    edit(root / "crossplane.yaml", two_functions)
    assert checks.function_ref_errors(load(root)) == [
        "expected one Function in spec.dependsOn, found 2"
    ]


def test_provider_check_fails_on_a_missing_or_unused_provider(built, composed, tmp_path):
    root = copy_of(built, INFRASTRUCTURE, tmp_path)
    api_versions = set().union(*composed[INFRASTRUCTURE.name].values())
    helm = versions.PROVIDER_HELM[0]

    def drop_helm_add_s3(docs):
        deps = docs[0]["spec"]["dependsOn"]
        deps[:] = [d for d in deps if d.get("package") != helm]
        deps.append(
            {
                "apiVersion": "pkg.crossplane.io/v1",
                "kind": "Provider",
                "package": f"{versions.PROVIDER_AWS_REPOSITORY}-s3",
                "version": f">={versions.PROVIDER_AWS_VERSION}",
            }
        )

    edit(root / "crossplane.yaml", drop_helm_add_s3)
    errors = checks.provider_errors(load(root), api_versions)
    assert f"composes helm.m.crossplane.io/v1beta1, but no dependency provides it ({helm})" in (
        errors
    )
    assert (
        f"depends on {versions.PROVIDER_AWS_REPOSITORY}-s3, but composes nothing it provides"
        in errors
    )
    unknown = checks.provider_errors(load(built[INFRASTRUCTURE.name]), {"db.example.org/v1"})
    assert "no known provider serves db.example.org" in unknown[0]


def test_provider_groups_map_to_packages():
    aws = versions.PROVIDER_AWS_REPOSITORY
    assert checks.provider_for("eks.aws.m.upbound.io/v1beta1") == f"{aws}-eks"
    assert checks.provider_for("aws.m.upbound.io/v1beta1") == f"{aws}-"  # provider-family-aws
    assert checks.provider_for("helm.m.crossplane.io/v1beta1") == versions.PROVIDER_HELM[0]
    for builtin in (
        "v1",
        "apps/v1",
        "rbac.authorization.k8s.io/v1",
        "protection.crossplane.io/v1beta1",
    ):
        assert checks.provider_for(builtin) is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda d: d[0]["spec"]["dependsOn"][1].update(version=">=v1.3.0, <v2.0.0"),
            "its lower bound must be the pinned",
        ),
        (
            lambda d: d[0]["spec"]["dependsOn"][0].update(version=">=v0.0.1"),
            "Function dependency version '>=v0.0.1'",
        ),
        (
            lambda d: d[0]["spec"]["crossplane"].update(version=">=v3.0.0"),
            "excludes the pinned Crossplane",
        ),
        (
            lambda d: d[0]["spec"]["dependsOn"].append(
                {
                    "apiVersion": "pkg.crossplane.io/v1",
                    "kind": "Provider",
                    "package": "xpkg.example.org/x/provider-x",
                    "version": ">=v1.0.0",
                }
            ),
            "provider-x is not pinned in forge/versions.py",
        ),
    ],
    ids=["provider-bound", "function-not-stamped", "crossplane-excluded", "unpinned-provider"],
)
def test_version_check_fails_on_a_broken_meta(built, tmp_path, change, message):
    root = copy_of(built, CLUSTERS, tmp_path)
    edit(root / "crossplane.yaml", change)
    errors = checks.version_errors(load(root), CLUSTERS, VERSION)
    assert any(message in e for e in errors), errors


def test_version_check_fails_on_stale_composition_labels(built, tmp_path):
    root = copy_of(built, INFRASTRUCTURE, tmp_path)
    composition = sorted(root.glob("apis/*/composition.yaml"))[0]
    edit(composition, lambda d: d[0]["metadata"]["labels"].update({LABEL_RELEASE: "v0.0.1"}))
    errors = checks.version_errors(load(root), INFRASTRUCTURE, VERSION)
    assert len(errors) == 1
    assert f"labels {LABEL_RELEASE}='v0.0.1'" in errors[0]


def test_a_stable_release_must_match_the_version_the_stack_installs(tmp_path):
    stale = "v99.0.0"
    dirs = assemble(ROOT, tmp_path, stale)
    errors = checks.version_errors(load(dirs[FUNCTION.name]), FUNCTION, stale)
    assert errors == [
        f"release {stale} but versions.FUNCTION_VERSION is {versions.FUNCTION_VERSION}: "
        "bump it so that the self-management stack installs this release"
    ]
    current = assemble(ROOT, tmp_path / "current", versions.FUNCTION_VERSION)
    assert (
        checks.version_errors(load(current[FUNCTION.name]), FUNCTION, versions.FUNCTION_VERSION)
        == []
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
        edit(path, _call_dependency)


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
        ("image", "DOCKER=/nonexistent/docker", "make image: /nonexistent/docker is not installed"),
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
    result = make("packages", f"VERSION={DEV}", "CROSSPLANE=no-such-crossplane", "DOCKER=no-docker")
    assert result.returncode == 0, result.stderr
    contents = Contents.load(ROOT / "build" / CLUSTERS.name)
    assert contents.meta["kind"] == "Configuration"
    assert contents.dependencies("Function")[0]["version"] == f">={DEV}"
    for chart in versions.GATEWAY_API_CRDS.values():  # what make push pushes with helm
        assert (ROOT / "build" / "charts" / f"{chart.name}-{chart.version}.tgz").stat().st_size
