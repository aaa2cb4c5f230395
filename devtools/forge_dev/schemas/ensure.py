"""Make sure the tests have their schemas: download the pinned files when nobody else has them.

``python -m forge_dev.schemas.ensure`` (run by ``make test`` and ``make conformance``) looks where
``sources.resolve_schema_root`` looks: ``$FORGE_SCHEMAS_DIR``, then ``../shared``, then the
cache. An explicit ``$FORGE_SCHEMAS_DIR`` is used as it is, and so is ``../shared``. Otherwise
every pinned file of ``sources.lock.yaml`` missing from the cache is downloaded into it
(``fetch``: checked against its sha256, written atomically). When that is impossible it
stops at the first failure with one message saying what it needed, where it looked and
what to do, rather than letting hundreds of tests fail one by one.
"""

from __future__ import annotations

import argparse
import os
import sys
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from forge_dev.schemas.fetch import Opener, fetch_all
from forge_dev.schemas.sources import (
    ENV_VAR,
    LOCK_FILE,
    LockEntry,
    SchemaSourceError,
    cache_dir,
    candidates,
    lock_entries,
    resolve_schema_root,
)


def ensure_schema_root(
    entries: Sequence[LockEntry] | None = None,
    *,
    opener: Opener = urllib.request.urlopen,
) -> tuple[Path, str]:
    """The schema root to use and a line saying where it came from; SchemaSourceError if none.

    Downloads into the cache only when neither ``$FORGE_SCHEMAS_DIR`` nor ``../shared``
    is there; a partly filled cache is completed.
    """
    pinned = lock_entries() if entries is None else tuple(entries)
    cache = cache_dir()
    try:
        root = resolve_schema_root()
    except SchemaSourceError:
        if os.environ.get(ENV_VAR):
            raise  # the user said where: never download behind their back
        root = cache
    missing = [e for e in pinned if not (root / e.path).is_file()]
    if root != cache or not missing:
        return root, f"schemas: reading the pinned CRDs and chart schemas from {root}"
    failures = fetch_all(cache, missing, opener=opener, fail_fast=True, log=lambda _msg: None)
    if failures:
        raise SchemaSourceError(_impossible(len(pinned), len(missing), failures[0]))
    return cache, f"schemas: downloaded {len(missing)} pinned files into {cache}"


def _impossible(total: int, missing: int, failure: str) -> str:
    """One message: what was needed, where it looked, what failed, what to do."""
    looked = ", ".join(
        f"{label} ({'not set' if path is None else path})" for label, path in candidates()
    )
    return (
        f"the tests need the {total} pinned CRDs and chart schemas listed in "
        f"forge/schemas/{LOCK_FILE.name} and no complete copy is here (looked at: {looked}); "
        f"downloading the {missing} missing into {cache_dir()} failed: {failure}. Give this "
        "machine access to raw.githubusercontent.com and run it again, or set "
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
