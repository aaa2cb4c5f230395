"""The requests the benchmark and the hardening tests send: every API, fully provisioned.

Every example (``examples/**/xr.yaml``) of an XR kind registered in
``forge.apis.COMPOSERS`` becomes a scenario named after its directory. The lifecycle simulator
(``forge_dev.simulate.converge.converge``) drives the example from nothing to Ready,
with the provider player of ``forge_dev.simulate.player`` (every provider's status hooks), so
the final request carries the observed state a real control plane would send:
every composed resource, its status, its connection details, and the required
resources (EnvironmentConfigs, Secrets) from the example's ``required.yaml`` files,
and the step input of the kind's generated Composition.
The EKS example (``cluster-aws``, composed network) is also cloned to 3, 10 and 30
node groups: the cost of one more node group must not grow with their number.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import crossplane.function.proto.v1.run_function_pb2 as fnv1
import yaml

from forge.registry import COMPOSERS
from forge_dev.paths import ROOT, stages_dir
from forge_dev.simulate import infrastructure as infra
from forge_dev.simulate.converge import converge
from forge_dev.simulate.player import observe
from forge_dev.simulate.requests import Observed, build, render
from forge_dev.simulate.required import answer

EXAMPLES = ROOT / "examples"
NODE_GROUP_COUNTS = (3, 10, 30)
NODE_GROUP_EXAMPLE = "cluster-aws"  # cloned to 3, 10 and 30 node groups (composed VPC)
MAX_ROUNDS = 25
Manifest = dict[str, Any]


@dataclass(frozen=True)
class Scenario:
    """One fully provisioned request and what it should produce."""

    name: str
    kind: str
    xr: Manifest
    request: fnv1.RunFunctionRequest
    observed: int  # observed composed resources in the request
    rounds: int  # function calls the simulator needed to reach Ready

    @property
    def payload(self) -> bytes:
        """The request as Crossplane sends it on the wire."""
        return self.request.SerializeToString()

    def with_xr(self, xr: Manifest) -> fnv1.RunFunctionRequest:
        """The fully provisioned request with another composite resource."""
        req = fnv1.RunFunctionRequest()
        req.CopyFrom(self.request)
        req.observed.composite.resource.Clear()
        req.observed.composite.resource.update(xr)
        return req


@dataclass(frozen=True)
class Skipped:
    """An example that could not be turned into a scenario, and why."""

    name: str
    reason: str


def registered(xr: Manifest) -> bool:
    """Whether the function has a composer for this XR's kind."""
    group = str(xr.get("apiVersion", "")).partition("/")[0]
    return (group, xr.get("kind")) in COMPOSERS


@functools.cache
def examples() -> dict[str, Path]:
    """The directory of every ``examples/**/xr.yaml``, by its last path component."""
    return {path.parent.name: path.parent for path in sorted(EXAMPLES.glob("**/xr.yaml"))}


@functools.cache
def step_input(kind: str) -> Manifest | None:
    """The input of function-forge's step in the kind's generated Composition."""
    for path in sorted((ROOT / "compositions").glob("*.yaml")):
        composition = yaml.safe_load(path.read_text())
        if composition["spec"]["compositeTypeRef"]["kind"] == kind:
            for step in composition["spec"]["pipeline"]:
                if step["functionRef"]["name"].endswith("function-forge"):
                    return step.get("input")
    return None


