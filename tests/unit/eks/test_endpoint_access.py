"""The EKS API endpoint: private unless the environment (or the XR) says who may reach it."""

from __future__ import annotations

from typing import Any

from forge_dev.simulate.converge import converge
from forge_dev.simulate.requests import build, render
from tests.support.eks import params, xr_with

PLATFORM_EGRESS = ["198.51.100.7/32", "203.0.113.0/28"]


def environment(**data: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.crossplane.io/v1beta1",
        "kind": "EnvironmentConfig",
        "metadata": {"name": "dev"},
        "data": {"region": "us-west-2", **data},
    }


def first_call(xr: dict[str, Any], env: dict[str, Any] | None = None):
    """The render that first composes the EKS cluster (it waits for its role and subnets)."""
    if env is not None:
        xr["spec"]["environmentConfigRef"] = {"name": "dev"}
    required = (lambda _: {"environment-configs": [env]}) if env else None
    history = converge(xr, required=required, max_rounds=12)
    return next(out for out in history if "aws-eks-cluster" in out.resources)


def vpc_config(out) -> dict[str, Any]:
    return params(out.resources["aws-eks-cluster"])["vpcConfig"]


def endpoint(out) -> dict[str, Any]:
    return out.status["outputs"]["endpointAccess"]


def test_by_default_the_endpoint_is_private_and_the_status_says_so():
    out = first_call(xr_with())
    config = vpc_config(out)
    assert config["endpointPublicAccess"] is False
    assert config["endpointPrivateAccess"] is True
    assert "publicAccessCidrs" not in config
    access = endpoint(out)
    assert access["public"] is False
    assert access["private"] is True
    assert "publicAccessCidrs" not in access
    assert "aws.publicAccessCidrs" in access["message"]
    assert "inside the VPC" in access["message"]


def test_the_environment_names_who_may_reach_the_public_endpoint():
    out = first_call(xr_with(), environment(aws={"publicAccessCidrs": PLATFORM_EGRESS}))
    config = vpc_config(out)
    assert config["endpointPublicAccess"] is True
    assert config["endpointPrivateAccess"] is True
    assert config["publicAccessCidrs"] == PLATFORM_EGRESS
    access = endpoint(out)
    assert (access["public"], access["publicAccessCidrs"]) == (True, PLATFORM_EGRESS)


def test_the_xr_wins_over_the_environment():
    xr = xr_with(aws={"publicAccessCidrs": ["192.0.2.0/24"]})
    out = first_call(xr, environment(aws={"publicAccessCidrs": PLATFORM_EGRESS}))
    assert vpc_config(out)["publicAccessCidrs"] == ["192.0.2.0/24"]


def test_an_explicitly_private_endpoint_ignores_the_environments_cidrs():
    xr = xr_with(aws={"endpointPublicAccess": False})
    out = first_call(xr, environment(aws={"publicAccessCidrs": PLATFORM_EGRESS}))
    config = vpc_config(out)
    assert (config["endpointPublicAccess"], "publicAccessCidrs" in config) == (False, False)
    assert endpoint(out)["public"] is False


def test_the_internet_is_only_ever_a_choice_written_down():
    out = first_call(xr_with(aws={"publicAccessCidrs": ["0.0.0.0/0"]}))
    assert vpc_config(out)["publicAccessCidrs"] == ["0.0.0.0/0"]


def test_a_public_endpoint_without_cidrs_is_refused_naming_both_places():
    out = render(build(xr_with(aws={"endpointPublicAccess": True})))
    (message,) = out.fatal
    assert "spec.aws.publicAccessCidrs" in message
    assert "aws.publicAccessCidrs in the EnvironmentConfig" in message
