"""`make preview XR=<file>`: Crossplane's engine and the provider player drive an XR to Ready.

Every example must reach Ready through the real engine with exactly the composed
resources of its last (Ready) golden stage, and the table must list every round.
"""

from __future__ import annotations

import ast
import base64
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from forge_dev import tools
from forge_dev.paths import stages_dir
from forge_dev.preview import report
from forge_dev.preview.cli import default_required
from forge_dev.preview.cli import main as preview_main
from forge_dev.preview.rounds import Preview, Round, preview
from forge_dev.render.examples import composition_for, xrd_for
from forge_dev.render.load import load_one, load_stream
from forge_dev.render.model import ANNOTATION_RESOURCE_NAME, RenderResult
from forge_dev.simulate import aws, player, vcluster
from forge_dev.simulate import infrastructure as infra
from forge_dev.simulate.requests import environment_config

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted(p.parent for p in (ROOT / "examples").glob("**/xr.yaml"))
needs_engine = pytest.mark.skipif(
    not tools.available() and not os.environ.get("CI"), reason="run `make tools`"
)


def last_stage_names(example: Path) -> set[str]:
    """The composed resources of the example's last stage's golden render (it is Ready)."""
    stages = sorted(p for p in stages_dir(example).glob("*") if p.is_dir())
    docs = list(yaml.safe_load_all((stages[-1] / "expected.yaml").read_text()))
    return {
        d["metadata"]["annotations"][ANNOTATION_RESOURCE_NAME]
        for d in docs[1:]
        if d.get("kind") != "Result"
    }


def run_preview(example: Path, servers, **kwargs) -> Preview:
    xr = load_one(example / "xr.yaml", "XR")
    required = [o for path in default_required(example / "xr.yaml") for o in load_stream(path)]
    return preview(
        xr,
        load_one(composition_for(xr), "Composition"),
        xrd=load_one(xrd_for(xr), "XRD"),
        required=required,
        servers=servers,
        **kwargs,
    )


# -- through the real engine -----------------------------------------------------------------


@needs_engine
@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_every_example_reaches_ready(example, function_servers):
    result = run_preview(example, function_servers)
    assert result.ready, report.verdict(result)
    names = {
        r["metadata"]["annotations"][ANNOTATION_RESOURCE_NAME] for r in result.result.resources
    }
    assert names == last_stage_names(example)
    assert [r.number for r in result.rounds] == list(range(1, len(result.rounds) + 1))
    appeared = [name for r in result.rounds for name in r.appeared]
    assert sorted(appeared) == sorted(names), "each resource appears in exactly one round"
    assert "Ready" in result.rounds[-1].became_ready
    rows = report.table(result.rounds)
    assert len(rows) == 1 + len(result.rounds)


