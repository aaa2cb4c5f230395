"""Day 2 as Crossplane's engine renders it (the goldens ``test_examples`` holds equal to the
engine and admits with the API server's validation): node groups scale, chart CRDs follow
chart upgrades (issue 19 items 8 and 10)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from forge import versions
from tests.conformance.conftest import ROOT

STAGES = ROOT / "testdata/examples"
EKS_READY = STAGES / "cluster-aws/stages/09-ready/expected.yaml"
MONITORING = STAGES / "infrastructure/monitoring/stages"
NAME = "crossplane.io/composition-resource-name"


def composed(path: Path) -> dict[str, dict[str, Any]]:
    """The golden's composed resources by composition resource name."""
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
    return {
        d["metadata"]["annotations"][NAME]: d
        for d in docs[1:]
        if d.get("kind") != "Result" and NAME in d["metadata"].get("annotations", {})
    }


def test_an_eks_cluster_runs_cluster_autoscaler_with_its_own_identity():
    xr = yaml.safe_load((ROOT / "examples/cluster-aws/xr.yaml").read_text())
    cluster = xr["metadata"]["name"]
    resources = composed(EKS_READY)
    release = resources["cluster-autoscaler"]["spec"]["forProvider"]
    assert release["chart"]["name"] == "cluster-autoscaler"
    assert release["namespace"] == "kube-system"
    values = release["values"]
    assert values["autoDiscovery"] == {"clusterName": cluster}
    assert values["awsRegion"] == xr["spec"]["region"]
    assert values["rbac"]["serviceAccount"] == {"create": True, "name": "cluster-autoscaler"}
    version = resources["aws-eks-cluster"]["spec"]["forProvider"]["version"]
    assert values["image"] == {"tag": versions.CLUSTER_AUTOSCALER_IMAGES[version]}

    association = resources["aws-pod-identity-autoscaler"]["spec"]["forProvider"]
    assert (association["namespace"], association["serviceAccount"]) == (
        "kube-system",
        "cluster-autoscaler",
    )
    role = resources["aws-role-autoscaler"]
    assert association["roleArnRef"] == {"name": role["metadata"]["name"]}
    trust = json.loads(role["spec"]["forProvider"]["assumeRolePolicy"])["Statement"][0]
    assert trust["Condition"]["StringEquals"]["aws:RequestTag/eks-cluster-name"] == cluster
    assert trust["Condition"]["StringEquals"]["aws:RequestTag/kubernetes-service-account"] == (
        "cluster-autoscaler"
    )
    (inline,) = role["spec"]["forProvider"]["inlinePolicy"]
    writes = [
        s
        for s in json.loads(inline["policy"])["Statement"]
        if "autoscaling:SetDesiredCapacity" in s["Action"]
    ]
    assert [s["Condition"] for s in writes] == [
        {
            "StringEquals": {
                "aws:ResourceTag/k8s.io/cluster-autoscaler/enabled": "true",
                f"aws:ResourceTag/k8s.io/cluster-autoscaler/{cluster}": "owned",
            }
        }
    ]
    # The autoscaler owns the desired size: the provider sets it at creation only.
    groups = [r for r in resources.values() if r["kind"] == "NodeGroup"]
    assert groups
    for group in groups:
        assert "desiredSize" not in group["spec"]["forProvider"]["scalingConfig"]
        assert "desiredSize" in group["spec"]["initProvider"]["scalingConfig"]


def test_kube_prometheus_stack_crds_come_from_a_release_helm_upgrades():
    first = composed(MONITORING / "01-installing/expected.yaml")
    assert list(first) == ["prometheus-operator-crds"]  # the stack waits for its CRDs
    final = composed(sorted(MONITORING.glob("*/expected.yaml"))[-1])
    crds = final["prometheus-operator-crds"]["spec"]["forProvider"]
    assert crds["chart"]["name"] == "prometheus-operator-crds"
    assert crds["chart"]["version"] == versions.PROMETHEUS_OPERATOR_CRDS.version
    assert crds["values"]["crds"]["annotations"] == {"helm.sh/resource-policy": "keep"}
    assert crds["takeOwnership"] is True
    stack = final["kube-prometheus-stack"]
    assert stack["spec"]["forProvider"]["values"]["crds"] == {"enabled": False}
    holder = final["kube-prometheus-stack-uses-prometheus-operator-crds"]["spec"]
    assert holder["by"]["resourceRef"]["name"] == stack["metadata"]["name"]
    assert (
        holder["of"]["resourceRef"]["name"] == final["prometheus-operator-crds"]["metadata"]["name"]
    )
