"""The platform's one-time ``bootstrap/`` manifests, generated so they never drift.

The design allows one manual step after Argo CD: the first ``kubectl apply`` of the
platform's APIs. These files are everything that step needs, in the order it needs
them (the numbers; Argo CD sync waves say the same). Each object is the very one the
``PlatformCluster`` stack composes (``forge.composers.stack``), so once a
PlatformCluster exists it adopts them: nothing is installed twice, nothing renamed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from forge import versions
from forge.composers import stack
from forge.models.stack import Stack
from forge_dev.packaging.layout import CLUSTERS, INFRASTRUCTURE, REGISTRY

SYNC_WAVE = "argocd.argoproj.io/sync-wave"
SYNC_OPTIONS = "argocd.argoproj.io/sync-options"
# Crossplane's own ClusterRole aggregates every ClusterRole with this label.
AGGREGATE_TO_CROSSPLANE = "rbac.crossplane.io/aggregate-to-crossplane"
NAMESPACES_ROLE = "forge:crossplane-namespaces"


def _namespaces_role() -> dict[str, Any]:
    """A Cluster composes its own namespace; Crossplane's default role has no Namespaces."""
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": NAMESPACES_ROLE, "labels": {AGGREGATE_TO_CROSSPLANE: "true"}},
        "rules": [
            {
                "apiGroups": [""],
                "resources": ["namespaces"],
                "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"],
            }
        ],
    }


def _stack_items(*keys: str) -> list[dict[str, Any]]:
    """The PlatformCluster stack's own manifests for ``keys``, in the stack's order."""
    by_key = {item.key: item.manifest for item in stack.build(Stack())}
    return [by_key[key] for key in keys]


def _configuration(name: str, repository: str) -> dict[str, Any]:
    """As a user installs it: Crossplane resolves its dependencies (the providers) and
    names each as ``forge.xpkg.dependency_name`` does."""
    return {
        "apiVersion": "pkg.crossplane.io/v1",
        "kind": "Configuration",
        "metadata": {"name": name},
        "spec": {"package": f"{REGISTRY}/{repository}:{versions.FUNCTION_VERSION}"},
    }


@dataclass(frozen=True)
class BootstrapFile:
    """One file of ``bootstrap/``; ``kinds_from_packages``: its kinds' CRDs come from
    packages an earlier file installs (Argo CD must not dry-run them)."""

    name: str
    about: str
    objects: list[dict[str, Any]]
    kinds_from_packages: bool = False


def manifests() -> list[BootstrapFile]:
    """Every bootstrap file, in the order they are applied."""
    return [
        BootstrapFile(
            "01-crossplane-rbac.yaml",
            "Lets Crossplane compose the Namespace each Cluster lives in.",
            [_namespaces_role()],
        ),
        BootstrapFile(
            "02-provider-kubernetes.yaml",
            "provider-kubernetes, in-cluster cluster-admin: a PlatformCluster applies the\n"
            "platform's own stack through it. Named as Crossplane names the Configurations'\n"
            "dependency on it, so the package manager sees one package, not two. Run with\n"
            "--sanitize-secrets: an Object's status never copies a Secret's data (an EKS\n"
            "Cluster's argocd-manager token Secret is applied through an Object).",
            _stack_items(
                "runtime-provider-kubernetes",
                "rbac-provider-kubernetes",
                "package-provider-kubernetes",
            ),
        ),
        BootstrapFile(
            "03-configurations.yaml",
            "The platform's APIs and our Function, at one release. Crossplane installs the\n"
            "other dependencies: provider-helm and the AWS family providers\n"
            "(provider-kubernetes is there already). The activation policy activates the\n"
            "managed resource kinds the APIs compose, and only those once the Crossplane\n"
            "chart's provider.defaultActivations is [] (docs/operations.md).",
            [
                *_stack_items("activation-policy"),
                # Crossplane never upgrades an installed dependency (but with an alpha
                # flag): a release moves this tag before the Configurations'
                # (docs/decisions/0006-function-first-in-bootstrap.md).
                *_stack_items("package-function-forge"),
                _configuration(CLUSTERS.name, CLUSTERS.repository),
                _configuration(INFRASTRUCTURE.name, INFRASTRUCTURE.repository),
            ],
        ),
        BootstrapFile(
            "04-provider-configs.yaml",
            "In-cluster ClusterProviderConfigs `default` for provider-helm and\n"
            "provider-kubernetes (their CRDs exist once 02 and 03 are healthy).",
            _stack_items("config-helm", "config-kubernetes"),
            kinds_from_packages=True,
        ),
    ]


def _annotated(obj: dict[str, Any], wave: int, skip_dry_run: bool) -> dict[str, Any]:
    metadata = dict(obj["metadata"])
    annotations = {**metadata.get("annotations", {}), SYNC_WAVE: str(wave)}
    if skip_dry_run:
        # Argo CD: the CRD comes from a package applied in an earlier wave.
        annotations[SYNC_OPTIONS] = "SkipDryRunOnMissingResource=true"
    metadata["annotations"] = annotations
    return {**obj, "metadata": metadata}


def files() -> dict[str, str]:
    """``bootstrap/<file>`` -> YAML text, each object annotated with its sync wave."""
    out: dict[str, str] = {}
    for wave, file in enumerate(manifests(), start=1):
        header = "".join(f"# {line}\n" for line in file.about.splitlines())
        docs = [_annotated(obj, wave, file.kinds_from_packages) for obj in file.objects]
        text = yaml.safe_dump_all(docs, sort_keys=False, width=100)
        out[f"bootstrap/{file.name}"] = (
            "# Generated by `make xrds` (forge_dev.packaging.bootstrap_manifests): do not edit.\n"
            + header
            + text
        )
    return out


# What a platform team runs once, after Argo CD and Crossplane (README, "Install"):
# the e2e harness runs exactly these with the real kubectl.
_PROVIDER_CONFIG_CRDS = (
    "crd/clusterproviderconfigs.helm.m.crossplane.io",
    "crd/clusterproviderconfigs.kubernetes.m.crossplane.io",
)


def kubectl_steps() -> list[tuple[str, ...]]:
    """The kubectl commands (arguments after ``kubectl``) that apply ``bootstrap/``."""
    first = [f for f in manifests() if not f.kinds_from_packages]
    last = [f for f in manifests() if f.kinds_from_packages]
    configurations = (
        f"configuration.pkg.crossplane.io/{p.name}" for p in (CLUSTERS, INFRASTRUCTURE)
    )
    return [
        ("apply", *(arg for f in first for arg in ("-f", f"bootstrap/{f.name}"))),
        ("wait", "--for=condition=Healthy", "--timeout=10m", *configurations),
        # One name per --for=create: kubectl gives up on several not-yet-found names.
        *(("wait", "--for=create", "--timeout=10m", crd) for crd in _PROVIDER_CONFIG_CRDS),
        ("wait", "--for=condition=Established", "--timeout=10m", *_PROVIDER_CONFIG_CRDS),
        ("apply", *(arg for f in last for arg in ("-f", f"bootstrap/{f.name}"))),
    ]
