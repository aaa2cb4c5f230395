"""Tenancy as properties: issue 13's takeovers and issue 21's namespace tenants.

1. Any two XRs own disjoint things. For any two XRs a user can create (any kinds,
   adversarial names and namespaces), the objects they compose on the platform, the
   Secrets providers write for them, the Helm releases and objects they put into a
   cluster, and the AWS names they take are disjoint, or the XR created later composes
   nothing (a fatal result; when it is a refusal, it names the first). The first is never
   disturbed by the second.
2. A tenant composes only what is its own. For any tenant XR (any namespace that is not
   the platform's, any spec the schema admits, any EnvironmentConfig reference, created
   before or after the platform's) against the platform's own XRs: everything it
   composes stays in its namespace and goes through a ProviderConfig the platform
   granted it; its charts and objects go only into its own namespace, the chart's
   conventional ones or one granted to it, never a reserved one; every Secret or service
   account it references is in its namespace or its charts'; and every platform XR
   renders exactly as it does without the tenant.

Each XR is driven through its lifecycle with the provider player (the stages gated on
readiness compose too), in a world whose objects are its examples' required resources
plus the XRs, as Crossplane would list them. What is checked is read from the rendered
resources, independently of ``forge.tenancy`` and ``forge.core.policy``.

``FORGE_TENANCY_EXAMPLES`` sets the number of examples of each property (default 60,
derandomized so the normal run is reproducible).
"""

from __future__ import annotations

import copy
import functools
import os
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, event, example, given, settings
from hypothesis import strategies as st

from forge.core import naming
from forge.registry import NAMESPACED
from forge_dev.simulate.player import observe
from forge_dev.simulate.requests import Rendered, build, environment_config, render
from forge_dev.simulate.required import answer_request
from forge_dev.simulate.steady_state import for_tests as scenarios
from forge_dev.simulate.steady_state import pool_for, required_from, step_input
from tests.support.spec_strategies import from_schema, spec_schema

EXAMPLES = int(os.environ.get("FORGE_TENANCY_EXAMPLES", "60"))
ROUNDS = 12
PAIRS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    derandomize="FORGE_TENANCY_EXAMPLES" not in os.environ,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
EARLIER, LATER = "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"
BASES = {s.name: s.xr for s in scenarios()}
# The scenarios worth pairing: every kind, both Cluster providers.
KINDS = [
    "cluster-vcluster",
    "cluster-aws",
    "platformcluster",
    "keda",
    "certmanager",
    "externalsecretsoperator",
    "externaldns",
    "istio",
    "monitoring",
]

# Names ------------------------------------------------------------------------------------

WORDS = ["x", "a", "dev", "keda", "istio", "mesh", "cert-manager", "external-dns", "monitoring"]
RESERVED = ["default", "kube-system", "crossplane-system", "argocd", "cluster", "istio-system"]
# Pieces our composers join to names: a name plus one of them is a suffix trick.
PIECES = [
    "cluster",
    "base",
    "istiod",
    "cni",
    "ztunnel",
    "gateway",
    "used-by",
    "issuer-letsencrypt",
    "cluster-secret-store",
    "stack",
    "kubeconfig",
    "auth",
    "vc",
]
LONG = st.integers(50, 70).map(lambda n: "team-alpha-" + "x" * (n - 11))
NAMES = st.one_of(
    st.sampled_from(WORDS + RESERVED),
    LONG,
    st.integers(200, 253).map(lambda n: "y" * n),
    st.builds(lambda a, b: f"{a}-{b}", st.sampled_from(WORDS), st.sampled_from(PIECES)),
)
NAMESPACES = st.sampled_from(["team-a", "team-b", "team-c", "default", "kube-system", "argocd"])
# The pairs' platform: three namespaces whose XRs may install in-cluster into each other's
# namespaces and the charts' (the rest of this file's rules); team-c is a tenant with its
# own cluster; kube-system and argocd are tenants with nothing granted.
PAIR_POLICY = {
    "platformNamespaces": ["default", "team-a", "team-b"],
    "namespaces": ["default", "team-a", "team-b", "keda", "istio-system"],
    "tenants": [{"namespace": "team-c", "providerConfigs": ["team-c-dev"]}],
}
PAIR_ENV = environment_config("zz-tenancy", tenancy=PAIR_POLICY)


