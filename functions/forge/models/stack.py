"""The self-management stack: what a cluster's Crossplane needs to manage itself."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from forge import versions
from forge.core.errors import FieldError
from forge.models.base import DnsLabel, LocalSecretKeyRef, Model, immutable

SemVer = Annotated[str, Field(pattern=r"^v?\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$")]
# A ManagedResourceDefinition name (``buckets.s3.aws.m.upbound.io``) or a ``*.<group>``
# prefix, as a ManagedResourceActivationPolicy's ``spec.activate`` takes them.
_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
MrdActivation = Annotated[str, Field(pattern=rf"^(\*\.)?{_LABEL}(\.{_LABEL})+$", max_length=253)]
AwsFamily = Literal[
    "cloudwatchlogs",
    "ec2",
    "eks",
    "iam",
    "route53",
    "secretsmanager",
    "kms",
    "s3",
    "rds",
    "elasticache",
    "sts",
]


class Package(Model):
    """A Crossplane package: the repository (no tag) and the version installed."""

    repository: str | None = Field(
        default=None,
        min_length=1,
        description="OCI repository without tag; defaults to the release's pinned one.",
    )
    version: SemVer | None = Field(
        default=None, description="Package tag; defaults to the release's pinned version."
    )


class AwsCredentials(Model):
    """How the AWS providers authenticate. Pod Identity needs no secret material."""

    source: Literal["PodIdentity", "IRSA", "Secret"] = "PodIdentity"
    role_arn: str | None = Field(
        default=None,
        pattern=r"^arn:aws[a-z-]*:iam::\d{12}:role/.+$",
        description="IAM role for IRSA (annotated on the provider's service account).",
    )
    secret_ref: LocalSecretKeyRef | None = Field(
        default=None, description="Secret with an AWS credentials file, for source Secret."
    )

    @model_validator(mode="after")
    def _source_inputs(self) -> AwsCredentials:
        if self.source == "IRSA" and not self.role_arn:
            raise FieldError("roleArn", "is required when source is IRSA")
        if self.source == "Secret" and self.secret_ref is None:
            raise FieldError("secretRef", "is required when source is Secret")
        return self


class AwsProviders(Model):
    """The provider-upjet-aws family providers."""

    enabled: bool = False
    version: SemVer = versions.PROVIDER_AWS_VERSION
    families: list[AwsFamily] = Field(
        default=["cloudwatchlogs", "ec2", "eks", "iam"],
        min_length=1,
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    credentials: AwsCredentials = Field(default_factory=AwsCredentials)


class Stack(Model):
    """Providers, their runtime configs and ProviderConfigs, and our Function."""

    helm: Package = Field(default_factory=Package)
    kubernetes: Package = Field(default_factory=Package)
    aws: AwsProviders = Field(default_factory=AwsProviders)
    function: Package = Field(default_factory=Package)
    activate: list[MrdActivation] = Field(
        default_factory=list,
        max_length=64,
        description=(
            "More managed resource kinds for this Crossplane to activate, beside the ones "
            "Forge composes: ManagedResourceDefinition names (buckets.s3.aws.m.upbound.io) "
            "or *.<group> prefixes."
        ),
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    provider_config_name: DnsLabel = Field(
        default="default",
        description=(
            "Name of the ClusterProviderConfigs the stack creates for each provider. Immutable."
        ),
        json_schema_extra=immutable("it names the ClusterProviderConfigs the stack created"),
    )
    deletion_policy: Literal["Orphan", "Delete"] = Field(
        default="Orphan",
        description=(
            "Orphan (default) leaves providers and their configuration installed when the "
            "XR is deleted, so live infrastructure stays managed. Delete uninstalls them."
        ),
    )
