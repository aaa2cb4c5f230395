"""PlatformCluster: the platform cluster's own self-management stack."""

from __future__ import annotations

from pydantic import Field

from forge.models.base import EnvironmentConfigRef, Model, ProviderConfigRef
from forge.models.stack import Stack


class PlatformClusterSpec(Model):
    """The platform cluster exists already; this manages its Crossplane's stack."""

    environment_config_ref: EnvironmentConfigRef | None = None
    stack: Stack = Field(default_factory=Stack)
    bootstrap_provider_config_ref: ProviderConfigRef = Field(
        default_factory=ProviderConfigRef,
        description=(
            "The in-cluster provider-kubernetes ProviderConfig installed with Crossplane, "
            "through which the stack is applied (and then adopted)."
        ),
    )


ENV_DEFAULTS = {
    "stack.aws.enabled": "aws.enabled",
    "stack.aws.credentials.source": "aws.credentialsSource",
    "stack.aws.credentials.roleArn": "aws.crossplaneRoleArn",
}
