"""The teardown gate: load balancers go while the nodes and their controller still run,
and nothing the gate holds blocks a node group's removal while the cluster lives."""

from __future__ import annotations

import pytest

from forge_dev.simulate.converge import converge
from forge_dev.simulate.requests import build, render
from tests.support import deletion
from tests.support.eks import nodegroup_key, observed_of, xr_with

GATE = "teardown-gate"
HOLD = "aws-teardown-hold-"


def _order(final) -> dict[str, int]:
    rounds = deletion.simulate(final.resources, cluster="aws-eks-cluster", max_rounds=20)
    return {key: index for index, keys in enumerate(rounds) for key in keys}


def test_the_gate_goes_before_what_its_controllers_need(final):
    order = _order(final)
    gate = order[GATE]
    for key in (
        nodegroup_key(final, "general"),
        "aws-addon-vpc-cni",
        "aws-addon-coredns",
        "aws-addon-eks-pod-identity-agent",
        "aws-pod-identity-lb-controller",
        "aws-role-lb-controller",
        # The cluster's Crossplane deletes what the infrastructure XRs composed in AWS.
        "aws-pod-identity-crossplane",
        "aws-role-crossplane",
        "aws-clusterauth",
    ):
        assert order[key] > gate, key
    # The gate reaches the new cluster: its ProviderConfig and the cluster outlive it.
    assert order["provider-config-kubernetes"] > gate
    assert order["aws-eks-cluster"] > gate


def test_the_gate_is_deleted_and_everything_else_in_the_cluster_orphaned(final):
    objects = {k: m for k, m in final.resources.items() if m["kind"] == "Object"}
    gate = objects[GATE]
    assert "managementPolicies" not in gate["spec"]  # all of them: Delete too
    manifest = gate["spec"]["forProvider"]["manifest"]
    assert manifest["metadata"]["finalizers"] == ["forge.projectcatalyst.io/teardown"]
    assert (manifest["kind"], manifest["metadata"]["namespace"]) == ("ConfigMap", "kube-system")
    for key, obj in objects.items():
        if key != GATE:
            assert "Delete" not in obj["spec"]["managementPolicies"], key


def test_the_controller_runs_from_the_function_image_unless_told_otherwise(final):
    def image(out) -> str:
        deployment = out.resources["teardown-deployment"]["spec"]["forProvider"]["manifest"]
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        # The image's only interpreter (forge_dev/packaging/image.py): no shell, no venv.
        assert container["command"] == ["/usr/bin/python3.11", "-m", "forge.teardown"]
        return container["image"]

    assert image(final) == "ghcr.io/input-output-hk/catalyst-forge/function-forge:v0.1.0"
    mirrored = "registry.example.com/mirror/function-forge:v0.1.0"
    out = converge(xr_with(aws={"teardown": {"image": mirrored}}), max_rounds=12)[-1]
    assert image(out) == mirrored


def test_the_controller_may_delete_every_api_of_our_group(final):
    role = final.resources["teardown-clusterrole"]["spec"]["forProvider"]["manifest"]
    assert {
        "apiGroups": ["forge.projectcatalyst.io"],
        "resources": ["*"],
        "verbs": [
            "list",
            "delete",
        ],
    } in role["rules"]


def test_a_removed_node_group_is_let_go_over_two_reconciles():
    """A Usage being deleted waits for its ``by``: so its ``by`` goes first, then both."""
    groups = [
        {"name": "general", "instanceType": "t3.large", "minSize": 3, "maxSize": 10},
        {"name": "batch", "instanceType": "m5.large", "minSize": 1, "maxSize": 3},
    ]
    both = converge(xr_with(nodeGroups=groups), max_rounds=12)[-1]
    batch = nodegroup_key(both, "batch")
    assert both.resources[f"{HOLD}{batch}"]["spec"]["by"]["kind"] == "Object"

    one = xr_with(nodeGroups=groups[:1])
    first = render(build(one, observed=observed_of(both)))
    assert first.resources[batch] == both.resources[batch]
    released = first.resources[f"{HOLD}{batch}"]["spec"]
    assert "by" not in released and released["reason"]
    general = nodegroup_key(both, "general")
    assert first.resources[f"{HOLD}{general}"]["spec"]["by"]["kind"] == "Object"

    second = render(build(one, observed=observed_of(first)))
    assert batch not in second.resources
    assert f"{HOLD}{batch}" not in second.resources
    assert f"{HOLD}{general}" in second.resources


def test_a_replaced_node_group_is_let_go_once_its_replacement_is_ready(final):
    old = nodegroup_key(final, "general")
    replaced = xr_with(
        nodeGroups=[{"name": "general", "instanceType": "m7i.large", "minSize": 3, "maxSize": 10}]
    )
    replacing = render(build(replaced, observed=observed_of(final)))
    assert replacing.resources[f"{HOLD}{old}"]["spec"]["by"]["kind"] == "Object"
    ready = render(build(replaced, observed=observed_of(replacing)))
    assert old in ready.resources, "kept while its Usage lets go"
    assert "by" not in ready.resources[f"{HOLD}{old}"]["spec"]
    done = render(build(replaced, observed=observed_of(ready)))
    assert old not in done.resources and f"{HOLD}{old}" not in done.resources
    assert done.composite_ready


@pytest.mark.parametrize("disabled", [{"loadBalancerController": {"enabled": False}}])
def test_disabling_the_load_balancer_controller_lets_its_identity_go(final, disabled):
    off = xr_with(aws=disabled)
    first = render(build(off, observed=observed_of(final)))
    assert "by" not in first.resources[f"{HOLD}aws-pod-identity-lb-controller"]["spec"]
    second = render(build(off, observed=observed_of(first)))
    assert not [k for k in second.resources if "lb-controller" in k]


def test_every_zones_nat_gateway_outlives_the_gate_and_single_lets_the_others_go():
    """The load balancer controller reaches AWS through its zone's NAT gateway."""
    per_zone = converge(xr_with(aws={"network": {"natGateways": "PerZone"}}), max_rounds=12)[-1]
    order = _order(per_zone)
    for zone in ("us-west-2a", "us-west-2b", "us-west-2c"):
        assert order[f"aws-nat-{zone}"] > order[GATE], zone
    single = xr_with(aws={"network": {"natGateways": "Single"}})
    first = render(build(single, observed=observed_of(per_zone)))
    assert "by" not in first.resources[f"{HOLD}aws-nat-us-west-2b"]["spec"]
    assert "by" in first.resources[f"{HOLD}aws-nat-us-west-2a"]["spec"]
    second = render(build(single, observed=observed_of(first)))
    assert "aws-nat-us-west-2b" not in second.resources
    assert f"{HOLD}aws-nat-us-west-2b" not in second.resources
