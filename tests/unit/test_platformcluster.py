"""PlatformCluster: the platform's own self-management stack."""

from __future__ import annotations

import copy

import crossplane.function.proto.v1.run_function_pb2 as fnv1
import pytest

from forge_dev.simulate.converge import converge
from forge_dev.simulate.requests import build, render
from tests.support.releases import assert_refused

XR = {
    "apiVersion": "forge.projectcatalyst.io/v1alpha1",
    "kind": "PlatformCluster",
    "metadata": {"name": "platform"},
    "spec": {},
}


def xr_with(spec: dict) -> dict:
    xr = copy.deepcopy(XR)
    xr["spec"] = spec
    return xr


def inner(manifest: dict) -> dict:
    return manifest["spec"]["forProvider"]["manifest"]


def test_first_render_installs_packages_but_no_provider_configs(assert_schema_valid):
    out = render(build(XR))
    assert not out.fatal
    kinds = {key: inner(m)["kind"] for key, m in out.resources.items()}
    assert kinds == {
        "activation-policy": "ManagedResourceActivationPolicy",
        "runtime-provider-helm": "DeploymentRuntimeConfig",
        "rbac-provider-helm": "ClusterRoleBinding",
        "package-provider-helm": "Provider",
        "runtime-provider-kubernetes": "DeploymentRuntimeConfig",
        "rbac-provider-kubernetes": "ClusterRoleBinding",
        "package-provider-kubernetes": "Provider",
        "package-function-forge": "Function",
    }
    assert inner(out.resources["package-provider-helm"])["spec"]["package"] == (
        "xpkg.crossplane.io/crossplane-contrib/provider-helm:v1.4.0"
    )
    assert not out.composite_ready
    assert out.conditions["PackagesHealthy"].status == fnv1.STATUS_CONDITION_FALSE
    assert_schema_valid(list(out.resources.values()))
    for manifest in out.resources.values():
        assert_schema_valid(inner(manifest))


def test_lifecycle_reaches_ready_with_provider_configs(assert_schema_valid):
    history = converge(XR, check=lambda out, _: assert_schema_valid(list(out.resources.values())))
    final = history[-1]
    assert len(history) == 3
    assert final.composite_ready
    configs = {k: inner(m) for k, m in final.resources.items() if k.startswith("config-")}
    assert sorted(configs) == ["config-helm", "config-kubernetes"]
    assert configs["config-helm"]["spec"]["credentials"] == {"source": "InjectedIdentity"}
    assert final.status["providerConfigs"]["helm"] == {
        "kind": "ClusterProviderConfig",
        "name": "default",
    }
    assert final.status["packages"]["crossplane-contrib-provider-helm"]["healthy"] is True
    assert {c: final.conditions[c].status for c in final.conditions} == {
        "PackagesHealthy": fnv1.STATUS_CONDITION_TRUE,
        "ProviderConfigsReady": fnv1.STATUS_CONDITION_TRUE,
    }


def test_provider_kubernetes_own_config_is_ready_once_it_carries_its_credentials():
    """provider-kubernetes v1.2.1 never finds an Object up to date whose manifest is one of
    its own ProviderConfigs (it writes their status.users under the field manager it
    treats as a legacy client-side apply one: crossplane-contrib/provider-kubernetes#540),
    so the default SuccessfulCreate readiness never turns Ready and the PlatformCluster
    would wait forever. Its readiness is judged from the live object instead."""
    final = converge(XR)[-1]
    spec = final.resources["config-kubernetes"]["spec"]
    assert spec["readiness"] == {
        "policy": "DeriveFromCelQuery",
        "celQuery": "object.spec.credentials.source == 'InjectedIdentity'",
    }
    # Other providers' configs keep the default: their status is written by another
    # field manager.
    assert "readiness" not in final.resources["config-helm"]["spec"]


def test_aws_providers_with_irsa(assert_schema_valid):
    role = "arn:aws:iam::123456789012:role/platform-crossplane"
    spec = {"stack": {"aws": {"enabled": True, "credentials": {"source": "IRSA", "roleArn": role}}}}
    history = converge(xr_with(spec))
    final = history[-1]
    runtime = inner(final.resources["runtime-provider-aws"])
    annotations = runtime["spec"]["serviceAccountTemplate"]["metadata"]["annotations"]
    assert annotations == {"eks.amazonaws.com/role-arn": role}
    for family in ("cloudwatchlogs", "ec2", "eks", "iam"):
        provider = inner(final.resources[f"package-provider-aws-{family}"])
        assert provider["spec"]["runtimeConfigRef"]["name"] == "provider-aws"
    assert inner(final.resources["config-aws"])["spec"]["credentials"] == {"source": "IRSA"}
    assert_schema_valid([inner(m) for m in final.resources.values()])


