"""vCluster: the environment cluster as a Helm release on the platform cluster.

The release runs in the Cluster's own platform namespace. Its API server is the
Service the chart names after the release, so the platform reaches it at
``https://<release>.<namespace>.svc``; that name goes into the exported
kubeconfig (``exportKubeConfig.server``) and into the serving certificate
(``controlPlane.proxy.extraSANs``), so every client verifies TLS.

vCluster writes the kubeconfig (client certificate, key and CA embedded) to the
Secret ``vc-<release>``, key ``config``, in that namespace. The platform's
ProviderConfigs reference that Secret directly: no copy. The function reads it
as a required resource, only to hand the CA and client credentials to the Argo
CD cluster Secret. It is never observed through a provider-kubernetes Object:
provider-kubernetes copies an observed Secret's data into the Object's status
unless it runs with ``--sanitize-secrets``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from crossplane.function import response

from forge import versions
from forge.composers import helm, vcluster_kubeconfig
from forge.composers.access import ClusterAccess, SecretKey, namespace_for
from forge.core import naming, tier
from forge.core.context import Context
from forge.core.environment import deep_merge
from forge.core.errors import SpecError
from forge.core.observed import field
from forge.models.cluster import ClusterSpec

RELEASE_KEY = "vcluster"
ETCD_DEPLOYED = ("controlPlane", "backingStore", "etcd", "deploy", "enabled")
# Production: three control-plane replicas (they elect a leader) on a deployed three-member
# etcd (embedded SQLite serves one replica only), two CoreDNS replicas, and a
# PodDisruptionBudget that lets one control-plane pod go at a time.
HIGHLY_AVAILABLE: dict[str, Any] = {
    "controlPlane": {
        "statefulSet": {"highAvailability": {"replicas": 3}},
        "backingStore": {
            "etcd": {
                "deploy": {"enabled": True, "statefulSet": {"highAvailability": {"replicas": 3}}}
            }
        },
        "coredns": {"deployment": {"replicas": tier.REPLICAS}},
        "advanced": {"podDisruptionBudget": {"enabled": True, "maxUnavailable": 1}},
    }
}
KUBECONFIG_REQUIREMENT = "vcluster-kubeconfig"
KUBECONFIG_KEY = "config"


def check(ctx: Context) -> None:
    """Reject, before anything is composed, an XR name the chart cannot use."""
    if not ctx.name[:1].isalpha():
        # The chart names its Service after the release, and Service names start with a letter.
        raise SpecError("metadata.name", "must start with a letter for provider vcluster")


def compose(ctx: Context, spec: ClusterSpec) -> ClusterAccess:
    """The vCluster Release -> its kubeconfig Secret -> how to reach the cluster."""
    namespace = namespace_for(ctx.name)
    release = naming.helm_release(ctx.name)
    server = f"https://{release}.{namespace}.svc"
    chart = dataclasses.replace(versions.VCLUSTER, version=spec.vcluster.chart_version)
    values, overrides = _values(ctx.name, spec.vcluster.values, release, namespace, server)
    if _highly_available(ctx, spec):
        values = deep_merge(values, HIGHLY_AVAILABLE)
    manifest = helm.release(
        name=release,
        namespace=namespace,
        chart=chart,
        target_namespace=namespace,
        values=values,
        overrides=overrides,
        provider_config=spec.platform_provider_config_ref,
    )
    running = ctx.compose(RELEASE_KEY, manifest)
    ctx.stage(
        "ClusterReady",
        running,
        "Available" if running else "Creating",
        "" if running else f"waiting for the vCluster Helm release {namespace}/{release}",
    )

    secret = SecretKey(name=f"vc-{release}", namespace=namespace, key=KUBECONFIG_KEY)
    response.require_resources(
        ctx.rsp, KUBECONFIG_REQUIREMENT, "v1", "Secret", match_name=secret.name, namespace=namespace
    )
    found, reading = _read_kubeconfig(ctx)
    _kubeconfig_stage(ctx, secret, found, reading)
    access = ClusterAccess(
        namespace=namespace,
        kubernetes_version=_kubernetes_version(spec, overrides),
        cluster_resource=manifest,
    )
    config = reading.kubeconfig
    if config is None:
        return access
    return dataclasses.replace(
        access,
        server=server,
        ca_data=config.ca_data,
        kubeconfig=secret,
        client_certificate=config.certificate,
    )


def _highly_available(ctx: Context, spec: ClusterSpec) -> bool:
    """Whether the vCluster runs ``HIGHLY_AVAILABLE``: a new one in production; an existing
    one only when it already keeps its state in a deployed etcd. The backing store is
    chosen once: moving a running vCluster between SQLite and etcd would lose its state."""
    if not ctx.is_composed(RELEASE_KEY):
        return spec.tier == tier.PRODUCTION
    values = ("spec", "forProvider", "values")
    deployed = ctx.observed.get(RELEASE_KEY, *values, *ETCD_DEPLOYED) is True
    if spec.tier == tier.PRODUCTION and not deployed:
        response.warning(
            ctx.rsp,
            "the vCluster keeps its single replica on embedded SQLite: a production vCluster "
            "is highly available on a deployed etcd only when created so (moving a running one "
            "would lose its state); create a new Cluster to have one",
        )
    return deployed


def _values(
    context: str, user: dict[str, Any], release: str, namespace: str, server: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Our values and the user's overrides, the user's extra SANs added to ours."""
    sans = [f"{release}.{namespace}.svc", f"{release}.{namespace}.svc.cluster.local"]
    values = {
        "controlPlane": {"proxy": {"extraSANs": sans}},
        "exportKubeConfig": {"context": context, "server": server, "insecure": False},
    }
    extra = _path(user, "controlPlane", "proxy", "extraSANs")
    if isinstance(extra, list) and extra:
        merged = sans + [san for san in extra if san not in sans]
        user = deep_merge(user, {"controlPlane": {"proxy": {"extraSANs": merged}}})
    return values, user


