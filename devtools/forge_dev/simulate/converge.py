"""Drive an XR from nothing to Ready, checking the invariants at every round."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from forge_dev.simulate.player import observe
from forge_dev.simulate.requests import Observed, Rendered, build, render

RequiredFn = Callable[[dict[str, Observed]], dict[str, list[dict[str, Any]]]]
CheckFn = Callable[[Rendered, int], None]


def converge(
    xr: dict[str, Any],
    *,
    required: RequiredFn | None = None,
    step_input: dict[str, Any] | None = None,
    check: CheckFn | None = None,
    max_rounds: int = 12,
    initial: dict[str, Observed] | None = None,
) -> list[Rendered]:
    """Render, let the 'providers' create what was composed, and repeat until Ready.

    At every round: no fatal result, and nothing composed earlier disappears.
    ``check`` adds the API's own invariants (schema validity, gating, leaks).
    """
    observed: dict[str, Observed] = dict(initial or {})
    history: list[Rendered] = []
    for round_ in range(max_rounds):
        req = build(
            xr,
            observed=observed,
            required=required(observed) if required else None,
            step_input=step_input,
        )
        out = render(req)
        assert not out.fatal, f"round {round_}: fatal result {out.fatal}"
        vanished = set(observed) - set(out.resources)
        assert not vanished, f"round {round_}: composed resources disappeared: {sorted(vanished)}"
        if check is not None:
            check(out, round_)
        history.append(out)
        if out.composite_ready:
            return history
        observed = {key: observe(key, manifest) for key, manifest in out.resources.items()}
    raise AssertionError(f"XR not Ready after {max_rounds} rounds")
