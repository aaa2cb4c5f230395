"""The provider player is ``forge.preview.player``; the tests use it from there."""

from forge.preview.player import CONNECTION, STATUS, Observed, observe

__all__ = ["CONNECTION", "STATUS", "Observed", "observe"]
