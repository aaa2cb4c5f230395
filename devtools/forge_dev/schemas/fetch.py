"""Fill the schema cache from the pinned upstream URLs (``make schemas``).

``python -m forge_dev.schemas.fetch [--dest DIR] [--force] [--check]`` downloads every file of
``sources.lock.yaml`` into DIR (default ``<repo>/.cache/schemas``), checks its sha256 and
writes it atomically, so a broken download never leaves a half file that later looks valid.
``--check`` only verifies the files already in DIR. Exits non-zero on any failure.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
import urllib.request
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from forge_dev.schemas.sources import LockEntry, cache_dir, lock_entries

Opener = Callable[..., Any]
TIMEOUT_S = 60


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _write_atomic(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def fetch_one(entry: LockEntry, dest: Path, opener: Opener = urllib.request.urlopen) -> None:
    """Download one pinned file into ``dest`` and verify it; raises RuntimeError on failure."""
    try:
        with opener(entry.url, timeout=TIMEOUT_S) as resp:
            data = resp.read()
    except Exception as exc:
        raise RuntimeError(f"{entry.path}: download of {entry.url} failed: {exc}") from exc
    got = hashlib.sha256(data).hexdigest()
    if got != entry.sha256:
        raise RuntimeError(
            f"{entry.path}: sha256 mismatch for {entry.url}: expected {entry.sha256}, got {got} "
            "(file not written)"
        )
    _write_atomic(dest / entry.path, data)


def fetch_all(
    dest: Path,
    entries: Iterable[LockEntry] | None = None,
    *,
    opener: Opener = urllib.request.urlopen,
    force: bool = False,
    fail_fast: bool = False,
    log: Callable[[str], None] = print,
) -> list[str]:
    """Fetch every entry not already present with the right checksum; return failure messages.

    ``fail_fast`` stops at the first failure: without network every download would
    fail the same way, each after its own timeout.
    """
    failures: list[str] = []
    for entry in lock_entries() if entries is None else entries:
        target = dest / entry.path
        if not force and target.is_file() and sha256_of(target) == entry.sha256:
            continue
        try:
            fetch_one(entry, dest, opener)
            log(f"fetched {entry.path}")
        except RuntimeError as exc:
            failures.append(str(exc))
            if fail_fast:
                break
    return failures


def check_dir(dest: Path, entries: Iterable[LockEntry] | None = None) -> list[str]:
    """Failure messages for pinned files that are missing or differ in ``dest``."""
    failures: list[str] = []
    for entry in lock_entries() if entries is None else entries:
        target = dest / entry.path
        if not target.is_file():
            failures.append(f"{entry.path}: missing in {dest}")
        elif (got := sha256_of(target)) != entry.sha256:
            failures.append(f"{entry.path}: sha256 {got} != pinned {entry.sha256}")
    return failures


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; returns the exit code."""
    parser = argparse.ArgumentParser(prog="python -m forge_dev.schemas.fetch", description=__doc__)
    parser.add_argument("--dest", type=Path, default=None, help="target directory")
    parser.add_argument("--force", action="store_true", help="download even if present")
    parser.add_argument("--check", action="store_true", help="only verify files in --dest")
    args = parser.parse_args(argv)
    dest: Path = args.dest or cache_dir()
    failures = check_dir(dest) if args.check else fetch_all(dest, force=args.force)
    total = len(lock_entries())
    if failures:
        print(f"{len(failures)} of {total} schema files failed:", file=sys.stderr)
        for msg in failures:
            print(f"  {msg}", file=sys.stderr)
        return 1
    print(f"all {total} schema files present and verified in {dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
