"""The provider-upjet-aws play of ``make e2e-local`` (e2e/local/aws.py), without a cluster."""

from __future__ import annotations

import base64
from pathlib import Path

import yaml
from e2e.local.aws import AWS_KINDS, AwsPlayer, aws_crds
from e2e.local.env import schema_root
from e2e.local.kube import load_documents

ROOT = Path(__file__).resolve().parents[1]
EXPECTED = ROOT / "examples" / "cluster-aws" / "stages" / "09-ready" / "expected.yaml"


def test_the_stand_in_providers_serve_every_aws_kind_the_eks_example_composes():
    crds = [
        load_documents(p)[0]
        for p in (schema_root() / "crds" / "provider-upjet-aws").glob("*.yaml")
        if load_documents(p)[0]["metadata"]["name"] in set(aws_crds())
    ]
    served = {(c["spec"]["group"], c["spec"]["names"]["kind"]) for c in crds}
    composed = {
        (d["apiVersion"].split("/")[0], d["kind"])
        for d in load_documents(EXPECTED)
        if ".aws.m.upbound.io/" in d.get("apiVersion", "")
    }
    assert composed
    assert composed <= served
    assert composed <= {(p.group, p.kind) for p in AWS_KINDS}
    assert ("aws.m.upbound.io", "ClusterProviderConfig") in served


class _Kube:
    def __init__(self):
        self.created = []

    def get(self, *_args):
        return None

    def create(self, obj):
        self.created.append(obj)
        return obj


def test_clusterauth_kubeconfig_carries_the_eks_clusters_throwaway_ca(tmp_path):
    docs = load_documents(EXPECTED)
    auth = next(d for d in docs if d["kind"] == "ClusterAuth")
    cluster = next(d for d in docs if d["kind"] == "Cluster" and d["apiVersion"].startswith("eks."))
    auth["metadata"]["uid"] = "uid-1"
    kube = _Kube()
    player = AwsPlayer(kube, tmp_path / "aws.log")
    eks = next(p for p in AWS_KINDS if p.kind == "Cluster")
    at = player._at_provider(eks, cluster)
    ca_data = at["certificateAuthority"][0]["data"]
    player._at_provider(next(p for p in AWS_KINDS if p.kind == "ClusterAuth"), auth)
    (secret,) = kube.created
    assert secret["metadata"]["name"] == auth["spec"]["writeConnectionSecretToRef"]["name"]
    assert secret["metadata"]["ownerReferences"][0]["uid"] == "uid-1"
    data = {k: base64.b64decode(v) for k, v in secret["data"].items()}
    kubeconfig = yaml.safe_load(data["kubeconfig"])
    assert kubeconfig["clusters"][0]["cluster"]["certificate-authority-data"] == ca_data
    assert base64.b64decode(ca_data) == data["clusterCA"]
    assert kubeconfig["clusters"][0]["cluster"]["server"] == data["endpoint"].decode()
