"""IAM policies this API writes for the workloads it gives an AWS identity.

Each grants what its workload calls and no more: writes only where the workload
writes (Route53 zones, challenge records), reads scoped to the cluster's partition
and, for regional services, its region. They are inline policies of the workload's
role (``inlinePolicy``), so they live and die with it. A platform that needs more
attaches its own policies (``policyArns`` of the workload).
"""

from __future__ import annotations

import json
from typing import Any

from forge.composers.eks.base import Eks

Statement = dict[str, Any]


def document(*statements: Statement) -> str:
    """A policy document as IAM takes it (JSON, stable key order)."""
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)}, sort_keys=True)


def allow(sid: str, actions: list[str], resources: list[str] | str, **condition: Any) -> Statement:
    """One Allow statement; ``condition`` maps operators to their keys."""
    statement: Statement = {
        "Sid": sid,
        "Effect": "Allow",
        "Action": sorted(actions),
        "Resource": resources,
    }
    if condition:
        statement["Condition"] = {op.replace("_", ":"): keys for op, keys in condition.items()}
    return statement


def _zones(e: Eks, zone_ids: list[str]) -> list[str]:
    """Route53 hosted zone ARNs (global: no region, no account), or every zone."""
    return [f"arn:{e.partition}:route53:::hostedzone/{z}" for z in zone_ids or ["*"]]


def _regional(e: Eks, service: str, resource: str) -> str:
    return f"arn:{e.partition}:{service}:{e.region}:*:{resource}"


def external_dns(e: Eks, zone_ids: list[str]) -> str:
    """Read and change any record of its zones (it owns them by TXT registry)."""
    return document(
        allow(
            "ChangeRecords",
            [
                "route53:ChangeResourceRecordSets",
                "route53:ListResourceRecordSets",
                "route53:ListTagsForResource",
                "route53:ListTagsForResources",
            ],
            _zones(e, zone_ids),
        ),
        allow("FindZones", ["route53:ListHostedZones"], "*"),
    )


def cert_manager(e: Eks, zone_ids: list[str]) -> str:
    """ACME DNS-01: only TXT records named ``_acme-challenge.*`` may change."""
    return document(
        allow(
            "ChallengeRecords",
            ["route53:ChangeResourceRecordSets"],
            _zones(e, zone_ids),
            ForAllValues_StringEquals={"route53:ChangeResourceRecordSetsRecordTypes": ["TXT"]},
            ForAllValues_StringLike={
                "route53:ChangeResourceRecordSetsNormalizedRecordNames": ["_acme-challenge.*"]
            },
        ),
        allow("ReadRecords", ["route53:ListResourceRecordSets"], _zones(e, zone_ids)),
        allow("WaitForChanges", ["route53:GetChange"], f"arn:{e.partition}:route53:::change/*"),
        allow("FindZones", ["route53:ListHostedZonesByName"], "*"),
    )


def external_secrets(e: Eks) -> str:
    """Read Secrets Manager secrets and SSM parameters of the region, decrypt through them."""
    return document(
        allow(
            "ReadSecrets",
            [
                "secretsmanager:DescribeSecret",
                "secretsmanager:GetSecretValue",
                "secretsmanager:ListSecretVersionIds",
            ],
            _regional(e, "secretsmanager", "secret:*"),
        ),
        allow(
            "ReadParameters",
            [
                "ssm:GetParameter",
                "ssm:GetParameters",
                "ssm:GetParametersByPath",
                "ssm:ListTagsForResource",
            ],
            _regional(e, "ssm", "parameter/*"),
        ),
        allow(
            "FindSecretsAndParameters",
            ["secretsmanager:ListSecrets", "ssm:DescribeParameters"],
            "*",
        ),
        allow(
            "DecryptThroughSecretsManagerAndSsm",
            ["kms:Decrypt"],
            "*",
            StringEquals={
                "kms:ViaService": [
                    f"secretsmanager.{e.region}.{e.dns_suffix}",
                    f"ssm.{e.region}.{e.dns_suffix}",
                ]
            },
        ),
    )


def keda(e: Eks) -> str:
    """What KEDA's AWS scalers read: CloudWatch metrics, SQS queue and stream state."""
    return document(
        allow("Metrics", ["cloudwatch:GetMetricData", "cloudwatch:GetMetricStatistics"], "*"),
        allow("Queues", ["sqs:GetQueueAttributes", "sqs:GetQueueUrl"], _regional(e, "sqs", "*")),
        allow(
            "Streams",
            ["kinesis:DescribeStreamSummary"],
            _regional(e, "kinesis", "stream/*"),
        ),
        allow(
            "Tables",
            ["dynamodb:DescribeStream", "dynamodb:DescribeTable"],
            _regional(e, "dynamodb", "table/*"),
        ),
    )
