"""Where the real tools (Crossplane's, helm) are: built by ``make tools`` into ``.cache/tools/``.

``FORGE_TOOLS_DIR`` points elsewhere. A missing tool is an error that says how to
build it; nothing here stands in for it.
"""

from __future__ import annotations

import os
from pathlib import Path

from forge_dev.paths import ROOT

TOOLS_ENV = "FORGE_TOOLS_DIR"
CORE = "crossplane"  # Crossplane core: `internal render` is the real composition engine
DRIVER = "forge-xp"  # ours: runs the engine and the API server's validation library
CLI = "crossplane-cli"  # the crossplane CLI v2.2.0: beta validate, xpkg build
DNSLABEL = "forge-dnslabel"  # ours: crossplane-runtime's xpkg.ToDNSLabel, for forge.xpkg's test
HELM = "helm"  # helm v4: lints, renders and pushes the gateway-api-crds chart
PROVIDER_KUBERNETES = "provider-kubernetes"  # the real provider (make kube-tools), e2e-local


class MissingToolError(RuntimeError):
    """A real tool is not built; the message says how to build it."""


def tools_dir() -> Path:
    """The directory holding the built tools."""
    return Path(os.environ.get(TOOLS_ENV) or ROOT / ".cache" / "tools")


def tool(name: str) -> Path:
    """The path of one built tool, or a MissingToolError naming how to build it."""
    path = tools_dir() / name
    if not os.access(path, os.X_OK):
        raise MissingToolError(
            f"{name} is not built at {path}: run `make tools` (needs Go and the Go module "
            f"proxy) or set {TOOLS_ENV} to a directory holding it"
        )
    return path


def available(*names: str) -> bool:
    """Whether the named tools (default: the engine and its driver) are built."""
    return all(os.access(tools_dir() / name, os.X_OK) for name in names or (CORE, DRIVER))
