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
from forge_dev.simulate.required import answer_request
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
#
# The platform's XRs live in the namespaces its EnvironmentConfig names (default and
# platform here); a tenant's XR installs only through a ProviderConfig granted to its
# namespace. A call lists only the XRs that can share its target: its own namespace's,
# and on the in-cluster ClusterProviderConfig the platform namespaces'.

SCENARIOS = {s.name: s for s in scenarios.for_tests()}
EARLIER, LATER = "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"
PLATFORM_NAMESPACES = ["default", "platform"]
POLICY = {
    "platformNamespaces": PLATFORM_NAMESPACES,
    "namespaces": ["keda"],
    "tenants": [
        {"namespace": "team-a", "providerConfigs": ["team-a-dev"]},
        {"namespace": "team-b", "providerConfigs": ["team-b-dev"]},
    ],
}
IN_THIS_CLUSTER = "in this cluster (through a ClusterProviderConfig)"


def bundle_xr(scenario: str, namespace: str, name: str | None = None, created: str = LATER):
    xr = copy.deepcopy(SCENARIOS[scenario].xr)
    xr["metadata"].update(namespace=namespace, creationTimestamp=created)
    if name is not None:
        xr["metadata"]["name"] = name
    if namespace.startswith("team-"):
        xr["spec"]["providerConfigRef"] = {"kind": "ProviderConfig", "name": f"{namespace}-dev"}
    return xr


