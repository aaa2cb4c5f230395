"""The shape of a provider's part in the player: what it reports for a composed resource.

A status hook returns the ``status`` fields its provider writes (merged over Ready and
Synced); a connection hook the connection details it writes into the resource's
connection Secret. Both get the composition resource name and the observed manifest.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Manifest = dict[str, Any]
StatusHook = Callable[[str, Manifest], dict[str, Any]]
ConnectionHook = Callable[[str, Manifest], dict[str, bytes]]
Hooks = dict[tuple[str, str], StatusHook]  # (apiVersion, kind) -> status hook
