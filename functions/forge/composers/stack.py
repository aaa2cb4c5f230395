"""Build the self-management stack as plain manifests.

PlatformCluster installs it into the platform cluster and Cluster into a new
cluster; both wrap it in provider-kubernetes Objects (see ``objects``), so the
manifests here know nothing about where they are applied.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from forge import versions, xpkg
from forge.composers import activation
from forge.models.stack import Package, Stack

CROSSPLANE_NAMESPACE = "crossplane-system"
# The AWS family providers share one identity; helm and kubernetes get their own,
# cluster-admin in-cluster because they install arbitrary charts and objects.
AWS_ACCOUNT = "provider-aws"
IN_CLUSTER_ADMINS = frozenset({"provider-helm", "provider-kubernetes"})
# provider-kubernetes copies every object an Object applies into its status, Secret data
# included, unless told not to (v1.2.1 cmd/provider/main.go:90, object.go:515); the
# argocd-manager token Secret is applied through an Object. Crossplane keeps these args
# on the provider's container and sets the selector itself (crossplane v2.3.4
# internal/controller/pkg/runtime/runtime.go:198-233).
PROVIDER_ARGS = {"provider-kubernetes": ["--sanitize-secrets"]}
RUNTIME_CONTAINER = "package-runtime"
Phase = Literal["runtime", "package", "config"]


@dataclass(frozen=True)
class StackItem:
    """One manifest of the stack and the phase that gates it.

    ``runtime`` items (runtime configs, RBAC) come first, ``package`` items
    need them, and ``config`` items (ProviderConfigs) need the packages'
    CRDs, so they wait until the packages are healthy.
    """

    key: str
    phase: Phase
    manifest: dict[str, Any]


@dataclass(frozen=True)
class StackPackage:
    """One package of the stack.

    ``key`` names its composed resources (stable: renaming one would delete and
    recreate it). The object is named as Crossplane names a Configuration's
    dependency on ``repository``, the pinned one our Configurations depend on,
    whatever ``image`` says: an overridden repository (a mirror) is still that
    package, never a second one beside it. ``service_account`` is fixed, since
    RBAC, IRSA trust policies and Pod Identity associations name it.
    """

    key: str
    kind: Literal["Provider", "Function"]
    repository: str
    image: str
    service_account: str | None

    @property
    def name(self) -> str:
        return xpkg.dependency_name(self.repository)


def _image(package: Package, repository: str, version: str) -> str:
    """What to pull: the spec's repository and version, else the pinned ones."""
    return f"{package.repository or repository}:{package.version or version}"


def _packages(stack: Stack) -> list[StackPackage]:
    """Every package of the stack: providers, then our Function."""
    helm, kubernetes = versions.PROVIDER_HELM, versions.PROVIDER_KUBERNETES
    packages = [
        StackPackage(
            "provider-helm", "Provider", helm[0], _image(stack.helm, *helm), "provider-helm"
        ),
        StackPackage(
            "provider-kubernetes",
            "Provider",
            kubernetes[0],
            _image(stack.kubernetes, *kubernetes),
            "provider-kubernetes",
        ),
    ]
    if stack.aws.enabled:
        # The families' config package, at their version: each family depends on it at
        # any version, so unpinned Crossplane would install its newest.
        packages.append(
            StackPackage(
                "provider-aws-family",
                "Provider",
                versions.PROVIDER_AWS_FAMILY,
                f"{versions.PROVIDER_AWS_FAMILY}:{stack.aws.version}",
                AWS_ACCOUNT,
            )
        )
        for family in sorted(stack.aws.families):
            repository = f"{versions.PROVIDER_AWS_REPOSITORY}-{family}"
            image = f"{repository}:{stack.aws.version}"
            packages.append(
                StackPackage(f"provider-aws-{family}", "Provider", repository, image, AWS_ACCOUNT)
            )
    function = (versions.FUNCTION_PACKAGE, versions.FUNCTION_VERSION)
    packages.append(
        StackPackage(
            "function-forge", "Function", function[0], _image(stack.function, *function), None
        )
    )
    return packages


def _runtime_config(service_account: str, annotations: dict[str, str]) -> dict:
    metadata: dict[str, Any] = {"name": service_account}
    if annotations:
        metadata["annotations"] = annotations
    spec: dict[str, Any] = {"serviceAccountTemplate": {"metadata": metadata}}
    args = PROVIDER_ARGS.get(service_account)
    if args:
        container = {"name": RUNTIME_CONTAINER, "args": list(args)}
        # A DeploymentSpec needs a selector; Crossplane replaces it with its own.
        spec["deploymentTemplate"] = {
            "spec": {"selector": {}, "template": {"spec": {"containers": [container]}}}
        }
    return {
        "apiVersion": "pkg.crossplane.io/v1beta1",
        "kind": "DeploymentRuntimeConfig",
        "metadata": {"name": service_account},
        "spec": spec,
    }


