"""The platform's principal changes and it keeps access to an EKS cluster, as Crossplane's
engine composes it and the API server admits it.

From the steady state of examples/cluster-aws (whose platform EnvironmentConfig names
``aws.platformPrincipalArns``), the platform names a second principal instead of the first:
the engine composes the new entry and keeps the old one; once the new one is Ready, the old
one goes. An existing cluster created with creator admin keeps that setting.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from forge_dev.render import RenderResult, render
from forge_dev.render.examples import composition_for, xrd_for
from forge_dev.render.load import load_one, load_stream
from forge_dev.schemas.apiserver import admit
from forge_dev.simulate.player import observe
from tests.conformance.conftest import ROOT

STAGES = ROOT / "testdata/examples"
OLD = "arn:aws:iam::123456789012:role/forge-platform"
NEW = "arn:aws:iam::123456789012:role/forge-platform-rotated"
NAME = "crossplane.io/composition-resource-name"


def _render(example: str, observed, required, servers) -> RenderResult:
    xr = load_one(ROOT / "examples" / example / "xr.yaml", "XR")
    return render(
        xr,
        load_one(composition_for(xr), "composition"),
        observed=observed,
        required=required,
        xrd=load_one(xrd_for(xr), "XRD"),
        servers=servers,
    )


def _with_principals(required: list[dict[str, Any]], principals: list[str]) -> list[dict]:
    out = copy.deepcopy(required)
    for doc in out:
        if doc["kind"] == "EnvironmentConfig":
            doc["data"].setdefault("aws", {})["platformPrincipalArns"] = principals
    return out


def _entries(result: RenderResult) -> dict[str, dict[str, Any]]:
    return {
        r["spec"]["forProvider"]["principalArn"]: r
        for r in result.resources
        if r["kind"] == "AccessEntry"
    }


def _made(result: RenderResult, observed: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The observed state after the providers made every composed resource Ready."""
    known = {o["metadata"]["annotations"][NAME]: o for o in observed if o["kind"] != "Secret"}
    secrets = [o for o in observed if o["kind"] == "Secret"]
    for res in result.resources:
        key = res["metadata"]["annotations"][NAME]
        known.setdefault(key, observe(key, res).manifest)
    return [*known.values(), *secrets]


def _admitted(result: RenderResult, schema_dirs: list[Path]) -> None:
    verdicts = [
        v
        for v in admit([r for r in result.resources if r["kind"] != "Secret"], schema_dirs)
        if v.status != "missing-schema"
    ]
    assert all(v.status == "valid" for v in verdicts), [v.errors for v in verdicts]


def test_a_second_platform_principal_keeps_access(function_servers, schema_dirs):
    stage = STAGES / "cluster-aws/stages/09-ready"
    observed = load_stream(stage / "observed.yaml")
    required = load_stream(stage / "required.yaml")
    steady = _render("cluster-aws", observed, required, function_servers)
    assert set(_entries(steady)) >= {OLD}
    cluster = steady.resource("aws-eks-cluster")["spec"]["forProvider"]
    assert cluster["accessConfig"]["bootstrapClusterCreatorAdminPermissions"] is False

    swapped = _render("cluster-aws", observed, _with_principals(required, [NEW]), function_servers)
    entries = _entries(swapped)
    assert {OLD, NEW} <= set(entries), sorted(entries)
    access = swapped.condition("AccessReady")
    assert access["status"] == "False"
    assert f"the access of {OLD} is kept until then" in access["message"]
    assert swapped.condition("KubeconfigReady")["status"] == "True"
    _admitted(swapped, schema_dirs)

    settled = _render(
        "cluster-aws", _made(swapped, observed), _with_principals(required, [NEW]), function_servers
    )
    assert set(_entries(settled)) - {"arn:aws:iam::123456789012:role/argocd"} == {NEW}
    assert settled.condition("AccessReady")["status"] == "True"
    kinds = {(r["kind"], r["metadata"]["name"]) for r in settled.deleted}
    old_name = entries[OLD]["metadata"]["name"]
    assert ("AccessEntry", old_name) in kinds or old_name not in {
        r["metadata"]["name"] for r in settled.resources
    }
    _admitted(settled, schema_dirs)


def test_an_existing_cluster_keeps_its_creator_admin(function_servers, schema_dirs):
    """examples/cluster-aws-token was created with creator admin (its environment names no
    principal): naming one adds its entry and leaves the cluster's setting as it was."""
    stage = STAGES / "cluster-aws-token/stages"
    last = sorted(p for p in stage.iterdir() if p.is_dir())[-1]
    observed = load_stream(last / "observed.yaml")
    required = _with_principals(load_stream(last / "required.yaml"), [OLD])
    result = _render("cluster-aws-token", observed, required, function_servers)
    cluster = result.resource("aws-eks-cluster")["spec"]["forProvider"]
    assert cluster["accessConfig"]["bootstrapClusterCreatorAdminPermissions"] is True
    assert OLD in _entries(result)
    _admitted(result, schema_dirs)