def world(scenario: str, policy: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The scenario's required objects, its EnvironmentConfigs carrying ``policy``."""
    out = []
    for given in scenarios.pool_for(SCENARIOS[scenario].kind):
        obj = copy.deepcopy(given)
        if obj["kind"] == "EnvironmentConfig":
            obj["data"]["tenancy"] = POLICY if policy is None else policy
        out.append(obj)
    return out


def answered(scenario: str, xr: dict[str, Any], *others: dict[str, Any], policy=None):
    """The scenario's fully provisioned call for ``xr``, its requirements answered as
    Crossplane would from the scenario's world and ``others``."""
    pool = [*world(scenario, policy), xr, *others]
    return answer_request(SCENARIOS[scenario].with_xr(xr), pool)


def call(scenario: str, xr: dict[str, Any], *others: dict[str, Any], policy=None):
    return render(answered(scenario, xr, *others, policy=policy))


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
    """KEDA keda in two platform namespaces drove the same Helm release keda/keda; two
    CertManagers shared ClusterIssuer letsencrypt, two ESOs the ClusterSecretStore."""
    first = bundle_xr(scenario, "default", created=EARLIER)
    second = bundle_xr(scenario, "platform")
    assert not call(scenario, first, second).fatal, "the first one is not disturbed"
    reason = refused(call(scenario, second, first), kind, f"platform/{name}")
    assert reason == (
        f"{owns}: {kind} default/{name}, created first, already installs {kind} {IN_THIS_CLUSTER}"
    )


def test_singletons_through_their_own_provider_configs_are_apart():
    """A ProviderConfig the platform granted a tenant is the tenant's own cluster."""
    platform = bundle_xr("keda", "default", created=EARLIER)
    for tenant in ("team-a", "team-b"):
        assert not call("keda", bundle_xr("keda", tenant), platform).fatal


def test_a_helm_release_is_never_shared_across_kinds():
    """KEDA x and ExternalDNS x both installing into namespace keda: one release keda/x."""
    keda = bundle_xr("keda", "default", "x", created=EARLIER)
    dns = bundle_xr("externaldns", "platform", "x")
    dns["spec"]["namespace"] = "keda"
    reason = refused(call("externaldns", dns, keda), "ExternalDNS", "platform/x")
    assert reason == (
        f"KEDA default/x, created first, already owns helm release keda/x {IN_THIS_CLUSTER}"
    )


def test_composed_names_are_never_shared_within_a_namespace():
    """Istio mesh composes Release mesh-base; KEDA mesh-base would compose it again."""
    istio = bundle_xr("istio", "team-a", "mesh", created=EARLIER)
    keda = bundle_xr("keda", "team-a", "mesh-base")
    reason = refused(call("keda", keda, istio), "KEDA", "team-a/mesh-base")
    assert reason.startswith("Istio team-a/mesh, created first, already owns ")
    assert "mesh-base" in reason


@pytest.mark.parametrize("who", ["older", "newer", "both"])
def test_a_release_is_never_shared_whoever_names_an_environment_config(who):
    """An XR naming its own EnvironmentConfig is judged, and judges, with the platform's
    tenancy all the same: its footprint is not lost."""
    keda = bundle_xr("keda", "default", "x", created=EARLIER)
    dns = bundle_xr("externaldns", "platform", "x")
    dns["spec"]["namespace"] = "keda"
    for xr in {"older": [keda], "newer": [dns], "both": [keda, dns]}[who]:
        xr["spec"]["environmentConfigRef"] = {"name": "dev"}
    reason = refused(call("externaldns", dns, keda), "ExternalDNS", "platform/x")
    assert reason.startswith("KEDA default/x, created first, already owns helm release keda/x")


def test_external_dns_instances_may_coexist_when_apart():
    public = bundle_xr("externaldns", "default", "public", created=EARLIER)
    private = bundle_xr("externaldns", "platform", "private")
    assert not call("externaldns", private, public).fatal


def test_before_crossplane_lists_the_others_nothing_is_refused():
    """The first call carries no answer yet: it composes, and the next call judges."""
    req = answered("keda", bundle_xr("keda", "default"))
    for name in [n for n in req.required_resources if n.startswith(tenancy.REQUIREMENT_PREFIX)]:
        del req.required_resources[name]
    out = render(req)
    assert not out.fatal
    assert {f"tenancy-{k.lower()}-default" for k in NAMESPACED} <= set(out.requirements)


# 4. The one-per-cluster rule: the platform's XR holds it, and no tenant can break it -----


def tenancy_requirements(req: fnv1.RunFunctionRequest) -> dict[str, fnv1.ResourceSelector]:
    out = render(req)
    return {
        name: selector
        for name, selector in out.requirements.items()
        if name.startswith(tenancy.REQUIREMENT_PREFIX)
    }


VCLUSTER_ENV = {
    "apiVersion": "apiextensions.crossplane.io/v1beta1",
    "kind": "EnvironmentConfig",
    "metadata": {"name": "vc"},
    "data": {"clusterProvider": "vcluster"},
}


@pytest.mark.parametrize(
    ("scenario", "older_spec", "newer_env"),
    [
        # k8s-monitoring needs the environment's clusterName; there is none
        ("monitoring", SCENARIOS["monitoring-remote"].xr["spec"], "missing"),
        # ambient is refused in a vCluster, which the newer one's environment says this is
        ("istio", {"dataPlane": "ambient"}, "vc"),
    ],
)
def test_an_older_singleton_holds_it_whatever_the_newer_ones_environment(
    scenario, older_spec, newer_env
):
    """A newer XR naming another EnvironmentConfig made the older one invalid under the
    newer's environment, so the older "owned nothing" and the newer was accepted."""
    older = bundle_xr(scenario, "default", "first", created=EARLIER)
    older["spec"].update(copy.deepcopy(older_spec))
    newer = bundle_xr(scenario, "platform", "second")
    newer["spec"]["environmentConfigRef"] = {"name": newer_env}
    kind = SCENARIOS[scenario].kind
    reason = refused(call(scenario, newer, older, VCLUSTER_ENV), kind, "platform/second")
    assert reason.startswith(f"one {kind} per cluster: {kind} default/first, created first")


def test_an_invalid_older_singleton_still_holds_it():
    """An XR that is invalid today may have installed its chart yesterday."""
    older = bundle_xr("keda", "default", "first", created=EARLIER)
    older["spec"]["operator"] = {"replicas": 99}
    newer = bundle_xr("keda", "platform", "second")
    reason = refused(call("keda", newer, older), "KEDA", "platform/second")
    assert reason.startswith("one KEDA per cluster: KEDA default/first, created first")


def test_a_tenants_namespaced_provider_config_is_no_way_around_the_singleton():
    """A ProviderConfig in the tenant's namespace may reach this very cluster: a tenant
    uses only what the platform granted it, so it cannot count as another target."""
    platform = bundle_xr("keda", "default", created=EARLIER)
    tenant = bundle_xr("keda", "team-b")
    tenant["spec"]["providerConfigRef"] = {"kind": "ProviderConfig", "name": "local"}
    (message,) = call("keda", tenant, platform).fatal
    assert message.startswith("invalid KEDA 'keda': spec.providerConfigRef: ProviderConfig ")


def test_a_tenants_first_keda_never_blocks_the_platforms():
    """A tenant that created KEDA first held the cluster's KEDA for good, with its values."""
    tenant = bundle_xr("keda", "team-a", created=EARLIER)
    tenant["spec"]["providerConfigRef"] = {"kind": "ClusterProviderConfig", "name": "default"}
    platform = bundle_xr("keda", "default")
    (message,) = call("keda", tenant, platform).fatal
    assert message.startswith("invalid KEDA 'keda': spec.providerConfigRef: ")
    out = call("keda", platform, tenant)
    assert not out.fatal
    assert out.resources["keda"]["spec"]["providerConfigRef"]["kind"] == "ClusterProviderConfig"


# 5. One tenant cannot slow or break the others' calls -----------------------------------


@pytest.mark.parametrize(
    ("namespace", "provider_config", "listed"),
    [
        ("default", None, PLATFORM_NAMESPACES),
        ("platform", None, PLATFORM_NAMESPACES),
        ("default", {"kind": "ProviderConfig", "name": "remote"}, ["default"]),
        ("team-a", None, ["team-a"]),
    ],
)
def test_a_call_lists_only_the_namespaces_that_can_share_its_target(
    namespace, provider_config, listed
):
    """Every XR of six kinds in every namespace was listed, in full, on every call."""
    xr = bundle_xr("keda", namespace)
    if provider_config:
        xr["spec"]["providerConfigRef"] = provider_config
    selectors = tenancy_requirements(answered("keda", xr))
    assert selectors
    assert all(s.HasField("namespace") for s in selectors.values())
    assert sorted({s.namespace for s in selectors.values()}) == sorted(listed)
    assert {s.kind for s in selectors.values()} == set(NAMESPACED)


def deep(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": True}
    for _ in range(levels):
        value = {"nested": value}
    return value


def test_a_hostile_tenant_never_reaches_the_platforms_calls():
    """One XR with values nested 32 deep failed every bundle call (DecodeError); 450
    small ones made each call 46 times slower."""
    hostile = [bundle_xr("keda", "team-x", f"k{i:03d}", created=EARLIER) for i in range(450)]
    hostile[0]["spec"]["values"] = deep(32)
    platform = bundle_xr("keda", "default")
    quiet = answered("keda", platform)
    attacked = answered("keda", platform, *hostile)
    assert attacked.SerializeToString(deterministic=True) == quiet.SerializeToString(
        deterministic=True
    )
    assert not render(attacked).fatal


def test_a_namespace_compares_a_bounded_number_of_older_xrs():
    """A tenant's own XRs can only slow its own calls, and only so much."""
    many = tenancy.MAX_OLDER + 1
    older = [
        bundle_xr("externaldns", "team-a", f"dns-{i:03d}", created=EARLIER) for i in range(many)
    ]
    newer = bundle_xr("externaldns", "team-a", "dns-new")
    reason = refused(call("externaldns", newer, *older), "ExternalDNS", "team-a/dns-new")
    assert reason.startswith(f"{many} infrastructure XRs older than this one"), reason
    assert not call("externaldns", older[-1], *older[:-1], newer).fatal


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
    first = bundle_xr("keda", "default", created=EARLIER)
    second = bundle_xr("keda", "platform")
    composition = load_one(composition_for(second), "composition")
    xrd = load_one(xrd_for(second), "XRD")
    with pytest.raises(FatalResultError) as info:
        required = [first, *world("keda")]
        engine_render(second, composition, required=required, xrd=xrd, servers=function_servers)
    assert "refused KEDA platform/keda: one KEDA per cluster: KEDA default/keda" in str(info.value)


def test_a_listed_xr_whose_name_kubernetes_would_refuse_is_ignored():
    first = bundle_xr("keda", "default", "k" * 1_000_000, created=EARLIER)
    assert not call("keda", bundle_xr("keda", "platform"), first).fatal
