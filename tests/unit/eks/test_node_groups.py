"""Node groups: sizes, replacement, versions, generations."""

from __future__ import annotations

import copy
import re
from typing import Any, get_args

import pytest

from forge import versions
from forge.composers.eks import nodegroups
from forge.composers.eks.control_plane import target_version
from forge.models.cluster import ClusterSpec, KubernetesVersion
from forge_dev.simulate.requests import (
    Observed,
    Rendered,
    build,
    render,
)
from tests.support.eks import (
    FALSE,
    SUBNETS,
    TRUE,
    XR,
    condition,
    creating,
    nodegroup_key,
    observed_of,
    of_kind,
    params,
    xr_with,
)

# Node groups --------------------------------------------------------------------------------


def test_desired_size_is_set_at_creation_only(final):
    group = final.resources[nodegroup_key(final, "general")]
    assert group["spec"]["initProvider"] == {"scalingConfig": {"desiredSize": 3}}
    assert params(group)["scalingConfig"] == {"minSize": 3, "maxSize": 10}
    assert "managementPolicies" not in group["spec"]
    assert params(group)["instanceTypes"] == ["t3.large"]
    assert params(group)["subnetIdRefs"] == [{"name": f"dev-private-us-west-2{z}"} for z in "abc"]
    assert params(group)["version"] == "1.34"
    assert (
        group["metadata"]["name"]
        == f"dev-{nodegroup_key(final, 'general').removeprefix('aws-nodegroup-')}"
    )


def test_scaling_bounds_update_in_place(final):
    key = nodegroup_key(final, "general")
    spec = copy.deepcopy(XR["spec"])
    spec["nodeGroups"][0].update(minSize=2, maxSize=20)
    out = render(build(xr_with(**spec), observed=observed_of(final)))
    assert set(out.resources) == set(final.resources)
    group = out.resources[key]
    assert group["metadata"] == final.resources[key]["metadata"]
    assert params(group)["scalingConfig"] == {"minSize": 2, "maxSize": 20}
    assert group["spec"]["initProvider"] == {"scalingConfig": {"desiredSize": 3}}


def test_an_autoscaled_size_is_left_alone_and_clamped_only_into_new_bounds(final):
    key = nodegroup_key(final, "general")
    observed = observed_of(final)
    observed[key].manifest["status"]["atProvider"]["scalingConfig"]["desiredSize"] = 7
    out = render(build(XR, observed=observed))
    assert "desiredSize" not in params(out.resources[key])["scalingConfig"]
    spec = copy.deepcopy(XR["spec"])
    spec["nodeGroups"][0].update(minSize=2, maxSize=5)
    out = render(build(xr_with(**spec), observed=observed))
    assert params(out.resources[key])["scalingConfig"] == {
        "minSize": 2,
        "maxSize": 5,
        "desiredSize": 5,
    }


def test_instance_type_change_replaces_the_group_before_removing_it(final):
    old_key = nodegroup_key(final, "general")
    observed = observed_of(final)
    observed[old_key].manifest["status"]["atProvider"]["scalingConfig"]["desiredSize"] = 6
    spec = copy.deepcopy(XR["spec"])
    spec["nodeGroups"][0]["instanceType"] = "m7i.large"
    xr = xr_with(**spec)
    out = render(build(xr, observed=observed))
    new_key = next(k for k in of_kind(out, "NodeGroup") if k != old_key)
    assert old_key in out.resources, "the old group must stay until its replacement is ready"
    assert out.resources[old_key]["spec"] == observed[old_key].manifest["spec"]
    new = out.resources[new_key]
    assert params(new)["instanceTypes"] == ["m7i.large"]
    assert new["spec"]["initProvider"] == {"scalingConfig": {"desiredSize": 6}}
    status, reason, message = condition(out, "NodeGroupsReady")
    assert (status, reason) == (FALSE, "Replacing")
    assert "instanceTypes changed" in message
    assert new["metadata"]["name"] in message
    assert not out.composite_ready
    usage = f"aws-usage-eks-cluster-by-{old_key.removeprefix('aws-')}"
    assert usage in out.resources
    # Once the replacement is ready, the old group (and its Usage) go: after the teardown
    # gate's Usage of it has let go (test_teardown_gate).
    released = render(build(xr, observed=observed_of(out)))
    assert old_key in released.resources and usage not in released.resources
    done = render(build(xr, observed=observed_of(released)))
    assert old_key not in done.resources
    assert new_key in done.resources
    assert condition(done, "NodeGroupsReady")[:2] == (TRUE, "Available")
    assert done.composite_ready


