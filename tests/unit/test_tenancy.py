"""No XR can take over what another owns, whatever names and namespaces users pick.

Each finding of the attack is reproduced here; the rule behind them (any two XRs
compose disjoint things) is the property test in ``test_tenancy_property.py``.
"""

from __future__ import annotations

import copy
import os
from typing import Any

import crossplane.function.proto.v1.run_function_pb2 as fnv1
import pytest

from forge import tenancy
from forge.composers.access import namespace_for
from forge.composers.argocd import PLATFORM_NAMESPACE_PREFIX, namespace_problem
from forge.core import naming
from forge.registry import COMPOSERS, NAMESPACED
from forge_dev import tools
from forge_dev.render import FatalResultError
from forge_dev.render import render as engine_render
from forge_dev.render.examples import composition_for, xrd_for
from forge_dev.render.load import load_one
from forge_dev.simulate import steady_state as scenarios
from forge_dev.simulate.converge import converge
from forge_dev.simulate.player import observe
from forge_dev.simulate.requests import build, environment_config, render, step_input
from forge_dev.simulate.vcluster_stages import Credentials, required_fn

CREDS = Credentials.placeholder()
FALSE = fnv1.STATUS_CONDITION_FALSE
CLUSTER_INPUT = step_input("Cluster")
needs_engine = pytest.mark.skipif(
    not tools.available() and not os.environ.get("CI"), reason="run `make tools`"
)


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


# 3. One cluster, one of each singleton; releases and objects never shared -------------

SCENARIOS = {s.name: s for s in scenarios.for_tests()}
EARLIER, LATER = "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"


def bundle_xr(scenario: str, namespace: str, name: str | None = None, created: str = LATER):
    xr = copy.deepcopy(SCENARIOS[scenario].xr)
    xr["metadata"].update(namespace=namespace, creationTimestamp=created)
    if name is not None:
        xr["metadata"]["name"] = name
    return xr


