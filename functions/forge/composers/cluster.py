"""Cluster: an environment cluster that manages itself and is registered with Argo CD.

Reads top to bottom: spec -> the Cluster's platform namespace -> the provider
part (vCluster or EKS), which records the ClusterReady and KubeconfigReady
stages and returns a ``ClusterAccess`` -> bootstrap (ProviderConfigs, Crossplane,
self-management stack) -> Argo CD registration -> status.

Deletion, with no manual step:

* Everything inside the new cluster (Crossplane, the stack) dies with it, so the
  MRs that put it there are orphaned: deleting them never reaches the cluster.
* Usages hold the cluster resource (vCluster Release, EKS cluster) until each of
  those MRs is gone, so none reconciles against a cluster that no longer exists.
* ProviderConfigs are held by their provider while any MR uses them
  (ProviderConfigUsage); the namespace finishes terminating only once its
  contents are gone. Neither needs a Usage (nor could a Usage hold a
  cluster-scoped Namespace for namespaced users).
* The vCluster Release uninstalls through the platform's own ProviderConfig,
  which this API does not compose, so nothing it needs is deleted before it.
"""

from __future__ import annotations

from typing import Any

from forge.composers import argocd, bootstrap, stack, vcluster
from forge.composers.access import ClusterAccess, namespace_for
from forge.composers.bootstrap import Bootstrap
from forge.composers.eks import base as eks_base
from forge.composers.eks import pod_identity
from forge.composers.eks.pod_identity import CROSSPLANE_CONDITION
from forge.core import environment, naming, tier
from forge.core.context import Context
from forge.core.observed import field
from forge.models.cluster import (
    AWS_ENV_DEFAULTS,
    ENV_DEFAULTS,
    PUBLIC_ACCESS_CIDRS_KEY,
    ClusterSpec,
)
from forge.versions import GROUP

NAMESPACE_KEY = "namespace"
# Stages only EKS has. A vCluster writes them as not required: one set of conditions for
# every Cluster, whatever its provider, and none left behind by an earlier spec.
EKS_STAGES = ("NetworkReady", "NodeGroupsReady", "AddonsReady", "AccessReady")
# What differs between environments and reaches into them (Argo CD's role, the identities
# and who may reach the API): read only from the Cluster's own environment's
# EnvironmentConfig, never from a shared one (docs/environmentconfig.md).
ENVIRONMENT_KEYS = frozenset(AWS_ENV_DEFAULTS.values())


def compose(ctx: Context) -> None:
    """Namespace -> cluster -> bootstrap -> Argo CD -> status."""
    aws = field(ctx.xr, "spec", "provider") == "aws"
    # A Cluster's environment is its name, as on its Argo CD cluster Secret. A vCluster
    # reads none of the keys of one environment: nothing to warn about.
    ctx.scope = environment.Scope(ctx.name, ENVIRONMENT_KEYS if aws else frozenset())
    spec = ctx.spec(
        ClusterSpec, ENV_DEFAULTS | AWS_ENV_DEFAULTS if aws else ENV_DEFAULTS
    ).resolved()
    spec = spec.model_copy(update={"tier": tier.resolve(ctx, spec.tier)})
    if spec.provider == "vcluster":
        vcluster.check(ctx)
    else:
        eks_base.check_name(ctx)
    access = _cluster(ctx, spec)
    boot = bootstrap.compose(ctx, spec, access)
    argocd_name = argocd.compose(ctx, spec, access)
    ctx.set_status(_status(spec, access, boot, argocd_name))


