"""What a render produces, as plain data that tests and the YAML writer share."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

RENDER_API_VERSION = "render.crossplane.io/v1beta1"
ANNOTATION_RESOURCE_NAME = "crossplane.io/composition-resource-name"


@dataclass(frozen=True, order=True)
class Result:
    """An event the engine recorded on the XR, printed by ``-r`` as a ``kind: Result``."""

    severity: str  # the event type: Normal or Warning
    reason: str
    message: str

    def manifest(self) -> dict[str, Any]:
        """The ``kind: Result`` document ``crossplane render -r`` prints."""
        return {
            "apiVersion": RENDER_API_VERSION,
            "kind": "Result",
            "severity": self.severity,
            "reason": self.reason,
            "message": self.message,
        }


@dataclass
class RenderResult:
    """One reconcile of the real engine: the XR, composed and deleted resources, events.

    ``composite`` is the XR as the engine last wrote it; ``observed_composite`` the
    input XR, used by ``-x``. ``resources`` are sorted by composition resource name.
    ``requirements`` are the resource selectors the functions asked for.
    """

    composite: dict[str, Any]
    observed_composite: dict[str, Any]
    resources: list[dict[str, Any]] = field(default_factory=list)
    deleted: list[dict[str, Any]] = field(default_factory=list)
    results: list[Result] = field(default_factory=list)
    requirements: list[dict[str, Any]] = field(default_factory=list)

    def resource(self, name: str) -> dict[str, Any]:
        """The composed resource with this composition resource name."""
        for res in self.resources:
            if res["metadata"]["annotations"][ANNOTATION_RESOURCE_NAME] == name:
                return res
        raise KeyError(name)

    def condition(self, typ: str) -> dict[str, Any] | None:
        """The XR's condition of this type, if any."""
        for cond in (self.composite.get("status") or {}).get("conditions") or []:
            if cond.get("type") == typ:
                return cond
        return None
