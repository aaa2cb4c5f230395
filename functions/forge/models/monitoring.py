"""Monitoring: one stack, in-cluster or shipping to a remote endpoint.

- ``kube-prometheus-stack``: Prometheus Operator, Prometheus, Alertmanager and Grafana
  in the cluster (``kubePrometheusStack``: retention, storage, Grafana, Alertmanager).
- ``k8s-monitoring``: Grafana's chart (Alloy collectors) shipping metrics, logs and
  traces to remote Prometheus/Loki/OTLP endpoints (``k8sMonitoring``: destinations).

Credentials are references, never values: Grafana's admin user and the destinations'
credentials are keys of Secrets the platform team creates.

Environment defaults (keys of the EnvironmentConfig's ``data``; the XR wins):

- ``clusterName`` -> ``spec.clusterName``: the ``cluster`` label on every metric
  (Prometheus external label; k8s-monitoring's required cluster name).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Literal

from pydantic import Field, model_validator

from forge import versions
from forge.core.errors import FieldError
from forge.models.base import DnsLabel, Model, cel_rules, immutable, reject_duplicates
from forge.models.infrastructure import ChartNamespace, InfraSpec, InfraStatus, Reference
from forge.models.keda import Quantity
from forge.models.stack import SemVer

Stack = Literal["kube-prometheus-stack", "k8s-monitoring"]
# Prometheus durations and byte sizes (prometheus-operator's Duration and ByteSize).
Duration = Annotated[str, Field(pattern=r"^(0|([0-9]+(ms|s|m|h|d|w|y))+)$")]
ByteSize = Annotated[str, Field(pattern=r"^(0|([0-9]*[.])?[0-9]+((K|M|G|T|E|P)i?)?B)$")]
DnsSubdomain = Annotated[
    str,
    Field(
        pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$",
        max_length=253,
    ),
]
SecretKey = Annotated[str, Field(pattern=r"^[-._a-zA-Z0-9]+$", min_length=1, max_length=253)]


class Storage(Model):
    """A PersistentVolumeClaim per Prometheus replica (without it, data is lost on restart)."""

    size: Quantity = Field(description="Volume size, e.g. 50Gi.")
    storage_class: DnsSubdomain | None = Field(
        default=None, description="StorageClass (default: the cluster's default class)."
    )


class GrafanaAdminSecretRef(Model):
    """A Secret in the monitoring namespace holding Grafana's admin user and password."""

    name: DnsLabel
    user_key: SecretKey = "admin-user"
    password_key: SecretKey = "admin-password"


class Grafana(Model):
    """Grafana with the stack's dashboards."""

    enabled: bool = True
    admin_secret_ref: GrafanaAdminSecretRef | None = Field(
        default=None,
        description=(
            "Existing Secret with the admin credentials; without it the Grafana chart "
            "generates a random password in its own Secret."
        ),
    )


class Alertmanager(Model):
    """Alertmanager, routing the stack's alerts."""

    enabled: bool = True


class PrometheusOperatorCrds(Model):
    """The Prometheus Operator CRDs: a Helm release of their own, which upgrades them."""

    install: bool = Field(
        default=True,
        description=(
            "Install them with the prometheus-operator-crds chart before the stack; false: "
            "the cluster brings its own (the stack's chart installs none either way)."
        ),
    )
    chart_version: SemVer = Field(
        default=versions.PROMETHEUS_OPERATOR_CRDS.version,
        description=(
            "prometheus-operator-crds chart version: keep its appVersion (the Prometheus "
            "Operator release) the stack's when changing either chart's version."
        ),
    )


class KubePrometheusStack(Model):
    """kube-prometheus-stack settings (read when stack is kube-prometheus-stack)."""

    retention: Duration = Field(default="10d", description="How long Prometheus keeps data.")
    retention_size: ByteSize | None = Field(
        default=None, description="Also cap the data by size, e.g. 45GiB (below the volume)."
    )
    replicas: int | None = Field(
        default=None,
        ge=1,
        le=5,
        description=(
            "Prometheus replicas (2+ adds a budget). Default: 2 in production (tier), else 1."
        ),
    )
    storage: Storage | None = None
    grafana: Grafana = Field(default_factory=Grafana)
    alertmanager: Alertmanager = Field(default_factory=Alertmanager)
    crds: PrometheusOperatorCrds = Field(default_factory=PrometheusOperatorCrds)
    control_plane_metrics: bool = Field(
        default=False,
        description=(
            "Scrape kube-scheduler, kube-controller-manager and etcd; managed control planes "
            "(EKS, vCluster) do not expose them, so their targets would only alert as down."
        ),
    )


