"""Errors raised by forge-render; their text follows ``crossplane render``'s."""

from __future__ import annotations

import json
from typing import Any


def goquote(text: str) -> str:
    """Quote a string roughly like Go's %q, so our messages read like Crossplane's."""
    return json.dumps(text, ensure_ascii=False)


class RenderError(Exception):
    """Rendering failed; the message is what the CLI prints after ``error:``."""


class FatalResultError(RenderError):
    """A pipeline step returned a fatal result, which stops the pipeline.

    Like Crossplane we keep the requirements seen so far, so a caller can tell
    which required resources the function was still waiting for.
    """

    def __init__(self, step: str, message: str, requirements: dict[str, Any]) -> None:
        super().__init__(f"pipeline step {goquote(step)} returned a fatal result: {message}")
        self.step = step
        self.result_message = message
        self.requirements = requirements
