"""ExternalDNS: DNS records for Services, Ingresses and Gateway API routes.

Environment defaults and credentials are documented on ``ExternalDNSSpec`` (its
docstring is the API's description, shown by ``kubectl explain``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field, model_validator

from forge import versions
from forge.core.environment import lookup
from forge.core.errors import FieldError
from forge.models.base import Model, cel_rules
from forge.models.infrastructure import ChartNamespace, InfraSpec, InfraStatus
from forge.models.infrastructure_fields import (
    AwsRegion,
    Domain,
    RoleArn,
    SecretKeySelector,
    ServiceAccountStatus,
)
from forge.models.stack import SemVer

SERVICE_ACCOUNT = "external-dns"
Provider = Literal["route53", "cloudflare", "rfc2136", "pdns"]
Source = Literal[
    "service",
    "ingress",
    "gateway-httproute",
    "gateway-grpcroute",
    "gateway-tlsroute",
    "gateway-tcproute",
    "gateway-udproute",
    "istio-gateway",
    "istio-virtualservice",
]


class Credentials(Model):
    """How ExternalDNS authenticates to the DNS provider."""

    model_config = Model.model_config | {
        "json_schema_extra": cel_rules(
            (
                "self.source != 'IRSA' || has(self.roleArn)",
                "roleArn is required when source is IRSA",
            ),
            (
                "self.source == 'IRSA' || !has(self.roleArn)",
                "roleArn is only used with IRSA",
            ),
            (
                "(self.source == 'Secret') == has(self.secretRef)",
                "secretRef is required when source is Secret, and only used then",
            ),
        )
    }

    source: Literal["PodIdentity", "IRSA", "Secret"] = Field(
        description=(
            "PodIdentity/IRSA (route53 only): the service account external-dns carries the "
            "role. Secret: the key named by secretRef."
        )
    )
    role_arn: RoleArn | None = Field(
        default=None, description="IAM role annotated on the service account (IRSA)."
    )
    secret_ref: SecretKeySelector | None = Field(
        default=None,
        description=(
            "Secret in the chart's namespace: Cloudflare API token, RFC2136 TSIG secret, "
            "PowerDNS API key, or an AWS shared credentials file (route53)."
        ),
    )

    @model_validator(mode="after")
    def _inputs(self) -> Credentials:
        if self.source == "IRSA" and not self.role_arn:
            raise FieldError("roleArn", "is required when source is IRSA")
        if self.source != "IRSA" and self.role_arn:
            raise FieldError("roleArn", "is only used with IRSA")
        if self.source == "Secret" and self.secret_ref is None:
            raise FieldError("secretRef", "is required when source is Secret")
        if self.source != "Secret" and self.secret_ref is not None:
            raise FieldError("secretRef", "is only used when source is Secret")
        return self


class Route53(Model):
    """AWS Route53 settings (read when provider is route53)."""

    region: AwsRegion | None = Field(
        default=None, description="AWS region for the API client (default: environment region)."
    )
    zone_type: Literal["public", "private"] | None = Field(
        default=None, description="Only manage zones of this type (default: both)."
    )
    assume_role_arn: RoleArn | None = Field(
        default=None, description="Role to assume for hosted zones in another account."
    )


class Cloudflare(Model):
    """Cloudflare settings (read when provider is cloudflare)."""

    proxied: bool = Field(default=False, description="Create records proxied by Cloudflare.")


class Rfc2136(Model):
    """An RFC2136 (dynamic DNS update) server such as BIND."""

    model_config = Model.model_config | {
        "json_schema_extra": cel_rules(
            (
                "self.insecure || has(self.tsigKeyName)",
                "tsigKeyName is required unless insecure",
            )
        )
    }

    host: str = Field(min_length=1, max_length=253, pattern=r"^[A-Za-z0-9.:-]+$")
    port: int = Field(default=53, ge=1, le=65535)
    zones: list[Domain] = Field(
        default_factory=list,
        max_length=64,
        description="Zones to update (default: the domain filters).",
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    tsig_key_name: str | None = Field(default=None, min_length=1, max_length=253)
    tsig_algorithm: Literal[
        "hmac-md5", "hmac-sha1", "hmac-sha224", "hmac-sha256", "hmac-sha384", "hmac-sha512"
    ] = "hmac-sha256"
    axfr: bool = Field(
        default=True,
        description="List records by zone transfer (needed to update and delete records).",
    )
    insecure: bool = Field(
        default=False, description="Send unsigned updates (no TSIG); no credentials then."
    )

    @model_validator(mode="after")
    def _tsig(self) -> Rfc2136:
        if not self.insecure and not self.tsig_key_name:
            raise FieldError("tsigKeyName", "is required unless insecure")
        return self


class PowerDns(Model):
    """A PowerDNS authoritative server's HTTP API."""

    server: str = Field(pattern=r"^https?://[^\s]+$", description="API URL.")
    server_id: str = Field(default="localhost", min_length=1)
    skip_tls_verify: bool = False


# Only what is wrong whatever the EnvironmentConfig adds: the provider, its server block
# and credentials may come from there (ENV_DEFAULTS), so nothing here requires them.
_SPEC_RULES = cel_rules(
    (
        "!has(self.provider) || self.provider == 'rfc2136' || !has(self.rfc2136)",
        "rfc2136 is only used when provider is rfc2136",
    ),
    (
        "!has(self.provider) || self.provider == 'pdns' || !has(self.pdns)",
        "pdns is only used when provider is pdns",
    ),
    (
        "!has(self.credentials) || !has(self.rfc2136) || !has(self.rfc2136.insecure) "
        "|| !self.rfc2136.insecure",
        "credentials is not used with rfc2136.insecure",
    ),
    (
        "!has(self.credentials) || self.credentials.source == 'Secret' "
        "|| !has(self.provider) || self.provider == 'route53'",
        "credentials.source PodIdentity and IRSA are for route53; other providers need a Secret",
    ),
)

