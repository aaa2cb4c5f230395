"""Crossplane's function response cache never gets secret material.

With ``--enable-function-response-cache`` Crossplane writes responses to disk for
their TTL; a response composing the Argo CD cluster Secret carries the vCluster's
client key or an EKS cluster's argocd-manager token. Responses that carry a Secret
(ours or an earlier step's) or connection details say TTL 0 (not cacheable); the
others keep the SDK's default.
"""

from __future__ import annotations

import base64
import datetime
import json

import crossplane.function.proto.v1.run_function_pb2 as fnv1
import pytest
from crossplane.function import response

from forge_dev.simulate import scenarios
from forge_dev.simulate.requests import build, render

SCENARIOS = scenarios.for_tests()
DEFAULT_TTL = response.DEFAULT_TTL
SECRET = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": {"k": "dg=="}}


def ttl(rsp: fnv1.RunFunctionResponse) -> datetime.timedelta:
    return rsp.meta.ttl.ToTimedelta()


def carries_secret(rsp: fnv1.RunFunctionResponse) -> bool:
    desired = rsp.desired.resources.values()
    return any(r.resource["kind"] == "Secret" for r in desired) or any(
        r.connection_details for r in desired
    )


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_a_response_is_cacheable_only_without_secrets(scenario):
    rsp = render(scenario.request).response
    assert ttl(rsp) == (datetime.timedelta(0) if carries_secret(rsp) else DEFAULT_TTL)


def test_the_argocd_secret_with_a_client_key_is_never_cached():
    vcluster = next(s for s in SCENARIOS if s.name == "cluster-vcluster")
    out = render(vcluster.request)
    config = json.loads(base64.b64decode(out.resources["argocd-cluster"]["data"]["config"]))
    assert config["tlsClientConfig"]["keyData"]
    assert ttl(out.response) == datetime.timedelta(0)


def test_the_argocd_secret_with_a_bearer_token_is_never_cached():
    """EKS without an Argo CD role: the argocd-manager token, read from its connection
    Secret (a required resource), goes into the Argo CD Secret of an uncached response."""
    eks = next(s for s in SCENARIOS if s.name == "cluster-aws-token")
    out = render(eks.request)
    config = json.loads(base64.b64decode(out.resources["argocd-cluster"]["data"]["config"]))
    assert config["bearerToken"]
    assert "argocd-manager-token" in eks.request.required_resources
    assert ttl(out.response) == datetime.timedelta(0)


@pytest.mark.parametrize("fatal", [False, True], ids=["composed", "fatal"])
def test_an_earlier_steps_secret_makes_the_response_uncacheable(fatal):
    xr = {
        "apiVersion": "forge.projectcatalyst.io/v1alpha1",
        "kind": "Nope" if fatal else "PlatformCluster",
        "metadata": {"name": "platform"},
        "spec": {},
    }
    rsp = render(build(xr, desired={"from-step-1": SECRET})).response
    assert ttl(rsp) == datetime.timedelta(0)


def test_connection_details_make_the_response_uncacheable():
    xr = {
        "apiVersion": "forge.projectcatalyst.io/v1alpha1",
        "kind": "PlatformCluster",
        "metadata": {"name": "platform"},
        "spec": {},
    }
    req = build(xr)
    req.desired.composite.connection_details["password"] = b"hunter2"
    assert ttl(render(req).response) == datetime.timedelta(0)