@pytest.mark.parametrize(
    "change",
    [{"capacityType": "SPOT"}, {"diskSize": 100}, {"amiType": "BOTTLEROCKET_x86_64"}],
)
def test_every_immutable_property_gets_a_new_generation(final, change):
    spec = copy.deepcopy(XR["spec"])
    spec["nodeGroups"][0].update(change)
    out = render(build(xr_with(**spec), observed=observed_of(final)))
    assert len(of_kind(out, "NodeGroup")) == 2
    assert condition(out, "NodeGroupsReady")[1] == "Replacing"


def test_mutable_changes_keep_the_generation(final):
    spec = copy.deepcopy(XR["spec"])
    spec["nodeGroups"][0].update(
        labels={"tier": "web"}, taints=[{"key": "dedicated", "effect": "NO_SCHEDULE"}]
    )
    out = render(build(xr_with(**spec), observed=observed_of(final)))
    (key,) = of_kind(out, "NodeGroup")
    assert key == nodegroup_key(final, "general")
    assert params(out.resources[key])["taint"] == [{"key": "dedicated", "effect": "NO_SCHEDULE"}]
    assert params(out.resources[key])["labels"] == {"tier": "web"}


def test_adding_a_second_group_renames_nothing(final):
    spec = copy.deepcopy(XR["spec"])
    spec["nodeGroups"].append(
        {"name": "batch", "instanceType": "c7i.xlarge", "minSize": 0, "maxSize": 5}
    )
    out = render(build(xr_with(**spec), observed=observed_of(final)))
    for key, manifest in final.resources.items():
        assert key in out.resources, key
        assert out.resources[key]["metadata"]["name"] == manifest["metadata"]["name"], key
    added = set(out.resources) - set(final.resources)
    assert {k.rsplit("-", 1)[0] for k in added} == {
        "aws-nodegroup-batch",
        "aws-usage-eks-cluster-by-nodegroup-batch",
        "aws-teardown-hold-aws-nodegroup-batch",
    }


def test_nodes_follow_the_running_control_plane_version(final):
    spec = copy.deepcopy(XR["spec"])
    spec["kubernetesVersion"] = "1.35"
    out = render(build(xr_with(**spec), observed=observed_of(final)))
    assert params(out.resources["aws-eks-cluster"])["version"] == "1.35"
    assert params(out.resources[nodegroup_key(final, "general")])["version"] == "1.34"
    # The add-ons move next; the nodes once they run their new versions (test_upgrades.py).
    addons = render(build(xr_with(**spec), observed=observed_of(out)))
    assert params(addons.resources[nodegroup_key(final, "general")])["version"] == "1.34"
    upgraded = render(build(xr_with(**spec), observed=observed_of(addons)))
    assert params(upgraded.resources[nodegroup_key(final, "general")])["version"] == "1.35"


def addon_versions(out: Rendered) -> dict[str, str]:
    return {
        params(m)["addonName"]: params(m)["addonVersion"] for m in of_kind(out, "Addon").values()
    }


def test_addons_move_with_the_running_kubernetes_version(final):
    """EKS late-initialises addonVersion and never moves it: the table moves it, after the
    control plane (an add-on version must support the version the cluster runs)."""
    spec = copy.deepcopy(XR["spec"])
    spec["kubernetesVersion"] = "1.35"
    upgrading = render(build(xr_with(**spec), observed=observed_of(final)))
    assert addon_versions(upgrading) == versions.EKS_ADDONS["1.34"]
    observed = observed_of(final)
    observed["aws-eks-cluster"] = creating(observed["aws-eks-cluster"])  # mid-upgrade
    held = render(build(xr_with(**spec), observed=observed))
    assert addon_versions(held) == versions.EKS_ADDONS["1.34"]
    upgraded = render(build(xr_with(**spec), observed=observed_of(upgrading)))
    assert addon_versions(upgraded) == versions.EKS_ADDONS["1.35"]
    spec["aws"] = {"addons": {"coredns": {"version": "v1.13.1-eksbuild.1"}}}
    pinned = render(build(xr_with(**spec), observed=observed_of(upgrading)))
    assert addon_versions(pinned) == versions.EKS_ADDONS["1.35"] | {"coredns": "v1.13.1-eksbuild.1"}