def tricks(name: str) -> st.SearchStrategy[str]:
    """Names built to meet ``name``'s: suffixes, prefixes, its shortened forms."""
    shortened = [naming.name(name), naming.name("cluster", name), naming.helm_release(name)]
    return st.one_of(
        st.just(name),
        st.sampled_from(PIECES).map(lambda p: f"{name}-{p}"[:253]),
        st.sampled_from(["vc", "cluster"]).map(lambda p: f"{p}-{name}"[:253]),
        st.sampled_from(shortened),
        st.sampled_from(shortened).map(lambda s: s.removeprefix("cluster-")),
    )


@dataclass
class Xr:
    scenario: str
    manifest: dict[str, Any]

    @property
    def kind(self) -> str:
        return self.manifest["kind"]

    def identity(self) -> tuple[str, str, str]:
        meta = self.manifest["metadata"]
        return self.kind, meta.get("namespace", ""), meta["name"]

    def describe(self) -> str:
        meta = self.manifest["metadata"]
        where = f"{meta['namespace']}/{meta['name']}" if "namespace" in meta else meta["name"]
        return f"{self.kind} {where}"


def make(scenario: str, name: str, namespace: str, target_ns: str | None, created: str) -> Xr:
    manifest = copy.deepcopy(BASES[scenario])
    manifest["metadata"] = {"name": name, "creationTimestamp": created}
    if manifest["kind"] in NAMESPACED:
        manifest["metadata"]["namespace"] = namespace
        if target_ns is not None:
            manifest["spec"]["namespace"] = target_ns
        if namespace == "team-c":
            manifest["spec"]["providerConfigRef"] = {"kind": "ProviderConfig", "name": "team-c-dev"}
    return Xr(scenario, manifest)


@st.composite
def pairs(draw: st.DrawFn) -> tuple[Xr, Xr]:
    """A first XR, and a second built to meet it: often the same kind, a name trick,
    the same namespace and chart namespace."""
    first_scenario = draw(st.sampled_from(KINDS))
    first_name = draw(NAMES)
    first_ns = draw(NAMESPACES)
    target = draw(st.none() | NAMESPACES | st.sampled_from(["keda", "istio-system"]))
    first = make(first_scenario, first_name, first_ns, target, EARLIER)
    second = make(
        draw(st.one_of(st.just(first_scenario), st.sampled_from(KINDS))),
        draw(st.one_of(tricks(first_name), NAMES)),
        draw(st.sampled_from([first_ns, naming.name("cluster", first_name)]) | NAMESPACES),
        draw(st.one_of(st.just(target), NAMESPACES)),
        LATER,
    )
    return first, second


LONG_NAME = "team-alpha-" + "x" * 49
# The issue's cases, always run: a shortened namespace's literal twin, and two of each
# singleton (and a release name two kinds would share) in two namespaces.
ISSUE_CASES = [
    (
        make("cluster-vcluster", LONG_NAME, "", None, EARLIER),
        make(
            "cluster-vcluster",
            naming.name("cluster", LONG_NAME).removeprefix("cluster-"),
            "",
            None,
            LATER,
        ),
    ),
    *[
        (make(s, "x", "team-a", None, EARLIER), make(s, "x", "team-b", None, LATER))
        for s in ("keda", "certmanager", "externalsecretsoperator", "istio", "monitoring")
    ],
    (
        make("istio", "mesh", "team-a", None, EARLIER),
        make("keda", "mesh-base", "team-a", None, LATER),
    ),
    (make("keda", "x", "team-a", None, EARLIER), make("externaldns", "x", "team-b", "keda", LATER)),
]


