"""EKS: the AWS identities of the bundle's workloads, the AWS Load Balancer Controller and
cluster-autoscaler.

The infrastructure bundle (ExternalDNS, CertManager, ExternalSecretsOperator, KEDA) runs
in the new cluster and can be told ``source: PodIdentity``: its pods then get AWS
credentials only if an EKS Pod Identity association names their service account. The
Cluster makes one per workload, with a role and a narrow policy of this API's own, for
the service account and namespace each bundle API uses by default (the defaults below
are those models' defaults, so they never drift apart).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from forge import versions
from forge.models.base import DnsLabel, Model, Values, reject_duplicates
from forge.models.certmanager import CertManagerSpec
from forge.models.externaldns import ExternalDNSSpec
from forge.models.externalsecrets import ExternalSecretsOperatorSpec
from forge.models.keda import KedaSpec
from forge.models.stack import SemVer

PolicyArn = Annotated[str, Field(pattern=r"^arn:aws[a-z-]*:iam::(aws|\d{12}):policy/.+$")]
HostedZoneId = Annotated[str, Field(pattern=r"^Z[A-Z0-9]{1,31}$")]
# A secret name / parameter path prefix: no wildcard, no leading slash (an SSM parameter
# ARN drops it), at least one character before the end.
SecretPrefix = Annotated[
    str, Field(pattern=r"^[A-Za-z0-9_.\-+=@][A-Za-z0-9_.\-+=@/]*$", max_length=256)
]


def _namespace(spec: type[Model]) -> str:
    """The chart namespace a bundle API installs into by default."""
    default = spec.model_fields["namespace"].default
    assert isinstance(default, str)
    return default


def _extra_policies() -> object:
    return Field(
        default_factory=list,
        max_length=10,
        description="More IAM policies attached to the role, beyond the API's own.",
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )


class Workload(Model):
    """A role and a Pod Identity association for one bundle workload's service account."""

    enabled: bool = Field(
        default=True,
        description="Compose the role and the association (off: that workload gets no AWS "
        "identity, so its bundle XR must not use source PodIdentity).",
    )
    namespace: DnsLabel  # each workload's own default: its bundle API's
    policy_arns: list[PolicyArn] = _extra_policies()  # type: ignore[assignment]

    @model_validator(mode="after")
    def _unique(self) -> Workload:
        reject_duplicates(self.policy_arns, "policyArns[{}]", "policy")
        return self


class DnsWorkload(Workload):
    """A workload that changes Route53 records."""

    hosted_zone_ids: list[HostedZoneId] = Field(
        default_factory=list,
        max_length=20,
        description="Route53 hosted zones it may change (e.g. Z0123456789ABCDEFGHIJ); "
        "default: every zone of the account.",
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )


class ExternalDnsWorkload(DnsWorkload):
    """external-dns: Route53 record changes in its zones."""

    namespace: DnsLabel = Field(
        default=_namespace(ExternalDNSSpec),
        description="The ExternalDNS XR's spec.namespace (service account external-dns).",
    )


class CertManagerWorkload(DnsWorkload):
    """cert-manager: ACME DNS-01 TXT records (_acme-challenge.*) in its zones."""

    namespace: DnsLabel = Field(
        default=_namespace(CertManagerSpec),
        description="The CertManager XR's spec.namespace (service account cert-manager).",
    )


class ExternalSecretsWorkload(Workload):
    """External Secrets: reads of Secrets Manager secrets and SSM parameters in the region."""

    namespace: DnsLabel = Field(
        default=_namespace(ExternalSecretsOperatorSpec),
        description="The ExternalSecretsOperator XR's spec.namespace "
        "(service account external-secrets).",
    )
    secret_prefix: SecretPrefix | None = Field(
        default=None,
        description="The environment's secrets: only Secrets Manager secrets whose name and "
        "SSM parameters whose path start with it may be read (e.g. dev/ reads dev/db and "
        "/dev/db). Default: every secret and parameter of the region. Also from the "
        "EnvironmentConfig's aws.workloadIdentity.externalSecrets.secretPrefix.",
    )


class KedaWorkload(Workload):
    """KEDA: read-only CloudWatch metrics, SQS queue and Kinesis/DynamoDB stream state."""

    namespace: DnsLabel = Field(
        default=_namespace(KedaSpec),
        description="The KEDA XR's spec.namespace (service account keda-operator).",
    )


class WorkloadIdentity(Model):
    """The bundle workloads given an AWS identity by EKS Pod Identity."""

    external_dns: ExternalDnsWorkload = Field(default_factory=ExternalDnsWorkload)
    cert_manager: CertManagerWorkload = Field(default_factory=CertManagerWorkload)
    external_secrets: ExternalSecretsWorkload = Field(default_factory=ExternalSecretsWorkload)
    keda: KedaWorkload = Field(default_factory=KedaWorkload)


class Teardown(Model):
    """The teardown controller: deletes LoadBalancer Services and Ingresses before the nodes."""

    image: str = Field(
        default=f"{versions.FUNCTION_PACKAGE}:{versions.FUNCTION_VERSION}",
        pattern=r"^[a-z0-9]+([._/:-][a-z0-9]+)*(:[A-Za-z0-9_.-]{1,128})?(@sha256:[a-f0-9]{64})?$",
        max_length=512,
        description=(
            "Image of the forge-teardown controller in kube-system: the function's own "
            "image, which runs it. Set it to a mirror for a private registry."
        ),
    )


class LoadBalancerController(Model):
    """The AWS Load Balancer Controller: NLBs for LoadBalancer Services, ALBs for Ingresses."""

    enabled: bool = Field(
        default=True,
        description="Install it (the Istio aws profile's ingress gateway NLB needs it).",
    )
    chart_version: SemVer = Field(
        default=versions.AWS_LOAD_BALANCER_CONTROLLER.version,
        description="aws-load-balancer-controller chart version (eks-charts).",
    )
    values: Values
    policy_arns: list[PolicyArn] = _extra_policies()  # type: ignore[assignment]

    @model_validator(mode="after")
    def _unique(self) -> LoadBalancerController:
        reject_duplicates(self.policy_arns, "policyArns[{}]", "policy")
        return self


class ClusterAutoscaler(Model):
    """cluster-autoscaler: scales each node group between its minSize and maxSize."""

    enabled: bool = Field(
        default=True,
        description="Install it (off: node groups stay at the size they were created with).",
    )
    chart_version: SemVer = Field(
        default=versions.CLUSTER_AUTOSCALER.version,
        description="cluster-autoscaler chart version (kubernetes.github.io/autoscaler).",
    )
    values: Values
    policy_arns: list[PolicyArn] = _extra_policies()  # type: ignore[assignment]

    @model_validator(mode="after")
    def _unique(self) -> ClusterAutoscaler:
        reject_duplicates(self.policy_arns, "policyArns[{}]", "policy")
        return self
