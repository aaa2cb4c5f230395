"""Status shapes written by the composers (typed so the XRDs can publish them)."""

from __future__ import annotations

from pydantic import Field

from forge.models.base import Model


class PackageHealth(Model):
    """An installed Crossplane package as its Object last observed it."""

    package: str
    installed: bool
    healthy: bool


class ProviderConfigReference(Model):
    """A ProviderConfig other resources should reference."""

    kind: str
    name: str


class PlatformClusterStatus(Model):
    """What PlatformCluster reports."""

    packages: dict[str, PackageHealth] = Field(default_factory=dict)
    provider_configs: dict[str, ProviderConfigReference] = Field(default_factory=dict)
