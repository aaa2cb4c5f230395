"""Monitoring: kube-prometheus-stack in the cluster, or k8s-monitoring to remote endpoints.

kube-prometheus-stack ships the Prometheus Operator CRDs in a ``crds/`` directory, which
Helm installs once and never upgrades. So the stack never installs them
(``crds.enabled: false``): unless ``crds.install`` is false, a release of the
prometheus-operator-crds chart, whose CRDs are templates, installs them first and
upgrades them with its version; they are annotated ``helm.sh/resource-policy: keep``, so
uninstalling never deletes them (nor every ServiceMonitor and PrometheusRule). The first
install takes ownership of CRDs an earlier release installed through the stack's
``crds/`` (they have no Helm owner). The stack waits for it, and a Usage makes the stack's
release hold it, so deleting the XR uninstalls the stack first.

k8s-monitoring fails to render when a feature has no destination for its signal or
a collector serves no feature, so the model enables features from the destinations
and each enabled feature brings the Alloy collector shaped for it.
"""

from __future__ import annotations

from typing import Any

from forge.composers import helm, usage
from forge.composers.infrastructure import common
from forge.core import naming, tier
from forge.core.context import Context
from forge.core.errors import SpecError
from forge.models.infrastructure import ChartStatus
from forge.models.monitoring import (
    ENV_DEFAULTS,
    Destination,
    K8sMonitoring,
    KubePrometheusStack,
    MonitoringSpec,
)
from forge.versions import K8S_MONITORING, KUBE_PROMETHEUS_STACK, PROMETHEUS_OPERATOR_CRDS, Chart

# Selectors that, left true, make Prometheus ignore monitors and rules of other releases.
_SELECTORS = ("serviceMonitor", "podMonitor", "rule", "probe", "scrapeConfig")
_CONTROL_PLANE = ("kubeControllerManager", "kubeScheduler", "kubeEtcd")
CRDS_KEY = PROMETHEUS_OPERATOR_CRDS.name
KEEP = {"helm.sh/resource-policy": "keep"}

# feature -> (chart key, Alloy collector, the collector's presets)
COLLECTORS: dict[str, tuple[str, str, list[str]]] = {
    "clusterMetrics": ("clusterMetrics", "alloy-metrics", ["clustered", "statefulset"]),
    "hostMetrics": ("hostMetrics", "alloy-metrics", ["clustered", "statefulset"]),
    "clusterEvents": ("clusterEvents", "alloy-singleton", ["singleton"]),
    "podLogs": ("podLogsViaLoki", "alloy-logs", ["filesystem-log-reader", "daemonset"]),
    "applicationObservability": ("applicationObservability", "alloy-receiver", ["deployment"]),
}


def kube_prometheus_stack_values(
    kps: KubePrometheusStack, cluster_name: str | None, tier_name: str | None = None
) -> dict[str, Any]:
    """Prometheus (retention, storage, cluster label), Grafana and Alertmanager."""
    replicas = tier.replicas(tier_name, kps.replicas)
    prometheus: dict[str, Any] = {
        "retention": kps.retention,
        "replicas": replicas,
        **{f"{s}SelectorNilUsesHelmValues": False for s in _SELECTORS},
    }
    if kps.retention_size:
        prometheus["retentionSize"] = kps.retention_size
    if cluster_name:
        prometheus["externalLabels"] = {"cluster": cluster_name}
    if kps.storage is not None:
        claim: dict[str, Any] = {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": kps.storage.size}},
        }
        if kps.storage.storage_class:
            claim["storageClassName"] = kps.storage.storage_class
        prometheus["storageSpec"] = {"volumeClaimTemplate": {"spec": claim}}
    grafana: dict[str, Any] = {"enabled": kps.grafana.enabled}
    secret = kps.grafana.admin_secret_ref
    if kps.grafana.enabled and secret is not None:
        grafana["admin"] = {
            "existingSecret": secret.name,
            "userKey": secret.user_key,
            "passwordKey": secret.password_key,
        }
    values: dict[str, Any] = {
        # Never Helm's crds/ (installed once, never upgraded): see the module docstring.
        "crds": {"enabled": False},
        "prometheus": {"prometheusSpec": prometheus},
        "grafana": grafana,
        "alertmanager": {"enabled": kps.alertmanager.enabled},
    }
    for component in _CONTROL_PLANE:
        values[component] = {"enabled": kps.control_plane_metrics}
    if replicas > 1:
        values["prometheus"]["podDisruptionBudget"] = {"enabled": True, "minAvailable": 1}
    if tier_name == tier.PRODUCTION:
        _highly_available(values, kps.alertmanager.enabled)
    return values


def _highly_available(values: dict[str, Any], alertmanager: bool) -> None:
    """Production: Prometheus and Alertmanager replicas prefer distinct zones; two
    Alertmanagers (they gossip, so an alert is sent once) with a budget. The operator
    stays one: it elects no leader, and Prometheus runs on while it restarts."""
    values["prometheus"]["prometheusSpec"]["podAntiAffinityTopologyKey"] = tier.ZONE
    if alertmanager:
        values["alertmanager"]["alertmanagerSpec"] = {
            "replicas": tier.REPLICAS,
            "podAntiAffinityTopologyKey": tier.ZONE,
        }
        values["alertmanager"]["podDisruptionBudget"] = {"enabled": True, "minAvailable": 1}