def _path(values: Mapping[str, Any], *path: str) -> Any:
    current: Any = values
    for step in path:
        if not isinstance(current, Mapping):
            return None
        current = current.get(step)
    return current


def _kubernetes_version(spec: ClusterSpec, overrides: dict[str, Any]) -> str | None:
    """The image tag the user chose, or the pinned chart's default (unknown for other charts)."""
    tag = _path(overrides, "controlPlane", "distro", "k8s", "image", "tag")
    if isinstance(tag, str) and tag:
        return tag
    if spec.vcluster.chart_version == versions.VCLUSTER.version:
        return versions.VCLUSTER_KUBERNETES
    return None


def _read_kubeconfig(ctx: Context) -> tuple[bool, vcluster_kubeconfig.Reading]:
    """Whether the Secret arrived, and what its kubeconfig key holds."""
    if KUBECONFIG_REQUIREMENT not in ctx.req.required_resources:
        return False, vcluster_kubeconfig.Reading()
    items = ctx.req.required_resources[KUBECONFIG_REQUIREMENT].items
    if not items:
        return False, vcluster_kubeconfig.Reading()
    encoded = field(items[0].resource, "data", KUBECONFIG_KEY)
    if not isinstance(encoded, str):
        return True, vcluster_kubeconfig.Reading()
    return True, vcluster_kubeconfig.read(encoded)


def _kubeconfig_stage(
    ctx: Context, secret: SecretKey, found: bool, reading: vcluster_kubeconfig.Reading
) -> None:
    where = f"{secret.namespace}/{secret.name}"
    if reading.kubeconfig is not None:
        ctx.stage("KubeconfigReady", True, "Available")
    elif reading.too_large_bytes is not None:
        ctx.stage(
            "KubeconfigReady",
            False,
            "KubeconfigTooLarge",
            f"Secret {where} key {secret.key!r} holds {reading.too_large_bytes // 1024} KiB, "
            f"more than the {vcluster_kubeconfig.MAX_BYTES // 1024} KiB a kubeconfig may have",
        )
    elif found:
        ctx.stage(
            "KubeconfigReady",
            False,
            "KubeconfigIncomplete",
            f"Secret {where} has no kubeconfig with a CA and a client certificate "
            f"under key {secret.key!r}",
        )
    else:
        ctx.stage(
            "KubeconfigReady",
            False,
            "WaitingForKubeconfig",
            f"waiting for vCluster to write {where}",
        )