# Footprints, read from what was rendered ---------------------------------------------------


@dataclass
class Outcome:
    footprint: set[tuple[str, ...]] = field(default_factory=set)
    fatal: list[str] = field(default_factory=list)


def _target(manifest: dict[str, Any], namespace: str) -> str:
    ref = manifest.get("spec", {}).get("providerConfigRef") or {}
    if ref.get("kind", "ClusterProviderConfig") == "ClusterProviderConfig":
        return "this cluster"  # every ClusterProviderConfig, taken as one cluster
    return f"ProviderConfig {namespace}/{ref.get('name')}"


def footprint_of(xr_namespace: str, out: Rendered) -> set[tuple[str, ...]]:
    found: set[tuple[str, ...]] = set()
    for manifest in out.resources.values():
        meta = manifest["metadata"]
        namespace = xr_namespace or meta.get("namespace", "")
        api, kind = manifest["apiVersion"], manifest["kind"]
        found.add(("platform", api.split("/")[0], kind, namespace, meta["name"]))
        ref = manifest.get("spec", {}).get("writeConnectionSecretToRef")
        if ref:
            found.add(("platform", "v1", "Secret", ref.get("namespace", namespace), ref["name"]))
        target = _target(manifest, namespace)
        if api.startswith("helm.m.crossplane.io/") and kind == "Release":
            release_ns = manifest["spec"]["forProvider"]["namespace"]
            found.add((target, "helm release", release_ns, meta["name"]))
        if api.startswith("kubernetes.m.crossplane.io/") and kind == "Object":
            inner = manifest["spec"]["forProvider"]["manifest"]
            inner_meta = inner["metadata"]
            group = inner["apiVersion"].split("/")[0]
            found.add(
                (target, group, inner["kind"], inner_meta.get("namespace", ""), inner_meta["name"])
            )
        if api.startswith("iam.aws.m.upbound.io/") and kind == "Role":
            found.add(("aws", "iam role", meta["name"]))
        if api.startswith("eks.aws.m.upbound.io/") and kind == "Cluster":
            found.add(
                ("aws", "eks cluster", manifest["spec"]["forProvider"]["region"], meta["name"])
            )
    for requirement in ("vcluster-kubeconfig", "argocd-manager-token"):
        secret = out.requirements.get(requirement)
        if secret is not None:  # a Secret vCluster or provider-kubernetes writes for it
            found.add(("platform", "v1", "Secret", secret.namespace, secret.match_name))
    return found


def drive(xr: Xr, world: list[dict[str, Any]]) -> Outcome:
    """Render ``xr`` round by round until Ready; its footprint over every round."""
    manifest = xr.manifest
    given = step_input(xr.kind)
    required = required_from(manifest, [*pool_for(xr.kind), *world], given)
    namespace = manifest["metadata"].get("namespace", "")
    outcome = Outcome()
    observed: dict[str, Any] = {}
    for round_ in range(ROUNDS):
        out = render(
            build(manifest, observed=observed, required=required(observed), step_input=given)
        )
        if out.fatal:
            assert round_ == 0, f"a fatal result after composing: {out.fatal}"
            assert out.resources == {}
            outcome.fatal = out.fatal
            return outcome
        outcome.footprint |= footprint_of(namespace, out)
        if out.composite_ready:
            break
        observed = {key: observe(key, m) for key, m in out.resources.items()}
    return outcome


def _with_issue_cases(test):
    for case in ISSUE_CASES:
        test = example(pair=case)(test)
    return test


@PAIRS
@_with_issue_cases
@given(pair=pairs())
def test_any_two_xrs_own_disjoint_things_or_the_second_refuses(pair):
    first, second = pair
    assume(first.identity() != second.identity())  # Kubernetes holds one object per name
    world = [PAIR_ENV, first.manifest, second.manifest]
    one = drive(first, world)
    assert not [m for m in one.fatal if m.startswith("refused ")], "the first is disturbed"
    two = drive(second, world)
    if two.fatal:
        (message,) = two.fatal
        refused = message.startswith("refused ")
        event("the second is refused" if refused else "the second is invalid")
        if refused:
            assert first.describe() in message, message
        return
    event("both compose")
    shared = one.footprint & two.footprint
    assert not shared, f"{first.describe()} and {second.describe()} share {sorted(shared)[:3]}"


