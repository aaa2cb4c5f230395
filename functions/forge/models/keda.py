"""KEDA: the event-driven autoscaling operator, its metrics server and admission webhooks.

Environment defaults (keys of the EnvironmentConfig's ``data``; the XR wins):

- ``clusterName`` -> ``spec.clusterName`` (the source of KEDA's CloudEvents).

Cloud scalers (SQS, CloudWatch, ...) authenticate as the operator's service account
``keda-operator`` in ``namespace`` (``awsIdentity``: an EKS Pod Identity association made
with the cluster, or an IRSA role annotated on it), reported in ``status.serviceAccount``.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from forge import versions
from forge.core.errors import FieldError
from forge.models.base import DnsLabel, Model
from forge.models.infrastructure import ChartNamespace, InfraSpec, InfraStatus
from forge.models.infrastructure_fields import AwsIdentity, ServiceAccountStatus
from forge.models.stack import SemVer

SERVICE_ACCOUNT = "keda-operator"
EXTERNAL_METRICS_API = "v1beta1.external.metrics.k8s.io"

# A Kubernetes resource quantity (e.g. 100m, 1, 512Mi, 1.5Gi).
Quantity = Annotated[
    str, Field(pattern=r"^([0-9]+(\.[0-9]+)?|\.[0-9]+)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")
]


class ResourceList(Model):
    """CPU and memory."""

    cpu: Quantity | None = None
    memory: Quantity | None = None


class Resources(Model):
    """Requests and limits; what is left out keeps the chart's default."""

    requests: ResourceList | None = None
    limits: ResourceList | None = None


class Operator(Model):
    """The operator (one active replica by leader election; a second one takes over)."""

    replicas: int | None = Field(
        default=None,
        ge=1,
        le=3,
        description="2+ for high availability (with a PodDisruptionBudget). Default: 2 in "
        "production (tier), else 1.",
    )
    resources: Resources | None = None


class MetricsServer(Model):
    """The metrics adapter serving the external metrics API to the HPA."""

    enabled: bool = Field(
        default=True,
        description=(
            f"Registers the APIService {EXTERNAL_METRICS_API}; there can be only one such "
            "adapter per cluster. Without it ScaledObjects cannot scale beyond activation."
        ),
    )
    replicas: int | None = Field(
        default=None,
        ge=1,
        le=3,
        description="Extra replicas only shorten failover (one serves); 2+ adds a budget. "
        "Default: 2 in production (tier), else 1.",
    )
    resources: Resources | None = None


class Webhooks(Model):
    """Admission webhooks that reject invalid or conflicting ScaledObjects."""

    enabled: bool = True
    failure_policy: Literal["Ignore", "Fail"] = Field(
        default="Ignore",
        description="Fail blocks ScaledObject changes while the webhook is down.",
    )
    replicas: int | None = Field(
        default=None, ge=1, le=3, description="Default: 2 in production (tier), else 1."
    )
    resources: Resources | None = None


class Prometheus(Model):
    """Prometheus metrics of the operator, metrics server and webhooks."""

    enabled: bool = Field(default=False, description="Expose the metrics endpoints.")
    service_monitor: bool = Field(
        default=False,
        description="Create ServiceMonitors (needs the Prometheus Operator CRDs, e.g. Monitoring).",
    )


KEDA_VALIDATIONS = [
    {
        "rule": (
            "!has(self.webhooks) || !has(self.webhooks.failurePolicy) || "
            "self.webhooks.failurePolicy != 'Fail' || !has(self.webhooks.enabled) || "
            "self.webhooks.enabled"
        ),
        "message": "webhooks.failurePolicy Fail needs webhooks.enabled",
    },
    {
        "rule": (
            "!has(self.prometheus) || !has(self.prometheus.serviceMonitor) || "
            "!self.prometheus.serviceMonitor || (has(self.prometheus.enabled) && "
            "self.prometheus.enabled)"
        ),
        "message": "prometheus.serviceMonitor needs prometheus.enabled",
    },
]


class KedaSpec(InfraSpec):
    """The KEDA operator and the settings that matter in production."""

    model_config = InfraSpec.model_config | {
        "json_schema_extra": {"x-kubernetes-validations": KEDA_VALIDATIONS}
    }

    chart_version: SemVer = versions.KEDA.version
    namespace: ChartNamespace = "keda"
    operator: Operator = Field(default_factory=Operator)
    metrics_server: MetricsServer = Field(default_factory=MetricsServer)
    webhooks: Webhooks = Field(default_factory=Webhooks)
    log_level: Literal["debug", "info", "error"] = Field(
        default="info", description="Log level of the operator, metrics server and webhooks."
    )
    watch_namespaces: list[DnsLabel] = Field(
        default_factory=list,
        description="Namespaces whose ScaledObjects KEDA acts on (all if empty).",
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    aws_identity: AwsIdentity | None = Field(
        default=None,
        description="AWS identity of keda-operator for cloud scalers (TriggerAuthentication "
        "podIdentity provider aws).",
    )
    prometheus: Prometheus = Field(default_factory=Prometheus)
    cluster_name: str | None = Field(
        default=None,
        min_length=1,
        max_length=63,
        description="Cluster name in KEDA's CloudEvents (default: the environment's clusterName).",
    )

    @model_validator(mode="after")
    def _consistent(self) -> KedaSpec:
        if self.webhooks.failure_policy == "Fail" and not self.webhooks.enabled:
            raise FieldError("webhooks.failurePolicy", "Fail needs webhooks.enabled")
        if self.prometheus.service_monitor and not self.prometheus.enabled:
            raise FieldError("prometheus.serviceMonitor", "needs prometheus.enabled")
        return self


ENV_DEFAULTS = {"clusterName": "clusterName"}


class KedaStatus(InfraStatus):
    """What KEDA reports."""

    service_account: ServiceAccountStatus | None = Field(
        default=None, description="The identity cloud scalers use (for Pod Identity / IRSA)."
    )
    external_metrics_api: str | None = Field(
        default=None, description="The APIService KEDA's metrics server registers."
    )
