"""The control-plane log group: ``/aws/eks/<cluster>/cluster``, with a retention.

EKS writes the control-plane logs (``controlPlaneLogging``) to that group, creates it
when it is missing (without a retention: kept forever) and never deletes it. Composed
before the cluster, the group is EKS's from the start with the retention of
``controlPlaneLogRetentionDays``; held by the cluster (a Usage), it is deleted after
it, so EKS cannot write it again once it is gone. Without log types nothing is composed;
once composed, the group stays until the Cluster is deleted (its Usage would hold it
anyway) and keeps the logs already written for their retention.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from forge.composers.eks.base import Eks

LOGS = "cloudwatchlogs.aws.m.upbound.io/v1beta1"
KEY = "aws-control-plane-logs"
EXTERNAL_NAME = "crossplane.io/external-name"


@dataclass
class LogGroup:
    """The group as composed (None when not), and whether the cluster may be created."""

    manifest: dict[str, Any] | None = None
    ready: bool = True


def name(cluster: str) -> str:
    """The group EKS writes a cluster's control-plane logs to."""
    return f"/aws/eks/{cluster}/cluster"


def compose(e: Eks) -> LogGroup:
    """The group, when the cluster sends logs (or it exists already)."""
    aws = e.spec.aws
    if not aws.control_plane_logging and not e.ctx.is_composed(KEY):
        return LogGroup()
    manifest = e.manifest(
        LOGS,
        "Group",
        e.name("control-plane-logs"),
        {"retentionInDays": aws.control_plane_log_retention_days},
    )
    # The provider names the group after the external name (NameAsIdentifier).
    manifest["metadata"]["annotations"] = {EXTERNAL_NAME: name(e.cluster_name)}
    return LogGroup(manifest=manifest, ready=e.compose(KEY, manifest))