@pytest.mark.parametrize("scenario", KINDS)
def test_an_xr_alone_is_never_refused(scenario):
    xr = make(scenario, BASES[scenario]["metadata"]["name"], "team-a", None, EARLIER)
    assert not drive(xr, [PAIR_ENV, xr.manifest]).fatal


# 2. A tenant composes only what is its own ----------------------------------------------

PLATFORM_NAMESPACE = "default"
TENANT_POLICY = {
    "platformNamespaces": [PLATFORM_NAMESPACE],
    "tenants": [
        {"namespace": "team-a", "providerConfigs": ["team-a-dev"], "namespaces": ["team-a-apps"]},
        {"namespace": "team-b", "providerConfigs": ["team-b-dev"]},
    ],
}
GRANTS = {t["namespace"]: t for t in TENANT_POLICY["tenants"]}
# The charts' conventional namespaces, as the API reference documents them.
CONVENTIONAL = {
    "CertManager": {"cert-manager"},
    "ExternalDNS": {"external-dns"},
    "ExternalSecretsOperator": {"external-secrets"},
    "Istio": {"istio-system", "istio-ingress"},
    "KEDA": {"keda"},
    "Monitoring": {"monitoring"},
}
PLATFORM_SCENARIOS = ["certmanager", "externaldns", "externalsecretsoperator", "istio", "keda"]
PLATFORM_SCENARIOS += ["monitoring"]
ENV_DATA = {
    "profile": "aws",
    "domain": "dev.projectcatalyst.io",
    "region": "eu-central-1",
    "clusterName": "dev",
    "externalDNS": {"provider": "route53", "credentials": {"source": "PodIdentity"}},
}
PLATFORM_ENV = environment_config("dev", **ENV_DATA, tenancy=TENANT_POLICY)
# An EnvironmentConfig a tenant may name: it grants everything, and must count for nothing.
EVIL_ENV = {
    "apiVersion": "apiextensions.crossplane.io/v1beta1",
    "kind": "EnvironmentConfig",
    "metadata": {"name": "evil"},
    "data": {
        **ENV_DATA,
        "tenancy": {
            "platformNamespaces": ["team-a", "team-b", "team-c", "kube-system", "argocd"],
            "namespaces": ["kube-system", "crossplane-system", "argocd", "cluster-prod"],
        },
        "argocd": {"namespace": "elsewhere"},
    },
}
RESERVED = ["kube-system", "kube-public", "crossplane-system", "argocd", "cluster-prod"]
TENANT_NAMESPACES = st.one_of(
    st.sampled_from(sorted(GRANTS)),  # often one with a cluster of its own
    st.sampled_from(sorted(GRANTS)),
    st.sampled_from(["team-c", *RESERVED, "monitoring", "keda"]),
    st.from_regex(r"[a-z][a-z0-9-]{0,10}[a-z0-9]", fullmatch=True),
).filter(lambda n: n != PLATFORM_NAMESPACE)
# What a namespace field may be steered to ("own": the tenant's namespace).
NAMESPACE_POOL = ["own", "team-a-apps", "default", "team-b", "platform", *RESERVED]
NAMESPACE_POOL += sorted(set().union(*CONVENTIONAL.values()))
PROVIDER_CONFIGS = [
    "its own",  # ProviderConfig <namespace>-dev: granted to team-a and team-b
    {"kind": "ProviderConfig", "name": "team-a-dev"},
    {"kind": "ProviderConfig", "name": "team-b-dev"},
    {"kind": "ProviderConfig", "name": "local"},
    {"kind": "ClusterProviderConfig", "name": "default"},
    {"kind": "ClusterProviderConfig", "name": "team-a-dev"},
]
# Free-form values are the tenant's business inside a cluster granted to it
# (docs/tenancy.md); these are what an attacker puts there on the in-cluster target.
ATTACK_VALUES = {
    "serviceAccount": {"create": False, "name": "provider-helm"},
    "image": {"repository": "attacker.example/keda"},
}