@needs_engine
def test_make_preview_prints_the_full_set_and_the_table():
    """What `make preview XR=examples/cluster-aws/xr.yaml` runs."""
    proc = subprocess.run(
        [sys.executable, "-m", "forge_dev.preview", "examples/cluster-aws/xr.yaml"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == (
        "forge-preview: -e testdata/examples/cluster-aws/stages/01-created/required.yaml "
        "(the example's first stage; -e to choose)\n"
    )
    docs = list(yaml.safe_load_all(proc.stdout))
    assert docs[0]["kind"] == "Cluster"
    assert len(docs) - 1 == len(last_stage_names(ROOT / "examples/cluster-aws"))
    comments = [line for line in proc.stdout.splitlines() if line.startswith("#")]
    assert comments[1].split() == ["#", "round", "appeared", "became", "ready"]
    assert comments[2].split()[:3] == ["#", "1", "1:"]
    assert (
        comments[-1]
        == f"# Ready after {len(comments) - 4} rounds: {len(docs) - 1} composed resources"
    )


@needs_engine
def test_a_round_bound_says_what_is_not_ready(capsys):
    code = preview_main(["examples/infrastructure/keda/xr.yaml", "--max-rounds", "1"])
    assert code == 1
    out = capsys.readouterr().out
    assert out.splitlines()[-1].startswith(
        "# not Ready after 1 round (1 composed resource); not True: "
    )
    assert "ChartInstalled (Installing: waiting for Helm release keda)" in out


@needs_engine
def test_an_unlabelled_environment_config_stops_at_round_one_saying_why(tmp_path, capsys):
    mine = environment_config("dev", region="eu-central-1")
    del mine["metadata"]["labels"]
    env = tmp_path / "env.yaml"
    env.write_text(yaml.safe_dump(mine))
    xr = "examples/infrastructure/externalsecretsoperator/xr.yaml"
    assert preview_main([xr, "-e", str(env)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("forge-preview: error: round 1: ")
    assert "no EnvironmentConfig was read: none matched label forge.projectcatalyst.io/" in err


# -- the player and the report ----------------------------------------------------------------


def test_the_preview_does_not_import_the_tests():
    for path in (ROOT / "devtools/forge_dev/preview").glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                assert not (node.module or "").startswith(("tests", "bench")), path
            if isinstance(node, ast.Import):
                assert not any(a.name.startswith(("tests", "bench")) for a in node.names), path


def test_connection_details_are_written_to_the_resource_secret():
    auth = {
        "apiVersion": aws.EKS,
        "kind": "ClusterAuth",
        "metadata": {"name": "dev-auth", "namespace": "cluster-dev"},
        "spec": {
            "forProvider": {"clusterNameRef": {"name": "dev"}, "region": "us-west-2"},
            "writeConnectionSecretToRef": {"name": "dev-kubeconfig"},
        },
    }
    observed = player.observe("aws-clusterauth", auth)
    (secret,) = player.written({"aws-clusterauth": observed})
    assert secret["metadata"] == {
        "name": "dev-kubeconfig",
        "namespace": "cluster-dev",
        "ownerReferences": [player.controller_reference(observed.manifest)],
    }
    assert secret["metadata"]["ownerReferences"][0]["uid"] == observed.manifest["metadata"]["uid"]
    endpoint = base64.b64decode(secret["data"]["endpoint"]).decode()
    assert endpoint == aws.endpoint("dev", "us-west-2")
    assert set(secret["data"]) == {"kubeconfig", "endpoint", "clusterCA"}


def test_a_deployed_vcluster_writes_its_kubeconfig_secret():
    release = {
        "apiVersion": "helm.m.crossplane.io/v1beta1",
        "kind": "Release",
        "metadata": {"name": "dev", "namespace": "cluster-dev"},
        "spec": {
            "forProvider": {
                "chart": {"name": "vcluster", "version": "0.30.0"},
                "values": {"exportKubeConfig": {"server": "https://dev", "context": "dev"}},
            }
        },
    }
    assert vcluster.written({"vcluster": release}) == []  # not deployed yet
    observed = player.observe("vcluster", release)
    (secret,) = player.written({"vcluster": observed})
    assert secret["metadata"]["name"] == "vc-dev"
    assert secret["metadata"]["namespace"] == "cluster-dev"
    other = dict(observed.manifest, spec={"forProvider": {"chart": {"name": "crossplane"}}})
    assert vcluster.written({"crossplane": other}) == []


def test_a_deployed_gateway_api_crds_release_writes_the_crd_it_owns():
    release = {
        "apiVersion": "helm.m.crossplane.io/v1beta1",
        "kind": "Release",
        "metadata": {"name": "istio-gateway-api-crds", "namespace": "default"},
        "spec": {
            "forProvider": {
                "chart": {
                    "name": "gateway-api-crds-experimental",
                    "repository": "oci://ghcr.io/input-output-hk/catalyst-forge/charts",
                    "version": "1.5.1",
                },
                "namespace": "mesh",
            }
        },
    }
    assert infra.written({"gateway-api-crds": release}) == []  # not deployed yet
    (crd,) = player.written({"gateway-api-crds": player.observe("gateway-api-crds", release)})
    assert crd["metadata"] == {
        "name": "gateways.gateway.networking.k8s.io",
        "annotations": {
            "gateway.networking.k8s.io/bundle-version": "v1.5.1",
            "gateway.networking.k8s.io/channel": "experimental",
            "meta.helm.sh/release-name": "istio-gateway-api-crds",
            "meta.helm.sh/release-namespace": "mesh",
        },
    }
    observed = player.observe(
        "base",
        dict(release, spec={"forProvider": {"chart": {"name": "base", "version": "1.30.3"}}}),
    )
    assert infra.written({"base": observed.manifest}) == []


def test_the_table_cuts_long_rounds_and_counts_them():
    rounds = [
        Round(1, ("namespace",), ()),
        Round(2, tuple(f"aws-subnet-private-us-west-2{z}" for z in "abcdef"), ("NetworkReady",)),
        Round(3, ("a", "b"), ()),
        Round(4, (), ("Ready",)),
    ]
    rows = report.table(rounds)
    assert rows[1].split() == ["1", "1:", "namespace", "-"]
    assert "6: aws-subnet-private-us-west-2a (+5)" in rows[2]
    assert rows[2].endswith("NetworkReady")
    assert all(len(row) <= len(rows[0]) + len("NetworkReady") for row in rows)
    assert rows[3].split() == ["3", "2:", "a,", "b", "-"]
    assert rows[4].split() == ["4", "-", "Ready"]
    ready = RenderResult(
        composite={"status": {"conditions": [{"type": "Ready", "status": "True"}]}},
        observed_composite={},
    )
    assert (
        report.verdict(Preview(tuple(rounds), ready))
        == "Ready after 4 rounds: 0 composed resources"
    )
    assert report.as_comments(["a", ""]) == "# a\n#\n"


def test_the_default_required_resources_are_the_first_stage_ones():
    assert default_required(ROOT / "examples/cluster-aws/xr.yaml") == [
        ROOT / "testdata/examples/cluster-aws/stages/01-created/required.yaml"
    ]
    assert default_required(ROOT / "examples/cluster-vcluster/xr.yaml") == []  # no stage 01 file