def test_default_deletion_policy_orphans_everything():
    out = render(build(XR))
    for manifest in out.resources.values():
        assert manifest["spec"]["managementPolicies"] == [
            "Observe",
            "Create",
            "Update",
            "LateInitialize",
        ]


def test_delete_policy_still_never_uninstalls_provider_kubernetes():
    out = render(build(xr_with({"stack": {"deletionPolicy": "Delete"}})))
    orphaned = {k for k, m in out.resources.items() if "managementPolicies" in m["spec"]}
    assert orphaned == {
        "package-provider-kubernetes",
        "runtime-provider-kubernetes",
        "rbac-provider-kubernetes",
    }


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            {"stack": {"aws": {"enabled": True, "credentials": {"source": "IRSA"}}}},
            "spec.stack.aws.credentials.roleArn: is required when source is IRSA",
        ),
        ({"stack": {"deletionPolicy": "Never"}}, "spec.stack.deletionPolicy: Input should be"),
        ({"stack": {"helmm": {}}}, "spec.stack.helmm: unknown field"),
        (
            {"stack": {"helm": {"version": "latest"}}},
            "spec.stack.helm.version: String should match",
        ),
    ],
)
def test_bad_spec_is_fatal_and_names_the_field(spec, message):
    assert_refused(render(build(xr_with(spec))), message)


def test_desired_state_of_earlier_steps_passes_through():
    earlier = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "other"}}
    out = render(build(XR, desired={"from-another-step": earlier}))
    assert out.resources["from-another-step"] == earlier


def test_unknown_kind_is_fatal():
    xr = {"apiVersion": "example.org/v1", "kind": "Database", "metadata": {"name": "x"}}
    out = render(build(xr))
    assert out.fatal == ["unsupported composite resource kind: example.org/v1 Database"]


def test_environment_config_is_required_and_merged_under_the_spec():
    xr = xr_with({"environmentConfigRef": {"name": "platform"}})
    first = render(build(xr))
    selector = first.requirements["environment-configs"]
    assert (selector.kind, selector.match_name) == ("EnvironmentConfig", "platform")
    env = {
        "apiVersion": "apiextensions.crossplane.io/v1beta1",
        "kind": "EnvironmentConfig",
        "metadata": {"name": "platform"},
        "data": {"aws": {"enabled": True}},
    }
    second = render(build(xr, required={"environment-configs": [env]}))
    assert second.requirements == first.requirements
    assert "package-provider-aws-eks" in second.resources
    # The XR's own value wins over the environment.
    xr["spec"]["stack"] = {"aws": {"enabled": False}}
    third = render(build(xr, required={"environment-configs": [env]}))
    assert "package-provider-aws-eks" not in third.resources


def test_spec_is_judged_only_once_the_environment_has_arrived():
    """Crossplane stops at a fatal result: the first call must ask, not fail."""
    spec = {
        "environmentConfigRef": {"name": "platform"},
        "stack": {"aws": {"enabled": True, "credentials": {"source": "IRSA"}}},
    }
    first = render(build(xr_with(spec)))
    assert first.fatal == []
    assert first.resources == {}
    assert "environment-configs" in first.requirements
    env = {
        "apiVersion": "apiextensions.crossplane.io/v1beta1",
        "kind": "EnvironmentConfig",
        "metadata": {"name": "platform"},
        "data": {"aws": {"crossplaneRoleArn": "arn:aws:iam::123456789012:role/from-env"}},
    }
    completed = render(build(xr_with(spec), required={"environment-configs": [env]}))
    assert completed.fatal == []
    runtime = completed.resources["runtime-provider-aws"]["spec"]["forProvider"]["manifest"]
    annotations = runtime["spec"]["serviceAccountTemplate"]["metadata"]["annotations"]
    assert annotations["eks.amazonaws.com/role-arn"].endswith("role/from-env")
    still_bad = render(build(xr_with(spec), required={"environment-configs": []}))
    assert still_bad.fatal == [
        "invalid PlatformCluster 'platform': "
        "spec.stack.aws.credentials.roleArn: is required when source is IRSA"
    ]
