"""ExternalSecretsOperator: the operator, and optionally one ClusterSecretStore.

Environment defaults and authentication are documented on ``ExternalSecretsOperatorSpec``
(its docstring is the API's description, shown by ``kubectl explain``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

from pydantic import Field, model_validator

from forge import versions
from forge.core.errors import FieldError
from forge.models.base import DnsLabel, LocalSecretKeyRef, Model, cel_rules
from forge.models.infrastructure import ChartNamespace, InfraSpec, InfraStatus, Reference
from forge.models.infrastructure_fields import AwsIdentity, AwsRegion, RoleArn, ServiceAccountStatus
from forge.models.stack import SemVer

SERVICE_ACCOUNT = "external-secrets"
SECRET_WHERE = "A Secret in the chart's namespace (the default) or the XR's."


class ServiceAccountRef(Model):
    """A service account whose token the store presents (ESO's jwt auth)."""

    name: DnsLabel
    namespace: DnsLabel = Field(description="The XR's namespace or the chart's.")


class AwsStore(Model):
    """AWS Secrets Manager or Systems Manager Parameter Store."""

    service: Literal["SecretsManager", "ParameterStore"] = "SecretsManager"
    region: AwsRegion | None = Field(default=None, description="Default: environment region.")
    role_arn: RoleArn | None = Field(
        default=None, description="A role to assume after authenticating (cross-account)."
    )
    service_account_ref: ServiceAccountRef | None = Field(
        default=None,
        description="Authenticate with this service account's token instead of the operator's.",
    )


class VaultKubernetesAuth(Model):
    """Vault's Kubernetes auth method, with the operator's service account token."""

    mount_path: str = Field(default="kubernetes", min_length=1)
    role: str = Field(min_length=1)


class VaultAppRole(Model):
    """Vault's AppRole auth method; the secret id comes from a Secret."""

    path: str = Field(default="approle", min_length=1)
    role_id: str = Field(min_length=1)
    secret_ref: LocalSecretKeyRef = Field(description=SECRET_WHERE)


class VaultAuth(Model):
    """Exactly one Vault auth method."""

    model_config = Model.model_config | {
        "json_schema_extra": cel_rules(
            (
                "(has(self.kubernetes) ? 1 : 0) + (has(self.tokenSecretRef) ? 1 : 0)"
                " + (has(self.appRole) ? 1 : 0) == 1",
                "set exactly one of kubernetes, tokenSecretRef, appRole",
            )
        )
    }

    kubernetes: VaultKubernetesAuth | None = None
    token_secret_ref: LocalSecretKeyRef | None = Field(default=None, description=SECRET_WHERE)
    app_role: VaultAppRole | None = None

    @model_validator(mode="after")
    def _one(self) -> VaultAuth:
        chosen = [self.kubernetes, self.token_secret_ref, self.app_role]
        if sum(method is not None for method in chosen) != 1:
            raise ValueError("set exactly one of kubernetes, tokenSecretRef, appRole")
        return self


class VaultStore(Model):
    """A HashiCorp Vault (or OpenBao) KV secrets engine."""

    server: str = Field(pattern=r"^https?://[^\s]+$", description="Vault address.")
    path: str = Field(default="secret", min_length=1, description="Mount path of the KV engine.")
    version: Literal["v1", "v2"] = Field(default="v2", description="KV engine version.")
    namespace: str | None = Field(default=None, description="Vault Enterprise namespace.")
    ca_secret_ref: LocalSecretKeyRef | None = Field(
        default=None,
        description=f"CA certificate (PEM) for a server with a private CA. {SECRET_WHERE}",
    )
    auth: VaultAuth


def _store_name(s: str) -> str:
    """``ClusterSecretStore.store_name`` in CEL, of ``s`` (``self`` or ``oldSelf``)."""
    parameter_store = f"has({s}.aws) && has({s}.aws.service) && {s}.aws.service == 'ParameterStore'"
    return (
        f"(has({s}.name) ? {s}.name : {s}.provider == 'vault' ? 'vault' : "
        f"{parameter_store} ? 'aws-parameter-store' : 'aws-secrets-manager')"
    )


class ClusterSecretStore(Model):
    """A ClusterSecretStore every namespace's ExternalSecrets can use."""

    model_config = Model.model_config | {
        "json_schema_extra": cel_rules(
            ("self.provider != 'vault' || has(self.vault)", "vault is required for provider vault"),
            (
                "self.provider == 'vault' || !has(self.vault)",
                "vault is only used for provider vault",
            ),
            (
                f"{_store_name('self')} == {_store_name('oldSelf')}",
                "the store's name (given, or from provider and aws.service) is immutable: "
                "set name to the current one to change the backend",
            ),
        )
    }

    name: DnsLabel | None = Field(
        default=None,
        description="Store name (default: aws-secrets-manager, aws-parameter-store or vault).",
    )
    provider: Literal["aws", "vault"]
    aws: AwsStore = Field(default_factory=AwsStore, description="Read when provider is aws.")
    vault: VaultStore | None = Field(default=None, description="Required for provider vault.")

    @model_validator(mode="after")
    def _backend(self) -> ClusterSecretStore:
        if self.provider == "vault" and self.vault is None:
            raise FieldError("vault", "is required when provider is vault")
        if self.provider != "vault" and self.vault is not None:
            raise FieldError("vault", "is only used when provider is vault")
        return self

    @property
    def store_name(self) -> str:
        """The name given, else one saying which backend the store reads."""
        if self.name:
            return self.name
        if self.provider == "vault":
            return "vault"
        if self.aws.service == "SecretsManager":
            return "aws-secrets-manager"
        return "aws-parameter-store"


class ExternalSecretsOperatorSpec(InfraSpec):
    """The External Secrets Operator (CRDs included) and an optional ClusterSecretStore.

    Defaults from the EnvironmentConfig (the XR wins): clusterSecretStore.aws.region =
    region. AWS stores authenticate as the operator's service account external-secrets
    in the chart's namespace (awsIdentity: an EKS Pod Identity association or an IRSA
    role), or with another service account's token (serviceAccountRef). Vault stores use
    Kubernetes auth with the operator's token, a token Secret, or AppRole. Secret
    references default to the operator's namespace. The CRDs are kept on uninstall.
    """

    model_config = InfraSpec.model_config | {
        "json_schema_extra": cel_rules(
            (
                "!has(self.clusterSecretStore) || self.clusterSecretStore.provider != 'aws'"
                " || has(self.awsIdentity) || has(self.clusterSecretStore.aws.serviceAccountRef)",
                "awsIdentity is required for an AWS store without serviceAccountRef",
            )
        )
    }

    chart_version: SemVer = versions.EXTERNAL_SECRETS.version
    namespace: ChartNamespace = "external-secrets"
    aws_identity: AwsIdentity | None = Field(
        default=None,
        description="AWS identity of the operator's service account (external-secrets).",
    )
    cluster_secret_store: ClusterSecretStore | None = None

    @model_validator(mode="after")
    def _aws_auth(self) -> ExternalSecretsOperatorSpec:
        store = self.cluster_secret_store
        if (
            store is not None
            and store.provider == "aws"
            and store.aws.service_account_ref is None
            and self.aws_identity is None
        ):
            raise FieldError(
                "awsIdentity",
                "is required for an AWS ClusterSecretStore "
                "(or set clusterSecretStore.aws.serviceAccountRef)",
            )
        return self

    def references(self) -> Iterator[Reference]:
        """The chart's namespace, and the store's Secrets and service account."""
        yield from super().references()
        store = self.cluster_secret_store
        if store is None:
            return
        where = "spec.clusterSecretStore"
        account = store.aws.service_account_ref
        if account is not None:
            path = f"{where}.aws.serviceAccountRef.namespace"
            yield Reference(path, "service account", account.namespace)
        if store.vault is None:
            return
        auth = store.vault.auth
        secrets = {
            "vault.auth.tokenSecretRef": auth.token_secret_ref,
            "vault.auth.appRole.secretRef": auth.app_role.secret_ref if auth.app_role else None,
            "vault.caSecretRef": store.vault.ca_secret_ref,
        }
        for path, ref in secrets.items():
            if ref is not None:  # no namespace: the operator's (the chart's)
                namespace = ref.namespace or self.namespace
                yield Reference(f"{where}.{path}.namespace", "secret", namespace)


class StoreStatus(Model):
    """The ClusterSecretStore as last observed."""

    name: str
    provider: str
    ready: bool


class ExternalSecretsOperatorStatus(InfraStatus):
    """What ExternalSecretsOperator reports."""

    service_account: ServiceAccountStatus | None = None
    cluster_secret_store: StoreStatus | None = None
