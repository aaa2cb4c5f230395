"""cluster-autoscaler: node groups scale between minSize and maxSize (issue 19 item 8)."""

from __future__ import annotations

from forge import versions
from forge_dev.simulate.converge import converge
from forge_dev.simulate.requests import build, render
from tests.support.eks import (
    FALSE,
    NAMESPACE,
    XR,
    associations,
    condition,
    creating,
    inline_policy,
    nodegroup_key,
    observed_of,
    of_kind,
    params,
    statement,
    trust,
    xr_with,
)

CA = "cluster-autoscaler"


def test_the_autoscaler_is_installed_with_its_own_identity(final):
    release = final.resources[CA]
    spec = release["spec"]
    assert release["metadata"] == {"name": "cluster-autoscaler", "namespace": NAMESPACE}
    assert spec["forProvider"]["chart"] == {
        "name": "cluster-autoscaler",
        "repository": "https://kubernetes.github.io/autoscaler",
        "version": versions.CLUSTER_AUTOSCALER.version,
    }
    assert spec["forProvider"]["namespace"] == "kube-system"
    assert spec["providerConfigRef"] == {"kind": "ProviderConfig", "name": "dev"}
    assert "Delete" not in spec["managementPolicies"]  # it dies with the nodes
    assert spec["forProvider"]["values"] == {
        "cloudProvider": "aws",
        "awsRegion": "us-west-2",
        "autoDiscovery": {"clusterName": "dev"},
        "fullnameOverride": "cluster-autoscaler",
        "image": {"tag": versions.CLUSTER_AUTOSCALER_IMAGES["1.34"]},
        "rbac": {"serviceAccount": {"create": True, "name": "cluster-autoscaler"}},
    }
    association = associations(final)[("kube-system", "cluster-autoscaler")]
    assert association["roleArnRef"] == {"name": "dev-autoscaler"}
    assert trust(final, "aws-role-autoscaler")["Condition"]["StringEquals"] == {
        "aws:SourceAccount": "123456789012",
        "aws:RequestTag/eks-cluster-name": "dev",
        "aws:RequestTag/kubernetes-namespace": "kube-system",
        "aws:RequestTag/kubernetes-service-account": "cluster-autoscaler",
    }
    assert final.composite_ready


def test_the_autoscaler_may_scale_only_this_clusters_node_groups(final):
    policy = inline_policy(final, "autoscaler")
    scale = statement(policy, "ScaleOwnNodeGroups")
    assert scale["Action"] == [
        "autoscaling:SetDesiredCapacity",
        "autoscaling:TerminateInstanceInAutoScalingGroup",
    ]
    assert scale["Resource"] == (
        "arn:aws:autoscaling:us-west-2:*:autoScalingGroup:*:autoScalingGroupName/*"
    )
    assert scale["Condition"] == {
        "StringEquals": {
            "aws:ResourceTag/k8s.io/cluster-autoscaler/enabled": "true",
            "aws:ResourceTag/k8s.io/cluster-autoscaler/dev": "owned",
        }
    }
    assert statement(policy, "ReadOwnNodeGroups")["Resource"] == (
        "arn:aws:eks:us-west-2:*:nodegroup/dev/*"
    )
    # Only reads are unscoped (these calls take no resource).
    for s in policy["Statement"]:
        if s["Resource"] == "*":
            assert all(":Describe" in a or ":Get" in a for a in s["Action"]), s["Sid"]


def test_node_groups_leave_the_desired_size_to_the_autoscaler(final):
    """The provider sets desiredSize at creation only (initProvider): it never resets it."""
    group = final.resources[nodegroup_key(final, "general")]
    assert params(group)["scalingConfig"] == {"minSize": 3, "maxSize": 10}
    assert group["spec"]["initProvider"] == {"scalingConfig": {"desiredSize": 3}}


def test_the_autoscaler_waits_for_nodes_dns_and_its_identity(history):
    out = next(o for o in history if CA in o.resources)
    observed = observed_of(out)
    for waited in (
        [k for k in observed if k.startswith("aws-nodegroup-")],
        ["aws-addon-coredns"],
        ["aws-pod-identity-autoscaler"],
    ):
        held = dict(observed)
        for key in waited:
            held[key] = creating(held[key])
        held.pop(CA, None)
        out_held = render(build(XR, observed=held))
        assert CA not in out_held.resources, waited
        assert condition(out_held, "AddonsReady")[:2] == (FALSE, "Installing")
        assert "cluster-autoscaler" in condition(out_held, "AddonsReady")[2]


def test_the_image_follows_the_kubernetes_minor_the_cluster_runs():
    final = converge(xr_with(kubernetesVersion="1.33"))[-1]
    assert params(final.resources[CA])["values"]["image"] == {"tag": "v1.33.6"}
    assert set(versions.CLUSTER_AUTOSCALER_IMAGES) == set(versions.EKS_ADDONS)
    for minor, tag in versions.CLUSTER_AUTOSCALER_IMAGES.items():
        assert tag.startswith(f"v{minor}."), minor


def test_the_autoscaler_from_the_spec_or_left_out():
    extra = "arn:aws:iam::123456789012:policy/more"
    spec = {
        "aws": {
            "clusterAutoscaler": {
                "chartVersion": "9.58.0",
                "values": {"extraArgs": {"expander": "least-waste"}, "image": {"tag": "v1.34.4"}},
                "policyArns": [extra],
            }
        }
    }
    final = converge(xr_with(**spec))[-1]
    assert final.composite_ready
    release = params(final.resources[CA])
    assert release["chart"]["version"] == "9.58.0"
    assert release["values"]["extraArgs"] == {"expander": "least-waste"}
    assert release["values"]["image"] == {"tag": "v1.34.4"}
    assert release["values"]["autoDiscovery"] == {"clusterName": "dev"}
    attached = [
        params(m)["policyArn"]
        for k, m in of_kind(final, "RolePolicyAttachment").items()
        if k.startswith("aws-role-autoscaler-")
    ]
    assert attached == [extra]
    off = converge(xr_with(aws={"clusterAutoscaler": {"enabled": False}}))[-1]
    assert off.composite_ready
    assert CA not in off.resources
    assert "aws-role-autoscaler" not in off.resources
    assert "aws-pod-identity-autoscaler" not in off.resources