def required_pool(directory: Path) -> list[Manifest]:
    """Every object of the example's ``required.yaml`` files (the cluster's other objects)."""
    pool: dict[tuple[str, str, str, str], Manifest] = {}
    for path in sorted(stages_dir(directory).glob("**/required.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if isinstance(doc, dict):
                meta = doc.get("metadata") or {}
                key = (doc["apiVersion"], doc["kind"], meta.get("namespace", ""), meta["name"])
                pool[key] = doc
    return list(pool.values())


@functools.cache
def pool_for(kind: str) -> tuple[Manifest, ...]:
    """The required objects of every example of a kind (the environment it expects)."""
    pool: list[Manifest] = []
    for directory in examples().values():
        xr = yaml.safe_load((directory / "xr.yaml").read_text())
        if xr.get("kind") == kind:
            pool += [o for o in required_pool(directory) if o not in pool]
    return tuple(pool)


def required_from(
    xr: Manifest, pool: Sequence[Manifest], given: Manifest | None
) -> Callable[[dict[str, Observed]], dict[str, list[Manifest]]]:
    """What Crossplane would fetch for the function's requirements (bounded loop, like it).

    The cluster is the pool overlaid with what the observed releases installed (the
    Gateway API CRDs of a deployed gateway-api-crds chart, owned by that release).
    """

    def identity(obj: Manifest) -> tuple[str, str, str, str]:
        meta = obj.get("metadata") or {}
        return (obj["apiVersion"], obj["kind"], meta.get("namespace", ""), meta["name"])

    def required(observed: dict[str, Observed]) -> dict[str, list[Manifest]]:
        installed = infra.written({key: obs.manifest for key, obs in observed.items()})
        cluster = {identity(o): o for o in [*pool, *installed]}

        def ask(got: dict[str, list[Manifest]]) -> dict[str, Any]:
            return render(build(xr, observed=observed, required=got, step_input=given)).requirements

        return answer(ask, list(cluster.values()))

    return required


def with_node_groups(xr: Manifest, count: int) -> Manifest:
    """The XR with ``count`` node groups cloned from its first one."""
    out = copy.deepcopy(xr)
    template = out["spec"]["nodeGroups"][0]
    out["spec"]["nodeGroups"] = [{**template, "name": f"ng-{i:02d}"} for i in range(1, count + 1)]
    return out


def provision(name: str, xr: Manifest, pool: Sequence[Manifest]) -> Scenario:
    """Converge the XR to Ready and build the steady-state request that follows."""
    given = step_input(xr["kind"])
    required = required_from(xr, pool, given)
    history = converge(xr, required=required, step_input=given, max_rounds=MAX_ROUNDS)
    observed = {key: observe(key, m) for key, m in history[-1].resources.items()}
    req = build(xr, observed=observed, required=required(observed), step_input=given)
    req.meta.tag = f"bench-{name}"
    check = render(req)
    if check.fatal or not check.composite_ready:
        raise AssertionError(f"steady state is not Ready: {check.fatal or check.conditions}")
    return Scenario(name, xr["kind"], xr, req, len(observed), len(history))


def variants(name: str, xr: Manifest, counts: tuple[int, ...]) -> list[tuple[str, Manifest]]:
    """The example as is; the node-group example also with each of ``counts`` node groups."""
    out = [(name, xr)]
    if name == NODE_GROUP_EXAMPLE:
        out += [(f"{name}-{n}ng", with_node_groups(xr, n)) for n in counts]
    return out


def build_all(
    only: set[str] | None = None, node_groups: tuple[int, ...] = NODE_GROUP_COUNTS
) -> tuple[list[Scenario], list[Skipped]]:
    """Every scenario of every registered kind; the ones that failed, with the reason."""
    done: list[Scenario] = []
    skipped: list[Skipped] = []
    covered = set()
    for example, directory in examples().items():
        xr = yaml.safe_load((directory / "xr.yaml").read_text())
        if not registered(xr):
            skipped.append(Skipped(example, f"kind {xr.get('kind')} is not in forge.apis"))
            continue
        covered.add(xr["kind"])
        pool = required_pool(directory)
        for name, variant in variants(example, xr, node_groups):
            if only and name not in only:
                continue
            try:
                done.append(provision(name, variant, pool))
            except AssertionError as exc:
                skipped.append(Skipped(name, f"did not converge: {exc}"))
    for _, kind in sorted(COMPOSERS):
        if kind not in covered:
            skipped.append(Skipped(kind, "registered in forge.apis but has no examples/**/xr.yaml"))
    return done, skipped


@functools.cache
def for_tests() -> tuple[Scenario, ...]:
    """Every scenario but the 30-node-group one, built once per test session."""
    done, skipped = build_all(node_groups=(3,))
    failed = [s for s in skipped if s.reason.startswith("did not converge")]
    assert not failed, f"examples that do not converge: {failed}"
    return tuple(done)


def fatal_messages(rsp: fnv1.RunFunctionResponse) -> list[str]:
    """The fatal results of a response."""
    return [r.message for r in rsp.results if r.severity == fnv1.SEVERITY_FATAL]
