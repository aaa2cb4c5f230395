"""Where the schema data files (CRDs, Helm chart values and schemas) are read from.

The project pins these files (``sources.lock.yaml``) but does not vendor them. They are read
from one root directory laid out as ``crds/<provider>/<group>_<plural>.yaml`` and
``charts/<chart>/<version>/{Chart.yaml,values.yaml,values.schema.json}``. The root is, in
order: ``$FORGE_SCHEMAS_DIR`` when set (an explicit setting wins); ``../shared`` beside the
repository when it holds every pinned file; the cache ``<repo>/.cache/schemas`` when it does
(``ensure`` fills it from ``../shared`` and downloads what ``../shared`` lacks); else the first
of them that is a root at all, so that a missing file is named where it is read.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

from forge_dev.paths import ROOT

ENV_VAR = "FORGE_SCHEMAS_DIR"
LOCK_FILE = Path(__file__).with_name("sources.lock.yaml")
HOW_TO = (
    "run `make schemas` (needs network) or set FORGE_SCHEMAS_DIR to a directory with crds/ "
    "and charts/"
)


class SchemaSourceError(FileNotFoundError):
    """A schema root or a file in it is missing; the message says what, where and how to fix."""


@dataclass(frozen=True)
class LockEntry:
    """One pinned upstream file: its path under a schema root, URL and checksum.

    ``go_module`` (``module@version``) names a Go module whose zip, served by the Go module
    proxy, holds the file at ``upstream_path``: that is where it is downloaded from.
    """

    path: str
    url: str
    sha256: str
    go_module: str | None = None
    upstream_path: str | None = None


def repo_root() -> Path | None:
    """The checkout (``forge_dev.paths.ROOT``), if it is one."""
    return ROOT if (ROOT / "pyproject.toml").is_file() else None


def cache_dir() -> Path:
    """Where ``make schemas`` puts the downloaded files."""
    root = repo_root()
    return (root if root else Path.cwd()) / ".cache" / "schemas"


def shared_dir() -> Path | None:
    """``../shared`` beside the checkout, where the team keeps the upstream files."""
    root = repo_root()
    return root.parent / "shared" if root else None


def _is_root(path: Path) -> bool:
    return (path / "crds").is_dir() and (path / "charts").is_dir()


def candidates() -> list[tuple[str, Path | None]]:
    """The places looked at, in order, each with a label for error messages."""
    env = os.environ.get(ENV_VAR)
    return [
        (f"${ENV_VAR}", Path(env).expanduser() if env else None),
        ("../shared beside the repository", shared_dir()),
        ("cache filled by `make schemas`", cache_dir()),
    ]


def is_complete(path: Path) -> bool:
    """Whether ``path`` holds every pinned file."""
    return not missing_files(path)


def resolve_schema_root() -> Path:
    """The schema root to use, or SchemaSourceError saying where it looked."""
    looked: list[str] = []
    partial: list[Path] = []
    for label, path in candidates():
        if path is None:
            looked.append(f"{label}: not set")
            continue
        if label.startswith("$"):
            if not _is_root(path):
                raise SchemaSourceError(
                    f"{ENV_VAR}={path} has no crds/ and charts/ directories "
                    f"({missing_summary(path)}); {HOW_TO}"
                )
            return path
        if not _is_root(path):
            looked.append(f"{label}: {path} (no crds/ and charts/)")
        elif is_complete(path):
            return path
        else:
            partial.append(path)
    if partial:
        return partial[0]
    raise SchemaSourceError(
        "no schema directory found; looked in: " + "; ".join(looked) + f". {HOW_TO}"
    )


@cache
def lock_entries() -> tuple[LockEntry, ...]:
    """The pinned files listed in sources.lock.yaml."""
    data = yaml.safe_load(LOCK_FILE.read_text(encoding="utf-8"))
    return tuple(
        LockEntry(e["path"], e["url"], e["sha256"], e.get("go_module"), e.get("upstream_path"))
        for e in data["files"]
    )


def missing_files(root: Path, prefix: str = "") -> list[str]:
    """Pinned files (under ``prefix``) that are absent from ``root``."""
    return [
        e.path
        for e in lock_entries()
        if e.path.startswith(prefix) and not (root / e.path).is_file()
    ]


def missing_summary(root: Path, prefix: str = "") -> str:
    """A short text naming missing pinned files, for error messages."""
    missing = missing_files(root, prefix)
    if not missing:
        return "no pinned file is missing"
    shown = ", ".join(str(root / m) for m in missing[:3])
    more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
    return f"missing {shown}{more}"


def require_file(root: Path, rel: str) -> Path:
    """``root/rel`` if it is a file, else SchemaSourceError naming it."""
    path = root / rel
    if not path.is_file():
        raise SchemaSourceError(f"missing schema file {path} (schema root {root}); {HOW_TO}")
    return path
