"""The EKS Cluster tests' shared XRs, constants and readers of a render."""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path
from typing import Any

import crossplane.function.proto.v1.run_function_pb2 as fnv1
import yaml

from forge_dev.simulate import aws
from forge_dev.simulate.player import observe
from forge_dev.simulate.requests import (
    Observed,
    Rendered,
)

ROOT = Path(__file__).resolve().parents[2]
NAMESPACE = "cluster-dev"
ARGOCD_ROLE = "arn:aws:iam::123456789012:role/argocd"
ADMIN_ROLE = "arn:aws:iam::123456789012:role/platform-admins"
PROVIDER_CONFIG = {"kind": "ClusterProviderConfig", "name": "default"}
XR: dict[str, Any] = {
    "apiVersion": "forge.projectcatalyst.io/v1alpha1",
    "kind": "Cluster",
    "metadata": {"name": "dev"},
    "spec": {
        "provider": "aws",
        "region": "us-west-2",
        "nodeGroups": [
            {"name": "general", "instanceType": "t3.large", "minSize": 3, "maxSize": 10}
        ],
        "argocd": {"roleArn": ARGOCD_ROLE},
    },
}
SUBNETS = ["subnet-0a1b2c3d4e5f60001", "subnet-0a1b2c3d4e5f60002", "subnet-0a1b2c3d4e5f60003"]
TRUE, FALSE = fnv1.STATUS_CONDITION_TRUE, fnv1.STATUS_CONDITION_FALSE
TAGGED = {
    "VPC",
    "Subnet",
    "InternetGateway",
    "RouteTable",
    "EIP",
    "NATGateway",
    "Role",
    "Cluster",
    "NodeGroup",
    "Addon",
    "AccessEntry",
    "PodIdentityAssociation",
    "Group",
}


def xr_with(**spec: Any) -> dict[str, Any]:
    xr = copy.deepcopy(XR)
    xr["spec"].update(spec)
    return xr


def large_xr() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "examples/cluster-aws-large/xr.yaml").read_text())


def observed_of(out: Rendered) -> dict[str, Observed]:
    return {key: observe(key, manifest) for key, manifest in out.resources.items()}


def aws_resources(out: Rendered) -> dict[str, dict[str, Any]]:
    return {k: m for k, m in out.resources.items() if k.startswith("aws-")}


def of_kind(out: Rendered, kind: str) -> dict[str, dict[str, Any]]:
    return {k: m for k, m in aws_resources(out).items() if m["kind"] == kind}


def params(manifest: dict[str, Any]) -> dict[str, Any]:
    return manifest["spec"]["forProvider"]


def decoded(secret: dict[str, Any]) -> dict[str, str]:
    return {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}


def condition(out: Rendered, kind: str) -> tuple[int, str, str]:
    c = out.conditions[kind]
    return c.status, c.reason, c.message


def nodegroup_key(out: Rendered, group: str) -> str:
    (key,) = [k for k in of_kind(out, "NodeGroup") if k.startswith(f"aws-nodegroup-{group}-")]
    return key


def without_role() -> dict[str, Any]:
    xr = xr_with()
    del xr["spec"]["argocd"]
    return xr


def associations(out: Rendered) -> dict[tuple[str, str], dict[str, Any]]:
    """(namespace, service account) -> the association's parameters."""
    found = {}
    for manifest in of_kind(out, "PodIdentityAssociation").values():
        p = params(manifest)
        found[(p["namespace"], p["serviceAccount"])] = p
    return found


def inline_policy(out: Rendered, purpose: str) -> dict[str, Any]:
    (policy,) = params(out.resources[f"aws-role-{purpose}"])["inlinePolicy"]
    assert policy["name"] == purpose
    return json.loads(policy["policy"])


def statement(policy: dict[str, Any], sid: str) -> dict[str, Any]:
    (found,) = [s for s in policy["Statement"] if s["Sid"] == sid]
    return found


def trust(out: Rendered, key: str) -> dict[str, Any]:
    return json.loads(params(out.resources[key])["assumeRolePolicy"])["Statement"][0]


def creating(observed: Observed) -> Observed:
    """The observed resource as its provider reports it while AWS is still creating it."""
    pending = copy.deepcopy(observed.manifest)
    pending["status"]["conditions"] = [
        {
            "type": "Ready",
            "status": "False",
            "reason": "Creating",
            "lastTransitionTime": aws.CREATED,
        }
    ]
    return Observed(pending, observed.connection)


def provider_ready(observed: dict[str, Observed], key: str) -> bool:
    conditions = observed[key].manifest.get("status", {}).get("conditions", [])
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def check_gating(history: list[Rendered]) -> None:
    """Nothing is composed before the inputs it needs exist (or it existed already)."""
    observed: dict[str, Observed] = {}
    for out in history:
        check_round(set(out.resources), observed)
        observed = observed_of(out)


def check_round(keys: set[str], observed: dict[str, Observed]) -> None:
    def new(key: str) -> bool:
        return key in keys and key not in observed

    def ready(*names: str) -> bool:
        return all(name in observed and provider_ready(observed, name) for name in names)

    if "namespace" not in observed:
        assert not any(k.startswith("aws-") for k in keys), "AWS resources before the namespace"
    if any(new(k) for k in keys if k.startswith("aws-nat-")):
        assert ready("aws-igw"), "a NAT gateway before its internet gateway"
    subnets = [k for k in keys if k.startswith("aws-subnet-private-")]
    if new("aws-eks-cluster"):
        assert ready("aws-role-cluster", "aws-role-cluster-amazoneksclusterpolicy", *subnets)
    groups = [k for k in keys if k.startswith("aws-nodegroup-")]
    network = [k for k in keys if k.startswith(("aws-route", "aws-nat", "aws-rta"))]
    for key in groups:
        if new(key):
            assert ready("aws-eks-cluster", "aws-addon-vpc-cni", "aws-role-node", *network)
    for key in ("aws-addon-coredns", "aws-addon-aws-ebs-csi-driver"):
        if new(key):
            assert groups and ready(*groups), f"{key} before the node groups are ready"
    if new("aws-addon-aws-ebs-csi-driver"):
        assert ready("aws-pod-identity-ebs-csi")
    for key in keys:
        if new(key) and key.startswith(("aws-access-", "aws-pod-identity-", "aws-addon-")):
            assert ready("aws-eks-cluster"), f"{key} before the cluster is ready"
    if new("aws-clusterauth"):
        assert ready("aws-eks-cluster")
    if new("crossplane"):
        assert groups and ready(*groups), "Crossplane before nodes can run it"
    if new("storageclass-gp3"):  # a ProviderConfig is ready once it exists
        assert ready("aws-addon-aws-ebs-csi-driver") and "provider-config-kubernetes" in observed
    if new("provider-config-helm") or new("provider-config-kubernetes"):
        assert ready("aws-clusterauth")
        if "aws-role-crossplane" in keys:
            assert ready("aws-pod-identity-crossplane"), "stack could start without identity"
    if new("load-balancer-controller"):
        assert groups and ready(*groups, "aws-addon-coredns", "aws-pod-identity-lb-controller")
        assert "provider-config-helm" in observed
    if new("cluster-autoscaler"):
        assert groups and ready(*groups, "aws-addon-coredns", "aws-pod-identity-autoscaler")
        assert "provider-config-helm" in observed
    if new("argocd-cluster"):
        assert ready("aws-eks-cluster", *[k for k in keys if k.startswith("aws-access-")])
