"""Fill the schema cache from the pinned upstream URLs (``make schemas``).

``python -m forge_dev.schemas.fetch [--dest DIR] [--force] [--check]`` downloads every file of
``sources.lock.yaml`` into DIR (default ``<repo>/.cache/schemas``), checks its sha256 and
writes it atomically, so a broken download never leaves a half file that later looks valid.
``--check`` only verifies the files already in DIR. Exits non-zero on any failure.

A file pinned with a ``go_module`` is read from that module's zip on the Go module proxy
(``$GOPROXY``'s first URL, else proxy.golang.org): the one upstream a machine that builds
our Go tools can always reach.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import re
import sys
import tempfile
import urllib.request
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from forge_dev.schemas.sources import LockEntry, cache_dir, lock_entries

Opener = Callable[..., Any]
TIMEOUT_S = 60
GO_PROXY = "https://proxy.golang.org"
MAX_MODULE_ZIP_BYTES = 500 << 20  # the Go command's own limit on a module zip


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_atomic(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def go_proxy() -> str:
    """The first URL of ``$GOPROXY`` (``direct`` and ``off`` are not URLs), else the default."""
    for item in re.split(r"[,|]", os.environ.get("GOPROXY", "")):
        if item.startswith(("https://", "http://", "file://")):
            return item.rstrip("/")
    return GO_PROXY


def _escape(text: str) -> str:
    """The module proxy protocol's case encoding: ``A`` is written ``!a``."""
    return re.sub(r"[A-Z]", lambda m: "!" + m.group().lower(), text)


def module_zip_url(go_module: str, proxy: str) -> str:
    """The proxy URL of ``module@version``'s zip."""
    module, _, version = go_module.partition("@")
    return f"{proxy}/{_escape(module)}/@v/{_escape(version)}.zip"


def _download(url: str, opener: Opener, limit: int | None = None) -> bytes:
    with opener(url, timeout=TIMEOUT_S) as resp:
        data = resp.read() if limit is None else resp.read(limit + 1)
    if limit is not None and len(data) > limit:
        raise RuntimeError(f"larger than {limit} bytes")
    return data


def _read(entry: LockEntry, opener: Opener) -> tuple[str, bytes]:
    """Where the entry was read from, and its bytes."""
    if not entry.go_module:
        return entry.url, _download(entry.url, opener)
    url = module_zip_url(entry.go_module, go_proxy())
    member = f"{entry.go_module}/{entry.upstream_path}"
    archive = zipfile.ZipFile(io.BytesIO(_download(url, opener, MAX_MODULE_ZIP_BYTES)))
    try:
        return f"{url} ({entry.upstream_path})", archive.read(member)
    except KeyError as exc:
        raise RuntimeError(f"the module zip has no {member}") from exc


def fetch_one(entry: LockEntry, dest: Path, opener: Opener = urllib.request.urlopen) -> None:
    """Download one pinned file into ``dest`` and verify it; raises RuntimeError on failure."""
    try:
        source, data = _read(entry, opener)
    except Exception as exc:
        where = entry.go_module or entry.url
        raise RuntimeError(f"{entry.path}: download of {where} failed: {exc}") from exc
    got = hashlib.sha256(data).hexdigest()
    if got != entry.sha256:
        raise RuntimeError(
            f"{entry.path}: sha256 mismatch for {source}: expected {entry.sha256}, got {got} "
            "(file not written)"
        )
    write_atomic(dest / entry.path, data)


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
