"""What every infrastructure-bundle XR has in common."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from forge.models.base import (
    DnsLabel,
    EnvironmentConfigRef,
    Model,
    ProviderConfigRef,
    Values,
    immutable,
)
from forge.models.stack import SemVer
from forge.versions import Chart

ChartNamespace = Annotated[
    DnsLabel,
    Field(
        description="Namespace the chart is installed into. Immutable.",
        json_schema_extra=immutable("the Helm release lives there"),
    ),
]


class InfraSpec(Model):
    """Base of the infrastructure XR specs: chart pin, values override, where to install.

    Subclasses override ``chart_version`` and ``namespace`` defaults.
    """

    environment_config_ref: EnvironmentConfigRef | None = None
    chart_version: SemVer
    namespace: ChartNamespace
    values: Values
    provider_config_ref: ProviderConfigRef = Field(
        default_factory=ProviderConfigRef,
        description=(
            "In-cluster provider-helm and provider-kubernetes ProviderConfig "
            "(the self-management stack creates ClusterProviderConfig 'default')."
        ),
    )


class ChartStatus(Model):
    """The chart a bundle XR installed."""

    name: str
    repository: str
    version: str
    release: str
    namespace: str
    ready: bool

    @classmethod
    def of(cls, chart: Chart, release: str, namespace: str, ready: bool) -> ChartStatus:
        """The status entry of ``chart`` installed as ``release`` into ``namespace``."""
        return cls(
            name=chart.name,
            repository=chart.repository,
            version=chart.version,
            release=release,
            namespace=namespace,
            ready=ready,
        )


class InfraStatus(Model):
    """Status shared by every infrastructure XR."""

    chart: ChartStatus | None = None
    charts: list[ChartStatus] = Field(default_factory=list)