def _cluster_admin(service_account: str) -> dict:
    """In-cluster identity for helm and kubernetes: they install arbitrary charts/objects."""
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": f"crossplane-{service_account}-cluster-admin"},
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": "cluster-admin",
        },
        "subjects": [
            {
                "kind": "ServiceAccount",
                "name": service_account,
                "namespace": CROSSPLANE_NAMESPACE,
            }
        ],
    }


def _package(package: StackPackage) -> dict:
    spec: dict[str, Any] = {"package": package.image}
    if package.service_account:
        spec["runtimeConfigRef"] = {
            "apiVersion": "pkg.crossplane.io/v1beta1",
            "kind": "DeploymentRuntimeConfig",
            "name": package.service_account,
        }
    return {
        "apiVersion": "pkg.crossplane.io/v1",
        "kind": package.kind,
        "metadata": {"name": package.name},
        "spec": spec,
    }


_PROVIDER_CONFIG_VERSIONS = {
    "helm.m.crossplane.io": "v1beta1",
    "kubernetes.m.crossplane.io": "v1alpha1",
    "aws.m.upbound.io": "v1beta1",
}


def _provider_config(api_group: str, name: str, credentials: dict[str, Any]) -> dict:
    return {
        "apiVersion": f"{api_group}/{_PROVIDER_CONFIG_VERSIONS[api_group]}",
        "kind": "ClusterProviderConfig",
        "metadata": {"name": name},
        "spec": {"credentials": credentials},
    }


def _aws_credentials(stack: Stack) -> dict[str, Any]:
    creds = stack.aws.credentials
    if creds.source == "Secret" and creds.secret_ref is not None:
        ref = creds.secret_ref
        return {
            "source": "Secret",
            "secretRef": {
                "name": ref.name,
                "namespace": ref.namespace or CROSSPLANE_NAMESPACE,
                "key": ref.key,
            },
        }
    return {"source": creds.source}


def provider_configs(stack: Stack) -> dict[str, dict[str, str]]:
    """The ProviderConfig references the rest of the platform should use."""
    refs = {
        "helm": {"kind": "ClusterProviderConfig", "name": stack.provider_config_name},
        "kubernetes": {"kind": "ClusterProviderConfig", "name": stack.provider_config_name},
    }
    if stack.aws.enabled:
        refs["aws"] = {"kind": "ClusterProviderConfig", "name": stack.provider_config_name}
    return refs


def build(stack: Stack) -> list[StackItem]:
    """Every manifest of the stack, in a stable order."""
    # Only the managed resource kinds we compose (and ``activate``) are active.
    items = [StackItem("activation-policy", "runtime", activation.policy(stack.activate))]
    runtime_configs: set[str] = set()
    for package in _packages(stack):
        account = package.service_account
        if account and account not in runtime_configs:
            runtime_configs.add(account)
            annotations: dict[str, str] = {}
            if account == AWS_ACCOUNT and stack.aws.credentials.source == "IRSA":
                annotations["eks.amazonaws.com/role-arn"] = str(stack.aws.credentials.role_arn)
            items.append(
                StackItem(f"runtime-{account}", "runtime", _runtime_config(account, annotations))
            )
        if account in IN_CLUSTER_ADMINS:
            items.append(StackItem(f"rbac-{package.key}", "runtime", _cluster_admin(account)))
        items.append(StackItem(f"package-{package.key}", "package", _package(package)))
    in_cluster = {"source": "InjectedIdentity"}
    pc_name = stack.provider_config_name
    configs = [
        ("helm", "helm.m.crossplane.io", in_cluster),
        ("kubernetes", "kubernetes.m.crossplane.io", in_cluster),
    ]
    if stack.aws.enabled:
        configs.append(("aws", "aws.m.upbound.io", _aws_credentials(stack)))
    for provider, group, credentials in configs:
        items.append(
            StackItem(f"config-{provider}", "config", _provider_config(group, pc_name, credentials))
        )
    return items


def budgets() -> list[StackItem]:
    """PodDisruptionBudgets for Crossplane and its RBAC manager, which run two replicas
    each in production: the chart (v2.3.4) renders none. ``maxUnavailable: 1`` lets a
    drain evict one at a time, and never blocks one that runs a single replica."""
    return [
        StackItem(
            f"budget-{app}",
            "runtime",
            {
                "apiVersion": "policy/v1",
                "kind": "PodDisruptionBudget",
                "metadata": {"name": app, "namespace": CROSSPLANE_NAMESPACE},
                "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"app": app}}},
            },
        )
        for app in ("crossplane", "crossplane-rbac-manager")
    ]
