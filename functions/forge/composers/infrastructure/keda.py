"""KEDA: one chart, its values derived from the spec.

Replicated components get a PodDisruptionBudget so that a node drain keeps one
running; the operator's service account has a fixed name so that a Pod Identity
association (or an IAM trust policy) made before the chart keeps matching it.
"""

from __future__ import annotations

from typing import Any

from forge.composers.infrastructure import common
from forge.composers.infrastructure.service_accounts import service_account_status
from forge.core import tier
from forge.core.context import Context
from forge.models.keda import (
    ENV_DEFAULTS,
    EXTERNAL_METRICS_API,
    SERVICE_ACCOUNT,
    KedaSpec,
    Resources,
)
from forge.versions import KEDA, Chart

# The components as the chart's prometheus, podDisruptionBudget and resources sections
# name them (its top-level section for the metrics server is "metricsServer").
_COMPONENTS = ("operator", "metricServer", "webhooks")
# The chart's topologySpreadConstraints keys and each component's pod label ``app``.
_POD_APPS = {
    "operator": "keda-operator",
    "metricsServer": "keda-operator-metrics-apiserver",
    "webhooks": "keda-admission-webhooks",
}


def _resources(resources: Resources) -> dict[str, Any]:
    return resources.model_dump(by_alias=True, exclude_none=True)


def keda_values(spec: KedaSpec) -> dict[str, Any]:
    """Helm values for the keda chart."""
    level = spec.log_level
    metrics, webhooks = spec.metrics_server, spec.webhooks
    replicas = _replicas(spec)
    values: dict[str, Any] = {
        "operator": {"replicaCount": replicas["operator"]},
        "metricsServer": {"enabled": metrics.enabled, "replicaCount": replicas["metricServer"]},
        "webhooks": {
            "enabled": webhooks.enabled,
            "failurePolicy": webhooks.failure_policy,
            "replicaCount": replicas["webhooks"],
        },
        "logging": {
            "operator": {"level": level},
            "metricServer": {"zapLevel": level},
            "webhooks": {"level": level},
        },
        "serviceAccount": {"operator": {"name": SERVICE_ACCOUNT}},
        "prometheus": _prometheus(spec),
    }
    if spec.watch_namespaces:
        values["watchNamespace"] = ",".join(spec.watch_namespaces)
    if spec.cluster_name:
        values["clusterName"] = spec.cluster_name
    identity = spec.aws_identity
    if identity is not None and identity.source == "IRSA":
        values["podIdentity"] = {"aws": {"irsa": {"enabled": True, "roleArn": identity.role_arn}}}
    budgets = _budgets(spec, replicas)
    if budgets:
        values["podDisruptionBudget"] = budgets
    if spec.tier == tier.PRODUCTION:
        values["topologySpreadConstraints"] = {
            name: tier.zone_spread({"app": app}) for name, app in _POD_APPS.items()
        }
    components = zip(_COMPONENTS, (spec.operator, metrics, webhooks), strict=True)
    resources = {name: _resources(c.resources) for name, c in components if c.resources}
    if resources:
        values["resources"] = resources
    return values


def _prometheus(spec: KedaSpec) -> dict[str, Any]:
    """Metrics endpoints (and ServiceMonitors) for the components that run."""
    running = {
        "operator": True,
        "metricServer": spec.metrics_server.enabled,
        "webhooks": spec.webhooks.enabled,
    }
    prometheus = spec.prometheus
    return {
        name: {
            "enabled": prometheus.enabled and running[name],
            "serviceMonitor": {"enabled": prometheus.service_monitor and running[name]},
        }
        for name in _COMPONENTS
    }


def _replicas(spec: KedaSpec) -> dict[str, int]:
    """Each component's replicas: the spec's, else two in production and one otherwise."""
    components = zip(_COMPONENTS, (spec.operator, spec.metrics_server, spec.webhooks), strict=True)
    return {name: tier.replicas(spec.tier, c.replicas) for name, c in components}


def _budgets(spec: KedaSpec, replicas: dict[str, int]) -> dict[str, Any]:
    """A PodDisruptionBudget (one pod always up) for each replicated component."""
    running = {
        "operator": True,
        "metricServer": spec.metrics_server.enabled,
        "webhooks": spec.webhooks.enabled,
    }
    return {
        name: {"minAvailable": 1} for name, count in replicas.items() if running[name] and count > 1
    }


def compose(ctx: Context) -> None:
    """The keda Release, then status."""
    spec = common.checked_spec(ctx, KedaSpec, ENV_DEFAULTS)
    chart = Chart(KEDA.name, KEDA.repository, spec.chart_version)
    _, status = common.install_chart(ctx, spec, key="keda", chart=chart, values=keda_values(spec))
    common.report(ctx, [status])
    extra: dict[str, Any] = {
        "serviceAccount": service_account_status(spec.namespace, SERVICE_ACCOUNT)
    }
    if spec.metrics_server.enabled:
        extra["externalMetricsApi"] = EXTERNAL_METRICS_API
    ctx.set_status(extra)
