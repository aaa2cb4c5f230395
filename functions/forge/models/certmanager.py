"""CertManager: cert-manager with its CRDs, and ClusterIssuers.

Environment defaults and the on-prem default issuers are documented on
``CertManagerSpec`` (its docstring is the API's description, shown by ``kubectl explain``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

from pydantic import Field, model_validator

from forge import versions
from forge.core.errors import FieldError
from forge.models.base import DnsLabel, Model, cel_rules, reject_duplicates
from forge.models.infrastructure import ChartNamespace, InfraSpec, InfraStatus, Reference
from forge.models.infrastructure_fields import (
    AwsIdentity,
    AwsRegion,
    Domain,
    RoleArn,
    SecretKeySelector,
    ServiceAccountStatus,
)
from forge.models.stack import SemVer

SERVICE_ACCOUNT = "cert-manager"
LETSENCRYPT = {
    "letsencrypt-production": "https://acme-v02.api.letsencrypt.org/directory",
    "letsencrypt-staging": "https://acme-staging-v02.api.letsencrypt.org/directory",
}


class ParentRef(Model):
    """A Gateway (listener) the challenge HTTPRoute attaches to."""

    name: str = Field(min_length=1, max_length=253)
    namespace: DnsLabel = Field(
        description=(
            "The XR's namespace, a conventional namespace of the bundle's charts (e.g. "
            "istio-ingress), or one the platform grants; never a reserved one."
        )
    )
    section_name: str | None = Field(
        default=None, max_length=253, description="Listener name (default: all listeners)."
    )
    port: int | None = Field(default=None, ge=1, le=65535)


class Http01(Model):
    """HTTP-01 through Gateway API: cert-manager creates an HTTPRoute per challenge."""

    parent_refs: list[ParentRef] = Field(min_length=1, max_length=8)


class Route53Solver(Model):
    """DNS-01 with Route53, using the controller's AWS identity."""

    region: AwsRegion | None = Field(default=None, description="Default: environment region.")
    hosted_zone_id: str | None = Field(
        default=None, pattern=r"^[A-Z0-9]+$", description="Skip the zone lookup."
    )
    role_arn: RoleArn | None = Field(
        default=None, description="A role to assume (zones in another account)."
    )


class CloudflareSolver(Model):
    """DNS-01 with Cloudflare."""

    api_token_secret_ref: SecretKeySelector = Field(
        description="Secret (in the chart's namespace) holding a Zone:DNS:Edit API token."
    )


class Dns01(Model):
    """DNS-01: a TXT record in the zone's DNS provider."""

    model_config = Model.model_config | {
        "json_schema_extra": cel_rules(
            (
                "(self.provider == 'cloudflare') == has(self.cloudflare)",
                "cloudflare is required for provider cloudflare, and only used then",
            )
        )
    }

    provider: Literal["route53", "cloudflare"]
    route53: Route53Solver = Field(
        default_factory=Route53Solver, description="Read when provider is route53."
    )
    cloudflare: CloudflareSolver | None = Field(
        default=None, description="Required for provider cloudflare."
    )

    @model_validator(mode="after")
    def _provider(self) -> Dns01:
        if self.provider == "cloudflare" and self.cloudflare is None:
            raise FieldError("cloudflare", "is required when provider is cloudflare")
        if self.provider != "cloudflare" and self.cloudflare is not None:
            raise FieldError("cloudflare", "is only used when provider is cloudflare")
        return self


class Solver(Model):
    """How to prove control of a domain; dnsZones limits it to some zones."""

    model_config = Model.model_config | {
        "json_schema_extra": cel_rules(
            ("has(self.http01) != has(self.dns01)", "set exactly one of http01, dns01")
        )
    }

    http01: Http01 | None = None
    dns01: Dns01 | None = None
    dns_zones: list[Domain] = Field(
        default_factory=list,
        max_length=64,
        description="Use this solver only for these zones (default: all).",
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )

    @model_validator(mode="after")
    def _one(self) -> Solver:
        if (self.http01 is None) == (self.dns01 is None):
            raise ValueError("set exactly one of http01, dns01")
        return self


class Acme(Model):
    """An ACME account, Let's Encrypt's or another CA's."""

    server: str = Field(
        pattern=r"^(letsencrypt-production|letsencrypt-staging|https://[^\s]+)$",
        description="letsencrypt-production, letsencrypt-staging, or an ACME directory URL.",
    )
    email: str = Field(
        pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$",
        max_length=254,
        description="Contact address registered with the ACME account.",
    )
    private_key_secret_name: DnsLabel | None = Field(
        default=None, description="Secret for the account key (default: <issuer>-account-key)."
    )
    solvers: list[Solver] = Field(min_length=1, max_length=16)


