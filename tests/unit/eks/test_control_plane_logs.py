"""The control-plane log group: composed before the cluster (EKS adopts it), with a
retention, and deleted after the cluster (EKS would otherwise leave it behind)."""

from __future__ import annotations

from forge_dev.simulate.converge import converge
from forge_dev.simulate.requests import build, render
from tests.support import deletion
from tests.support.eks import xr_with
from tests.support.releases import assert_refused

LOG_GROUP = "aws-control-plane-logs"


def test_the_log_group_eks_writes_to_is_composed_with_a_retention(final):
    group = final.resources[LOG_GROUP]
    assert group["apiVersion"] == "cloudwatchlogs.aws.m.upbound.io/v1beta1"
    assert group["kind"] == "Group"
    assert group["metadata"]["name"] == "dev-control-plane-logs"
    # The name EKS writes to (its external name: the provider's NameAsIdentifier).
    assert group["metadata"]["annotations"]["crossplane.io/external-name"] == (
        "/aws/eks/dev/cluster"
    )
    params = group["spec"]["forProvider"]
    assert params["retentionInDays"] == 90
    assert params["region"] == "us-west-2"
    assert params["tags"]["forge.projectcatalyst.io/cluster"] == "dev"


def test_the_log_group_exists_before_the_cluster(history):
    first = {
        key: next(i for i, out in enumerate(history) if key in out.resources)
        for key in (LOG_GROUP, "aws-eks-cluster")
    }
    assert first[LOG_GROUP] < first["aws-eks-cluster"]


def test_the_log_group_goes_after_the_cluster(final):
    rounds = deletion.simulate(final.resources, cluster="aws-eks-cluster", max_rounds=15)
    order = {key: index for index, keys in enumerate(rounds) for key in keys}
    assert order[LOG_GROUP] > order["aws-eks-cluster"]


def test_the_retention_is_a_setting():
    out = converge(xr_with(aws={"controlPlaneLogRetentionDays": 365}))[-1]
    assert out.resources[LOG_GROUP]["spec"]["forProvider"]["retentionInDays"] == 365


def test_a_retention_cloudwatch_does_not_offer_is_refused():
    out = render(build(xr_with(aws={"controlPlaneLogRetentionDays": 10})))
    assert_refused(out, "spec.aws.controlPlaneLogRetentionDays: Input should be")


def test_without_control_plane_logging_no_log_group_is_composed():
    out = converge(xr_with(aws={"controlPlaneLogging": []}))[-1]
    assert out.composite_ready
    assert LOG_GROUP not in out.resources
