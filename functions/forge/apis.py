"""Which composer handles which XR kind."""

from __future__ import annotations

from collections.abc import Callable

from forge.composers import cluster, platformcluster
from forge.composers.infra import (
    certmanager,
    externaldns,
    externalsecrets,
    istio,
    keda,
    monitoring,
)
from forge.core.context import Context
from forge.versions import GROUP

Composer = Callable[[Context], None]

COMPOSERS: dict[tuple[str, str], Composer] = {
    (GROUP, "PlatformCluster"): platformcluster.compose,
    (GROUP, "Cluster"): cluster.compose,
    (GROUP, "ExternalDNS"): externaldns.compose,
    (GROUP, "ExternalSecretsOperator"): externalsecrets.compose,
    (GROUP, "CertManager"): certmanager.compose,
    (GROUP, "Istio"): istio.compose,
    (GROUP, "KEDA"): keda.compose,
    (GROUP, "Monitoring"): monitoring.compose,
}
# Kinds whose XRs live in a namespace (the infrastructure bundle); the others are
# cluster-scoped. A test holds this equal to the XRDs' scopes.
NAMESPACED: frozenset[str] = frozenset(
    {"ExternalDNS", "ExternalSecretsOperator", "CertManager", "Istio", "KEDA", "Monitoring"}
)
