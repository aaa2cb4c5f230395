"""Build the self-management stack as plain manifests.

PlatformCluster installs it into the platform cluster and Cluster into a new
cluster; both wrap it in provider-kubernetes Objects (see ``objects``), so the
manifests here know nothing about where they are applied.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from forge import versions
from forge.models.stack import Stack

CROSSPLANE_NAMESPACE = "crossplane-system"
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


def _provider_names(stack: Stack) -> list[tuple[str, str, str]]:
    """(package name, repository, version) of every provider in the stack."""
    helm_repo, helm_version = versions.PROVIDER_HELM
    k8s_repo, k8s_version = versions.PROVIDER_KUBERNETES
    providers = [
        ("provider-helm", stack.helm.repository or helm_repo, stack.helm.version or helm_version),
        (
            "provider-kubernetes",
            stack.kubernetes.repository or k8s_repo,
            stack.kubernetes.version or k8s_version,
        ),
    ]
    if stack.aws.enabled:
        for family in sorted(stack.aws.families):
            name = f"provider-aws-{family}"
            providers.append(
                (name, f"{versions.PROVIDER_AWS_REPOSITORY}-{family}", stack.aws.version)
            )
    return providers


def _runtime_config(service_account: str, annotations: dict[str, str]) -> dict:
    metadata: dict[str, Any] = {"name": service_account}
    if annotations:
        metadata["annotations"] = annotations
    return {
        "apiVersion": "pkg.crossplane.io/v1beta1",
        "kind": "DeploymentRuntimeConfig",
        "metadata": {"name": service_account},
        "spec": {"serviceAccountTemplate": {"metadata": metadata}},
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


def _package(kind: str, name: str, image: str, runtime_config: str | None) -> dict:
    spec: dict[str, Any] = {"package": image}
    if runtime_config:
        spec["runtimeConfigRef"] = {
            "apiVersion": "pkg.crossplane.io/v1beta1",
            "kind": "DeploymentRuntimeConfig",
            "name": runtime_config,
        }
    return {
        "apiVersion": "pkg.crossplane.io/v1",
        "kind": kind,
        "metadata": {"name": name},
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


def _service_account(provider: str) -> str:
    """AWS family providers share one identity; the others get their own."""
    return "provider-aws" if provider.startswith("provider-aws-") else provider


def build(stack: Stack) -> list[StackItem]:
    """Every manifest of the stack, in a stable order."""
    items: list[StackItem] = []
    runtime_configs: set[str] = set()
    for name, repository, version in _provider_names(stack):
        account = _service_account(name)
        if account not in runtime_configs:
            runtime_configs.add(account)
            annotations: dict[str, str] = {}
            if account == "provider-aws" and stack.aws.credentials.source == "IRSA":
                annotations["eks.amazonaws.com/role-arn"] = str(stack.aws.credentials.role_arn)
            items.append(
                StackItem(f"runtime-{account}", "runtime", _runtime_config(account, annotations))
            )
        if name in {"provider-helm", "provider-kubernetes"}:
            items.append(StackItem(f"rbac-{name}", "runtime", _cluster_admin(account)))
        image = f"{repository}:{version}"
        items.append(
            StackItem(f"package-{name}", "package", _package("Provider", name, image, account))
        )
    function_image = (
        f"{stack.function.repository or versions.FUNCTION_PACKAGE}:"
        f"{stack.function.version or versions.FUNCTION_VERSION}"
    )
    items.append(
        StackItem(
            "package-function-forge",
            "package",
            _package("Function", versions.FUNCTION_NAME, function_image, None),
        )
    )
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
