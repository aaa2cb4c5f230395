"""Chart values for a fixed, identity-carrying service account.

ExternalDNS, External Secrets and cert-manager charts all name their service account
with ``serviceAccount.name`` and annotate it with ``serviceAccount.annotations``.
"""

from __future__ import annotations

from typing import Any

from forge.models.infrastructure_fields import IRSA_ANNOTATION, ServiceAccountStatus


def service_account_values(name: str, irsa_role_arn: str | None) -> dict[str, Any]:
    """``serviceAccount`` values: a fixed name, plus the IRSA role annotation if any.

    The name is fixed whatever the identity so that a Pod Identity association or an
    IAM trust policy written before the chart is installed keeps matching it.
    """
    account: dict[str, Any] = {"name": name}
    if irsa_role_arn:
        account["annotations"] = {IRSA_ANNOTATION: irsa_role_arn}
    return {"serviceAccount": account}


def service_account_status(namespace: str, name: str) -> dict[str, Any]:
    """``status.serviceAccount``, for whoever creates the Pod Identity association."""
    return ServiceAccountStatus(namespace=namespace, name=name).model_dump(by_alias=True)