class CredentialsSecretRef(Model):
    """A Secret holding a destination's credentials (the keys, never the values)."""

    name: DnsLabel
    namespace: DnsLabel | None = Field(
        default=None,
        description="The chart's namespace (the default) or the XR's.",
    )
    username_key: SecretKey = Field(default="username", description="basic auth: user name key.")
    password_key: SecretKey = Field(default="password", description="basic auth: password key.")
    token_key: SecretKey = Field(default="bearerToken", description="bearerToken auth: token key.")


class Destination(Model):
    """A remote endpoint telemetry is sent to."""

    model_config = Model.model_config | {
        "json_schema_extra": cel_rules(
            (
                "self.auth == 'none' || has(self.secretRef)",
                "secretRef is required unless auth is none",
            ),
            ("self.auth != 'none' || !has(self.secretRef)", "secretRef is not used with auth none"),
            ("!has(self.protocol) || self.type == 'otlp'", "protocol is only used with type otlp"),
        )
    }

    name: DnsLabel
    type: Literal["prometheus", "loki", "otlp"] = Field(
        description="prometheus: remote-write metrics; loki: logs; otlp: metrics, logs, traces."
    )
    url: str = Field(
        pattern=r"^https?://[^\s]+$",
        max_length=2048,
        description="e.g. https://prometheus.example.com/api/v1/write",
    )
    auth: Literal["basic", "bearerToken", "none"] = "basic"
    secret_ref: CredentialsSecretRef | None = None
    protocol: Literal["grpc", "http"] | None = Field(
        default=None, description="otlp only (the chart's default: grpc)."
    )

    @model_validator(mode="after")
    def _inputs(self) -> Destination:
        if self.auth != "none" and self.secret_ref is None:
            raise FieldError("secretRef", f"is required when auth is {self.auth}")
        if self.auth == "none" and self.secret_ref is not None:
            raise FieldError("secretRef", "is not used when auth is none")
        if self.protocol is not None and self.type != "otlp":
            raise FieldError("protocol", "is only used with type otlp")
        return self


class Features(Model):
    """What to collect. Unset: on when a destination can receive it."""

    cluster_metrics: bool | None = Field(
        default=None, description="Kubernetes metrics (kubelet, cAdvisor, kube-state-metrics)."
    )
    host_metrics: bool | None = Field(default=None, description="Node metrics (node-exporter).")
    cluster_events: bool | None = Field(default=None, description="Kubernetes events as logs.")
    pod_logs: bool | None = Field(default=None, description="Container logs of every pod.")
    application_observability: bool | None = Field(
        default=None,
        description="OTLP receivers (gRPC 4317, HTTP 4318) for applications' telemetry.",
    )


# The signal each feature produces, and which destination types take each signal.
FEATURE_SIGNALS = {
    "clusterMetrics": "metrics",
    "hostMetrics": "metrics",
    "clusterEvents": "logs",
    "podLogs": "logs",
    "applicationObservability": "traces",
}
DESTINATION_SIGNALS = {
    "prometheus": {"metrics"},
    "loki": {"logs"},
    "otlp": {"metrics", "logs", "traces"},
}
_TAKERS = {"metrics": "a prometheus or otlp", "logs": "a loki or otlp", "traces": "an otlp"}


