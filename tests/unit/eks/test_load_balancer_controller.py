"""The AWS Load Balancer Controller and what waits for what."""

from __future__ import annotations

import json
import re

from forge import versions
from forge_dev.simulate import aws
from forge_dev.simulate.converge import converge
from forge_dev.simulate.requests import (
    build,
    render,
)
from tests.support.eks import (
    FALSE,
    NAMESPACE,
    TAGGED,
    XR,
    associations,
    aws_resources,
    condition,
    creating,
    inline_policy,
    large_xr,
    observed_of,
    of_kind,
    params,
    statement,
    trust,
    xr_with,
)

# The AWS Load Balancer Controller ----------------------------------------------------------

LBC = "load-balancer-controller"


def test_the_load_balancer_controller_is_installed_with_its_own_identity(final):
    release = final.resources[LBC]
    spec = release["spec"]
    assert release["apiVersion"] == "helm.m.crossplane.io/v1beta1"
    assert release["metadata"] == {"name": "aws-load-balancer-controller", "namespace": NAMESPACE}
    assert spec["forProvider"]["chart"] == {
        "name": "aws-load-balancer-controller",
        "repository": "https://aws.github.io/eks-charts",
        "version": versions.AWS_LOAD_BALANCER_CONTROLLER.version,
    }
    assert spec["forProvider"]["namespace"] == "kube-system"
    assert spec["providerConfigRef"] == {"kind": "ProviderConfig", "name": "dev"}
    assert spec["rollbackLimit"] == 5
    assert "Delete" not in spec["managementPolicies"]  # it dies with the nodes
    vpc_id = aws.resource_id("vpc", "dev-vpc")  # what EKS reports for the composed VPC
    values = spec["forProvider"]["values"]
    assert {k: values[k] for k in ("clusterName", "region", "vpcId", "serviceAccount")} == {
        "clusterName": "dev",
        "region": "us-west-2",
        "vpcId": vpc_id,
        "serviceAccount": {"create": True, "name": "aws-load-balancer-controller"},
    }
    assert values["defaultTags"] == {"forge.projectcatalyst.io/cluster": "dev"}
    association = associations(final)[("kube-system", "aws-load-balancer-controller")]
    assert association["roleArnRef"] == {"name": "dev-lb-controller"}
    assert trust(final, "aws-role-lb-controller")["Principal"] == {
        "Service": "pods.eks.amazonaws.com"
    }
    # Like Crossplane's Release, it holds the EKS cluster until it is gone.
    held = [
        m["spec"]["of"]["resourceRef"]["name"]
        for m in final.resources.values()
        if m["kind"] == "Usage"
        and m["spec"]["by"]["resourceRef"]["name"] == release["metadata"]["name"]
    ]
    assert held == ["dev"]


def test_the_controller_waits_for_nodes_dns_and_its_identity(history):
    out = next(o for o in history if "crossplane" in o.resources)
    observed = observed_of(out)
    assert LBC in render(build(XR, observed=observed)).resources
    for waited in (
        [k for k in observed if k.startswith("aws-nodegroup-")],
        ["aws-addon-coredns"],
        ["aws-pod-identity-lb-controller"],
    ):
        held = dict(observed)
        for key in waited:
            held[key] = creating(held[key])
        held.pop(LBC, None)
        out_held = render(build(XR, observed=held))
        assert LBC not in out_held.resources, waited
        assert condition(out_held, "AddonsReady")[:2] == (FALSE, "Installing")
        assert "aws-load-balancer-controller" in condition(out_held, "AddonsReady")[2]


