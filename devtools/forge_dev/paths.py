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
