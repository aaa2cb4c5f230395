"""ExternalDNS: the external-dns chart configured for one DNS provider.

Provider settings become ``extraArgs`` flags; secrets reach the pod only through
``env[].valueFrom.secretKeyRef`` (external-dns reads any flag from ``EXTERNAL_DNS_<FLAG>``)
or a Secret volume, so no secret value passes through the Release.
"""

from __future__ import annotations

from typing import Any

from forge import versions
from forge.composers.infrastructure.common import checked_spec, install_chart, report
from forge.composers.infrastructure.envdefaults import aws_region, env_string
from forge.composers.infrastructure.service_accounts import (
    service_account_status,
    service_account_values,
)
from forge.core.context import Context
from forge.core.errors import SpecError
from forge.models.externaldns import SERVICE_ACCOUNT, ExternalDNSSpec, environment_defaults
from forge.models.infrastructure_fields import DOMAIN_PATTERN, SecretKeySelector

PROVIDER_NAMES = {
    "route53": "aws",
    "cloudflare": "cloudflare",
    "rfc2136": "rfc2136",
    "pdns": "pdns",
}
OWNER_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
AWS_CREDENTIALS_DIR = "/etc/aws"


def compose(ctx: Context) -> None:
    """Release with provider flags and credentials references -> status."""
    spec = checked_spec(ctx, ExternalDNSSpec, environment_defaults)
    assert spec.provider is not None  # the model requires one, from the spec or environment
    domains = list(spec.domain_filters)
    if not domains:
        domain = env_string(ctx, "domain", DOMAIN_PATTERN, "spec.domainFilters")
        domains = [domain] if domain else []
    owner = spec.txt_owner_id or _default_owner(ctx)
    irsa = spec.credentials.role_arn if spec.credentials else None
    values: dict[str, Any] = {
        "provider": {"name": PROVIDER_NAMES[spec.provider]},
        "sources": list(spec.sources),
        "policy": spec.policy,
        "registry": "txt",
        "txtOwnerId": owner,
        "domainFilters": domains,
        **service_account_values(SERVICE_ACCOUNT, irsa),
        **_PROVIDERS[spec.provider](ctx, spec, domains),
    }
    chart = versions.Chart(
        versions.EXTERNAL_DNS.name, versions.EXTERNAL_DNS.repository, spec.chart_version
    )
    _, chart_status = install_chart(ctx, spec, key="release", chart=chart, values=values)
    report(ctx, [chart_status])
    ctx.set_status(
        {
            "serviceAccount": service_account_status(spec.namespace, SERVICE_ACCOUNT),
            "txtOwnerId": owner,
            "domainFilters": domains,
        }
    )


def _default_owner(ctx: Context) -> str:
    """``<clusterName>-<namespace>-<name>``: unique per cluster and per XR in it."""
    cluster = env_string(ctx, "clusterName", OWNER_PATTERN, "spec.txtOwnerId")
    return "-".join(p for p in (cluster, ctx.namespace, ctx.name) if p)


def _secret_env(name: str, ref: SecretKeySelector) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": ref.name, "key": ref.key}}}


def _secret(spec: ExternalDNSSpec) -> SecretKeySelector | None:
    return spec.credentials.secret_ref if spec.credentials else None


def _route53(ctx: Context, spec: ExternalDNSSpec, _domains: list[str]) -> dict[str, Any]:
    """Region from the spec or environment; credentials from the service account or a file."""
    region = aws_region(ctx, spec.route53.region, "spec.route53.region")
    env: list[dict[str, Any]] = [{"name": "AWS_REGION", "value": region}]
    args: dict[str, Any] = {}
    if spec.route53.zone_type:
        args["aws-zone-type"] = spec.route53.zone_type
    if spec.route53.assume_role_arn:
        args["aws-assume-role"] = spec.route53.assume_role_arn
    values: dict[str, Any] = {"env": env}
    ref = _secret(spec)
    if ref is not None:
        env.append(
            {"name": "AWS_SHARED_CREDENTIALS_FILE", "value": f"{AWS_CREDENTIALS_DIR}/credentials"}
        )
        values["extraVolumes"] = [
            {
                "name": "aws-credentials",
                "secret": {
                    "secretName": ref.name,
                    "items": [{"key": ref.key, "path": "credentials"}],
                },
            }
        ]
        values["extraVolumeMounts"] = [
            {"name": "aws-credentials", "mountPath": AWS_CREDENTIALS_DIR, "readOnly": True}
        ]
    if args:
        values["extraArgs"] = args
    return values


def _cloudflare(_ctx: Context, spec: ExternalDNSSpec, _domains: list[str]) -> dict[str, Any]:
    ref = _secret(spec)
    assert ref is not None  # the model requires a Secret for cloudflare
    values: dict[str, Any] = {"env": [_secret_env("CF_API_TOKEN", ref)]}
    if spec.cloudflare.proxied:
        values["extraArgs"] = {"cloudflare-proxied": True}
    return values


def _rfc2136(_ctx: Context, spec: ExternalDNSSpec, domains: list[str]) -> dict[str, Any]:
    server = spec.rfc2136
    assert server is not None  # the model requires the block for rfc2136
    zones = list(server.zones) or domains
    if not zones:
        raise SpecError(
            "spec.rfc2136.zones", "is required (no domainFilters, no domain in the environment)"
        )
    args: dict[str, Any] = {
        "rfc2136-host": server.host,
        "rfc2136-port": str(server.port),
        "rfc2136-zone": zones,
    }
    values: dict[str, Any] = {"extraArgs": args}
    if server.axfr:
        args["rfc2136-tsig-axfr"] = True
    if server.insecure:
        args["rfc2136-insecure"] = True
        return values
    args["rfc2136-tsig-keyname"] = server.tsig_key_name
    args["rfc2136-tsig-secret-alg"] = server.tsig_algorithm
    ref = _secret(spec)
    assert ref is not None  # the model requires a Secret unless insecure
    values["env"] = [_secret_env("EXTERNAL_DNS_RFC2136_TSIG_SECRET", ref)]
    return values


def _pdns(_ctx: Context, spec: ExternalDNSSpec, _domains: list[str]) -> dict[str, Any]:
    server = spec.pdns
    ref = _secret(spec)
    assert server is not None and ref is not None  # the model requires both for pdns
    args: dict[str, Any] = {"pdns-server": server.server, "pdns-server-id": server.server_id}
    if server.skip_tls_verify:
        args["pdns-skip-tls-verify"] = True
    return {"extraArgs": args, "env": [_secret_env("EXTERNAL_DNS_PDNS_API_KEY", ref)]}


_PROVIDERS = {
    "route53": _route53,
    "cloudflare": _cloudflare,
    "rfc2136": _rfc2136,
    "pdns": _pdns,
}