def test_the_controller_policy_is_scoped_to_this_clusters_load_balancers(final):
    policy = inline_policy(final, "lb-controller")
    text = json.dumps(policy)
    assert (
        len(
            re.sub(
                r"\s",
                "",
                params(final.resources["aws-role-lb-controller"])["inlinePolicy"][0]["policy"],
            )
        )
        <= 10240
    )
    assert not re.search(r"(waf|shield|cognito)", text)
    create = statement(policy, "CreateOwnLoadBalancers")
    assert create["Condition"] == {"StringEquals": {"aws:RequestTag/elbv2.k8s.aws/cluster": "dev"}}
    for sid in ("ManageOwnLoadBalancers", "ManageOwnSecurityGroups"):
        assert statement(policy, sid)["Condition"]["StringEquals"] == {
            "aws:ResourceTag/elbv2.k8s.aws/cluster": "dev"
        }
    deletes = {a for s in policy["Statement"] for a in s["Action"] if ":Delete" in a}
    for s in policy["Statement"]:
        if set(s["Action"]) & {
            "elasticloadbalancing:DeleteLoadBalancer",
            "ec2:DeleteSecurityGroup",
        }:
            assert "Condition" in s, s["Sid"]
    assert "ec2:DeleteSecurityGroup" in deletes
    nodes = statement(policy, "OpenNodeSecurityGroups")
    assert nodes["Condition"] == {
        "StringEquals": {"aws:ResourceTag/kubernetes.io/cluster/dev": ["owned", "shared"]}
    }
    assert all(
        r == "*" or ":us-west-2:" in r or r.startswith("arn:aws:route53")
        for s in policy["Statement"]
        for r in ([s["Resource"]] if isinstance(s["Resource"], str) else s["Resource"])
    )
    values = params(final.resources[LBC])["values"]
    assert (values["enableShield"], values["enableWaf"], values["enableWafv2"]) == (
        False,
        False,
        False,
    )


def test_the_controller_from_the_spec_or_left_out():
    extra = "arn:aws:iam::123456789012:policy/waf"
    spec = {
        "aws": {
            "loadBalancerController": {
                "chartVersion": "3.4.3",
                "values": {"enableWafv2": True, "replicaCount": 3},
                "policyArns": [extra],
            }
        }
    }
    final = converge(xr_with(**spec))[-1]
    assert final.composite_ready
    release = params(final.resources[LBC])
    assert release["chart"]["version"] == "3.4.3"
    assert release["values"]["enableWafv2"] is True
    assert release["values"]["replicaCount"] == 3
    assert release["values"]["clusterName"] == "dev"
    attached = [
        params(m)["policyArn"]
        for k, m in of_kind(final, "RolePolicyAttachment").items()
        if k.startswith("aws-role-lb-controller-")
    ]
    assert attached == [extra]
    off = converge(xr_with(aws={"loadBalancerController": {"enabled": False}}))[-1]
    assert off.composite_ready
    assert LBC not in off.resources
    assert "aws-role-lb-controller" not in off.resources
    assert "aws-pod-identity-lb-controller" not in off.resources


def test_kubeconfig_waits_for_the_crossplane_identity(large):
    observed = observed_of(large[-1])
    observed["aws-pod-identity-crossplane"] = creating(observed["aws-pod-identity-crossplane"])
    fresh = {
        k: v
        for k, v in observed.items()
        if not k.startswith(("provider-config", "crossplane", "stack-", "usage-", "argocd"))
    }
    out = render(build(large_xr(), observed=fresh))
    assert "provider-config-helm" not in out.resources
    assert condition(out, "KubeconfigReady")[:2] == (FALSE, "WaitingForIdentity")


def test_crossplane_waits_for_the_node_groups(history):
    """Its pods need nodes: a Release installed before them fails, and waits for nothing."""
    configs = ("provider-config-helm", "provider-config-kubernetes")
    out = next(o for o in history if set(configs) <= set(o.resources))
    observed = observed_of(out)
    groups = [key for key in observed if key.startswith("aws-nodegroup-")]
    assert groups
    for key in groups:
        observed[key] = creating(observed[key])
    held = render(build(XR, observed=observed))
    assert "crossplane" not in held.resources
    assert condition(held, "CrossplaneReady")[:2] == (FALSE, "WaitingForNodes")
    observed = {k: o for k, o in observed_of(out).items() if k not in groups}
    assert "crossplane" not in render(build(XR, observed=observed)).resources


def test_tags_from_the_spec_never_replace_the_apis_own(large):
    final = large[-1]
    for key, manifest in aws_resources(final).items():
        if manifest["kind"] in TAGGED:
            tags = params(manifest)["tags"]
            assert tags["team"] == "platform", key
            assert tags["forge.projectcatalyst.io/cluster"] == "prod", key
