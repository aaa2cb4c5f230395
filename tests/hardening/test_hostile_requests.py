"""Requests an attacker (or a bug) could send: each gets a clear answer naming the field.

In-process, on the same code path the server runs. Each case reproduced a crash, a
composition into a namespace called "None", or a message quoting raw input.
"""

from __future__ import annotations

import copy
import time

import crossplane.function.proto.v1.run_function_pb2 as fnv1
import pytest
import yaml

from forge.composers.vcluster_kubeconfig import MAX_BYTES as MAX_KUBECONFIG
from forge.registry import COMPOSERS, NAMESPACED
from forge_dev import generate as xrdgen
from forge_dev.simulate import steady_state as scenarios
from forge_dev.simulate.player import observe
from forge_dev.simulate.requests import Observed, Rendered, build, render
from forge_dev.simulate.vcluster_stages import (
    REQUIREMENT,
    Credentials,
    kubeconfig,
    kubeconfig_secret,
)

SCENARIOS = {s.kind: s for s in reversed(scenarios.for_tests())}
KINDS = sorted(kind for _, kind in COMPOSERS)
MAX_MESSAGE = 400
CREDS = Credentials.placeholder()
TRUE, FALSE = fnv1.STATUS_CONDITION_TRUE, fnv1.STATUS_CONDITION_FALSE


def xr_of(kind: str) -> dict:
    return copy.deepcopy(SCENARIOS[kind].xr)


def only_fatal(xr: dict) -> str:
    """The one fatal result of a first call with ``xr``; nothing composed."""
    out = render(build(xr))
    assert len(out.fatal) == 1, out.fatal
    assert out.resources == {}
    assert len(out.fatal[0]) < MAX_MESSAGE, "a message must not carry the input"
    return out.fatal[0]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name", [5, True, None, {"a": "b"}, ["x"]])
def test_a_name_that_is_not_a_string_is_fatal_on_metadata_name(kind, name):
    xr = xr_of(kind)
    xr["metadata"]["name"] = name
    assert only_fatal(xr) == f"invalid {kind}: metadata.name: is required, a string"


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name", ["a" * 254, "x" * 4_000_000, "Dev", "ünï", "a_b", "-a"])
def test_a_name_kubernetes_would_refuse_is_fatal_and_not_quoted(kind, name):
    xr = xr_of(kind)
    xr["metadata"]["name"] = name
    message = only_fatal(xr)
    assert message.startswith(f"invalid {kind}: metadata.name: must be a DNS-1123 subdomain")
    assert name not in message


@pytest.mark.parametrize("kind", sorted(NAMESPACED))
@pytest.mark.parametrize("namespace", [None, "", 7, "n" * 64, "Team"])
def test_a_namespaced_xr_without_a_valid_namespace_is_fatal(kind, namespace):
    """It used to compose its Releases into a namespace called "None"."""
    xr = xr_of(kind)
    if namespace is None:
        del xr["metadata"]["namespace"]
    else:
        xr["metadata"]["namespace"] = namespace
    assert only_fatal(xr).startswith(f"invalid {kind}: metadata.namespace: ")


def test_namespaced_kinds_are_the_xrds_namespaced_ones():
    scopes = {d.kind: d.scope for d in xrdgen.DEFINITIONS}
    assert {kind for kind, scope in scopes.items() if scope == "Namespaced"} == NAMESPACED


@pytest.mark.parametrize(
    ("xr", "said"),
    [
        ({"apiVersion": "x" * 1_000_000, "kind": "Cluster"}, "(invalid apiVersion) Cluster"),
        ({"apiVersion": "v1", "kind": "K" * 100_000}, "v1 (invalid kind)"),
        ({"apiVersion": {"a": 1}, "kind": ["Cluster"]}, "(invalid apiVersion) (invalid kind)"),
    ],
)
def test_an_unknown_kind_is_named_only_when_it_looks_like_one(xr, said):
    message = only_fatal({**xr, "metadata": {"name": "x"}})
    assert message == f"unsupported composite resource kind: {said}"


def first_call(kind: str, xr: dict) -> Rendered:
    """The first call for ``xr`` (nothing observed), with its scenario's environment."""
    scenario = SCENARIOS[kind]
    req = build(xr)
    req.required_resources.MergeFrom(scenario.request.required_resources)
    req.input.CopyFrom(scenario.request.input)
    return render(req)


INTEGER, BOOLEAN = "Input should be a valid integer", "Input should be a valid boolean"


