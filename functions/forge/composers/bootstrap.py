"""Bootstrap a new cluster to manage itself (steps 3-5), whichever provider made it.

Each step is composed once its input exists, and stays composed after that:

1. helm and kubernetes ProviderConfigs in the Cluster's platform namespace,
   reading the cluster's kubeconfig Secret (``ClusterAccess.kubeconfig``);
2. the Crossplane chart, a Release into the new cluster through the helm one,
   once both ProviderConfigs exist and the cluster has nodes to run it (a
   release that fails for want of nodes is retried, ``helm.ROLLBACK_LIMIT``, but
   not forever);
3. the self-management stack (providers, runtime configs, ProviderConfigs and
   our Function), Objects applied through the kubernetes one, once Crossplane is
   deployed;
4. what the provider part wants in the new cluster: ``ClusterAccess.cluster_objects``
   (EKS's default StorageClass, Argo CD's argocd-manager ServiceAccount and token),
   Objects through the kubernetes one once it exists (with the connection Secret
   ``ClusterAccess.cluster_object_connections`` asks for),
   and ``ClusterAccess.cluster_releases`` (EKS's load balancer controller), Releases
   through the helm one once it exists.

Deletion: what these put inside the new cluster dies with it, so the Release and
the Objects are orphaned (management policies without Delete) and deleting them
never has to reach the cluster. A Usage per Release/Object still holds the
cluster resource (``ClusterAccess.cluster_resource``) until that MR is gone, so
none of them reconciles against a cluster that no longer exists. The
ProviderConfigs need no Usage: a provider keeps a ProviderConfig (its in-use
finalizer) while any ProviderConfigUsage points at it.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass
from typing import Any

from forge import versions
from forge.composers import helm, objects, stack, usage
from forge.composers.access import ClusterAccess
from forge.core import naming, tier
from forge.core.context import Context
from forge.core.observed import field
from forge.models.base import ProviderConfigRef
from forge.models.cluster import ClusterSpec

HELM_CONFIG_KEY = "provider-config-helm"
KUBERNETES_CONFIG_KEY = "provider-config-kubernetes"
CROSSPLANE_KEY = "crossplane"
# The chart's default activations (["*"]) create a policy activating every managed
# resource kind; the stack's own policy activates the ones we compose.
CROSSPLANE_VALUES = {"provider": {"defaultActivations": []}}
STACK_PREFIX = "stack-"
USAGE_PREFIX = "usage-"

_PROVIDER_CONFIGS = {
    "helm": (HELM_CONFIG_KEY, "helm.m.crossplane.io/v1beta1"),
    "kubernetes": (KUBERNETES_CONFIG_KEY, "kubernetes.m.crossplane.io/v1alpha1"),
}


@dataclass(frozen=True)
class Bootstrap:
    """What the rest of the Cluster reports about the bootstrap."""

    provider_configs: dict[str, dict[str, str]]
    installation: objects.Installation | None


def compose(ctx: Context, spec: ClusterSpec, access: ClusterAccess) -> Bootstrap:
    """ProviderConfigs -> Crossplane Release -> self-management stack."""
    name = naming.name(ctx.name)
    configs = _provider_configs(ctx, access, name)
    refs = {
        provider: {"kind": "ProviderConfig", "name": name, "namespace": access.namespace}
        for provider in configs
    }
    configs_exist = len(configs) == len(_PROVIDER_CONFIGS) and all(configs.values())
    _cluster_objects(ctx, access, name, configs.get("kubernetes", False))
    _cluster_releases(ctx, access, name, configs.get("helm", False))

    crossplane_ready = False
    if (configs_exist and access.nodes_ready) or ctx.is_composed(CROSSPLANE_KEY):
        crossplane_ready = _crossplane(ctx, spec, access, name)
    _crossplane_stage(ctx, bool(configs), configs_exist, access.nodes_ready, crossplane_ready)

    items = stack.build(spec.stack)
    if spec.tier == tier.PRODUCTION:
        items += stack.budgets()
    keys = [f"{STACK_PREFIX}{item.key}" for item in items]
    installation = None
    if crossplane_ready or any(ctx.is_composed(key) for key in keys):
        target = objects.Target(
            provider_config=ProviderConfigRef(kind="ProviderConfig", name=name),
            namespace=access.namespace,
            orphan=True,
        )
        installation = objects.install(ctx, items, target, prefix=STACK_PREFIX)
        for key in keys:
            _hold_cluster(ctx, access, key)
    _stack_stage(ctx, installation, [key for key in keys if key in ctx.rsp.desired.resources])
    return Bootstrap(provider_configs=refs, installation=installation)


def _cluster_objects(ctx: Context, access: ClusterAccess, config: str, exists: bool) -> None:
    """The provider part's in-cluster objects, through the kubernetes ProviderConfig.

    Orphaned like the stack: they die with the cluster, which a Usage holds meanwhile;
    only those ``ClusterAccess.deleted_objects`` names are deleted (the teardown gate).
    """
    target = objects.Target(
        provider_config=ProviderConfigRef(kind="ProviderConfig", name=config),
        namespace=access.namespace,
        orphan=True,
    )
    for key, manifest in access.cluster_objects.items():
        if exists or ctx.is_composed(key):
            connection = access.cluster_object_connections.get(key)
            orphan = key not in access.deleted_objects
            wrapped = objects.wrap(
                ctx, key, dict(manifest), target, orphan=orphan, connection=connection
            )
            ctx.compose(key, wrapped)
            _hold_cluster(ctx, access, key)


def _cluster_releases(ctx: Context, access: ClusterAccess, config: str, exists: bool) -> None:
    """The provider part's charts, through the helm ProviderConfig; orphaned and held
    like Crossplane's Release."""
    for key, wanted in access.cluster_releases.items():
        if not (exists or ctx.is_composed(key)):
            continue
        manifest = helm.release(
            name=wanted.name,
            namespace=access.namespace,
            chart=wanted.chart,
            target_namespace=wanted.namespace,
            values=dict(wanted.values),
            overrides=dict(wanted.overrides),
            provider_config=ProviderConfigRef(kind="ProviderConfig", name=config),
            orphan=True,
        )
        ctx.compose(key, manifest)
        _hold_cluster(ctx, access, key)


