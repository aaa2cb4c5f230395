"""ExternalSecretsOperator: the external-secrets chart, then its ClusterSecretStore.

The store is an ``external-secrets.io/v1`` object, so it waits for the chart (CRDs and
the validating webhook) and is ready only once the operator reports it can reach the
backend.
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
from forge.core import tier
from forge.core.context import Context
from forge.models.base import LocalSecretKeyRef
from forge.models.externalsecrets import (
    SERVICE_ACCOUNT,
    AwsStore,
    ClusterSecretStore,
    ExternalSecretsOperatorSpec,
    VaultStore,
)

STORE_API_VERSION = "external-secrets.io/v1"
STORE_KEY = "cluster-secret-store"
KEEP_ANNOTATION = "helm.sh/resource-policy"

_BUDGET = {"enabled": True, "minAvailable": 1}
# Production: two of the controller, webhook and cert controller, each with a budget.
# leaderElect makes both controllers elect a leader (the chart passes
# --enable-leader-election to each); the chart adds each component's own selector to the
# global zone spread.
HIGHLY_AVAILABLE: dict[str, Any] = {
    "global": {"topologySpreadConstraints": tier.zone_spread()},
    "leaderElect": True,
    "replicaCount": tier.REPLICAS,
    "podDisruptionBudget": _BUDGET,
    "webhook": {"replicaCount": tier.REPLICAS, "podDisruptionBudget": _BUDGET},
    "certController": {"replicaCount": tier.REPLICAS, "podDisruptionBudget": _BUDGET},
}


def compose(ctx: Context) -> None:
    """Release -> ClusterSecretStore Object (after the Release is ready) -> status."""
    spec = checked_spec(ctx, ExternalSecretsOperatorSpec)
    store = spec.cluster_secret_store
    manifests = {STORE_KEY: _store(ctx, spec, store)} if store else {}
    irsa = spec.aws_identity.role_arn if spec.aws_identity else None
    values = {
        "installCRDs": True,
        # Uninstalling must not delete the CRDs, and with them every ExternalSecret.
        "crds": {"annotations": {KEEP_ANNOTATION: "keep"}},
        **service_account_values(SERVICE_ACCOUNT, irsa),
        **(HIGHLY_AVAILABLE if spec.tier == tier.PRODUCTION else {}),
    }
    chart = versions.Chart(
        versions.EXTERNAL_SECRETS.name, versions.EXTERNAL_SECRETS.repository, spec.chart_version
    )
    release, chart_status = install_chart(ctx, spec, key="release", chart=chart, values=values)
    keys = compose_after(ctx, spec, release, chart_status.ready, manifests, derive_readiness=True)
    report(ctx, [chart_status])
    report_configuration(ctx, keys, len(manifests), "no clusterSecretStore to configure")
    status: dict[str, Any] = {
        "serviceAccount": service_account_status(spec.namespace, SERVICE_ACCOUNT)
    }
    if store is not None:
        status["clusterSecretStore"] = {
            "name": store.store_name,
            "provider": store.provider,
            "ready": ctx.ready(STORE_KEY),
        }
    ctx.set_status(status)


def _store(
    ctx: Context, spec: ExternalSecretsOperatorSpec, store: ClusterSecretStore
) -> dict[str, Any]:
    if store.vault is not None:
        provider = {"vault": _vault(spec, store.vault)}
    else:
        provider = {"aws": _aws(ctx, store.aws)}
    return {
        "apiVersion": STORE_API_VERSION,
        "kind": "ClusterSecretStore",
        "metadata": {"name": store.store_name},
        "spec": {"provider": provider},
    }


def _aws(ctx: Context, aws: AwsStore) -> dict[str, Any]:
    """No ``auth`` means the operator's own identity (Pod Identity / IRSA)."""
    out: dict[str, Any] = {
        "service": aws.service,
        "region": aws_region(ctx, aws.region, "spec.clusterSecretStore.aws.region"),
    }
    if aws.role_arn:
        out["role"] = aws.role_arn
    if aws.service_account_ref is not None:
        ref = aws.service_account_ref
        out["auth"] = {"jwt": {"serviceAccountRef": {"name": ref.name, "namespace": ref.namespace}}}
    return out


def _secret_ref(spec: ExternalSecretsOperatorSpec, ref: LocalSecretKeyRef) -> dict[str, str]:
    """A cluster store must say where the Secret is: the operator's namespace by default."""
    return {"name": ref.name, "namespace": ref.namespace or spec.namespace, "key": ref.key}


def _vault(spec: ExternalSecretsOperatorSpec, vault: VaultStore) -> dict[str, Any]:
    auth = vault.auth
    if auth.kubernetes is not None:
        method: dict[str, Any] = {
            "kubernetes": {"mountPath": auth.kubernetes.mount_path, "role": auth.kubernetes.role}
        }
    elif auth.token_secret_ref is not None:
        method = {"tokenSecretRef": _secret_ref(spec, auth.token_secret_ref)}
    else:
        assert auth.app_role is not None  # the model requires exactly one method
        method = {
            "appRole": {
                "path": auth.app_role.path,
                "roleId": auth.app_role.role_id,
                "secretRef": _secret_ref(spec, auth.app_role.secret_ref),
            }
        }
    out: dict[str, Any] = {
        "server": vault.server,
        "path": vault.path,
        "version": vault.version,
        "auth": method,
    }
    if vault.namespace:
        out["namespace"] = vault.namespace
    if vault.ca_secret_ref is not None:
        out["caProvider"] = {"type": "Secret", **_secret_ref(spec, vault.ca_secret_ref)}
    return out
