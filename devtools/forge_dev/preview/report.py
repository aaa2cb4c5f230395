"""The preview's verdict for a reader: a table of rounds and one closing line."""

from __future__ import annotations

from collections.abc import Sequence

from forge_dev.preview.rounds import Preview, Round

APPEARED_WIDTH = 64


def _appeared(names: Sequence[str]) -> str:
    """``N: a, b, c (+k)``, cut to the column's width."""
    if not names:
        return "-"
    text = f"{len(names)}: "
    for index, name in enumerate(names):
        more = f" (+{len(names) - index})"
        piece = name if index == 0 else f", {name}"
        if len(text) + len(piece) + len(more) > APPEARED_WIDTH and index > 0:
            return text + more
        text += piece
    return text


def table(rounds: Sequence[Round]) -> list[str]:
    """One row per round: its number, the resources first composed, what turned True."""
    rows = [f"{'round':>5}  {'appeared':<{APPEARED_WIDTH}}  became ready"]
    for r in rounds:
        ready = ", ".join(r.became_ready) or "-"
        rows.append(f"{r.number:>5}  {_appeared(r.appeared):<{APPEARED_WIDTH}}  {ready}")
    return rows


def _count(number: int, what: str) -> str:
    return f"{number} {what}{'' if number == 1 else 's'}"


def verdict(preview: Preview) -> str:
    """Ready after N rounds, or what is still not True (with its message)."""
    count = _count(len(preview.result.resources), "composed resource")
    rounds = _count(len(preview.rounds), "round")
    if preview.ready:
        return f"Ready after {rounds}: {count}"
    conditions = (preview.result.composite.get("status") or {}).get("conditions") or []
    waiting = [
        f"{c['type']} ({c.get('reason', '')}{': ' + c['message'] if c.get('message') else ''})"
        for c in conditions
        if c.get("status") != "True"
    ]
    return f"not Ready after {rounds} ({count}); " + (
        "not True: " + "; ".join(waiting) if waiting else "no condition says why"
    )


def as_comments(lines: Sequence[str]) -> str:
    """Lines as YAML comments, so the output stays one valid YAML stream."""
    return "".join(f"# {line}".rstrip() + "\n" for line in lines)