# Spec path -> EnvironmentConfig key. The credentials and server blocks are the
# environment's provider's: they apply only to an XR whose provider is that one.
ENV_KEY = "externalDNS"
ENV_DEFAULTS = {
    "provider": f"{ENV_KEY}.provider",
    "credentials": f"{ENV_KEY}.credentials",
    "rfc2136": f"{ENV_KEY}.rfc2136",
    "pdns": f"{ENV_KEY}.pdns",
}


def environment_defaults(env: Mapping[str, Any], spec: Mapping[str, Any]) -> dict[str, str]:
    """The ENV_DEFAULTS that apply: none when the XR names another provider than the
    environment's, and each only where the spec leaves the field out (a spec's
    credentials replace the environment's whole, never merge into them)."""
    given = spec.get("provider")
    if given is not None and given != lookup(env, ENV_DEFAULTS["provider"]):
        return {}
    return {path: key for path, key in ENV_DEFAULTS.items() if spec.get(path) is None}


def _missing(field: str, provider: str) -> str:
    return (
        f"(set it in the XR, or {ENV_DEFAULTS[field]} in the EnvironmentConfig "
        f"beside {ENV_DEFAULTS['provider']} {provider})"
    )


class ExternalDNSSpec(InfraSpec):
    """ExternalDNS for one DNS provider.

    Defaults from the EnvironmentConfig (the XR wins): provider = externalDNS.provider,
    and for an XR of that provider credentials, rfc2136 and pdns = externalDNS.credentials,
    .rfc2136 and .pdns; domainFilters = [domain];
    route53.region = region; txtOwnerId = <clusterName>-<namespace>-<name> of this XR
    (<namespace>-<name> without a clusterName). Clusters sharing a zone need different
    owner ids, or under policy sync each deletes the other's records.
    Credentials are references, never values: a Secret key in the chart's namespace
    (Cloudflare API token, RFC2136 TSIG secret, PowerDNS API key, or an AWS credentials
    file), or for route53 the service account external-dns in the chart's namespace,
    with an EKS Pod Identity association or an IRSA role.
    """

    model_config = InfraSpec.model_config | {"json_schema_extra": _SPEC_RULES}

    chart_version: SemVer = versions.EXTERNAL_DNS.version
    namespace: ChartNamespace = "external-dns"
    provider: Provider | None = Field(
        default=None,
        description=(
            "The DNS service whose records ExternalDNS manages "
            "(default: the EnvironmentConfig's externalDNS.provider)."
        ),
    )
    domain_filters: list[Domain] = Field(
        default_factory=list,
        max_length=64,
        description="Only manage records in these domains (default: the environment domain).",
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    txt_owner_id: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
        max_length=253,
        description="Owner id in the TXT registry records (default: see the API description).",
    )
    policy: Literal["sync", "upsert-only"] = Field(
        default="upsert-only",
        description="upsert-only never deletes records; sync also deletes records it owns.",
    )
    sources: list[Source] = Field(
        default=["service", "ingress"],
        min_length=1,
        max_length=9,
        description="Resource kinds to publish (gateway-* need the Gateway API CRDs).",
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    credentials: Credentials | None = None
    route53: Route53 = Field(default_factory=Route53)
    cloudflare: Cloudflare = Field(default_factory=Cloudflare)
    rfc2136: Rfc2136 | None = None
    pdns: PowerDns | None = None

    @model_validator(mode="after")
    def _provider_inputs(self) -> ExternalDNSSpec:
        if self.provider is None:
            raise FieldError(
                "provider",
                f"is required: set it in the XR, or {ENV_DEFAULTS['provider']} "
                "in the EnvironmentConfig",
            )
        for block in ("rfc2136", "pdns"):
            present = getattr(self, block) is not None
            if self.provider == block and not present:
                raise FieldError(
                    block,
                    f"is required when provider is {block} {_missing(block, self.provider)}",
                )
            if self.provider != block and present:
                raise FieldError(block, f"is only used when provider is {block}")
        insecure = self.rfc2136 is not None and self.rfc2136.insecure
        if self.credentials is None and not insecure:
            raise FieldError(
                "credentials",
                f"{_MISSING_CREDENTIALS[self.provider]} {_missing('credentials', self.provider)}",
            )
        if self.credentials is not None and insecure:
            raise FieldError("credentials", "is not used with rfc2136.insecure (no TSIG)")
        if (
            self.credentials is not None
            and self.credentials.source != "Secret"
            and self.provider != "route53"
        ):
            raise FieldError(
                "credentials.source",
                f"{self.credentials.source} is for route53; {self.provider} needs a Secret",
            )
        return self


_MISSING_CREDENTIALS = {
    "route53": "is required for route53: a cloud identity (PodIdentity or IRSA) or a Secret",
    "cloudflare": "is required for cloudflare: a Secret with an API token",
    "rfc2136": "is required for rfc2136: a Secret with the TSIG secret (or rfc2136.insecure)",
    "pdns": "is required for pdns: a Secret with the API key",
}


class ExternalDNSStatus(InfraStatus):
    """What ExternalDNS reports: the chart, and the effective environment-derived settings."""

    service_account: ServiceAccountStatus | None = None
    txt_owner_id: str | None = None
    domain_filters: list[str] = Field(default_factory=list)
