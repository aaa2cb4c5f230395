"""Every package we install is the object a Configuration's dependency names.

Crossplane installs a dependency as ``xpkg.ToDNSLabel(<repository path>)``
(crossplane v2.3.4 ``internal/controller/pkg/resolver/reconciler.go``, ``NewPackage``).
A stack package under any other name is a second package of the same source, which
breaks the package manager's dependency graph for every package on the cluster
(crossplane/crossplane#7454). ``tests/conformance/test_package_names.py`` holds
``forge.xpkg`` equal to the Go function itself.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from forge import versions
from forge.composers import stack
from forge.models.stack import Stack
from forge.xpkg import dependency_name
from forge_dev.simulate.converge import converge
from tests.support.configuration_dependencies import KNOWN, dependencies

ROOT = Path(__file__).resolve().parents[2]

# What crossplane-runtime v2.3.3 pkg/xpkg.ToDNSLabel answers for the repositories we install
# (forge-dnslabel, tools/cmd/forge-dnslabel, printed these).


@pytest.mark.parametrize(("repository", "name"), KNOWN.items())
def test_dependency_names_of_our_repositories(repository, name):
    assert dependency_name(repository) == name


def _installed(spec: Stack) -> dict[str, dict]:
    """The stack's package manifests by object name."""
    return {
        item.manifest["metadata"]["name"]: item.manifest
        for item in stack.build(spec)
        if item.phase == "package"
    }


def test_each_configuration_dependency_is_the_package_the_stack_installs():
    installed = _installed(Stack.model_validate({"aws": {"enabled": True}}))
    assert dependencies()
    for kind, repository in dependencies():
        name = dependency_name(repository)
        assert name in installed, f"{kind} {repository}: the stack installs no {name}"
        assert installed[name]["kind"] == kind
        assert installed[name]["spec"]["package"].rpartition(":")[0] == repository


def test_an_overridden_repository_keeps_the_dependency_name():
    """A mirror (say) is still the package the Configurations depend on: one object."""
    spec = Stack.model_validate({"helm": {"repository": "mirror.example.com/forge/helm"}})
    helm = _installed(spec)["crossplane-contrib-provider-helm"]
    assert helm["spec"]["package"] == f"mirror.example.com/forge/helm:{versions.PROVIDER_HELM[1]}"


def test_names_that_refer_to_packages_follow_them():
    """Status keys are package names; runtime configs and service accounts stay fixed
    (RBAC, IRSA trust policies and Pod Identity associations name them)."""
    xr = {
        "apiVersion": versions.API_VERSION,
        "kind": "PlatformCluster",
        "metadata": {"name": "platform"},
        "spec": {"stack": {"aws": {"enabled": True}}},
    }
    final = converge(xr)[-1]
    assert sorted(final.status["packages"]) == sorted(KNOWN.values())
    runtime = {
        p["metadata"]["name"]: p["spec"]["runtimeConfigRef"]["name"]
        for p in _installed(Stack.model_validate({"aws": {"enabled": True}})).values()
        if "runtimeConfigRef" in p["spec"]
    }
    assert runtime == {
        "crossplane-contrib-provider-helm": "provider-helm",
        "crossplane-contrib-provider-kubernetes": "provider-kubernetes",
        "upbound-provider-family-aws": "provider-aws",
        "upbound-provider-aws-cloudwatchlogs": "provider-aws",
        "upbound-provider-aws-ec2": "provider-aws",
        "upbound-provider-aws-eks": "provider-aws",
        "upbound-provider-aws-iam": "provider-aws",
    }
