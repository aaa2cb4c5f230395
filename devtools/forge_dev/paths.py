"""Where the checkout's files are: the development package works on a checkout."""

from __future__ import annotations

import os
from pathlib import Path

import forge

ROOT_ENV = "FORGE_ROOT"
# The checkout this package sits in (devtools/forge_dev/), unless FORGE_ROOT names another.
ROOT = Path(os.environ.get(ROOT_ENV) or Path(__file__).resolve().parents[2])
# The directory that holds the runtime package, put on PYTHONPATH of a function we start.
RUNTIME_DIR = Path(forge.__file__).resolve().parents[1]
# What a user reads: examples/<example>/ (xr.yaml, functions.yaml, README.md). Their test
# data, stage by stage (observed and required inputs, golden renders), lives apart.
EXAMPLES = ROOT / "examples"
TESTDATA = ROOT / "testdata"


def stages_dir(example: Path) -> Path:
    """``testdata/examples/<example>/stages`` for ``examples/<example>`` (any depth).

    A directory outside the checkout keeps its stages beside its XR (``<dir>/stages``).
    """
    try:
        return TESTDATA / example.resolve().relative_to(ROOT) / "stages"
    except ValueError:
        return example / "stages"
