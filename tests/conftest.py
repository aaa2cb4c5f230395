"""Shared fixtures: schema validation (real CRDs and chart schemas)."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "functions"))
sys.path.insert(0, str(ROOT))

pytest_plugins = ["forge.schemas.pytest_plugin"]
