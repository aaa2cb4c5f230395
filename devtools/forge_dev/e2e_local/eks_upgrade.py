"""Scenario ``cluster-aws``, its Kubernetes upgrades: two minor versions up, one at a time.

``kubernetesVersion`` goes one minor up: the control plane must report the new version
before any add-on is asked to move, and the node groups are asked only once every add-on
reports its new version. Then one more, with the node groups held
(``aws.upgrade.holdNodeGroups``): they keep their version (``NodeGroupsReady:
UpgradeHeld``) until released. The AWS player (``aws_player.VersionPlay``) takes its time
over each version and records what EKS would refuse (a skipped minor version, a node
group ahead of its control plane): nothing may be refused.
"""

from __future__ import annotations

import time
from typing import Any

from forge.versions import EKS_ADDONS
from forge_dev.e2e_local import xrs
from forge_dev.e2e_local.env import Environment
from forge_dev.e2e_local.kube import condition, is_true
from forge_dev.e2e_local.procs import HarnessError
from forge_dev.simulate import aws as preview

HELD_SECONDS = 8.0  # how long held node groups are watched not to move


def _versions(env: Environment, ns: str) -> dict[str, Any]:
    """What the played EKS objects of ``ns`` ask for and report, by kind."""

    def of(kind: str, name: str) -> list[tuple[str, str | None, str | None]]:
        return [
            (
                (o["spec"]["forProvider"].get("addonName") or o["metadata"]["name"]),
                o["spec"]["forProvider"].get(name),
                ((o.get("status") or {}).get("atProvider") or {}).get(name),
            )
            for o in env.kube.list(preview.EKS, kind, namespace=ns)
        ]

    return {
        "cluster": of("Cluster", "version"),
        "addons": of("Addon", "addonVersion"),
        "nodes": of("NodeGroup", "version"),
    }


class _Watch:
    """The first moment each step of the upgrade was seen (monotonic seconds)."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.pins = EKS_ADDONS[target]
        self.seen: dict[str, float] = {}

    def look(self, v: dict[str, Any]) -> None:
        now = time.monotonic()
        steps = {
            "control plane reports": all(r == self.target for _, _, r in v["cluster"]),
            "an add-on asked": any(a == self.pins[n] != r for n, a, r in v["addons"]),
            "add-ons report": all(r == self.pins[n] for n, _, r in v["addons"]),
            "a node group asked": any(a == self.target for _, a, _ in v["nodes"]),
            "node groups report": all(r == self.target for _, _, r in v["nodes"]),
        }
        for step, done in steps.items():
            if done and v["cluster"]:
                self.seen.setdefault(step, now)

    def before(self, first: str, then: str) -> None:
        if then in self.seen and not (first in self.seen and self.seen[first] <= self.seen[then]):
            raise HarnessError(f"upgrade out of order: {then!r} before {first!r} ({self.seen})")


def upgrade(env: Environment, xr: dict, refused: list[str], deadline: float) -> str:
    """Upgrade the Cluster ``xr`` two minor versions, one at a time: the first straight
    through, the second with the node groups held, then released."""
    straight = _one_minor_up(env, xr, deadline, hold=False)
    held = _one_minor_up(env, xr, deadline, hold=True)
    if refused:
        raise HarnessError(f"EKS would have refused: {refused}")
    return f"{straight}; {held}"


def _one_minor_up(env: Environment, xr: dict, deadline: float, *, hold: bool) -> str:
    """One minor version up, checked in order; ``hold``: node groups held first."""
    ns = f"cluster-{xr['metadata']['name']}"
    running = _versions(env, ns)["cluster"][0][2]
    target = f"{running.split('.')[0]}.{int(running.split('.')[1]) + 1}"
    watch = _Watch(target)
    xr["spec"]["kubernetesVersion"] = target
    xr["spec"].setdefault("aws", {})["upgrade"] = {"holdNodeGroups": hold}
    t = time.monotonic()
    _apply_when_responsive(env, xr, deadline)
    held_s = 0.0
    if hold:

        def held() -> dict | None:
            watch.look(_versions(env, ns))
            cur = xrs.get_xr(env, xr)
            reason = condition(cur, "NodeGroupsReady").get("reason")
            return cur if "add-ons report" in watch.seen and reason == "UpgradeHeld" else None

        _poll(env, "the add-ons at their new versions, the node groups held", held, deadline)
        until = time.monotonic() + HELD_SECONDS
        while time.monotonic() < until:
            watch.look(_versions(env, ns))
            time.sleep(0.3)
        if "a node group asked" in watch.seen:
            raise HarnessError("held node groups were asked for the new version")
        held_s = time.monotonic() - t
        xr["spec"]["aws"]["upgrade"] = {"holdNodeGroups": False}
        t = time.monotonic()
        _apply_when_responsive(env, xr, deadline)

    def done() -> dict | None:
        watch.look(_versions(env, ns))
        cur = xrs.get_xr(env, xr)
        return cur if "node groups report" in watch.seen and is_true(cur, "Ready") else None

    _poll(env, f"the node groups at {target} and the Cluster Ready", done, deadline)
    watch.before("control plane reports", "an add-on asked")
    watch.before("add-ons report", "a node group asked")
    took = f"{time.monotonic() - t:.1f}s"
    if hold:
        return f"{running} -> {target} node groups held ({held_s:.1f}s), released, in {took}"
    return f"upgrade {running} -> {target} in order (control plane, add-ons, nodes) in {took}"


def _poll(env: Environment, what: str, check, deadline: float) -> dict:
    return env.kube.wait(
        what, check, timeout=max(deadline - time.monotonic(), 1), alive=env.check_alive
    )


def _apply_when_responsive(env: Environment, xr: dict, deadline: float) -> None:
    """Apply ``xr`` once Crossplane's watch circuit breaker for it is closed (an update
    event is dropped while it is open: see ``aws_player.aws_lifecycle``)."""
    _poll(
        env,
        f"Cluster {xr['metadata']['name']} Responsive",
        lambda: condition(xrs.get_xr(env, xr), "Responsive").get("status") != "False",
        deadline,
    )
    env.kube.apply(xr)