def _destination(destination: Destination, namespace: str) -> dict[str, Any]:
    """One entry of the chart's ``destinations`` map; credentials stay in their Secret."""
    out: dict[str, Any] = {"type": destination.type, "url": destination.url}
    if destination.protocol:
        out["protocol"] = destination.protocol
    ref = destination.secret_ref
    if ref is None:
        return out
    if destination.auth == "basic":
        out["auth"] = {
            "type": "basic",
            "usernameKey": ref.username_key,
            "passwordKey": ref.password_key,
        }
    else:
        out["auth"] = {"type": "bearerToken", "bearerTokenKey": ref.token_key}
    out["secret"] = {"create": False, "name": ref.name, "namespace": ref.namespace or namespace}
    return out


def k8s_monitoring_values(k8s: K8sMonitoring, cluster_name: str, namespace: str) -> dict[str, Any]:
    """Destinations, the enabled features, and one collector per workload shape."""
    values: dict[str, Any] = {
        "cluster": {"name": cluster_name},
        "destinations": {d.name: _destination(d, namespace) for d in k8s.destinations},
        "collectors": {},
    }
    features = k8s.enabled_features()
    for feature in features:
        key, collector, presets = COLLECTORS[feature]
        values[key] = {"enabled": True, "collector": collector}
        values["collectors"][collector] = {"presets": presets}
    if "hostMetrics" in features:
        values["hostMetrics"]["linuxHosts"] = {"enabled": True}
    if "applicationObservability" in features:
        values["applicationObservability"]["receivers"] = {
            "otlp": {"grpc": {"enabled": True}, "http": {"enabled": True}}
        }
    services = {}
    if "clusterMetrics" in features:
        services["kube-state-metrics"] = {"deploy": True}
    if "hostMetrics" in features:
        services["node-exporter"] = {"deploy": True}
    if services:
        values["telemetryServices"] = services
    return values


def compose(ctx: Context) -> None:
    """The chosen stack's Release, then status."""
    spec = common.checked_spec(ctx, MonitoringSpec, ENV_DEFAULTS)
    release = naming.helm_release(ctx.name)
    status: dict[str, Any] = {"stack": spec.stack}
    k8s = spec.k8s_monitoring  # set exactly when stack is k8s-monitoring
    if spec.stack == "k8s-monitoring" and k8s is not None:
        if not spec.cluster_name:
            raise SpecError(
                "spec.clusterName",
                "is required when stack is k8s-monitoring (set it in the XR, or clusterName in the "
                "EnvironmentConfig)",
            )
        pinned = K8S_MONITORING
        values = k8s_monitoring_values(k8s, spec.cluster_name, spec.namespace)
        status["features"] = k8s.enabled_features()
    else:
        pinned = KUBE_PROMETHEUS_STACK
        kps = spec.kube_prometheus_stack
        values = kube_prometheus_stack_values(kps, spec.cluster_name, spec.tier)
        if kps.grafana.enabled:
            secret = kps.grafana.admin_secret_ref
            # Without a Secret of ours, the Grafana subchart keeps a generated one.
            status["grafanaAdminSecret"] = secret.name if secret else f"{release}-grafana"
    chart = Chart(pinned.name, pinned.repository, spec.chart_version or pinned.version)
    crds = _crds(ctx, spec) if spec.stack == "kube-prometheus-stack" else None
    charts = [crds[1]] if crds else []
    if crds is None or crds[1].ready or ctx.is_composed(pinned.name):
        manifest, chart_status = common.install_chart(
            ctx, spec, key=pinned.name, chart=chart, values=values, release_name=release
        )
        if crds is not None:
            holder = usage.usage(of=crds[0], by=manifest)
            ctx.compose(f"{pinned.name}-uses-{CRDS_KEY}", holder)
    else:
        chart_status = ChartStatus.of(chart, release, spec.namespace, False)
    common.report(ctx, [*charts, chart_status])
    ctx.set_status({**status, "chart": chart_status.model_dump(by_alias=True)})


def _crds(ctx: Context, spec: MonitoringSpec) -> tuple[dict[str, Any], ChartStatus] | None:
    """The prometheus-operator-crds Release (unless the cluster brings the CRDs)."""
    crds = spec.kube_prometheus_stack.crds
    if not crds.install:
        return None
    chart = Chart(CRDS_KEY, PROMETHEUS_OPERATOR_CRDS.repository, crds.chart_version)
    name = naming.helm_release(ctx.name, "crds")
    manifest = helm.release(
        name=name,
        namespace=str(ctx.namespace),
        chart=chart,
        target_namespace=spec.namespace,
        values={"crds": {"annotations": dict(KEEP)}},
        provider_config=spec.provider_config_ref,
    )
    # One-time (provider-helm records it): adopts CRDs the stack's crds/ installed.
    manifest["spec"]["forProvider"]["takeOwnership"] = True
    ready = ctx.compose(CRDS_KEY, manifest)
    return manifest, ChartStatus.of(chart, name, spec.namespace, ready)