class K8sMonitoring(Model):
    """k8s-monitoring settings (required when stack is k8s-monitoring)."""

    destinations: list[Destination] = Field(
        min_length=1,
        max_length=16,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    )
    features: Features = Field(default_factory=Features)

    def signals(self) -> set[str]:
        """What the destinations can receive: metrics, logs, traces."""
        return set().union(*(DESTINATION_SIGNALS[d.type] for d in self.destinations))

    def enabled_features(self) -> list[str]:
        """The features to run (camelCase): as set, else on when a destination takes them."""
        signals = self.signals()
        chosen = self.features.model_dump(by_alias=True)
        return [
            feature
            for feature, signal in FEATURE_SIGNALS.items()
            if chosen[feature] or (chosen[feature] is None and signal in signals)
        ]

    @model_validator(mode="after")
    def _consistent(self) -> K8sMonitoring:
        reject_duplicates(
            (d.name for d in self.destinations), "destinations[{}].name", "destination"
        )
        signals, chosen = self.signals(), self.features.model_dump(by_alias=True)
        for feature, signal in FEATURE_SIGNALS.items():
            if chosen[feature] and signal not in signals:
                raise FieldError(f"features.{feature}", f"needs {_TAKERS[signal]} destination")
        if not self.enabled_features():
            raise FieldError("features", "enable at least one feature")
        return self


MONITORING_VALIDATIONS = [
    {
        "rule": "self.stack != 'k8s-monitoring' || has(self.k8sMonitoring)",
        "message": "k8sMonitoring is required when stack is k8s-monitoring",
    },
    {
        "rule": "self.stack == 'k8s-monitoring' || !has(self.k8sMonitoring)",
        "message": "k8sMonitoring is only used when stack is k8s-monitoring",
    },
]


class MonitoringSpec(InfraSpec):
    """Exactly one monitoring stack, chosen by stack."""

    model_config = InfraSpec.model_config | {
        "json_schema_extra": {"x-kubernetes-validations": MONITORING_VALIDATIONS}
    }

    stack: Stack = Field(
        default="kube-prometheus-stack",
        description=(
            "kube-prometheus-stack (in-cluster) or k8s-monitoring (remote endpoints). Immutable."
        ),
        json_schema_extra=immutable(
            "either stack's Helm release has the XR's name (delete and recreate the XR to switch)"
        ),
    )
    chart_version: SemVer | None = Field(  # type: ignore[assignment]
        default=None,
        description=(
            f"Version of the stack's chart (default: kube-prometheus-stack "
            f"{versions.KUBE_PROMETHEUS_STACK.version}, k8s-monitoring "
            f"{versions.K8S_MONITORING.version})."
        ),
    )
    namespace: ChartNamespace = "monitoring"
    cluster_name: str | None = Field(
        default=None,
        min_length=1,
        max_length=63,
        description="Cluster label on all telemetry (default: the environment's clusterName).",
    )
    kube_prometheus_stack: KubePrometheusStack = Field(default_factory=KubePrometheusStack)
    k8s_monitoring: K8sMonitoring | None = Field(default=None, alias="k8sMonitoring")

    @model_validator(mode="after")
    def _one_stack(self) -> MonitoringSpec:
        if self.stack == "k8s-monitoring":
            if self.k8s_monitoring is None:
                raise FieldError("k8sMonitoring", "is required when stack is k8s-monitoring")
            if self.kube_prometheus_stack != KubePrometheusStack():
                raise FieldError(
                    "kubePrometheusStack", "is only used when stack is kube-prometheus-stack"
                )
        elif self.k8s_monitoring is not None:
            raise FieldError("k8sMonitoring", "is only used when stack is k8s-monitoring")
        return self

    def references(self) -> Iterator[Reference]:
        """The chart's namespace, and the destinations' credential Secrets."""
        yield from super().references()
        destinations = self.k8s_monitoring.destinations if self.k8s_monitoring else []
        for index, destination in enumerate(destinations):
            ref = destination.secret_ref
            if ref is not None:  # no namespace: the chart's
                path = f"spec.k8sMonitoring.destinations[{index}].secretRef.namespace"
                yield Reference(path, "secret", ref.namespace or self.namespace)


ENV_DEFAULTS = {"clusterName": "clusterName"}


class MonitoringStatus(InfraStatus):
    """What Monitoring reports."""

    stack: str | None = None
    features: list[str] = Field(
        default_factory=list, description="k8s-monitoring features enabled."
    )
    grafana_admin_secret: str | None = Field(
        default=None, description="The Secret holding Grafana's admin credentials."
    )