def is_reserved(namespace: str) -> bool:
    return namespace.startswith(("cluster-", "kube-")) or namespace in {
        "crossplane-system",
        "argocd",
    }


def platform_pool() -> list[dict[str, Any]]:
    """The platform's world: the examples' other objects, its EnvironmentConfig, an
    unlabelled one a tenant may name, and the platform's XRs."""
    pool: list[dict[str, Any]] = [PLATFORM_ENV, EVIL_ENV]
    for kind in sorted(NAMESPACED):
        pool += [o for o in pool_for(kind) if o["kind"] != "EnvironmentConfig" and o not in pool]
    return pool + [platform_xr(s) for s in PLATFORM_SCENARIOS]


def platform_xr(scenario: str) -> dict[str, Any]:
    manifest = copy.deepcopy(BASES[scenario])
    manifest["metadata"].update(namespace=PLATFORM_NAMESPACE, creationTimestamp=LATER)
    return manifest


def platform_render(scenario: str, pool: list[dict[str, Any]]) -> bytes:
    """The platform XR's fully provisioned call, answered from ``pool``, as bytes."""
    provisioned = next(s for s in scenarios() if s.name == scenario)
    req = answer_request(provisioned.with_xr(platform_xr(scenario)), pool)
    return render(req).response.SerializeToString(deterministic=True)


@functools.cache
def platform_baseline() -> dict[str, bytes]:
    pool = platform_pool()
    return {scenario: platform_render(scenario, pool) for scenario in PLATFORM_SCENARIOS}


def steer(draw: st.DrawFn, value: Any, namespace: str) -> Any:
    """``value`` with each namespace field (outside free-form values) often drawn from
    the pool of interesting ones."""
    if isinstance(value, list):
        return [steer(draw, item, namespace) for item in value]
    if not isinstance(value, dict):
        return value
    out = {}
    for key, item in value.items():
        if key == "values":
            out[key] = item
        elif key == "namespace" and isinstance(item, str) and draw(st.integers(0, 2)) == 2:
            chosen = draw(st.sampled_from(NAMESPACE_POOL))
            out[key] = namespace if chosen == "own" else chosen
        else:
            out[key] = steer(draw, item, namespace)
    return out


@st.composite
def tenant_xrs(draw: st.DrawFn) -> dict[str, Any]:
    """A tenant's XR: any kind, namespace, spec and EnvironmentConfig reference."""
    scenario = draw(st.sampled_from(PLATFORM_SCENARIOS))
    kind = BASES[scenario]["kind"]
    namespace = draw(TENANT_NAMESPACES)
    example_spec = st.just(copy.deepcopy(BASES[scenario]["spec"]))
    spec = draw(st.one_of(example_spec, example_spec, from_schema(spec_schema(kind))))
    spec = steer(draw, spec, namespace)
    if draw(st.integers(0, 3)) < 3:  # else the spec's own, or the in-cluster default
        chosen = draw(st.sampled_from(PROVIDER_CONFIGS[:1] * 4 + PROVIDER_CONFIGS))
        own = {"kind": "ProviderConfig", "name": f"{namespace}-dev"}
        spec["providerConfigRef"] = own if chosen == "its own" else chosen
    if draw(st.booleans()):
        spec["environmentConfigRef"] = {"name": draw(st.sampled_from(["dev", "missing", "evil"]))}
    if draw(st.booleans()):
        spec["values"] = ATTACK_VALUES
    name = draw(st.sampled_from([BASES[scenario]["metadata"]["name"], "x", "team-alpha"]))
    created = draw(st.sampled_from([EARLIER, LATER]))
    return {
        "apiVersion": BASES[scenario]["apiVersion"],
        "kind": kind,
        "metadata": {"name": name, "namespace": namespace, "creationTimestamp": created},
        "spec": spec,
    }


