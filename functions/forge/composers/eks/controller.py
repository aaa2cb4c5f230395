"""A controller in the new cluster with an AWS identity of its own (the AWS Load Balancer
Controller, cluster-autoscaler): its Pod Identity role and association now, its Release
once the node groups, coredns and that association are ready. The Release is orphaned on
deletion and holds the EKS cluster (``ClusterRelease``, bootstrap)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from forge.composers.access import ClusterRelease
from forge.composers.eks.addons import Addons
from forge.composers.eks.base import Eks
from forge.composers.eks.control_plane import ControlPlane
from forge.composers.eks.pod_identity import Identity, pod_identity
from forge.composers.helm import RELEASE_API_VERSION
from forge.core.readiness import is_ready
from forge.versions import Chart


class Settings(Protocol):
    """What the spec says of such a controller."""

    enabled: bool
    chart_version: str
    policy_arns: list[Any]
    values: dict[str, Any]


@dataclass
class Controller:
    """The controller's identity and Release (for bootstrap) and their readiness."""

    name: str  # the Release MR, the Helm release, its fullname
    identity: Identity | None = None
    releases: dict[str, ClusterRelease] = field(default_factory=dict)
    ready: bool = True

    @property
    def pending(self) -> list[str]:
        return [] if self.ready else [self.name]


@dataclass(frozen=True)
class Install:
    """Where and what a controller is: its composition key, Release name, namespace,
    service account, identity's purpose and inline policy, and chart."""

    key: str
    name: str
    namespace: str
    service_account: str
    purpose: str
    chart: Chart


def compose(
    e: Eks,
    install: Install,
    settings: Settings,
    *,
    plane: ControlPlane,
    nodes_ready: bool,
    addons: Addons,
    inline_policy: dict[str, Any],
    values: Callable[[], dict[str, Any] | None],
) -> Controller:
    """The role and association now; the Release once its inputs are ready and ``values``
    (the chart's values this API owns) is known."""
    if not settings.enabled:
        return Controller(install.name)
    identity = pod_identity(
        e,
        install.purpose,
        namespace=install.namespace,
        service_account=install.service_account,
        policy_arns=list(settings.policy_arns),
        plane=plane,
        inline_policy=inline_policy,
    )
    report = Controller(install.name, identity=identity, ready=False)
    inputs = nodes_ready and addons.ready.get("coredns", False) and identity.ready
    owned = values() if e.due(install.key, inputs) else None
    if owned is None:
        return report
    report.releases[install.key] = ClusterRelease(
        name=install.name,
        chart=dataclasses.replace(install.chart, version=settings.chart_version),
        namespace=install.namespace,
        values=owned,
        overrides=settings.values,
    )
    report.ready = is_ready(RELEASE_API_VERSION, "Release", e.ctx.observed.resource(install.key))
    return report
