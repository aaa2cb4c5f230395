"""What a user reads when a spec is wrong: every problem at once, each with its path.

A typo such as ``instancetype:`` used to report only the ``instanceType`` it hid
("Field required (and 1 more problem)"); the unknown field, the real cause, now leads.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path

import pytest

from forge.core.errors import MAX_PROBLEMS
from forge_dev import tools
from forge_dev.render import FatalResultError
from forge_dev.render import render as engine_render
from forge_dev.render.examples import composition_for, xrd_for
from forge_dev.render.load import load_one
from forge_dev.simulate.requests import build, environment_config, render, step_input

ROOT = Path(__file__).resolve().parent.parent
EKS = load_one(ROOT / "examples/cluster-aws/xr.yaml", "XR")
ENVIRONMENT = environment_config("dev", argocd={"roleArn": "arn:aws:iam::123456789012:role/argocd"})
TYPO = (
    "invalid Cluster 'dev': spec.nodeGroups[0].instancetype: unknown field; "
    "spec.nodeGroups[0].instanceType: Field required"
)
needs_engine = pytest.mark.skipif(
    not tools.available() and not os.environ.get("CI"), reason="run `make tools`"
)


def with_typo() -> dict:
    xr = copy.deepcopy(EKS)
    group = xr["spec"]["nodeGroups"][0]
    group["instancetype"] = group.pop("instanceType")
    return xr


def fatal_of(xr: dict) -> list[str]:
    required = {"environment-configs": [ENVIRONMENT]}
    return render(build(xr, step_input=step_input(xr["kind"]), required=required)).fatal


def test_a_typo_reports_the_unknown_field_first_and_the_missing_one_after():
    assert fatal_of(with_typo()) == [TYPO]


def test_every_problem_is_reported_each_with_its_path():
    xr = with_typo()
    xr["spec"]["nodeGroups"][0]["minSize"] = -1
    xr["spec"]["colour"] = "blue"
    (message,) = fatal_of(xr)
    problems = message.removeprefix("invalid Cluster 'dev': ").split("; ")
    assert problems == [
        "spec.nodeGroups[0].instancetype: unknown field",
        "spec.colour: unknown field",
        "spec.nodeGroups[0].instanceType: Field required",
        "spec.nodeGroups[0].minSize: Input should be greater than or equal to 0",
    ]


def test_a_flood_of_problems_is_bounded_and_says_how_many_were_left_out():
    xr = copy.deepcopy(EKS)
    xr["spec"].update({f"unknown{i}": i for i in range(MAX_PROBLEMS + 5)})
    (message,) = fatal_of(xr)
    assert message.count(": unknown field") == MAX_PROBLEMS
    assert message.endswith("(and 5 more problems)")


@needs_engine
def test_forge_render_says_every_problem(function_servers):
    composition = load_one(composition_for(EKS), "composition")
    xrd = load_one(xrd_for(EKS), "XRD")
    with pytest.raises(FatalResultError) as info:
        engine_render(
            with_typo(), composition, required=[ENVIRONMENT], xrd=xrd, servers=function_servers
        )
    assert TYPO.removeprefix("invalid Cluster 'dev': ") in str(info.value)


# Values in messages: the field path and the rule, never the input --------------------

ARN = "arn:aws:iam::123456789012:role/sk-live-secret-looking-value"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            {"aws": {"admins": [ARN, ARN]}},
            "spec.aws.admins[1]: duplicate principal (the same as admins[0])",
        ),
        (
            {"argocd": {"labels": {"x" * 300: 5}}},
            "spec.argocd.labels[<key>]: Input should be a valid string",
        ),
        (
            {"argocd": {"labels": {"token=hunter2 and more": 5}}},
            "spec.argocd.labels[<key>]: Input should be a valid string",
        ),
        (
            {"argocd": {"labels": {"app.kubernetes.io/part-of": 5}}},
            'spec.argocd.labels["app.kubernetes.io/part-of"]: Input should be a valid string',
        ),
        (
            {"aws": {"tags": {"aws:" + "s" * 100: "x"}}},
            "spec.aws.tags[<key>]: the aws: prefix is reserved",
        ),
        (
            {"aws": {"tags": {"aws:team": "x"}}},
            'spec.aws.tags["aws:team"]: the aws: prefix is reserved',
        ),
        ({"not a field, a secret": 1}, "spec[<key>]: unknown field"),
    ],
)
def test_messages_name_the_path_and_rule_not_the_value(change, expected):
    xr = copy.deepcopy(EKS)
    for key, value in change.items():
        xr["spec"][key] = {**xr["spec"][key], **value} if key in xr["spec"] else value
    (message,) = fatal_of(xr)
    assert message == f"invalid Cluster 'dev': {expected}"


def test_an_environment_config_ref_that_is_not_a_name_is_not_quoted_anywhere():
    xr = copy.deepcopy(EKS)
    xr["spec"]["environmentConfigRef"] = {"name": "Secret Value " * 1000}
    out = render(build(xr, step_input=step_input("Cluster"), required={"environment-configs": []}))
    assert out.fatal == [
        "invalid Cluster 'dev': spec.environmentConfigRef.name: "
        "String should have at most 253 characters"
    ]
    assert not [r for r in out.results if "Secret Value" in r.message]
