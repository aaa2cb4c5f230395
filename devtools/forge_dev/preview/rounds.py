"""Drive one XR to Ready through Crossplane's engine, the player answering for the providers.

Each round is one reconcile: the real engine (``forge_dev.render.render``) runs the
Composition on the XR with what exists so far; the player then marks every composed
resource as its provider would and writes what providers write beside them (connection
Secrets, a vCluster's kubeconfig); the next round observes all of it. The XR is Ready
when its ``Ready`` condition is True; ``max_rounds`` bounds a composition that never is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from forge_dev.render import FatalResultError, FunctionServers, RenderError, RenderResult, render
from forge_dev.render.model import ANNOTATION_RESOURCE_NAME
from forge_dev.simulate import player
from forge_dev.simulate.converge import play

MAX_ROUNDS = 25
# Crossplane's own conditions on every XR: not a stage of the composition.
CROSSPLANE_CONDITIONS = frozenset({"Synced", "Responsive"})


@dataclass(frozen=True)
class Round:
    """What one reconcile changed: resources first composed, conditions that turned True."""

    number: int
    appeared: tuple[str, ...]
    became_ready: tuple[str, ...]


@dataclass(frozen=True)
class Preview:
    """Every round, and the last render (the XR and every composed resource)."""

    rounds: tuple[Round, ...]
    result: RenderResult

    @property
    def ready(self) -> bool:
        return _is_true(self.result.condition("Ready"))


def _is_true(condition: Mapping[str, Any] | None) -> bool:
    return condition is not None and condition.get("status") == "True"


def _true_conditions(result: RenderResult) -> set[str]:
    conditions = (result.composite.get("status") or {}).get("conditions") or []
    return {c["type"] for c in conditions if _is_true(c)} - CROSSPLANE_CONDITIONS


def _by_name(result: RenderResult) -> dict[str, dict[str, Any]]:
    return {r["metadata"]["annotations"][ANNOTATION_RESOURCE_NAME]: r for r in result.resources}


def preview(
    xr: Mapping[str, Any],
    composition: Mapping[str, Any],
    *,
    servers: FunctionServers,
    xrd: Mapping[str, Any] | None = None,
    required: Sequence[Mapping[str, Any]] = (),
    max_rounds: int = MAX_ROUNDS,
) -> Preview:
    """Render round by round until the XR is Ready or ``max_rounds`` have run.

    ``required`` are the objects that exist before the XR (EnvironmentConfigs, CRDs).
    A fatal result raises FatalResultError, as a render does, its message naming the round.
    """
    if max_rounds < 1:
        raise ValueError(f"max_rounds must be at least 1, not {max_rounds}")
    number = 0

    def reconcile(observed: dict[str, player.Observed]) -> RenderResult:
        nonlocal number
        number += 1
        try:
            return render(
                xr,
                composition,
                observed=[observed[key].manifest for key in sorted(observed)],
                required=[*required, *player.written(observed)],
                xrd=xrd,
                servers=servers,
            )
        except FatalResultError as exc:
            raise FatalResultError(f"round {number}: {exc}", exc.partial) from exc
        except RenderError as exc:
            raise RenderError(f"round {number}: {exc}") from exc

    true_before: set[str] = set()
    rounds: list[Round] = []
    ready = lambda result: _is_true(result.condition("Ready"))  # noqa: E731
    for observed, result in play(reconcile, _by_name, ready, max_rounds):
        true_now = _true_conditions(result)
        appeared = tuple(sorted(set(_by_name(result)) - set(observed)))
        rounds.append(Round(len(rounds) + 1, appeared, tuple(sorted(true_now - true_before))))
        true_before = true_now
    return Preview(tuple(rounds), result)
