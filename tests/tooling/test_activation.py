"""Only the managed resource kinds we compose are active (issue 19, item 12).

The activation policy lists ManagedResourceDefinition names (``<plural>.<group>``, the
CRD's name). The list is held equal to what Crossplane's engine composed in every example
stage (the goldens), including the manifests provider-kubernetes Objects apply, each
kind's plural read from its real CRD.
"""

from __future__ import annotations

from functools import cache

import pytest
import yaml

from forge.composers import activation, bootstrap, stack
from forge.models.stack import Stack
from forge_dev.packaging import checks
from forge_dev.packaging.layout import load_docs
from forge_dev.schemas.sources import resolve_schema_root
from tests.support.packaging import ROOT

ANNOTATION = "crossplane.io/composition-resource-name"
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the goldens are large
# Crossplane converts every provider CRD but these to a ManagedResourceDefinition
# (crossplane v2.3.4 internal/converter/custom_to_managed.go:107-121).
NOT_MANAGED = {
    "ProviderConfig",
    "ClusterProviderConfig",
    "ProviderConfigUsage",
    "ClusterProviderConfigUsage",
}


@cache
def _goldens() -> tuple[tuple[str, dict], ...]:
    """(example, document) of every golden of every example stage."""
    goldens = sorted((ROOT / "testdata" / "examples").glob("*/stages/*/expected.yaml"))
    assert goldens
    return tuple(
        (path.parts[-4], doc)
        for path in goldens
        for doc in yaml.load_all(path.read_text(encoding="utf-8"), Loader=_LOADER)
        if doc
    )


def _composed_kinds() -> set[tuple[str, str]]:
    """(group, kind) of every provider kind composed, or applied by an Object, in a golden."""
    kinds: set[tuple[str, str]] = set()
    for _, doc in _goldens():
        if ANNOTATION not in ((doc.get("metadata") or {}).get("annotations") or {}):
            continue
        manifest = ((doc.get("spec") or {}).get("forProvider") or {}).get("manifest")
        for obj in (doc, manifest if isinstance(manifest, dict) else {}):
            api_version = str(obj.get("apiVersion", ""))
            if not api_version or checks.provider_for(api_version) is None:
                continue
            if obj["kind"] not in NOT_MANAGED:
                kinds.add((api_version.rpartition("/")[0], obj["kind"]))
    return kinds


def _crd_names(kinds: set[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """(group, kind) -> CRD name, from the real provider CRDs of those groups."""
    names = {}
    crds = resolve_schema_root() / "crds"
    for group in sorted({g for g, _ in kinds}):
        for path in sorted(crds.glob(f"provider-*/{group}_*.yaml")):
            for crd in load_docs(path):
                if crd.get("kind") == "CustomResourceDefinition":
                    spec = crd["spec"]
                    names[(spec["group"], spec["names"]["kind"])] = crd["metadata"]["name"]
    return names


def test_the_policy_lists_exactly_the_managed_kinds_the_goldens_compose():
    composed = _composed_kinds()
    crds = _crd_names(composed)
    missing = sorted(k for k in composed if k not in crds)
    assert not missing, f"no real CRD for {missing}"
    assert sorted(activation.COMPOSED) == sorted(crds[k] for k in composed)


def test_the_stack_ships_the_policy_first():
    items = stack.build(Stack())
    policy = next(i for i in items if i.manifest["kind"] == "ManagedResourceActivationPolicy")
    assert policy.phase == "runtime"
    assert policy.manifest["apiVersion"] == "apiextensions.crossplane.io/v1alpha1"
    assert policy.manifest["metadata"]["name"] == activation.POLICY_NAME
    assert policy.manifest["spec"]["activate"] == list(activation.COMPOSED)


def test_more_kinds_are_activated_by_the_stack_spec():
    extra = ["*.s3.aws.m.upbound.io", "queues.sqs.aws.m.upbound.io"]
    items = stack.build(Stack.model_validate({"activate": extra}))
    policy = next(i for i in items if i.manifest["kind"] == "ManagedResourceActivationPolicy")
    assert policy.manifest["spec"]["activate"] == [*activation.COMPOSED, *extra]


@pytest.mark.parametrize("bad", ["*", "s3.*", "Buckets.s3.aws.m.upbound.io", "*.*.io", ""])
def test_an_activation_that_is_no_mrd_name_or_prefix_is_rejected(bad):
    with pytest.raises(ValueError, match="activate"):
        Stack.model_validate({"activate": [bad]})


def test_the_bootstrap_ships_the_policy():
    text = (ROOT / "bootstrap" / "03-configurations.yaml").read_text(encoding="utf-8")
    policies = [
        d for d in yaml.safe_load_all(text) if d and d["kind"] == "ManagedResourceActivationPolicy"
    ]
    assert [p["spec"]["activate"] for p in policies] == [list(activation.COMPOSED)]


def test_a_new_cluster_crossplane_has_no_default_activations():
    """The chart's default ``provider.defaultActivations: ["*"]`` (crossplane chart 2.3.4
    values.yaml:60-61) would create a policy named ``default`` activating everything."""
    releases = [
        doc
        for example, doc in _goldens()
        if example.startswith("cluster-")
        and doc.get("kind") == "Release"
        and doc["metadata"].get("annotations", {}).get(ANNOTATION) == bootstrap.CROSSPLANE_KEY
    ]
    assert releases
    for release in releases:
        values = release["spec"]["forProvider"]["values"]
        assert values["provider"]["defaultActivations"] == []
