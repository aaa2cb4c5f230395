"""Through the real engine: a Cluster reads its own environment's EnvironmentConfig.

Crossplane's render takes the EnvironmentConfigs as extra resources (``-e``) and answers
the function's requirement with every one the Composition's label selects. With ``dev``,
``staging`` and ``production`` all present, Cluster ``dev`` (examples/cluster-aws, its
last stage) must compose with ``dev``'s Argo CD role and workload identity, never
``staging``'s, which used to win by name order.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from forge_dev.render import Result
from forge_dev.render import render as engine_render
from forge_dev.render.examples import composition_for, xrd_for
from forge_dev.render.load import load_one, load_stream
from forge_dev.simulate.requests import environment_config

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples/cluster-aws"
STAGE = ROOT / "testdata/examples/cluster-aws/stages/09-ready"
LABEL = "forge.projectcatalyst.io/environment"
REASON = "EnvironmentConfigSelection"
ROLES = {
    name: f"arn:aws:iam::123456789012:role/argocd-{name}"
    for name in ("dev", "production", "staging")
}


def environments(labelled: bool) -> list[dict[str, Any]]:
    """dev, production and staging, each with its own role and secret prefix."""
    configs = []
    for name, role in ROLES.items():
        config = environment_config(
            name,
            region="us-west-2",
            argocd={"roleArn": role},
            aws={"workloadIdentity": {"externalSecrets": {"secretPrefix": f"{name}/"}}},
        )
        if labelled:
            config["metadata"]["labels"][LABEL] = name
        configs.append(config)
    return configs


def render(configs: list[dict[str, Any]], function_servers):
    """The last stage of examples/cluster-aws with ``configs`` as its EnvironmentConfigs."""
    xr = load_one(EXAMPLE / "xr.yaml", "XR")
    others = [r for r in load_stream(STAGE / "required.yaml") if r["kind"] != "EnvironmentConfig"]
    return engine_render(
        xr,
        load_one(composition_for(xr), "composition"),
        observed=load_stream(STAGE / "observed.yaml"),
        required=[*others, *configs],
        xrd=load_one(xrd_for(xr), "XRD"),
        servers=function_servers,
    )


def principals(result) -> set[str]:
    return {
        r["spec"]["forProvider"]["principalArn"]
        for r in result.resources
        if r["kind"] == "AccessEntry"
    }


def assert_only_dev(result) -> None:
    composed = json.dumps(result.resources)
    assert ROLES["dev"] in principals(result)
    for other in ("staging", "production"):
        assert ROLES[other] not in composed
        assert f'"{other}/' not in composed  # its secret prefix


def test_engine_each_cluster_reads_its_environment(function_servers):
    result = render(environments(labelled=True), function_servers)
    assert_only_dev(result)
    said = (
        'Pipeline step "compose": read EnvironmentConfig dev for environment dev, selected '
        "by label forge.projectcatalyst.io/defaults=true (the Composition's "
        "environmentConfig.matchLabels); left out as other environments': production, staging"
    )
    assert Result("Normal", REASON, said) in result.results


def test_engine_unlabelled_environments_are_not_merged_and_the_cluster_warns(function_servers):
    """The contract before the environment label: all three only labelled defaults."""
    result = render(environments(labelled=False), function_servers)
    assert_only_dev(result)
    warned = sorted(r.message for r in result.results if r.severity == "Warning")
    assert [m.split(" is labelled")[0] for m in warned] == [
        'Pipeline step "compose": EnvironmentConfig production',
        'Pipeline step "compose": EnvironmentConfig staging',
    ]
