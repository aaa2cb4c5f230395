"""No XR can take over what another owns, whatever names and namespaces users pick.

Each finding of the attack is reproduced here; the rule behind them (any two XRs
compose disjoint things) is the property test in ``test_tenancy_property.py``.
"""

from __future__ import annotations

from typing import Any

import crossplane.function.proto.v1.run_function_pb2 as fnv1
import pytest

from forge.apis import COMPOSERS
from forge.composers.access import namespace_for
from forge.composers.argocd import PLATFORM_NAMESPACE_PREFIX, namespace_problem
from forge.core import naming
from tests.support.lifecycle import converge
from tests.support.providers import observe
from tests.support.request import build, environment_config, render, step_input
from tests.support.vcluster import Credentials, required_fn

CREDS = Credentials.placeholder()
FALSE = fnv1.STATUS_CONDITION_FALSE
CLUSTER_INPUT = step_input("Cluster")


def vcluster(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "forge.projectcatalyst.io/v1alpha1",
        "kind": "Cluster",
        "metadata": {"name": name},
        "spec": {"provider": "vcluster", **spec},
    }


def with_environment(**data: Any):
    """``converge``'s required resources: the vCluster's kubeconfig and this environment."""
    kubeconfig = required_fn(CREDS)
    config = environment_config(**data)
    return lambda observed: {**kubeconfig(observed), "environment-configs": [config]}


# 1. The Argo CD Secret: the platform says where it goes ---------------------------------


def test_an_xr_cannot_choose_the_argocd_namespace():
    """Cluster vc-x with argocd.namespace cluster-x-cluster wrote Secret
    cluster-x-cluster/vc-x-cluster: exactly Cluster x-cluster's kubeconfig Secret."""
    xr = vcluster("vc-x", argocd={"namespace": "cluster-x-cluster"})
    out = render(build(xr, required={"environment-configs": []}))
    assert out.fatal == ["invalid Cluster 'vc-x': spec.argocd.namespace: unknown field"]


def test_the_argocd_namespace_is_the_environments():
    history = converge(
        vcluster("dev"),
        required=with_environment(argocd={"namespace": "gitops"}),
        step_input=CLUSTER_INPUT,
    )
    assert history[-1].resources["argocd-cluster"]["metadata"]["namespace"] == "gitops"


def test_the_argocd_namespace_defaults_to_argocd():
    history = converge(vcluster("dev"), required=with_environment(), step_input=CLUSTER_INPUT)
    assert history[-1].resources["argocd-cluster"]["metadata"]["namespace"] == "argocd"


@pytest.mark.parametrize(
    ("namespace", "why"),
    [
        ("kube-system", "kube-system is a system namespace"),
        ("crossplane-system", "crossplane-system is a system namespace"),
        ("default", "default is a system namespace"),
        ("cluster-x-cluster", "cluster-x-cluster is a Cluster's platform namespace (cluster-*)"),
        ("Not A Namespace", "must be a DNS-1123 label"),
    ],
)
def test_an_environment_namespace_that_holds_other_secrets_is_refused(namespace, why):
    """Even the platform's own EnvironmentConfig cannot send the Secret there."""
    required = with_environment(argocd={"namespace": namespace})
    observed, out = {}, None
    for _ in range(8):  # to the round where the Secret would be composed
        req = build(vcluster("dev"), observed, required(observed), step_input=CLUSTER_INPUT)
        out = render(req)
        observed = {k: observe(k, m) for k, m in out.resources.items()}
    assert "argocd-cluster" not in out.resources
    condition = out.conditions["ArgoCDRegistered"]
    assert (condition.status, condition.reason) == (FALSE, "NamespaceNotAllowed")
    assert condition.message.startswith(f"the EnvironmentConfig's argocd.namespace: {why}")
    if why.startswith("must be"):
        assert namespace not in condition.message


@pytest.mark.parametrize("name", ["x", "a.b", "x" * 253, "team-alpha-" + "x" * 50])
def test_every_cluster_platform_namespace_is_refused_for_argocd(name):
    assert namespace_for(name).startswith(PLATFORM_NAMESPACE_PREFIX)
    assert namespace_problem(namespace_for(name))


# 2. Shortened (hashed) names: no literal name can take their form -----------------------


def test_a_name_cannot_equal_another_clusters_shortened_namespace():
    """A 60-character name falls back to cluster-<prefix>-<hash>; a second Cluster named
    <prefix>-<hash> got that namespace literally, sharing it and the Release in it."""
    long_name = "team-alpha-" + "x" * 49
    shortened = namespace_for(long_name)
    assert naming.looks_shortened(shortened)
    twin = shortened.removeprefix(PLATFORM_NAMESPACE_PREFIX)
    assert namespace_for(twin) == shortened  # what the attacker relied on
    out = render(build(vcluster(twin), required={"environment-configs": []}))
    assert out.fatal == [
        "invalid Cluster: metadata.name: must not end in '-' and 8 hexadecimal digits "
        "(the form of shortened names)"
    ]


@pytest.mark.parametrize("kind", sorted(kind for _, kind in COMPOSERS))
def test_every_kind_refuses_the_reserved_form(kind):
    xr = {
        "apiVersion": "forge.projectcatalyst.io/v1alpha1",
        "kind": kind,
        "metadata": {"name": "release-0badc0de", "namespace": "team-a"},
        "spec": {},
    }
    (fatal,) = render(build(xr)).fatal
    assert fatal.startswith(f"invalid {kind}: metadata.name: must not end in '-' and 8 hex")


@pytest.mark.parametrize("name", ["deadbeef", "release-2024", "a-0badc0dz", "a-0badc0de1"])
def test_names_near_the_reserved_form_are_fine(name):
    assert not naming.looks_shortened(name)
    assert not render(build(vcluster(name), required={"environment-configs": []})).fatal
