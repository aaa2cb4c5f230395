"""AWS identities for the infrastructure bundle's workloads, by EKS Pod Identity.

The bundle runs in the new cluster, and its APIs may say ``source: PodIdentity``
(ExternalDNS ``credentials``, CertManager/ExternalSecretsOperator/KEDA ``awsIdentity``):
their pods then have AWS credentials only if an association names their service
account. Each workload of ``aws.workloadIdentity`` gets a role ``<cluster>-<purpose>``
with a policy of this API's own (``policies``) and an association for the service
account its bundle API installs (the bundle models' fixed names) in the namespace
given here (by default the bundle API's own default). They are made with the
cluster, before any bundle XR exists, so that the charts' pods start with credentials.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from forge.composers.eks import policies
from forge.composers.eks.base import Eks
from forge.composers.eks.control_plane import ControlPlane
from forge.composers.eks.pod_identity import Identity, pod_identity
from forge.models import certmanager, externaldns, externalsecrets, keda
from forge.models.eks_workloads import DnsWorkload, Workload


@dataclass(frozen=True)
class BundleWorkload:
    """One AWS-facing workload of the bundle: its role's purpose, service account and policy."""

    purpose: str
    field: str
    service_account: str
    policy: Callable[[Eks, Workload], str]


def _zones(workload: Workload) -> list[str]:
    return list(workload.hosted_zone_ids) if isinstance(workload, DnsWorkload) else []


WORKLOADS = (
    BundleWorkload(
        "external-dns",
        "external_dns",
        externaldns.SERVICE_ACCOUNT,
        lambda e, w: policies.external_dns(e, _zones(w)),
    ),
    BundleWorkload(
        "cert-manager",
        "cert_manager",
        certmanager.SERVICE_ACCOUNT,
        lambda e, w: policies.cert_manager(e, _zones(w)),
    ),
    BundleWorkload(
        "external-secrets",
        "external_secrets",
        externalsecrets.SERVICE_ACCOUNT,
        lambda e, w: policies.external_secrets(e, getattr(w, "secret_prefix", None)),
    ),
    BundleWorkload("keda", "keda", keda.SERVICE_ACCOUNT, lambda e, _w: policies.keda(e)),
)


def compose(e: Eks, plane: ControlPlane) -> dict[str, Identity]:
    """A role now and an association once the cluster is up, per enabled workload."""
    settings = e.spec.aws.workload_identity
    composed: dict[str, Identity] = {}
    for workload in WORKLOADS:
        chosen: Workload = getattr(settings, workload.field)
        if not chosen.enabled:
            continue
        composed[workload.purpose] = pod_identity(
            e,
            workload.purpose,
            namespace=chosen.namespace,
            service_account=workload.service_account,
            policy_arns=list(chosen.policy_arns),
            plane=plane,
            inline_policy=workload.policy(e, chosen),
        )
    return composed
