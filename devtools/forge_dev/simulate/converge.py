"""The one loop that drives an XR to Ready: reconcile, let the providers act, repeat.

``play`` is the loop, whatever reconciles (the function in-process, or Crossplane's
engine in ``forge_dev.preview``) and whatever is kept of each round (the stage writer,
the preview's table, the tests' invariants). ``converge`` is its in-process use with the
invariants every round must hold.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar

from forge_dev.simulate.player import Observed, observe
from forge_dev.simulate.requests import Rendered, build, render

Result = TypeVar("Result")
RequiredFn = Callable[[dict[str, Observed]], dict[str, list[dict[str, Any]]]]
CheckFn = Callable[[Rendered, int], None]


def play(
    reconcile: Callable[[dict[str, Observed]], Result],
    composed: Callable[[Result], Mapping[str, dict[str, Any]]],
    ready: Callable[[Result], bool],
    max_rounds: int,
    initial: Mapping[str, Observed] | None = None,
) -> Iterator[tuple[dict[str, Observed], Result]]:
    """Each round's observed input and its result, until one is ready or ``max_rounds`` ran.

    Between rounds the player makes every composed resource as its provider would
    (``forge_dev.simulate.player.observe``); the next round observes all of it.
    """
    observed: dict[str, Observed] = dict(initial or {})
    for _ in range(max_rounds):
        out = reconcile(observed)
        yield observed, out
        if ready(out):
            return
        observed = {key: observe(key, manifest) for key, manifest in composed(out).items()}


def converge(
    xr: dict[str, Any],
    *,
    required: RequiredFn | None = None,
    step_input: dict[str, Any] | None = None,
    check: CheckFn | None = None,
    max_rounds: int = 12,
    initial: dict[str, Observed] | None = None,
) -> list[Rendered]:
    """Render in-process round by round until Ready; every round's response.

    At every round: no fatal result, and nothing composed earlier disappears.
    ``check`` adds the API's own invariants (schema validity, gating, leaks).
    """

    def reconcile(observed: dict[str, Observed]) -> Rendered:
        req = build(
            xr,
            observed=observed,
            required=required(observed) if required else None,
            step_input=step_input,
        )
        return render(req)

    history: list[Rendered] = []
    rounds = play(
        reconcile, lambda out: out.resources, lambda out: out.composite_ready, max_rounds, initial
    )
    for round_, (observed, out) in enumerate(rounds):
        assert not out.fatal, f"round {round_}: fatal result {out.fatal}"
        vanished = set(observed) - set(out.resources)
        assert not vanished, f"round {round_}: composed resources disappeared: {sorted(vanished)}"
        if check is not None:
            check(out, round_)
        history.append(out)
    if history and history[-1].composite_ready:
        return history
    raise AssertionError(f"XR not Ready after {max_rounds} rounds")
