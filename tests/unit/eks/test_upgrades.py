"""Kubernetes upgrades in order: control plane, then add-ons, then node groups (issue 19 item 9)."""

from __future__ import annotations

import copy
from typing import Any

from forge import versions
from forge_dev.simulate.requests import Observed, Rendered, build, render
from tests.support.eks import (
    FALSE,
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


def upgrade_spec(**aws: Any) -> dict[str, Any]:
    spec = copy.deepcopy(XR["spec"])
    spec["kubernetesVersion"] = "1.35"
    if aws:
        spec["aws"] = aws
    return spec


def addon_versions(out: Rendered) -> dict[str, str]:
    return {
        params(m)["addonName"]: params(m)["addonVersion"] for m in of_kind(out, "Addon").values()
    }


def group_version(out: Rendered, final: Rendered) -> str:
    return params(out.resources[nodegroup_key(final, "general")])["version"]


def step(spec: dict[str, Any], out: Rendered) -> Rendered:
    """One reconcile after the providers made ``out`` real."""
    return render(build(xr_with(**spec), observed=observed_of(out)))


def test_an_upgrade_moves_control_plane_then_addons_then_node_groups(final):
    spec = upgrade_spec()
    requested = step(spec, final)
    assert params(requested.resources["aws-eks-cluster"])["version"] == "1.35"
    assert addon_versions(requested) == versions.EKS_ADDONS["1.34"]
    assert group_version(requested, final) == "1.34"
    status, reason, message = condition(requested, "ClusterReady")
    assert (status, reason) == (TRUE, "Upgrading")
    assert "from 1.34 to 1.35" in message

    plane_upgraded = step(spec, requested)
    assert addon_versions(plane_upgraded) == versions.EKS_ADDONS["1.35"]
    # The add-ons are asked to move; the nodes wait until they run their new versions.
    assert group_version(plane_upgraded, final) == "1.34"
    status, reason, message = condition(plane_upgraded, "NodeGroupsReady")
    assert (status, reason) == (FALSE, "WaitingForAddons")
    assert "coredns" in message and "1.35" in message
    status, reason, message = condition(plane_upgraded, "AddonsReady")
    assert (status, reason) == (FALSE, "Upgrading")
    assert "coredns" in message and "eks-pod-identity-agent" not in message  # same pin

    addons_upgraded = step(spec, plane_upgraded)
    assert group_version(addons_upgraded, final) == "1.35"
    done = step(spec, addons_upgraded)
    assert group_version(done, final) == "1.35"
    assert done.composite_ready


def test_addons_wait_for_the_control_plane_to_be_ready_at_the_new_version(final):
    spec = upgrade_spec()
    requested = step(spec, final)
    observed = observed_of(requested)
    # EKS reports the new version while the cluster is not Ready yet.
    observed["aws-eks-cluster"] = creating(observed["aws-eks-cluster"])
    held = render(build(xr_with(**spec), observed=observed))
    assert addon_versions(held) == versions.EKS_ADDONS["1.34"]
    assert group_version(held, final) == "1.34"


def test_node_groups_wait_for_an_addon_that_is_not_ready(final):
    spec = upgrade_spec()
    plane_upgraded = step(spec, step(spec, final))
    observed = observed_of(plane_upgraded)
    observed["aws-addon-coredns"] = creating(observed["aws-addon-coredns"])
    out = render(build(xr_with(**spec), observed=observed))
    assert group_version(out, final) == "1.34"
    _, reason, message = condition(out, "NodeGroupsReady")
    assert reason == "WaitingForAddons" and "coredns" in message


def test_held_node_groups_keep_their_version_until_released(final):
    held_spec = upgrade_spec(upgrade={"holdNodeGroups": True})
    out = final
    for _ in range(4):
        out = step(held_spec, out)
    assert params(out.resources["aws-eks-cluster"])["version"] == "1.35"
    assert addon_versions(out) == versions.EKS_ADDONS["1.35"]
    assert group_version(out, final) == "1.34"
    status, reason, message = condition(out, "NodeGroupsReady")
    assert (status, reason) == (TRUE, "UpgradeHeld")
    assert "aws.upgrade.holdNodeGroups" in message and "general" in message
    assert out.composite_ready  # held nodes run: the Cluster is usable
    released = step(upgrade_spec(), out)
    assert group_version(released, final) == "1.35"


def test_a_new_node_group_joins_at_the_control_plane_version_while_others_are_held(final):
    spec = upgrade_spec(upgrade={"holdNodeGroups": True})
    out = final
    for _ in range(3):
        out = step(spec, out)
    spec["nodeGroups"].append(
        {"name": "batch", "instanceType": "m5.large", "minSize": 1, "maxSize": 2}
    )
    out = step(spec, out)
    assert group_version(out, final) == "1.34"
    assert params(out.resources[nodegroup_key(out, "batch")])["version"] == "1.35"


def test_a_node_group_newer_than_the_control_plane_is_never_downgraded(final):
    observed = observed_of(final)
    key = nodegroup_key(final, "general")
    group = copy.deepcopy(observed[key].manifest)
    group["spec"]["forProvider"]["version"] = "1.35"
    group["status"]["atProvider"]["version"] = "1.35"
    observed[key] = Observed(group, observed[key].connection)
    out = render(build(xr_with(**copy.deepcopy(XR["spec"])), observed=observed))
    assert params(out.resources[key])["version"] == "1.35"
    status, reason, message = condition(out, "NodeGroupsReady")
    assert (status, reason) == (FALSE, "UnsupportedVersionChange")
    assert "nodeGroups[0]" in message and "1.35" in message and "1.34" in message


def test_support_type_and_forcing_are_settings(final):
    cluster = params(final.resources["aws-eks-cluster"])
    assert cluster["upgradePolicy"] == {"supportType": "STANDARD"}
    assert "forceUpdateVersion" not in cluster
    assert "forceUpdateVersion" not in params(final.resources[nodegroup_key(final, "general")])
    spec = upgrade_spec(upgrade={"supportType": "EXTENDED", "force": True})
    out = step(spec, final)
    cluster = params(out.resources["aws-eks-cluster"])
    assert cluster["upgradePolicy"] == {"supportType": "EXTENDED"}
    assert cluster["forceUpdateVersion"] is True
    assert params(out.resources[nodegroup_key(final, "general")])["forceUpdateVersion"] is True


def test_kubernetes_1_36_has_addon_pins(final):
    spec = copy.deepcopy(XR["spec"])
    spec["kubernetesVersion"] = "1.35"
    at_135 = final
    for _ in range(4):
        at_135 = step(spec, at_135)
    spec["kubernetesVersion"] = "1.36"
    out = at_135
    for _ in range(4):
        out = step(spec, out)
    assert addon_versions(out) == versions.EKS_ADDONS["1.36"]
    assert group_version(out, final) == "1.36"


def test_an_upgrade_eks_makes_itself_moves_addons_then_node_groups(final):
    """STANDARD support: at its end EKS upgrades an unpinned control plane itself; the
    add-ons and node groups follow in the same order."""
    observed = observed_of(final)
    cluster = copy.deepcopy(observed["aws-eks-cluster"].manifest)
    cluster["status"]["atProvider"]["version"] = "1.35"
    observed["aws-eks-cluster"] = Observed(cluster, observed["aws-eks-cluster"].connection)
    spec = copy.deepcopy(XR["spec"])  # no kubernetesVersion
    out = render(build(xr_with(**spec), observed=observed))
    assert params(out.resources["aws-eks-cluster"])["version"] == "1.35"
    assert addon_versions(out) == versions.EKS_ADDONS["1.35"]
    assert group_version(out, final) == "1.34"
    assert group_version(step(spec, out), final) == "1.35"
