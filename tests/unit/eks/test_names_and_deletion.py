"""Names within AWS limits, and deletion in AWS order."""

from __future__ import annotations

from forge_dev.simulate.converge import converge
from forge_dev.simulate.requests import (
    build,
    render,
)
from tests.support import deletion
from tests.support.eks import (
    aws_resources,
    nodegroup_key,
    observed_of,
    xr_with,
)

# Names ----------------------------------------------------------------------------------------


def test_names_fit_aws_limits_for_a_long_cluster_name():
    xr = xr_with()
    xr["metadata"]["name"] = "a" * 40 + "-environment-with-a-long-name"
    xr["spec"]["nodeGroups"][0]["name"] = "g" * 60
    final = converge(xr)[-1]
    assert final.composite_ready
    for manifest in aws_resources(final).values():
        name = manifest["metadata"]["name"]
        limit = {"Role": 64, "NodeGroup": 63, "Cluster": 100}.get(manifest["kind"], 63)
        assert len(name) <= limit, name


# Deletion -----------------------------------------------------------------------------------


def test_deletion_finishes_in_aws_order(final):
    rounds = deletion.simulate(final.resources, cluster="aws-eks-cluster", max_rounds=15)
    order = {key: index for index, keys in enumerate(rounds) for key in keys}
    cluster = order["aws-eks-cluster"]
    assert order[nodegroup_key(final, "general")] < cluster
    for key in (
        "aws-vpc",
        "aws-role-cluster",
        "aws-role-node",
        "aws-subnet-private-us-west-2a",
        "aws-role-cluster-amazoneksclusterpolicy",
    ):
        assert order[key] > cluster, key
    assert order["aws-igw"] > order["aws-nat-us-west-2a"]
    assert order["aws-eip-nat-us-west-2a"] > order["aws-nat-us-west-2a"]
    assert order["namespace"] == len(rounds) - 1


def test_the_network_outlives_the_nodes_and_the_cluster(final):
    """What the nodes need to reach AWS (and load balancers their subnets) goes last."""
    rounds = deletion.simulate(final.resources, cluster="aws-eks-cluster", max_rounds=15)
    order = {key: index for index, keys in enumerate(rounds) for key in keys}
    group = order[nodegroup_key(final, "general")]
    network = [
        k
        for k, m in aws_resources(final).items()
        if m["apiVersion"].startswith("ec2.") and k.startswith("aws-")
    ]
    assert {"aws-nat-us-west-2a", "aws-route-public", "aws-rta-private-us-west-2b"} <= set(network)
    for key in network:
        assert order[key] > order["aws-eks-cluster"] > group, key
    # The load balancer controller's and the autoscaler's Releases are let go before the
    # cluster (and the network).
    assert order["load-balancer-controller"] < order["aws-eks-cluster"]
    assert order["cluster-autoscaler"] < order["aws-eks-cluster"]
    names = [m["metadata"]["name"] for m in final.resources.values() if m["kind"] == "Usage"]
    assert len(names) == len(set(names)), "two Usages of one name"


def test_nothing_a_spec_change_removes_is_held_while_the_xr_lives():
    """A Usage that is no longer desired holds its resource until its user is gone: only
    what goes with the XR may be held by something that stays (node groups and extra NAT
    gateways come and go with the spec). The teardown gate's Usages of node groups let go
    first (test_teardown_gate)."""
    spec = {"aws": {"network": {"natGateways": "PerZone"}}}
    final = converge(xr_with(**spec))[-1]
    held = {
        (m["spec"]["of"]["kind"], m["spec"]["of"]["resourceRef"]["name"])
        for m in final.resources.values()
        if m["kind"] == "Usage" and m["spec"]["by"]["resourceRef"]["name"] != "dev-teardown-gate"
    }
    assert ("NATGateway", "dev-nat-us-west-2a") in held
    assert not {name for kind, name in held if kind == "NATGateway"} - {"dev-nat-us-west-2a"}
    assert not [name for kind, name in held if kind == "NodeGroup"]
    single = render(build(xr_with(), observed=observed_of(final)))
    released = render(build(xr_with(), observed=observed_of(single)))  # the gate's Usage first
    assert "aws-nat-us-west-2b" not in released.resources  # Crossplane deletes it, unblocked


def test_without_usages_aws_ordering_is_lost(final):
    # (Without Usages the teardown gate could not reach the cluster at all.)
    naive = {
        k: m for k, m in final.resources.items() if m["kind"] != "Usage" and k != "teardown-gate"
    }
    rounds = deletion.simulate(naive, cluster="aws-eks-cluster")
    assert "aws-eks-cluster" in rounds[0] and "aws-vpc" in rounds[0]
