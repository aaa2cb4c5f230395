"""The provider-upjet-aws play of ``make e2e-local`` (e2e/local/aws.py), without a cluster."""

from __future__ import annotations

import base64
import copy
import time
from pathlib import Path

import pytest
import yaml

from forge_dev.e2e_local import aws_player
from forge_dev.e2e_local.aws_player import (
    AWS_KINDS,
    ENTRY_DELAY,
    PLATFORM_ROLE,
    AwsPlayer,
    EksAccess,
    aws_crds,
)
from forge_dev.e2e_local.env import schema_root
from forge_dev.e2e_local.kube import load_documents

ROOT = Path(__file__).resolve().parents[2]
EXPECTED = ROOT / "testdata" / "examples" / "cluster-aws" / "stages" / "09-ready" / "expected.yaml"


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


def test_a_write_into_a_terminating_namespace_is_not_a_player_failure(tmp_path):
    """Writing a ClusterAuth's connection Secret into its namespace while that namespace
    is deleted fails as it would for the provider; the AWS player carries on (a run of
    make e2e-local failed on it before)."""
    from kubernetes.dynamic.exceptions import ForbiddenError  # noqa: PLC0415

    class Terminating(_Kube):
        def served(self, *_args):
            return True

        def list(self, api_version, kind):
            return [{"kind": kind, "metadata": {"name": "dev"}}] if kind == "ClusterAuth" else []

    class ApiError(Exception):
        status, reason = 403, "Forbidden"
        body = '{"reason":"Forbidden","details":{"causes":[{"reason":"NamespaceTerminating"}]}}'
        headers = None

    player = AwsPlayer(Terminating(), tmp_path / "aws.log")

    def refuse(*_args):
        raise ForbiddenError(ApiError())

    player.reconcile = refuse
    player.step()  # does not raise

    def other(*_args):
        raise ForbiddenError(type("E", (ApiError,), {"body": '{"reason":"Forbidden"}'})())

    player.reconcile = other
    with pytest.raises(ForbiddenError):
        player.step()


def _cluster_mr(bootstrap: bool | None) -> dict:
    access = {} if bootstrap is None else {"bootstrapClusterCreatorAdminPermissions": bootstrap}
    return {
        "metadata": {"name": "dev", "namespace": "cluster-dev"},
        "spec": {"forProvider": {"accessConfig": access}, "providerConfigRef": {}},
    }


def test_eks_access_play_admits_the_creator_only_when_eks_would(tmp_path):
    player = AwsPlayer(_Kube(), tmp_path / "aws.log")
    key = ("eks.aws.m.upbound.io/v1beta1", "Cluster")
    assert player._refusal(key, _cluster_mr(None)) == ""  # EKS's default: creator admin
    assert player.eks.admitted(("cluster-dev", "dev"), PLATFORM_ROLE)
    other = AwsPlayer(_Kube(), tmp_path / "aws.log")
    assert other._refusal(key, _cluster_mr(False)) == ""
    assert not other.eks.admitted(("cluster-dev", "dev"), PLATFORM_ROLE)
    # Changing the setting later is refused as upjet refuses a ForceNew argument.
    refusal = other._refusal(key, _cluster_mr(True))
    assert "requires replacing it" in refusal and "bootstrap_cluster_creator" in refusal


def test_eks_access_play_admits_an_entry_only_after_its_delay_and_with_its_policy(tmp_path):
    access = EksAccess()
    cluster = ("cluster-dev", "dev")
    access.entries[cluster] = {PLATFORM_ROLE: time.monotonic()}
    access.admins[cluster] = {PLATFORM_ROLE}
    assert not access.admitted(cluster, PLATFORM_ROLE)  # IAM's eventual consistency
    access.entries[cluster][PLATFORM_ROLE] -= ENTRY_DELAY
    assert access.admitted(cluster, PLATFORM_ROLE)
    access.admins[cluster].clear()
    assert not access.admitted(cluster, PLATFORM_ROLE)


