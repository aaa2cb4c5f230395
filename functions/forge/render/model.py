"""What a render produces, as plain data that tests and the YAML writer share."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

RENDER_API_VERSION = "render.crossplane.io/v1beta1"
ANNOTATION_RESOURCE_NAME = "crossplane.io/composition-resource-name"
LABEL_COMPOSITE = "crossplane.io/composite"
LABEL_CLAIM_NAME = "crossplane.io/claim-name"
LABEL_CLAIM_NAMESPACE = "crossplane.io/claim-namespace"


@dataclass(frozen=True)
class Result:
    """A non-fatal function result (fatal ones stop the render instead)."""

    step: str
    severity: str  # the protobuf enum name, e.g. SEVERITY_WARNING, as crossplane prints it
    message: str
    reason: str | None = None

    def manifest(self) -> dict[str, Any]:
        """The ``kind: Result`` document ``crossplane render -r`` prints."""
        return {
            "apiVersion": RENDER_API_VERSION,
            "kind": "Result",
            "step": self.step,
            "severity": self.severity,
            "message": self.message,
        }


@dataclass
class RenderResult:
    """The rendered XR, composed resources, results and context of one render.

    ``composite`` is what crossplane render prints without ``-x``: the desired XR
    (status, conditions) under the observed XR's apiVersion, kind, name and
    namespace. ``observed_composite`` is the input XR, used by ``-x``.
    ``resources`` are sorted by composition resource name. ``ttl`` is the
    shortest non-zero TTL any step returned, in seconds (None: no TTL).
    """

    composite: dict[str, Any]
    observed_composite: dict[str, Any]
    resources: list[dict[str, Any]] = field(default_factory=list)
    ready: dict[str, bool] = field(default_factory=dict)
    results: list[Result] = field(default_factory=list)
    context: dict[str, Any] | None = None
    ttl: float | None = None
    requirements: dict[str, dict[str, Any]] = field(default_factory=dict)

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