class Ca(Model):
    """A CA issuer signing with a keypair in a Secret of the chart's namespace."""

    model_config = Model.model_config | {
        "json_schema_extra": cel_rules(
            (
                "!(has(self.generate) && self.generate && has(oldSelf.generate) && "
                "oldSelf.generate) || self.secretName == oldSelf.secretName",
                "secretName of a generated CA is immutable: it names the root Certificate",
            )
        )
    }

    secret_name: DnsLabel = Field(description="Secret with tls.crt and tls.key of the CA.")
    generate: bool = Field(
        default=False,
        description=(
            "Have cert-manager create the keypair as a self-signed root, issued by the "
            "SelfSigned issuer in spec.issuers."
        ),
    )
    common_name: str | None = Field(
        default=None, min_length=1, max_length=64, description="Of a generated root."
    )


class Issuer(Model):
    """One ClusterIssuer."""

    model_config = Model.model_config | {
        "json_schema_extra": cel_rules(
            ("(self.type == 'ACME') == has(self.acme)", "acme is required for type ACME only"),
            ("(self.type == 'CA') == has(self.ca)", "ca is required for type CA only"),
        )
    }

    name: DnsLabel
    type: Literal["ACME", "SelfSigned", "CA"]
    acme: Acme | None = None
    ca: Ca | None = None

    @model_validator(mode="after")
    def _settings(self) -> Issuer:
        for block, kind in (("acme", "ACME"), ("ca", "CA")):
            present = getattr(self, block) is not None
            if self.type == kind and not present:
                raise FieldError(block, f"is required when type is {kind}")
            if self.type != kind and present:
                raise FieldError(block, f"is only used when type is {kind}")
        return self


class CertManagerSpec(InfraSpec):
    """cert-manager (CRDs installed and kept on uninstall) and the cluster's ClusterIssuers.

    Defaults from the EnvironmentConfig (the XR wins): Route53 DNS-01 region = region.
    With issuers left out and profile onprem, the cluster gets its own CA: a selfsigned
    ClusterIssuer, and a ca ClusterIssuer whose root keypair cert-manager generates into
    the Secret forge-root-ca in the chart's namespace (give its ca.crt to clients that
    must trust it). Other profiles get no issuer unless given one (ACME needs an email);
    issuers: [] means none. Route53 DNS-01 uses the controller's AWS identity: awsIdentity
    (EKS Pod Identity or IRSA on the service account cert-manager), else the node's
    ambient credentials. HTTP-01 attaches Gateway API HTTPRoutes to parentRefs and turns
    on cert-manager's Gateway API support (the Gateway API CRDs must be installed).
    """

    model_config = InfraSpec.model_config | {
        "json_schema_extra": cel_rules(
            (
                "!has(self.issuers) || !self.issuers.exists(i, has(i.ca) && i.ca.generate)"
                " || self.issuers.exists(i, i.type == 'SelfSigned')",
                "a CA issuer with generate needs a SelfSigned issuer in issuers",
            )
        )
    }

    chart_version: SemVer = versions.CERT_MANAGER.version
    namespace: ChartNamespace = "cert-manager"
    aws_identity: AwsIdentity | None = Field(
        default=None,
        description=(
            "AWS identity of the controller's service account (cert-manager), for Route53 "
            "DNS-01. Left out: the node's ambient credentials."
        ),
    )
    issuers: list[Issuer] | None = Field(
        default=None,
        max_length=32,
        description="ClusterIssuers (default: see the API description; [] for none).",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    )

    @model_validator(mode="after")
    def _issuers(self) -> CertManagerSpec:
        issuers = self.issuers or []
        reject_duplicates((i.name for i in issuers), "issuers[{}].name", "issuer")
        has_self_signed = any(i.type == "SelfSigned" for i in issuers)
        for index, issuer in enumerate(issuers):
            if issuer.ca is not None and issuer.ca.generate and not has_self_signed:
                raise FieldError(
                    f"issuers[{index}].ca.generate",
                    "needs a SelfSigned issuer in spec.issuers to sign the root",
                )
        return self

    def references(self) -> Iterator[Reference]:
        """The chart's namespace, and the Gateways HTTP-01 challenge routes attach to."""
        yield from super().references()
        for i, issuer in enumerate(self.issuers or []):
            for j, solver in enumerate(issuer.acme.solvers if issuer.acme else []):
                for k, parent in enumerate(solver.http01.parent_refs if solver.http01 else []):
                    path = f"spec.issuers[{i}].acme.solvers[{j}].http01.parentRefs[{k}].namespace"
                    yield Reference(path, "gateway", parent.namespace)


ONPREM_ISSUERS = [
    Issuer(name="selfsigned", type="SelfSigned"),
    Issuer(name="ca", type="CA", ca=Ca(secret_name="forge-root-ca", generate=True)),
]


class IssuerStatus(Model):
    """A ClusterIssuer as last observed."""

    name: str
    type: str
    ready: bool


class CertManagerStatus(InfraStatus):
    """What CertManager reports."""

    service_account: ServiceAccountStatus | None = None
    issuers: list[IssuerStatus] = Field(default_factory=list)
