"""Day 2 on the Cluster API: the API server refuses a change that would rebuild the environment.

Each case is an update (old object, new object) judged by forge-xp as the API server judges
one: the XRD's transition rules see ``oldSelf``.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from forge.models.cluster import NEW_CLUSTER
from forge_dev.render.load import load_one
from forge_dev.schemas.apiserver import admit, admit_update
from forge_dev.simulate.converge import converge
from forge_dev.simulate.player import observe
from forge_dev.simulate.requests import build, render
from tests.support.eks import xr_with

ROOT = Path(__file__).resolve().parents[2]
AWS = ROOT / "examples/cluster-aws/xr.yaml"
BYO = ROOT / "examples/cluster-aws-large/xr.yaml"
VCLUSTER = ROOT / "examples/cluster-vcluster/xr.yaml"


def changed(path: Path, change) -> tuple[dict[str, Any], dict[str, Any]]:
    old = load_one(path, "XR")
    new = copy.deepcopy(old)
    change(new["spec"])
    return old, new


def _to_vcluster(spec: dict[str, Any]) -> None:
    spec.clear()
    spec["provider"] = "vcluster"


def _region(spec: dict[str, Any]) -> None:
    spec["region"] = "us-east-1" if spec.get("region") == "eu-west-1" else "eu-west-1"


def _drop_subnets(spec: dict[str, Any]) -> None:
    del spec["aws"]["network"]["subnetIds"]


def _add_subnets(spec: dict[str, Any]) -> None:
    network = spec.setdefault("aws", {}).setdefault("network", {})
    network["subnetIds"] = {"private": ["subnet-0a1b2c3d4e5f60718", "subnet-0a1b2c3d4e5f60719"]}


def _vpc_cidr(spec: dict[str, Any]) -> None:
    spec.setdefault("aws", {}).setdefault("network", {})["vpcCidr"] = "10.1.0.0/16"


REFUSED = [
    ("provider aws to vcluster", AWS, _to_vcluster, "provider is immutable"),
    (
        "provider vcluster to aws",
        VCLUSTER,
        lambda s: s.update(
            provider="aws",
            region="us-west-2",
            nodeGroups=[
                {"name": "general", "instanceType": "t3.large", "minSize": 1, "maxSize": 2}
            ],
        ),
        "provider is immutable",
    ),
    ("region", AWS, _region, "region is immutable"),
    ("region of existing subnets", BYO, _region, "region is immutable"),
    ("managed VPC to existing subnets", AWS, _add_subnets, "the network mode is immutable"),
    ("existing subnets to managed VPC", BYO, _drop_subnets, "the network mode is immutable"),
    ("VPC CIDR", AWS, _vpc_cidr, "aws.network.vpcCidr is immutable"),
]


@pytest.mark.parametrize(
    ("path", "change", "message"), [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED]
)
def test_the_api_server_refuses_a_change_that_rebuilds_the_environment(
    path, change, message, schema_dirs
):
    old, new = changed(path, change)
    # Each side is a valid Cluster on its own: only the transition is refused.
    assert [v.status for v in admit([old, new], schema_dirs)] == ["valid", "valid"]
    (verdict,) = admit_update([(old, new)], schema_dirs)
    assert verdict.status == "invalid"
    refusal = [e for e in verdict.errors if message in e]
    assert refusal, verdict.errors
    assert all(NEW_CLUSTER in e for e in refusal), refusal


ADMITTED = [
    ("node group size", AWS, lambda s: s["nodeGroups"][0].update(maxSize=20)),
    ("kubernetes version", AWS, lambda s: s.update(kubernetesVersion="1.35")),
    (
        "public access CIDRs",
        AWS,
        lambda s: s.setdefault("aws", {}).update(publicAccessCidrs=["203.0.113.0/24"]),
    ),
    (
        "existing subnets replaced",
        BYO,
        lambda s: s["aws"]["network"]["subnetIds"].update(
            private=["subnet-0a1b2c3d4e5f60718", "subnet-0a1b2c3d4e5f60719"]
        ),
    ),
    ("vcluster region (unused)", VCLUSTER, _region),
    (
        "vcluster values",
        VCLUSTER,
        lambda s: s.setdefault("vcluster", {}).update(
            values={"sync": {"toHost": {"ingresses": {"enabled": True}}}}
        ),
    ),
]


@pytest.mark.parametrize(
    ("path", "change"), [c[1:] for c in ADMITTED], ids=[c[0] for c in ADMITTED]
)
def test_the_api_server_admits_a_change_made_in_place(path, change, schema_dirs):
    old, new = changed(path, change)
    (verdict,) = admit_update([(old, new)], schema_dirs)
    assert (verdict.status, verdict.errors) == ("valid", ())


def test_an_unchanged_cluster_is_admitted(schema_dirs):
    for path in (AWS, BYO, VCLUSTER):
        old = load_one(path, "XR")
        (verdict,) = admit_update([(old, copy.deepcopy(old))], schema_dirs)
        assert (verdict.status, verdict.errors) == ("valid", ()), path


def test_an_update_ratchets_what_it_does_not_touch(schema_dirs):
    """As the API server does: a value an older XRD admitted, left unchanged, does not block
    an update of another field (schema and CEL ratcheting); creating it anew is refused."""
    old = load_one(AWS, "XR")
    old["spec"]["nodeGroups"] = [
        # minSize > maxSize: refused by the node group's CEL rule today.
        {"name": "general", "instanceType": "t3.large", "minSize": 5, "maxSize": 3},
        {"name": "batch", "instanceType": "c7i.large", "minSize": 0, "maxSize": 2},
    ]
    new = copy.deepcopy(old)
    new["spec"]["nodeGroups"][1]["maxSize"] = 4
    (created,) = admit([new], schema_dirs)
    assert created.status == "invalid"
    assert any("minSize must be <= maxSize" in e for e in created.errors), created.errors
    (updated,) = admit_update([(old, new)], schema_dirs)
    assert (updated.status, updated.errors) == ("valid", ())
    # Touching the invalid group judges it again.
    new["spec"]["nodeGroups"][0]["maxSize"] = 4
    (touched,) = admit_update([(old, new)], schema_dirs)
    assert any("minSize must be <= maxSize" in e for e in touched.errors), touched.errors


VERSION_CHANGES = [
    # (old kubernetesVersion, new, refusal or "" when admitted)
    ("1.34", "1.35", ""),
    ("1.35", "1.36", ""),
    ("1.34", "1.36", "kubernetesVersion moves one minor version at a time"),
    ("1.35", "1.34", "kubernetesVersion moves one minor version at a time"),
    ("1.31", "1.36", "kubernetesVersion moves one minor version at a time"),
    # Unset, the cluster runs what it runs: only the function can judge the first value.
    (None, "1.36", ""),
    ("1.35", None, ""),
]


@pytest.mark.parametrize(("before", "after", "refusal"), VERSION_CHANGES)
def test_the_api_server_refuses_a_version_skip_or_downgrade(before, after, refusal, schema_dirs):
    """EKS upgrades one minor at a time and never back: the API server says so at once,
    instead of the function holding the change back after it was accepted."""
    old = load_one(AWS, "XR")
    old["spec"].pop("kubernetesVersion", None)
    if before:
        old["spec"]["kubernetesVersion"] = before
    new = copy.deepcopy(old)
    new["spec"].pop("kubernetesVersion", None)
    if after:
        new["spec"]["kubernetesVersion"] = after
    assert [v.status for v in admit([old, new], schema_dirs)] == ["valid", "valid"]
    (verdict,) = admit_update([(old, new)], schema_dirs)
    if not refusal:
        assert (verdict.status, verdict.errors) == ("valid", ())
    else:
        assert verdict.status == "invalid"
        assert any(refusal in e for e in verdict.errors), verdict.errors


def test_the_api_server_admits_a_teardown_usage_letting_go(schema_dirs):
    """Removing a node group: its Usage by the teardown gate is updated to have no ``by``
    (and a reason) before both go; the Usage CRD admits that update and the result."""
    xr = xr_with()
    xr["spec"]["nodeGroups"].append(
        {"name": "batch", "instanceType": "m5.large", "minSize": 1, "maxSize": 3}
    )
    final = converge(xr, max_rounds=12)[-1]
    xr["spec"]["nodeGroups"].pop()
    observed = {key: observe(key, manifest) for key, manifest in final.resources.items()}
    released = render(build(xr, observed=observed))
    (key,) = [
        k for k in released.resources if k.startswith("aws-teardown-hold-aws-nodegroup-batch")
    ]
    old, new = final.resources[key], released.resources[key]
    assert "by" in old["spec"] and "by" not in new["spec"]
    verdicts = admit([new], schema_dirs) + admit_update([(old, new)], schema_dirs)
    assert [(v.status, v.errors) for v in verdicts] == [("valid", ())] * 2
