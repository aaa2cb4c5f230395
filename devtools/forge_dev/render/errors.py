"""Errors raised by forge-render; their text follows ``crossplane render``'s."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from forge_dev.render.model import RenderResult


def goquote(text: str) -> str:
    """Quote a string roughly like Go's %q, so our messages read like Crossplane's."""
    return json.dumps(text, ensure_ascii=False)


class RenderError(Exception):
    """Rendering failed; the message is what the CLI prints after ``error:``."""


class FatalResultError(RenderError):
    """A pipeline step returned a fatal result, which stops the pipeline.

    ``partial`` is what the engine still reports: the XR with its Synced=False
    condition, events, and the requirements seen so far.
    """

    def __init__(self, message: str, partial: RenderResult) -> None:
        super().__init__(message)
        self.partial = partial
