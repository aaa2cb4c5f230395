"""What every infrastructure-bundle XR has in common."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import Field

from forge.models.base import (
    DnsLabel,
    EnvironmentConfigRef,
    Model,
    ProviderConfigRef,
    TierField,
    Values,
    immutable,
)
from forge.models.stack import SemVer
from forge.versions import Chart

ChartNamespace = Annotated[
    DnsLabel,
    Field(
        description=(
            "Namespace the chart is installed into. Immutable. Never a reserved one "
            "(kube-*, crossplane-system, Argo CD's, cluster-*); a tenant's XR may use its "
            "own namespace, the chart's conventional one, or one the platform grants "
            "(docs/tenancy.md)."
        ),
        json_schema_extra=immutable("the Helm release lives there"),
    ),
]


@dataclass(frozen=True)
class Reference:
    """A spec field that names a namespace of the target cluster (docs/tenancy.md).

    ``chart``: a chart goes there. ``secret`` and ``service account``: a component reads
    that Secret or presents that account's token. ``gateway``: routes attach to a Gateway
    there. ``path`` is the field, for messages.
    """

    path: str
    what: Literal["chart", "secret", "service account", "gateway"]
    namespace: str


class InfraSpec(Model):
    """Base of the infrastructure XR specs: chart pin, values override, where to install.

    Subclasses override ``chart_version`` and ``namespace`` defaults, and extend
    ``references`` with every other field that names a namespace.
    """

    environment_config_ref: EnvironmentConfigRef | None = None
    tier: TierField
    chart_version: SemVer
    namespace: ChartNamespace
    values: Values
    provider_config_ref: ProviderConfigRef = Field(
        default_factory=ProviderConfigRef,
        description=(
            "In-cluster provider-helm and provider-kubernetes ProviderConfig "
            "(the self-management stack creates ClusterProviderConfig 'default'). "
            "A tenant's XR must name a ProviderConfig the platform grants its namespace "
            "(docs/tenancy.md)."
        ),
    )

    @classmethod
    def conventional_namespaces(cls) -> frozenset[str]:
        """Where this API's charts go by default (a tenant may install there)."""
        return frozenset({cls.model_fields["namespace"].default})

    def references(self) -> Iterator[Reference]:
        """Every field of this spec that names a namespace, charts' first."""
        yield Reference("spec.namespace", "chart", self.namespace)


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
