"""Which composer handles which XR kind."""

from __future__ import annotations

from collections.abc import Callable

from forge.composers import platformcluster
from forge.core.context import Context
from forge.versions import GROUP

Composer = Callable[[Context], None]

COMPOSERS: dict[tuple[str, str], Composer] = {
    (GROUP, "PlatformCluster"): platformcluster.compose,
}