@pytest.mark.parametrize(
    ("kind", "path", "value", "rule"),
    [
        *[("Cluster", ("nodeGroups", 0, "minSize"), v, INTEGER) for v in ("1", True, 1.5)],
        *[("KEDA", ("operator", "replicas"), v, INTEGER) for v in ("2", True)],
        *[("KEDA", ("metricsServer", "enabled"), v, BOOLEAN) for v in ("true", 1)],
    ],
)
def test_numbers_and_booleans_are_strict(kind, path, value, rule):
    """ "1" and true used to pass as integers (and "true" as a boolean)."""
    xr = xr_of(kind)
    target = xr["spec"]
    for step in path[:-1]:
        target = target.setdefault(step, {}) if isinstance(step, str) else target[step]
    target[path[-1]] = value
    out = first_call(kind, xr)
    where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)
    assert len(out.fatal) == 1, out.fatal
    assert f": spec{where}: {rule}" in out.fatal[0]


# The vCluster kubeconfig: bounded and fast, whatever the Secret holds ------------------

VCLUSTER = {
    "apiVersion": "forge.projectcatalyst.io/v1alpha1",
    "kind": "Cluster",
    "metadata": {"name": "dev"},
    "spec": {"provider": "vcluster"},
}


def with_kubeconfig(config: str) -> Rendered:
    """The call that carries the vCluster's kubeconfig Secret holding ``config``."""
    observed: dict[str, Observed] = {}
    for _ in range(2):
        out = render(build(VCLUSTER, observed=observed))
        observed = {key: observe(key, manifest) for key, manifest in out.resources.items()}
    secret = kubeconfig_secret(out.resources["vcluster"], CREDS, config=config)
    return render(build(VCLUSTER, observed=observed, required={REQUIREMENT: [secret]}))


def padded_kubeconfig(size: int) -> str:
    """A usable kubeconfig grown to ``size`` bytes by an unread key."""
    text = kubeconfig("https://dev.cluster-dev.svc", "dev", CREDS)
    pad = size - len(text) - len("padding: \n")
    return f"{text}padding: {'x' * pad}\n"


def test_a_kubeconfig_under_the_limit_registers_the_cluster():
    out = with_kubeconfig(padded_kubeconfig(MAX_KUBECONFIG - 1024))
    assert out.conditions["KubeconfigReady"].status == TRUE
    assert "argocd-cluster" in out.resources


def test_a_1_mb_kubeconfig_is_refused_quickly_with_a_condition():
    """A 981 KB kubeconfig took 14.3 s in pure-Python YAML, stalling every other call."""
    start = time.perf_counter()
    out = with_kubeconfig(padded_kubeconfig(981 * 1024))
    assert time.perf_counter() - start < 0.5
    condition = out.conditions["KubeconfigReady"]
    assert (condition.status, condition.reason) == (FALSE, "KubeconfigTooLarge")
    assert condition.message == (
        "Secret cluster-dev/vc-dev key 'config' holds 981 KiB, "
        f"more than the {MAX_KUBECONFIG // 1024} KiB a kubeconfig may have"
    )
    assert "argocd-cluster" not in out.resources
    assert not out.fatal


@pytest.mark.parametrize(
    "config",
    [
        "[" * 900 + "]" * 900,
        "[" * 5000,
        "{a: " * 1200 + "}" * 1200,
        "&a [*a, *a]",
        "\x00\xff not yaml",
    ],
    ids=["nested-900", "nested-5000", "mappings-1200", "alias", "binary"],
)
def test_a_kubeconfig_that_is_not_one_is_a_condition_not_a_crash(config):
    out = with_kubeconfig(config)
    assert not out.fatal, out.fatal
    condition = out.conditions["KubeconfigReady"]
    assert (condition.status, condition.reason) == (FALSE, "KubeconfigIncomplete")


def test_nested_kubeconfig_without_the_c_loader_is_a_condition(monkeypatch):
    """The pure-Python loader recurses: 900 nested '[' raised RecursionError."""
    monkeypatch.delattr(yaml, "CSafeLoader")
    out = with_kubeconfig("[" * 900 + "]" * 900)
    assert not out.fatal, out.fatal
    assert out.conditions["KubeconfigReady"].reason == "KubeconfigIncomplete"


def test_a_name_eks_cannot_take_is_fatal_before_anything_is_composed():
    """It was judged only once the namespace existed: a fatal after composing."""
    xr = copy.deepcopy(next(s for s in scenarios.for_tests() if s.name == "cluster-aws").xr)
    xr["metadata"]["name"] = "y" * 200
    out = first_call("Cluster", xr)
    assert out.resources == {}
    assert out.fatal == [
        f"invalid Cluster '{'y' * 200}': metadata.name: names the EKS cluster for provider "
        "aws: letters, digits and '-', 100 at most"
    ]
