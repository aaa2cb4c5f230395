"""The rule behind issue 13's takeovers: any two XRs own disjoint things.

For any two XRs a user can create (any kinds, adversarial names and namespaces), the
objects they compose on the platform, the Secrets providers write for them, the Helm
releases and objects they put into a cluster, and the AWS names they take are
disjoint, or the XR created later composes nothing (a fatal result; when it is a
refusal, it names the first). The first is never disturbed by the second.

Each XR is driven through its lifecycle with the provider player (the stages gated on
readiness compose too), in a world whose objects are its examples' required resources
plus both XRs, as Crossplane would list them. The footprint here is read from the
rendered resources, independently of ``forge.tenancy``.

``FORGE_TENANCY_EXAMPLES`` sets the number of pairs (default 60, derandomized so the
normal run is reproducible).
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, event, example, given, settings
from hypothesis import strategies as st

from forge.core import naming
from forge.registry import NAMESPACED
from forge_dev.simulate.player import observe
from forge_dev.simulate.requests import Rendered, build, render
from forge_dev.simulate.steady_state import for_tests as scenarios
from forge_dev.simulate.steady_state import pool_for, required_from, step_input

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
NAMESPACES = st.sampled_from(["team-a", "team-b", "default", "kube-system", "argocd"])


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
    world = [first.manifest, second.manifest]
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
    assert not drive(xr, [xr.manifest]).fatal