def _cluster(ctx: Context, spec: ClusterSpec) -> ClusterAccess:
    """The provider part, once the namespace it lives in exists."""
    if spec.provider == "vcluster":
        for type_ in EKS_STAGES:
            ctx.not_required(type_, "provider vcluster")
        # Informational, yet written on every call of every Cluster (Crossplane keeps it).
        ctx.condition(CROSSPLANE_CONDITION, True, "NotRequired", "provider vcluster")
    else:
        ctx.condition(CROSSPLANE_CONDITION, *pod_identity.permissions(spec))
    namespace = namespace_for(ctx.name)
    manifest = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": namespace, "labels": {f"{GROUP}/cluster": naming.name(ctx.name)}},
    }
    exists = ctx.compose(NAMESPACE_KEY, manifest)
    # Once anything was composed the gate stays open: closing it would delete it all.
    started = any(key != NAMESPACE_KEY for key in ctx.req.observed.resources)
    if not (exists or started):
        waiting = f"creating namespace {namespace}"
        ctx.stage("ClusterReady", False, "WaitingForNamespace", waiting)
        ctx.stage("KubeconfigReady", False, "WaitingForCluster", "the cluster does not exist yet")
        if spec.provider == "aws":
            for type_ in EKS_STAGES:
                ctx.stage(type_, False, "WaitingForNamespace", waiting)
        return ClusterAccess(namespace=namespace)
    if spec.provider == "vcluster":
        return vcluster.compose(ctx, spec)
    from forge.composers import eks  # noqa: PLC0415 - built in parallel; keep vCluster importable

    return eks.compose(ctx, spec)


def _status(
    spec: ClusterSpec, access: ClusterAccess, boot: Bootstrap, argocd_name: str | None
) -> dict[str, Any]:
    """Outputs are references and names only: credentials stay in Secrets."""
    versions: dict[str, str] = {"crossplane": spec.crossplane_install.chart_version}
    if access.kubernetes_version:
        versions["kubernetes"] = access.kubernetes_version
    if spec.provider == "vcluster":
        versions["vcluster"] = spec.vcluster.chart_version
    outputs: dict[str, Any] = {"namespace": access.namespace, "versions": versions}
    if access.server:
        outputs["server"] = access.server
    if access.kubeconfig is not None:
        ref = access.kubeconfig
        outputs["kubeconfigSecretRef"] = {
            "name": ref.name,
            "namespace": ref.namespace,
            "key": ref.key,
        }
    if argocd_name:
        outputs["argocdClusterName"] = argocd_name
    if boot.provider_configs:
        outputs["providerConfigs"] = boot.provider_configs
    if spec.provider == "aws":
        outputs["endpointAccess"] = _endpoint_access(spec)
    status: dict[str, Any] = {"outputs": outputs}
    installation = boot.installation
    if installation is not None:
        status["packages"] = {p.name: p.as_status() for p in installation.packages}
        if installation.config_keys:
            status["providerConfigs"] = stack.provider_configs(spec.stack)
    return status


def _endpoint_access(spec: ClusterSpec) -> dict[str, Any]:
    """The EKS API endpoint's access, and how the platform reaches it."""
    aws = spec.aws
    access: dict[str, Any] = {"public": aws.public_endpoint, "private": aws.endpoint_private_access}
    if aws.public_endpoint:
        access["publicAccessCidrs"] = list(aws.public_access_cidrs or ())
        where = " and from inside the VPC" if aws.endpoint_private_access else ""
        access["message"] = (
            f"public endpoint, reachable from publicAccessCidrs only{where}; the platform "
            "reaches it from one of those CIDRs (its egress addresses)"
        )
    elif aws.endpoint_public_access is False:
        access["message"] = (
            "private endpoint (endpointPublicAccess: false): the platform's Crossplane and "
            "Argo CD must reach it from inside the VPC or a connected network"
        )
    else:
        access["message"] = (
            "private endpoint: no publicAccessCidrs in the XR nor "
            f"{PUBLIC_ACCESS_CIDRS_KEY} in the EnvironmentConfig, so the API is not open to "
            "the internet; the platform's Crossplane and Argo CD must reach it from inside the "
            "VPC or a connected network (peering, Transit Gateway, VPN), or list the platform's "
            f"egress CIDRs in {PUBLIC_ACCESS_CIDRS_KEY}"
        )
    return access
