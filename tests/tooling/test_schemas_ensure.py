"""`make test` from a fresh clone gets its schemas itself, or says in one message why it cannot.

The downloads here are real HTTP from a server on 127.0.0.1 (or a closed port there), so
the decision, the download and the message are the ones a fresh clone runs.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import io
import re
import socket
import threading
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from forge_dev.schemas import ensure, sources
from forge_dev.schemas.sources import LockEntry, SchemaSourceError

FILES = {
    "crds/provider-x/x.example.org_things.yaml": b"kind: CustomResourceDefinition\n",
    "charts/x/1.0.0/values.yaml": b"replicas: 1\n",
    "charts/x/1.0.0/Chart.yaml": b"name: x\nversion: 1.0.0\n",
}


@pytest.fixture
def clone(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A repository with nothing beside it: no ../shared, no cache, no FORGE_SCHEMAS_DIR."""
    repo = tmp_path / "clone"
    repo.mkdir()
    monkeypatch.setattr(sources, "repo_root", lambda: repo)
    monkeypatch.delenv(sources.ENV_VAR, raising=False)
    return repo


@pytest.fixture
def upstream(tmp_path: Path) -> Iterator[str]:
    """An HTTP server on 127.0.0.1 serving FILES; yields its base URL."""
    root = tmp_path / "upstream"
    for rel, data in FILES.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *_: Any) -> None:
            pass

    handler = functools.partial(Quiet, directory=str(root))
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        yield f"http://127.0.0.1:{server.server_address[1]}"
        server.shutdown()


def closed_port() -> int:
    """A port on 127.0.0.1 nobody listens on (connection refused, at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def entries(base: str) -> list[LockEntry]:
    return [
        LockEntry(rel, f"{base}/{rel}", hashlib.sha256(data).hexdigest())
        for rel, data in FILES.items()
    ]


class Counting:
    """An opener that counts its calls and passes them to urllib."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        return urllib.request.urlopen(*args, **kwargs)


def no_download(*_: Any, **__: Any) -> Any:
    raise AssertionError("nothing may be downloaded here")


def test_a_fresh_clone_downloads_the_pinned_files_into_the_cache(clone: Path, upstream: str):
    root, line = ensure.ensure_schema_root(entries(upstream))
    cache = clone / ".cache" / "schemas"
    assert root == cache
    assert line == f"schemas: downloaded 3 pinned files into {cache}"
    for rel, data in FILES.items():
        assert (cache / rel).read_bytes() == data
    # The next run reads the cache and downloads nothing.
    root, line = ensure.ensure_schema_root(entries(upstream), opener=no_download)
    assert (root, line) == (
        cache,
        f"schemas: reading the pinned CRDs and chart schemas from {cache}",
    )


def test_a_partly_filled_cache_is_completed(clone: Path, upstream: str):
    cache = clone / ".cache" / "schemas"
    first = next(iter(FILES))
    (cache / first).parent.mkdir(parents=True)
    (cache / first).write_bytes(FILES[first])
    (cache / "charts").mkdir()
    opener = Counting()
    _, line = ensure.ensure_schema_root(entries(upstream), opener=opener)
    assert line == f"schemas: downloaded 2 pinned files into {cache}"
    assert opener.calls == 2


def test_unreachable_upstream_is_one_clear_message(clone: Path):
    opener = Counting()
    base = f"http://127.0.0.1:{closed_port()}"
    with pytest.raises(SchemaSourceError) as info:
        ensure.ensure_schema_root(entries(base), opener=opener)
    assert opener.calls == 1, "stops at the first failure instead of trying every file"
    text = str(info.value)
    cache = clone / ".cache" / "schemas"
    assert text.startswith(
        "the tests need the 3 pinned CRDs and chart schemas listed in "
        "forge/schemas/sources.lock.yaml and no complete copy is here (looked at: "
        f"$FORGE_SCHEMAS_DIR (not set), ../shared beside the repository ({clone.parent}/shared), "
        f"cache filled by `make schemas` ({cache})); downloading the 3 missing into {cache} "
        f"failed: {next(iter(FILES))}: download of {base}/"
    )
    assert "Connection refused" in text
    assert text.endswith(
        "Give this machine access to raw.githubusercontent.com (and the Go module proxy) and "
        "run it again, or set "
        "FORGE_SCHEMAS_DIR to a directory with crds/ and charts/ (such as ../shared)"
    )
    assert not list(cache.rglob("*.yaml"))


def test_main_prints_one_line_either_way(
    clone: Path, upstream: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
):
    monkeypatch.setattr(
        ensure, "lock_entries", lambda: tuple(entries(f"http://127.0.0.1:{closed_port()}"))
    )
    assert ensure.main([]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert len(err.splitlines()) == 1
    assert err.startswith("schemas: the tests need the 3 pinned CRDs")
    monkeypatch.setattr(ensure, "lock_entries", lambda: tuple(entries(upstream)))
    assert ensure.main([]) == 0
    out, err = capsys.readouterr()
    assert (out, err) == (f"schemas: downloaded 3 pinned files into {clone}/.cache/schemas\n", "")


def write_tree(root: Path, files: dict[str, bytes]) -> None:
    (root / "crds").mkdir(parents=True, exist_ok=True)
    (root / "charts").mkdir(exist_ok=True)
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)