def test_every_kubernetes_version_pins_every_addon():
    addons = {"vpc-cni", "kube-proxy", "coredns", "eks-pod-identity-agent", "aws-ebs-csi-driver"}
    assert set(versions.EKS_ADDONS) == set(get_args(KubernetesVersion))
    for minor, pins in versions.EKS_ADDONS.items():
        assert set(pins) == addons, minor
        for version in pins.values():
            assert re.fullmatch(r"v\d+\.\d+\.\d+-eksbuild\.\d+", version), version
        assert pins["kube-proxy"].startswith(f"v{minor}."), "kube-proxy follows Kubernetes"


def test_impossible_version_changes_are_held_and_reported(final):
    spec = copy.deepcopy(XR["spec"])
    spec["kubernetesVersion"] = "1.32"
    out = render(build(xr_with(**spec), observed=observed_of(final)))
    assert params(out.resources["aws-eks-cluster"])["version"] == "1.34"
    status, reason, message = condition(out, "ClusterReady")
    assert (status, reason) == (FALSE, "UnsupportedVersionChange")
    assert "cannot downgrade" in message
    assert target_version("1.34", "1.32")[1].startswith("kubernetesVersion 1.34 skips")
    assert target_version(None, "1.31") == ("1.31", "")
    assert target_version(None, None) == ("1.34", "")


def reporting_version(final: Rendered, running: Any) -> dict[str, Observed]:
    observed = observed_of(final)
    cluster = copy.deepcopy(observed["aws-eks-cluster"].manifest)
    cluster["status"]["atProvider"]["version"] = running
    observed["aws-eks-cluster"] = Observed(cluster, observed["aws-eks-cluster"].connection)
    return observed


ODD_VERSIONS = ["1", "134", "1.x", "v1.34", "", "1.34.2-eks", ".34", "1." + "9" * 400, 1.34]


@pytest.mark.parametrize("running", ODD_VERSIONS, ids=lambda v: repr(v)[:12])
@pytest.mark.parametrize("requested", [None, "1.35"], ids=["unpinned", "pinned"])
def test_an_odd_version_from_the_provider_is_reported_not_raised(final, running, requested):
    """Issue 21 item 6: an EKS version that is not <major>.<minor> raised IndexError (an
    internal error) instead of a condition. The cluster stays at the version last asked
    for, node groups and add-ons are not moved by it, and the value is not quoted."""
    spec = copy.deepcopy(XR["spec"])
    if requested:
        spec["kubernetesVersion"] = requested
    out = render(build(xr_with(**spec), observed=reporting_version(final, running)))
    assert out.fatal == []
    status, reason, message = condition(out, "ClusterReady")
    assert (status, reason) == (FALSE, "UnknownVersion")
    assert "status.atProvider.version" in message
    if isinstance(running, str) and len(running) > 3:
        assert running not in message
    assert params(out.resources["aws-eks-cluster"])["version"] == "1.34"
    group = params(out.resources[nodegroup_key(final, "general")])
    assert group.get("version") in (None, "1.34")
    assert addon_versions(out) == versions.EKS_ADDONS["1.34"]


def test_generation_hash_covers_immutable_properties_only():
    group = ClusterSpec.model_validate(XR["spec"]).node_groups[0]
    network = nodegroups.Network(subnet_ids=SUBNETS)
    base = nodegroups.generation(group, network)
    assert nodegroups.generation(group.model_copy(update={"max_size": 99}), network) == base
    assert (
        nodegroups.generation(group.model_copy(update={"instance_type": "m7i.large"}), network)
        != base
    )
    assert nodegroups.generation(group, nodegroups.Network(subnet_ids=SUBNETS[:2])) != base
