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


def external_secrets(e: Eks, prefix: str | None = None) -> str:
    """Read Secrets Manager secrets and SSM parameters of the region, decrypt through them.

    With the environment's ``prefix``, only secrets named and parameters pathed under it
    (``secret:<prefix>*``, ``parameter/<prefix>*``: an SSM ARN drops the leading ``/``).
    """
    under = prefix or ""
    return document(
        allow(
            "ReadSecrets",
            [
                "secretsmanager:DescribeSecret",
                "secretsmanager:GetSecretValue",
                "secretsmanager:ListSecretVersionIds",
            ],
            _regional(e, "secretsmanager", f"secret:{under}*"),
        ),
        allow(
            "ReadParameters",
            [
                "ssm:GetParameter",
                "ssm:GetParameters",
                "ssm:GetParametersByPath",
                "ssm:ListTagsForResource",
            ],
            _regional(e, "ssm", f"parameter/{under}*"),
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


# What the AWS Load Balancer Controller reads to place load balancers and targets.
_LB_DESCRIBE = [
    *(
        f"ec2:{action}"
        for action in (
            "DescribeAccountAttributes",
            "DescribeAddresses",
            "DescribeAvailabilityZones",
            "DescribeCoipPools",
            "DescribeInstances",
            "DescribeInternetGateways",
            "DescribeIpamPools",
            "DescribeNetworkInterfaces",
            "DescribeRouteTables",
            "DescribeSecurityGroups",
            "DescribeSubnets",
            "DescribeTags",
            "DescribeVpcPeeringConnections",
            "DescribeVpcs",
            "GetCoipPoolUsage",
            "GetSecurityGroupsForVpc",
        )
    ),
    *(
        f"elasticloadbalancing:{action}"
        for action in (
            "DescribeCapacityReservation",
            "DescribeListenerAttributes",
            "DescribeListenerCertificates",
            "DescribeListeners",
            "DescribeLoadBalancerAttributes",
            "DescribeLoadBalancers",
            "DescribeRules",
            "DescribeSSLPolicies",
            "DescribeTags",
            "DescribeTargetGroupAttributes",
            "DescribeTargetGroups",
            "DescribeTargetHealth",
            "DescribeTrustStores",
        )
    ),
    "acm:DescribeCertificate",
    "acm:ListCertificates",
]
_ELB = "elasticloadbalancing"
LB_OWNER_TAG = "elbv2.k8s.aws/cluster"


def load_balancer_controller(e: Eks) -> str:
    """Create load balancers, target groups and security groups tagged as this cluster's
    (the controller tags what it creates ``elbv2.k8s.aws/cluster: <clusterName>``), and
    change or delete only those; open the nodes' security groups (EKS tags them
    ``kubernetes.io/cluster/<name>``) to them. WAF, Shield and Cognito are left out
    (the API turns those features off in the controller).
    """
    name = e.cluster_name
    owned = {f"aws:RequestTag/{LB_OWNER_TAG}": name}
    mine = {f"aws:ResourceTag/{LB_OWNER_TAG}": name}
    keeps_owner = {"Null": {f"aws:RequestTag/{LB_OWNER_TAG}": "true"}}
    groups = _regional(e, "ec2", "security-group/*")
    balancers = [_regional(e, _ELB, "loadbalancer/*"), _regional(e, _ELB, "targetgroup/*")]
    listeners = [_regional(e, _ELB, "listener/*"), _regional(e, _ELB, "listener-rule/*")]
    return document(
        allow("Describe", _LB_DESCRIBE, "*"),
        allow(
            "ElbServiceLinkedRole",
            ["iam:CreateServiceLinkedRole"],
            "*",
            StringEquals={"iam:AWSServiceName": "elasticloadbalancing.amazonaws.com"},
        ),
        allow("SecurityGroupsInVpcs", ["ec2:CreateSecurityGroup"], _regional(e, "ec2", "vpc/*")),
        allow("CreateOwnSecurityGroups", ["ec2:CreateSecurityGroup"], groups, StringEquals=owned),
        allow(
            "TagNewSecurityGroups",
            ["ec2:CreateTags"],
            groups,
            StringEquals={**owned, "ec2:CreateAction": "CreateSecurityGroup"},
        ),
        allow(
            "ManageOwnSecurityGroups",
            [
                "ec2:AuthorizeSecurityGroupIngress",
                "ec2:DeleteSecurityGroup",
                "ec2:RevokeSecurityGroupIngress",
            ],
            groups,
            StringEquals=mine,
        ),
        {
            **allow("RetagOwnSecurityGroups", ["ec2:CreateTags", "ec2:DeleteTags"], groups),
            "Condition": {"StringEquals": mine, **keeps_owner},
        },
        allow(
            "OpenNodeSecurityGroups",
            ["ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupIngress"],
            groups,
            StringEquals={f"aws:ResourceTag/kubernetes.io/cluster/{name}": ["owned", "shared"]},
        ),
        allow(
            "CreateOwnLoadBalancers",
            [f"{_ELB}:CreateLoadBalancer", f"{_ELB}:CreateTargetGroup"],
            balancers,
            StringEquals=owned,
        ),
        allow(
            "TagNewLoadBalancers",
            [f"{_ELB}:AddTags"],
            balancers,
            StringEquals={
                **owned,
                f"{_ELB}:CreateAction": ["CreateLoadBalancer", "CreateTargetGroup"],
            },
        ),
        allow(
            "ManageOwnLoadBalancers",
            [
                f"{_ELB}:{action}"
                for action in (
                    "DeleteLoadBalancer",
                    "DeleteTargetGroup",
                    "ModifyCapacityReservation",
                    "ModifyIpPools",
                    "ModifyLoadBalancerAttributes",
                    "ModifyTargetGroup",
                    "ModifyTargetGroupAttributes",
                    "SetIpAddressType",
                    "SetSecurityGroups",
                    "SetSubnets",
                )
            ],
            balancers,
            StringEquals=mine,
        ),
        {
            **allow("RetagOwnLoadBalancers", [f"{_ELB}:AddTags", f"{_ELB}:RemoveTags"], balancers),
            "Condition": {"StringEquals": mine, **keeps_owner},
        },
        allow(
            "ListenersAndRules",
            [
                f"{_ELB}:{action}"
                for action in (
                    "AddListenerCertificates",
                    "CreateListener",
                    "CreateRule",
                    "DeleteListener",
                    "DeleteRule",
                    "ModifyListener",
                    "ModifyListenerAttributes",
                    "ModifyRule",
                    "RemoveListenerCertificates",
                    "SetRulePriorities",
                )
            ],
            [*listeners, balancers[0]],
        ),
        allow("TagListenersAndRules", [f"{_ELB}:AddTags", f"{_ELB}:RemoveTags"], listeners),
        allow(
            "Targets",
            [f"{_ELB}:DeregisterTargets", f"{_ELB}:RegisterTargets"],
            balancers[1],
        ),
    )


# The tags EKS puts on a managed node group's Auto Scaling group, which cluster-autoscaler's
# auto-discovery looks for (cluster-autoscaler/cloudprovider/aws/README.md, "Auto-Discovery
# Setup"): ``enabled: true`` and ``<cluster>: owned``.
AUTOSCALER_TAG = "k8s.io/cluster-autoscaler"


def cluster_autoscaler(e: Eks) -> str:
    """Read Auto Scaling groups, launch templates and instance types; change the desired
    capacity of, and terminate instances in, only the Auto Scaling groups tagged for this
    cluster's autoscaler (EKS tags each managed node group's so); read only this cluster's
    node groups (their labels and taints, for a group at zero nodes)."""
    name = e.cluster_name
    return document(
        allow(
            "Describe",
            [
                "autoscaling:DescribeAutoScalingGroups",
                "autoscaling:DescribeAutoScalingInstances",
                "autoscaling:DescribeLaunchConfigurations",
                "autoscaling:DescribeScalingActivities",
                "ec2:DescribeImages",
                "ec2:DescribeInstanceTypes",
                "ec2:DescribeLaunchTemplateVersions",
                "ec2:GetInstanceTypesFromInstanceRequirements",
            ],
            "*",
        ),
        allow(
            "ScaleOwnNodeGroups",
            ["autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"],
            _regional(e, "autoscaling", "autoScalingGroup:*:autoScalingGroupName/*"),
            StringEquals={
                f"aws:ResourceTag/{AUTOSCALER_TAG}/enabled": "true",
                f"aws:ResourceTag/{AUTOSCALER_TAG}/{name}": "owned",
            },
        ),
        allow(
            "ReadOwnNodeGroups",
            ["eks:DescribeNodegroup"],
            _regional(e, "eks", f"nodegroup/{name}/*"),
        ),
    )