def test_shared_beside_the_repository_is_read_and_nothing_downloaded(clone: Path):
    shared = clone.parent / "shared"
    write_tree(shared, FILES)
    root, line = ensure.ensure_schema_root(entries("http://unused"), opener=no_download)
    assert root == shared
    assert line == f"schemas: reading the pinned CRDs and chart schemas from {shared}"


def test_what_shared_lacks_is_downloaded_and_the_cache_is_read_instead(
    clone: Path, upstream: str, monkeypatch: pytest.MonkeyPatch
):
    """A ../shared without one pinned file (a CRD the compositions began to compose) must not
    be read as it is: every test validating that kind would fail with "schema file missing"."""
    shared = clone.parent / "shared"
    lacking = next(iter(FILES))
    write_tree(shared, {rel: data for rel, data in FILES.items() if rel != lacking})
    pinned = entries(upstream)
    monkeypatch.setattr(sources, "lock_entries", lambda: tuple(pinned))
    assert sources.resolve_schema_root() == shared, "no cache yet: read shared, name the gap"
    opener = Counting()
    root, line = ensure.ensure_schema_root(pinned, opener=opener)
    cache = clone / ".cache" / "schemas"
    assert (root, opener.calls) == (cache, 1)
    assert line == (
        f"schemas: copied 2 pinned files from {shared} and downloaded 1 pinned files into {cache}"
    )
    for rel, data in FILES.items():
        assert (cache / rel).read_bytes() == data
    assert sources.resolve_schema_root() == cache
    # Into the cache, a copy in shared that is not the pinned file is downloaded, not copied.
    other = list(FILES)[1]
    (cache / other).unlink()
    (shared / other).write_bytes(b"replicas: 2\n")
    _, line = ensure.ensure_schema_root(pinned, opener=Counting())
    assert line == f"schemas: downloaded 1 pinned files into {cache}"
    assert (cache / other).read_bytes() == FILES[other]


MODULE = "github.com/Example/provider-x/v2@v2.5.0"
MEMBER = "package/crds/x.example.org_things.yaml"


@pytest.fixture
def go_proxy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A Go module proxy on 127.0.0.1 serving MODULE's zip; ``$GOPROXY`` names it."""
    root = tmp_path / "goproxy"
    zip_path = root / "github.com/!example/provider-x/v2/@v/v2.5.0.zip"
    zip_path.parent.mkdir(parents=True)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr(f"{MODULE}/go.mod", "module github.com/Example/provider-x/v2\n")
        archive.writestr(f"{MODULE}/{MEMBER}", FILES["crds/provider-x/x.example.org_things.yaml"])
    zip_path.write_bytes(buf.getvalue())

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *_: Any) -> None:
            pass

    handler = functools.partial(Quiet, directory=str(root))
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{server.server_address[1]}"
        monkeypatch.setenv("GOPROXY", f"{url},direct")
        yield url
        server.shutdown()


def module_entry(member: str = MEMBER, data: bytes | None = None) -> LockEntry:
    rel = "crds/provider-x/x.example.org_things.yaml"
    digest = hashlib.sha256(FILES[rel] if data is None else data).hexdigest()
    return LockEntry(rel, "http://127.0.0.1:1/unreachable", digest, MODULE, member)


def test_a_file_pinned_in_a_go_module_is_read_from_the_module_proxy(clone: Path, go_proxy: str):
    root, line = ensure.ensure_schema_root([module_entry()])
    rel = "crds/provider-x/x.example.org_things.yaml"
    assert (root / rel).read_bytes() == FILES[rel]
    assert line == f"schemas: downloaded 1 pinned files into {root}"


def test_a_go_module_file_that_differs_or_is_absent_is_refused(clone: Path, go_proxy: str):
    with pytest.raises(SchemaSourceError, match=r"sha256 mismatch for .*/@v/v2\.5\.0\.zip"):
        ensure.ensure_schema_root([module_entry(data=b"other")])
    with pytest.raises(
        SchemaSourceError, match=re.escape(f"the module zip has no {MODULE}/package/nope")
    ):
        ensure.ensure_schema_root([module_entry(member="package/nope.yaml")])
    assert not list((clone / ".cache").rglob("*.yaml"))


def test_an_explicit_directory_is_never_replaced_by_a_download(
    clone: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv(sources.ENV_VAR, str(tmp_path / "mine"))
    with pytest.raises(SchemaSourceError, match=r"FORGE_SCHEMAS_DIR=.*/mine has no crds/"):
        ensure.ensure_schema_root(entries("http://unused"), opener=no_download)
