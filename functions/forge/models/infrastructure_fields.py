"""Field types the infrastructure-bundle APIs share: AWS identities, Secret keys, domains.

Used by ExternalDNS, ExternalSecretsOperator and CertManager: each chart's pods get
AWS credentials from an EKS Pod Identity association or an IRSA role on a service
account whose name is fixed (so the association can be created before the chart), or
read a key of a Secret the platform team created. Secret values never appear in a spec.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from forge.core.errors import FieldError
from forge.models.base import DnsLabel, Model

REGION_PATTERN = r"^[a-z]{2}(-[a-z]+)+-\d$"
RoleArn = Annotated[str, Field(pattern=r"^arn:aws[a-z-]*:iam::\d{12}:role/.+$")]
AwsRegion = Annotated[str, Field(pattern=REGION_PATTERN)]

DOMAIN_PATTERN = r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?\.)*[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
Domain = Annotated[str, Field(pattern=DOMAIN_PATTERN, max_length=253)]

IRSA_ANNOTATION = "eks.amazonaws.com/role-arn"


class AwsIdentity(Model):
    """The AWS identity of the chart's service account.

    PodIdentity: an EKS Pod Identity association (created with the cluster) targets the
    service account reported in status.serviceAccount; nothing is annotated.
    IRSA: the service account is annotated with roleArn.
    """

    model_config = Model.model_config | {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                {
                    "rule": "self.source != 'IRSA' || has(self.roleArn)",
                    "message": "roleArn is required when source is IRSA",
                },
                {
                    "rule": "self.source == 'IRSA' || !has(self.roleArn)",
                    "message": "roleArn is only used with IRSA",
                },
            ]
        }
    }

    source: Literal["PodIdentity", "IRSA"]
    role_arn: RoleArn | None = Field(
        default=None, description="IAM role annotated on the service account (IRSA only)."
    )

    @model_validator(mode="after")
    def _role(self) -> AwsIdentity:
        if self.source == "IRSA" and not self.role_arn:
            raise FieldError("roleArn", "is required when source is IRSA")
        if self.source != "IRSA" and self.role_arn:
            raise FieldError(
                "roleArn", "is only used with IRSA (a Pod Identity association names its role)"
            )
        return self


class SecretKeySelector(Model):
    """A key of a Secret in the chart's namespace (the Secret is created by the platform team)."""

    name: DnsLabel
    key: str = Field(min_length=1, max_length=253, pattern=r"^[-._a-zA-Z0-9]+$")


class ServiceAccountStatus(Model):
    """The service account a Pod Identity association or IAM trust policy must name."""

    namespace: str
    name: str
