"""Make sure the tests have their schemas: download the pinned files when nobody else has them.

``python -m forge_dev.schemas.ensure`` (run by ``make test`` and ``make conformance``) looks where
``sources.resolve_schema_root`` looks: ``$FORGE_SCHEMAS_DIR``, then ``../shared``, then the
cache. An explicit ``$FORGE_SCHEMAS_DIR`` is used as it is, and so is a ``../shared`` that holds
every pinned file. Otherwise the cache is completed: each pinned file it lacks is copied from
``../shared`` when that copy has the pinned sha256, else downloaded (``fetch``: checked against
its sha256, written atomically). When that is impossible it stops at the first failure with
one message saying what it needed, where it looked and what to do, rather than letting
hundreds of tests fail one by one.
"""

from __future__ import annotations

import argparse
import os
import sys
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from forge_dev.schemas.fetch import Opener, fetch_all, sha256_of, write_atomic
from forge_dev.schemas.sources import (
    ENV_VAR,
    LOCK_FILE,
    LockEntry,
    SchemaSourceError,
    cache_dir,
    candidates,
    lock_entries,
    resolve_schema_root,
    shared_dir,
)


def ensure_schema_root(
    entries: Sequence[LockEntry] | None = None,
    *,
    opener: Opener = urllib.request.urlopen,
) -> tuple[Path, str]:
    """The schema root to use and a line saying where it came from; SchemaSourceError if none.

    Fills the cache only when neither ``$FORGE_SCHEMAS_DIR`` nor a complete ``../shared`` is
    there: from ``../shared`` what it has, by download the rest.
    """
    pinned = lock_entries() if entries is None else tuple(entries)
    cache = cache_dir()
    if os.environ.get(ENV_VAR):  # the user said where: never download behind their back
        root = resolve_schema_root()
        return root, f"schemas: reading the pinned CRDs and chart schemas from {root}"
    shared = shared_dir()
    if shared and all((shared / e.path).is_file() for e in pinned):
        return shared, f"schemas: reading the pinned CRDs and chart schemas from {shared}"
    missing = [e for e in pinned if not (cache / e.path).is_file()]
    if not missing:
        return cache, f"schemas: reading the pinned CRDs and chart schemas from {cache}"
    copied = [e for e in missing if shared and _copy_pinned(shared, cache, e)]
    download = [e for e in missing if e not in copied]
    failures = fetch_all(cache, download, opener=opener, fail_fast=True, log=lambda _msg: None)
    if failures:
        raise SchemaSourceError(_impossible(len(pinned), len(download), failures[0]))
    got = f"downloaded {len(download)} pinned files into {cache}"
    if copied:
        got = f"copied {len(copied)} pinned files from {shared} and {got}"
    return cache, f"schemas: {got}"


def _copy_pinned(shared: Path, cache: Path, entry: LockEntry) -> bool:
    """Copy ``entry`` from ``shared`` into ``cache`` if the copy there is the pinned one."""
    source = shared / entry.path
    if not source.is_file() or sha256_of(source) != entry.sha256:
        return False
    write_atomic(cache / entry.path, source.read_bytes())
    return True


def _impossible(total: int, missing: int, failure: str) -> str:
    """One message: what was needed, where it looked, what failed, what to do."""
    looked = ", ".join(
        f"{label} ({'not set' if path is None else path})" for label, path in candidates()
    )
    return (
        f"the tests need the {total} pinned CRDs and chart schemas listed in "
        f"forge/schemas/{LOCK_FILE.name} and no complete copy is here (looked at: {looked}); "
        f"downloading the {missing} missing into {cache_dir()} failed: {failure}. Give this "
        "machine access to raw.githubusercontent.com (and the Go module proxy) and run it "
        "again, or set "
        f"{ENV_VAR} to a directory with crds/ and charts/ (such as ../shared)"
    )


def main(argv: list[str] | None = None) -> int:
    """CLI entry point: exit 0 with one line, or 1 with one message on stderr."""
    argparse.ArgumentParser(
        prog="python -m forge_dev.schemas.ensure", description=__doc__
    ).parse_args(argv)
    try:
        _, line = ensure_schema_root()
    except SchemaSourceError as exc:
        print(f"schemas: {exc}", file=sys.stderr)
        return 1
    print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
