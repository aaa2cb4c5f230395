"""The Crossplane packages: assembled as the build does, checked as Crossplane would.

Every check runs on the real packages and on a deliberately broken copy, so that each
is shown to catch what it is for. Which apiVersions a package composes comes from
rendering every example of its APIs, stage by stage, through the function with the
step input of the package's own Composition.
"""

from __future__ import annotations

import copy
import shutil
from pathlib import Path
from typing import get_args

import pytest
import yaml

from forge import versions
from forge.composers import stack
from forge.models.stack import AwsFamily, AwsProviders, Stack
from forge_dev.generate import INPUT_CRD, input_crd
from forge_dev.packaging import checks
from forge_dev.packaging.assemble import EXAMPLES, assemble, example_xrs, read_apis
from forge_dev.packaging.layout import (
    CLUSTERS,
    FUNCTION,
    INFRASTRUCTURE,
    LABEL_RELEASE,
    PACKAGES,
    composite_type,
    load_docs,
    xrd_type,
)
from forge_dev.paths import stages_dir
from tests.support.packaging import (
    CONFIGURATIONS,
    FUNCTION_DEPENDENCY,
    ROOT,
    VERSION,
    copy_of,
    edit,
    load,
    with_dependency_function_refs,
)

ANNOTATION = "crossplane.io/composition-resource-name"


# -- assembling and rendering ------------------------------------------------------------


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


def test_the_function_package_holds_its_meta_and_the_input_crd(built):
    """As the Go functions ship ``package/input/``: the step input's CRD, as generated."""
    contents = load(built[FUNCTION.name])
    crd = INPUT_CRD.removeprefix(f"package/{FUNCTION.name}/")
    assert [path for path, _ in contents.docs] == ["crossplane.yaml", crd]
    assert contents.meta["spec"]["capabilities"] == ["composition"]
    (shipped,) = contents.of_kind("CustomResourceDefinition")
    assert shipped == input_crd()


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
            lambda d: d[0]["spec"]["dependsOn"][1].update(version=">=v1.4.0, <v2.0.0"),
            "must be exactly the pinned",
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


def _stack_installs() -> dict[str, str]:
    """Provider repository -> the version the self-management stack installs by default,
    with every AWS family enabled."""
    every_family = AwsProviders(enabled=True, families=list(get_args(AwsFamily)))
    installs: dict[str, str] = {}
    for item in stack.build(Stack(aws=every_family)):
        if item.manifest["kind"] == "Provider":
            repository, _, tag = item.manifest["spec"]["package"].rpartition(":")
            installs[repository] = tag
    return installs


def test_configurations_depend_on_exactly_what_the_stack_installs(built):
    """Crossplane's resolver installs the newest version a constraint allows, and the stack
    then applies its own version to the same Provider: anything but the stack's exact
    version as the constraint lowers a provider (issue 19, item 2)."""
    installs = _stack_installs()
    for spec in CONFIGURATIONS:
        for dep in load(built[spec.name]).dependencies("Provider"):
            package = checks.dependency_package(dep)
            assert dep["version"] == installs.get(package), (spec.name, package, installs)


def test_the_aws_family_config_package_is_pinned_too(built):
    """Every AWS family provider depends on provider-family-aws at any version, so the
    resolver would install its newest: the Configuration and the stack pin it."""
    family = versions.PROVIDER_AWS_FAMILY
    deps = {
        checks.dependency_package(d): d["version"]
        for d in load(built[CLUSTERS.name]).dependencies("Provider")
    }
    assert deps.get(family) == versions.PROVIDER_AWS_VERSION
    assert _stack_installs().get(family) == versions.PROVIDER_AWS_VERSION