def test_eks_access_play_reports_a_loss_only_after_access_was_had():
    access = EksAccess()
    cluster = ("cluster-dev", "dev")
    access.timeline[cluster] = [(0.0, "a", False), (1.0, "a", True), (2.0, "b", True)]
    assert access.lost(cluster) == []
    access.timeline[cluster].append((3.0, "c", False))
    assert access.lost(cluster) == ["c"]


def _running(manifest: dict, version_field: str, old: str, new: str) -> dict:
    """``manifest`` asking for ``new`` while its provider last reported ``old``."""
    mr = copy.deepcopy(manifest)
    mr["spec"]["forProvider"][version_field] = new
    mr.setdefault("status", {})["atProvider"] = {version_field: old}
    return mr


def test_the_played_eks_takes_its_time_over_a_version_and_refuses_what_eks_refuses(
    tmp_path, monkeypatch
):
    """Issue 19 item 9: the played EKS reported a new version the moment it was asked, so
    the order of an upgrade could not be seen; and it took a node group ahead of its
    control plane, which EKS refuses."""
    docs = load_documents(EXPECTED)
    cluster = next(d for d in docs if d["kind"] == "Cluster" and d["apiVersion"].startswith("eks."))
    group = next(d for d in docs if d["kind"] == "NodeGroup")
    eks, nodes = (next(p for p in AWS_KINDS if p.kind == k) for k in ("Cluster", "NodeGroup"))

    class Kube(_Kube):
        def get(self, api_version, kind, name, namespace=None):
            return {"status": {"atProvider": {"version": "1.34"}}} if kind == "Cluster" else None

    player = AwsPlayer(Kube(), tmp_path / "aws.log")
    upgrading = _running(cluster, "version", "1.34", "1.35")
    assert player._at_provider(eks, upgrading)["version"] == "1.34"
    assert player._at_provider(eks, upgrading)["version"] == "1.34"  # still upgrading
    monkeypatch.setattr(aws_player, "UPGRADE_SECONDS", 0.0)
    assert player._at_provider(eks, upgrading)["version"] == "1.35"
    assert [r[1:] for r in player.versions.reported] == [
        ("Cluster", cluster["metadata"]["namespace"], cluster["metadata"]["name"], "1.35")
    ]
    assert player._at_provider(eks, _running(cluster, "version", "1.34", "1.36"))["version"] == (
        "1.34"
    )
    ahead = _running(group, "version", "1.34", "1.35")  # the control plane runs 1.34
    assert player._at_provider(nodes, ahead)["version"] == "1.34"
    assert player.versions.refused == [
        "Unsupported Kubernetes minor version update from 1.34 to 1.36",
        "Requested Nodegroup Kubernetes version 1.35 is greater than cluster version 1.34",
    ]


def test_the_external_name_an_mr_sets_is_kept(tmp_path):
    """crossplane-runtime sets the external name only when the MR has none: the log group
    is named after its annotation, /aws/eks/<cluster>/cluster, not after the MR."""
    docs = load_documents(EXPECTED)
    group = next(d for d in docs if d["kind"] == "Group")
    group["metadata"] |= {"resourceVersion": "1", "uid": "uid-1"}
    patches = []

    class Recording(_Kube):
        def patch(self, obj, body, **_kw):
            patches.append(body)
            raise StopIteration  # one first-sight write is all this test reads

    player = AwsPlayer(Recording(), tmp_path / "aws.log")
    logs = next(p for p in AWS_KINDS if p.kind == "Group")
    with pytest.raises(StopIteration):
        player.reconcile(logs, group)
    (first,) = patches
    assert first["metadata"]["annotations"] == {
        "crossplane.io/external-name": "/aws/eks/dev/cluster"
    }
    at = player._at_provider(logs, group)
    assert at["id"] == "/aws/eks/dev/cluster"
    assert at["retentionInDays"] == 90