def references(value: Any, parent: str = "") -> list[dict[str, Any]]:
    """Every Secret or service account reference with a namespace, anywhere in ``value``."""
    found = []
    if isinstance(value, dict):
        named = "secret" in parent.lower() or "serviceaccount" in parent.lower()
        typed = value.get("type") == "Secret" or value.get("kind") in {"Secret", "ServiceAccount"}
        if isinstance(value.get("namespace"), str) and (named or typed):
            found.append(value)
        for key, item in value.items():
            found += references(item, key)
    elif isinstance(value, list):
        for item in value:
            found += references(item, parent)
    return found


def escapes(xr: dict[str, Any], out: Rendered) -> list[str]:
    """What a tenant XR's render composes outside what is its own."""
    kind, namespace = xr["kind"], xr["metadata"]["namespace"]
    grant = GRANTS.get(namespace, {})
    allowed = {namespace, *CONVENTIONAL[kind], *grant.get("namespaces", [])}
    allowed = {n for n in allowed if not is_reserved(n)}
    found: list[str] = []
    charts: set[str] = set()
    for key, manifest in out.resources.items():
        if manifest["metadata"].get("namespace") != namespace:
            found.append(f"{key} is composed in {manifest['metadata'].get('namespace')}")
        ref = manifest.get("spec", {}).get("providerConfigRef")
        granted = ref and ref["kind"] == "ProviderConfig"
        if ref and not (granted and ref["name"] in grant.get("providerConfigs", [])):
            found.append(f"{key} goes through {ref['kind']} {ref['name']}")
        for_provider = manifest.get("spec", {}).get("forProvider", {})
        if manifest["kind"] == "Release":
            charts.add(for_provider["namespace"])
        inner = for_provider.get("manifest", {}).get("metadata", {}).get("namespace")
        target = for_provider.get("namespace") if manifest["kind"] == "Release" else inner
        if target is not None and target not in allowed:
            found.append(f"{key} puts {manifest['kind']} into namespace {target}")
    for key, manifest in out.resources.items():
        for ref in references(manifest):
            if ref["namespace"] not in {namespace, *charts}:
                found.append(f"{key} references {ref.get('name')} in {ref['namespace']}")
    return found


def drive_tenant(xr: dict[str, Any], world: list[dict[str, Any]]) -> list[str]:
    """Render ``xr`` round by round until Ready or refused; what escaped, every round."""
    given = step_input(xr["kind"])
    required = required_from(xr, world, given)
    observed: dict[str, Any] = {}
    found: list[str] = []
    for _ in range(ROUNDS):
        out = render(build(xr, observed=observed, required=required(observed), step_input=given))
        if out.fatal:
            assert out.resources == {}, "a refused XR composes nothing"
            event("the tenant is refused")
            return found
        found += escapes(xr, out)
        if out.composite_ready:
            break
        observed = {key: observe(key, m) for key, m in out.resources.items()}
    event("the tenant composes")
    return found


@PAIRS
@given(tenant=tenant_xrs())
def test_a_tenant_composes_only_what_is_its_own(tenant):
    pool = platform_pool()
    world = [*pool, tenant]
    assert drive_tenant(tenant, world) == []
    for scenario, before in platform_baseline().items():
        assert platform_render(scenario, world) == before, f"the platform's {scenario} changed"


def test_the_platforms_xrs_compose_in_their_world():
    """The baseline is a real one: every platform XR composes, refused by none."""
    pool = platform_pool()
    for scenario in PLATFORM_SCENARIOS:
        provisioned = next(s for s in scenarios() if s.name == scenario)
        out = render(answer_request(provisioned.with_xr(platform_xr(scenario)), pool))
        assert not out.fatal, out.fatal
        assert out.resources
