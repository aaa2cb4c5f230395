"""CertManager: the cert-manager chart with its CRDs, then ClusterIssuers.

Issuers (and the root Certificate of a generated CA) are ``cert-manager.io/v1``
objects: they wait for the chart, and each is ready only once cert-manager reports it
Ready (an ACME account registered, a CA keypair present).
"""

from __future__ import annotations

from typing import Any

from forge import versions
from forge.composers.infrastructure.common import (
    checked_spec,
    compose_after,
    install_chart,
    report,
    report_configuration,
)
from forge.composers.infrastructure.envdefaults import aws_region
from forge.composers.infrastructure.service_accounts import (
    service_account_status,
    service_account_values,
)
from forge.core import naming, tier
from forge.core.context import Context
from forge.models.certmanager import (
    LETSENCRYPT,
    ONPREM_ISSUERS,
    SERVICE_ACCOUNT,
    Acme,
    CertManagerSpec,
    Issuer,
    Solver,
)

API_VERSION = "cert-manager.io/v1"
CONTROLLER_CONFIG = {
    "apiVersion": "controller.config.cert-manager.io/v1alpha1",
    "kind": "ControllerConfiguration",
}
ROOT_CA_DURATION = "87600h"  # ten years; cert-manager renews it two thirds through


def compose(ctx: Context) -> None:
    """Release -> issuer Objects (after the Release is ready) -> status."""
    spec = checked_spec(ctx, CertManagerSpec)
    issuers = _issuers(ctx, spec)
    manifests: dict[str, dict[str, Any]] = {}
    for index, issuer in enumerate(issuers):
        manifests[f"issuer-{issuer.name}"] = _cluster_issuer(ctx, issuer, index)
        if issuer.ca is not None and issuer.ca.generate:
            manifests[f"ca-{issuer.name}"] = _root_certificate(ctx, spec, issuers, issuer)
    irsa = spec.aws_identity.role_arn if spec.aws_identity else None
    values: dict[str, Any] = {
        "crds": {"enabled": True, "keep": True},
        **service_account_values(SERVICE_ACCOUNT, irsa),
    }
    if spec.tier == tier.PRODUCTION:
        values.update(highly_available(naming.helm_release(ctx.name)))
    if any(s.http01 for i in issuers if i.acme for s in i.acme.solvers):
        values["config"] = {**CONTROLLER_CONFIG, "gatewayAPI": {"enabled": True}}
    chart = versions.Chart(
        versions.CERT_MANAGER.name, versions.CERT_MANAGER.repository, spec.chart_version
    )
    release, chart_status = install_chart(ctx, spec, key="release", chart=chart, values=values)
    keys = compose_after(ctx, spec, release, chart_status.ready, manifests, derive_readiness=True)
    report(ctx, [chart_status])
    report_configuration(ctx, keys, len(manifests), "no issuers to configure")
    ctx.set_status(
        {
            "serviceAccount": service_account_status(spec.namespace, SERVICE_ACCOUNT),
            "issuers": [
                {"name": i.name, "type": i.type, "ready": ctx.ready(f"issuer-{i.name}")}
                for i in issuers
            ],
        }
    )


def highly_available(release: str) -> dict[str, Any]:
    """Production: two of each of the controller, webhook and cainjector (the controller
    and cainjector elect a leader), each with a PodDisruptionBudget, spread over zones."""
    values: dict[str, Any] = {}
    for key, component in (
        ("", "controller"),
        ("webhook", "webhook"),
        ("cainjector", "cainjector"),
    ):
        labels = {"app.kubernetes.io/instance": release, "app.kubernetes.io/component": component}
        target = values.setdefault(key, {}) if key else values
        target["replicaCount"] = tier.REPLICAS
        target["podDisruptionBudget"] = {"enabled": True, "minAvailable": 1}
        target["topologySpreadConstraints"] = tier.zone_spread(labels)
    return values


def _issuers(ctx: Context, spec: CertManagerSpec) -> list[Issuer]:
    """The spec's issuers; left out on an on-prem environment, a generated root CA."""
    if spec.issuers is not None:
        return list(spec.issuers)
    return list(ONPREM_ISSUERS) if ctx.env.get("profile") == "onprem" else []


def _cluster_issuer(ctx: Context, issuer: Issuer, index: int) -> dict[str, Any]:
    if issuer.acme is not None:
        body: dict[str, Any] = {"acme": _acme(ctx, issuer, issuer.acme, index)}
    elif issuer.ca is not None:
        body = {"ca": {"secretName": issuer.ca.secret_name}}
    else:
        body = {"selfSigned": {}}
    return {
        "apiVersion": API_VERSION,
        "kind": "ClusterIssuer",
        "metadata": {"name": issuer.name},
        "spec": body,
    }


def _acme(ctx: Context, issuer: Issuer, acme: Acme, index: int) -> dict[str, Any]:
    path = f"spec.issuers[{index}].acme.solvers"
    return {
        "server": LETSENCRYPT.get(acme.server, acme.server),
        "email": acme.email,
        "privateKeySecretRef": {
            "name": acme.private_key_secret_name or f"{issuer.name}-account-key"
        },
        "solvers": [_solver(ctx, s, f"{path}[{n}]") for n, s in enumerate(acme.solvers)],
    }


def _solver(ctx: Context, solver: Solver, path: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if solver.dns_zones:
        out["selector"] = {"dnsZones": list(solver.dns_zones)}
    if solver.http01 is not None:
        refs = []
        for ref in solver.http01.parent_refs:
            parent: dict[str, Any] = {"name": ref.name, "namespace": ref.namespace}
            if ref.section_name:
                parent["sectionName"] = ref.section_name
            if ref.port:
                parent["port"] = ref.port
            refs.append(parent)
        out["http01"] = {"gatewayHTTPRoute": {"parentRefs": refs}}
        return out
    dns01 = solver.dns01
    assert dns01 is not None  # the model requires exactly one of http01, dns01
    if dns01.cloudflare is not None:
        ref = dns01.cloudflare.api_token_secret_ref
        out["dns01"] = {"cloudflare": {"apiTokenSecretRef": {"name": ref.name, "key": ref.key}}}
        return out
    route53 = dns01.route53
    # No credentials: cert-manager uses the controller's ambient (Pod Identity/IRSA) ones.
    settings: dict[str, Any] = {
        "region": aws_region(ctx, route53.region, f"{path}.dns01.route53.region")
    }
    if route53.hosted_zone_id:
        settings["hostedZoneID"] = route53.hosted_zone_id
    if route53.role_arn:
        settings["role"] = route53.role_arn
    out["dns01"] = {"route53": settings}
    return out


def _root_certificate(
    ctx: Context, spec: CertManagerSpec, issuers: list[Issuer], issuer: Issuer
) -> dict[str, Any]:
    """The self-signed root a generated CA issuer signs with, in the chart's namespace."""
    ca = issuer.ca
    assert ca is not None
    signer = next(i for i in issuers if i.type == "SelfSigned")
    cluster = ctx.env.get("clusterName")
    common_name = ca.common_name or f"{cluster if isinstance(cluster, str) else ctx.name} root CA"
    return {
        "apiVersion": API_VERSION,
        "kind": "Certificate",
        "metadata": {"name": ca.secret_name, "namespace": spec.namespace},
        "spec": {
            "isCA": True,
            "commonName": common_name[:64],
            "secretName": ca.secret_name,
            "duration": ROOT_CA_DURATION,
            "privateKey": {"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Never"},
            "issuerRef": {"group": "cert-manager.io", "kind": "ClusterIssuer", "name": signer.name},
        },
    }
