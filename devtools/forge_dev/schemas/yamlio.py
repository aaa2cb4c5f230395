"""YAML reading the way Kubernetes and Helm see it (via JSON): timestamps stay strings."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

_Base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_TIMESTAMP = "tag:yaml.org,2002:timestamp"


class JsonishLoader(_Base):  # type: ignore[misc,valid-type]
    """Fast safe loader without the timestamp resolver (sigs.k8s.io/yaml keeps them strings)."""


JsonishLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != _TIMESTAMP]
    for first, resolvers in _Base.yaml_implicit_resolvers.items()
}


def load(text: str) -> Any:
    """Parse one YAML document."""
    return yaml.load(text, Loader=JsonishLoader)


def load_all(text: str) -> Iterator[Any]:
    """Parse every document of a multi-document YAML stream."""
    return yaml.load_all(text, Loader=JsonishLoader)


def load_file(path: Path) -> Any:
    """Parse one YAML file."""
    return load(path.read_text(encoding="utf-8"))