def listed(*xrs: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Every bundle XR, as Crossplane answers the function's requirements."""
    return {
        f"{tenancy.REQUIREMENT_PREFIX}{kind.lower()}": [x for x in xrs if x["kind"] == kind]
        for kind in NAMESPACED
    }


def call(scenario: str, xr: dict[str, Any], *others: dict[str, Any]):
    """The scenario's fully provisioned call for ``xr``, with every bundle XR listed."""
    req = fnv1.RunFunctionRequest()
    req.CopyFrom(SCENARIOS[scenario].request)
    req.observed.composite.resource.Clear()
    req.observed.composite.resource.update(xr)
    for requirement, items in listed(xr, *others).items():
        resources = req.required_resources[requirement]
        for item in items:
            resources.items.add().resource.update(item)
    return render(req)


def refused(out, kind: str, where: str) -> str:
    (message,) = out.fatal
    assert out.resources == {}
    prefix = f"refused {kind} {where}: "
    assert message.startswith(prefix), message
    return message.removeprefix(prefix)


@pytest.mark.parametrize(
    ("scenario", "kind", "name", "owns"),
    [
        ("keda", "KEDA", "keda", "one KEDA per cluster"),
        ("certmanager", "CertManager", "cert-manager", "one CertManager per cluster"),
        (
            "externalsecretsoperator",
            "ExternalSecretsOperator",
            "external-secrets",
            "one ExternalSecretsOperator per cluster",
        ),
        ("istio", "Istio", "istio", "one Istio per cluster"),
        ("monitoring", "Monitoring", "monitoring", "one Monitoring per cluster"),
    ],
)
def test_a_second_singleton_refuses_naming_the_first(scenario, kind, name, owns):
    """KEDA keda in team-a and in team-b drove the same Helm release keda/keda; two
    CertManagers shared ClusterIssuer letsencrypt, two ESOs the ClusterSecretStore."""
    first = bundle_xr(scenario, "team-a", created=EARLIER)
    second = bundle_xr(scenario, "team-b")
    assert not call(scenario, first, second).fatal, "the first one is not disturbed"
    reason = refused(call(scenario, second, first), kind, f"team-b/{name}")
    assert reason == (
        f"{owns}: {kind} team-a/{name}, created first, already installs {kind} "
        "in this cluster (through a ClusterProviderConfig)"
    )


def test_singletons_through_their_own_provider_configs_are_apart():
    """A namespaced ProviderConfig is its namespace's own cluster: no conflict."""
    first = bundle_xr("keda", "team-a", created=EARLIER)
    second = bundle_xr("keda", "team-b")
    second["spec"]["providerConfigRef"] = {"kind": "ProviderConfig", "name": "remote"}
    assert not call("keda", second, first).fatal


def test_a_helm_release_is_never_shared_across_kinds():
    """KEDA x and ExternalDNS x both installing into namespace keda: one release keda/x."""
    keda = bundle_xr("keda", "team-a", "x", created=EARLIER)
    dns = bundle_xr("externaldns", "team-b", "x")
    dns["spec"]["namespace"] = "keda"
    reason = refused(call("externaldns", dns, keda), "ExternalDNS", "team-b/x")
    assert reason == (
        "KEDA team-a/x, created first, already owns helm release keda/x "
        "in this cluster (through a ClusterProviderConfig)"
    )


def test_composed_names_are_never_shared_within_a_namespace():
    """Istio mesh composes Release mesh-base; KEDA mesh-base would compose it again."""
    istio = bundle_xr("istio", "team-a", "mesh", created=EARLIER)
    keda = bundle_xr("keda", "team-a", "mesh-base")
    reason = refused(call("keda", keda, istio), "KEDA", "team-a/mesh-base")
    assert reason.startswith("Istio team-a/mesh, created first, already owns ")
    assert "mesh-base" in reason


def test_external_dns_instances_may_coexist_when_apart():
    public = bundle_xr("externaldns", "team-a", "public", created=EARLIER)
    private = bundle_xr("externaldns", "team-a", "private")
    assert not call("externaldns", private, public).fatal


def test_before_crossplane_lists_the_others_nothing_is_refused():
    """The first call carries no answer yet: it composes, and the next call judges."""
    req = fnv1.RunFunctionRequest()
    req.CopyFrom(SCENARIOS["keda"].request)
    out = render(req)
    assert not out.fatal
    assert {f"tenancy-{k.lower()}" for k in NAMESPACED} <= set(out.requirements)


def test_a_namespaced_xr_in_a_clusters_platform_namespace_is_refused():
    xr = bundle_xr("keda", "cluster-dev", "dev")
    assert call("keda", xr).fatal == [
        "invalid KEDA: metadata.namespace: cluster-dev is a Cluster's platform namespace "
        "(cluster-*), whose resources are that Cluster's: create this XR in another namespace"
    ]


def test_a_second_platform_cluster_refuses_naming_the_first():
    first = copy.deepcopy(SCENARIOS["platformcluster"].xr)
    first["metadata"]["creationTimestamp"] = EARLIER
    second = copy.deepcopy(first)
    second["metadata"].update(name="platform-2", creationTimestamp=LATER)
    req = fnv1.RunFunctionRequest()
    req.CopyFrom(SCENARIOS["platformcluster"].request)
    req.observed.composite.resource.Clear()
    req.observed.composite.resource.update(second)
    for item in (first, second):
        req.required_resources["tenancy-platformcluster"].items.add().resource.update(item)
    (fatal,) = render(req).fatal
    assert fatal == (
        "refused PlatformCluster platform-2: one PlatformCluster per platform: PlatformCluster "
        f"{first['metadata']['name']}, created first, already installs the self-management stack"
    )


@needs_engine
def test_the_real_engine_lists_the_first_and_the_second_refuses(function_servers):
    """Crossplane's own render engine answers the requirements from what it is given."""
    first = bundle_xr("keda", "team-a", created=EARLIER)
    second = bundle_xr("keda", "team-b")
    composition = load_one(composition_for(second), "composition")
    xrd = load_one(xrd_for(second), "XRD")
    with pytest.raises(FatalResultError) as info:
        engine_render(second, composition, required=[first], xrd=xrd, servers=function_servers)
    assert "refused KEDA team-b/keda: one KEDA per cluster: KEDA team-a/keda" in str(info.value)


def test_a_listed_xr_whose_name_kubernetes_would_refuse_is_ignored():
    first = bundle_xr("keda", "team-a", "k" * 1_000_000, created=EARLIER)
    assert not call("keda", bundle_xr("keda", "team-b"), first).fatal