def _provider_configs(ctx: Context, access: ClusterAccess, name: str) -> dict[str, bool]:
    """Compose the ProviderConfigs once the kubeconfig exists; provider -> exists."""
    kubeconfig = access.kubeconfig
    composed: dict[str, bool] = {}
    for provider, (key, api_version) in _PROVIDER_CONFIGS.items():
        if kubeconfig is None and not ctx.is_composed(key):
            continue
        if kubeconfig is None:
            # Keep what exists (its Secret reference is not secret) until the input is back.
            secret_ref = _observed_secret_ref(ctx, key)
        else:
            secret_ref = {
                "name": kubeconfig.name,
                "namespace": kubeconfig.namespace,
                "key": kubeconfig.key,
            }
        manifest = {
            "apiVersion": api_version,
            "kind": "ProviderConfig",
            "metadata": {"name": name, "namespace": access.namespace},
            "spec": {"credentials": {"source": "Secret", "secretRef": secret_ref}},
        }
        composed[provider] = ctx.compose(key, manifest)
    return composed


def _observed_secret_ref(ctx: Context, key: str) -> dict[str, Any]:
    ref = ctx.observed.get(key, "spec", "credentials", "secretRef")
    return {part: str(field(ref, part, default="")) for part in ("name", "namespace", "key")}


def _crossplane(ctx: Context, spec: ClusterSpec, access: ClusterAccess, config: str) -> bool:
    chart = dataclasses.replace(versions.CROSSPLANE, version=spec.crossplane_install.chart_version)
    manifest = helm.release(
        name=CROSSPLANE_KEY,
        namespace=access.namespace,
        chart=chart,
        target_namespace=stack.CROSSPLANE_NAMESPACE,
        values=crossplane_values(spec.tier),
        overrides=spec.crossplane_install.values,
        provider_config=ProviderConfigRef(kind="ProviderConfig", name=config),
        orphan=True,
    )
    ready = ctx.compose(CROSSPLANE_KEY, manifest)
    _hold_cluster(ctx, access, CROSSPLANE_KEY)
    return ready


def crossplane_values(tier_name: str | None) -> dict[str, Any]:
    """No default activations (the stack's policy activates what we compose); in
    production also two Crossplane and two RBAC manager pods (the chart has them elect a
    leader), spread over zones (their budgets are ``stack.budgets``)."""
    values = copy.deepcopy(CROSSPLANE_VALUES)
    if tier_name != tier.PRODUCTION:
        return values
    return values | {
        "replicas": tier.REPLICAS,
        "topologySpreadConstraints": tier.zone_spread({"app": "crossplane"}),
        "rbacManager": {
            "replicas": tier.REPLICAS,
            "topologySpreadConstraints": tier.zone_spread({"app": "crossplane-rbac-manager"}),
        },
    }


def _hold_cluster(ctx: Context, access: ClusterAccess, key: str) -> None:
    """A Usage keeping the cluster resource while the MR ``key`` (composed above) exists."""
    if access.cluster_resource is None or key not in ctx.rsp.desired.resources:
        return
    user = usage.named(ctx.rsp.desired.resources[key].resource)
    ctx.compose(f"{USAGE_PREFIX}{key}", usage.usage(of=dict(access.cluster_resource), by=user))


def _crossplane_stage(
    ctx: Context, composed: bool, exist: bool, nodes_ready: bool, ready: bool
) -> None:
    if ready:
        ctx.stage("CrossplaneReady", True, "Available")
    elif not composed:
        ctx.stage(
            "CrossplaneReady",
            False,
            "WaitingForKubeconfig",
            "ProviderConfigs for the new cluster wait for its kubeconfig",
        )
    elif not exist:
        ctx.stage(
            "CrossplaneReady",
            False,
            "WaitingForProviderConfigs",
            "waiting for the helm and kubernetes ProviderConfigs of the new cluster",
        )
    elif not nodes_ready and not ctx.is_composed(CROSSPLANE_KEY):
        ctx.stage(
            "CrossplaneReady",
            False,
            "WaitingForNodes",
            "Crossplane is installed once the new cluster's nodes can run it",
        )
    else:
        ctx.stage(
            "CrossplaneReady",
            False,
            "Installing",
            f"waiting for the Crossplane Helm release in {stack.CROSSPLANE_NAMESPACE}",
        )


def _stack_stage(
    ctx: Context, installation: objects.Installation | None, composed: list[str]
) -> None:
    if installation is None:
        ctx.stage("StackReady", False, "WaitingForCrossplane", "waiting for Crossplane to run")
        return
    pending = installation.pending
    if pending:
        ctx.stage("StackReady", False, "Installing", f"waiting for {', '.join(pending)}")
    elif not installation.config_keys or not ctx.ready(*composed):
        ctx.stage("StackReady", False, "Configuring", "waiting for the stack's ProviderConfigs")
    else:
        ctx.stage("StackReady", True, "Available")
