"""Debian bookworm packages for the runtime image, without apt or dpkg.

The archive is the one this machine's apt uses (``/etc/apt/sources.list*``; override with
``FORGE_DEBIAN_MIRROR`` and ``FORGE_DEBIAN_SECURITY_MIRROR``). ``resolve`` reads the
suites' ``Packages`` indexes, each checked against its ``InRelease`` SHA256 (whose
signature ``gpgv`` checks with Debian's archive keyring; both are required), and walks
Depends/Pre-Depends from the roots; ``fetch`` downloads a pinned ``.deb`` and checks its
SHA256; ``data_members`` reads the files a ``.deb`` installs (its ``data.tar``) with the
standard library.
"""

from __future__ import annotations

import hashlib
import io
import lzma
import os
import re
import shutil
import subprocess
import tarfile
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from forge_dev.packaging import PackagingError

RELEASE = "bookworm"
# Where each pocket of the release lives: the main archive or the security archive.
SUITES = {RELEASE: "debian", f"{RELEASE}-updates": "debian", f"{RELEASE}-security": "security"}
KEYRING = Path("/usr/share/keyrings/debian-archive-keyring.gpg")
SOURCES = (Path("/etc/apt/sources.list"), Path("/etc/apt/sources.list.d"))
TIMEOUT_S = 120


@dataclass(frozen=True)
class Deb:
    """One pinned binary package: where it lives in the archive and what it must hash to."""

    name: str
    version: str
    arch: str
    archive: str  # "debian" or "security" (SUITES)
    filename: str  # pool path inside the archive
    sha256: str
    size: int


def mirrors() -> dict[str, str]:
    """The main and security archive URIs, from the environment or apt's sources."""
    found: dict[str, str] = {}
    for suite, uri in _apt_sources():
        archive = SUITES.get(suite)
        if archive and archive not in found:
            found[archive] = uri.rstrip("/")
    env = {
        "debian": os.environ.get("FORGE_DEBIAN_MIRROR"),
        "security": os.environ.get("FORGE_DEBIAN_SECURITY_MIRROR"),
    }
    found.update({k: v.rstrip("/") for k, v in env.items() if v})
    missing = [k for k in ("debian", "security") if k not in found]
    if missing:
        raise PackagingError(
            f"no Debian {RELEASE} archive for {', '.join(missing)} in apt's sources "
            "(/etc/apt/sources.list*): set FORGE_DEBIAN_MIRROR and FORGE_DEBIAN_SECURITY_MIRROR"
        )
    return found


def _apt_sources() -> Iterator[tuple[str, str]]:
    """(suite, URI) of every ``deb`` source apt has, one-line and deb822 formats."""
    files: list[Path] = []
    for path in SOURCES:
        if path.is_dir():
            files += sorted(p for p in path.iterdir() if p.suffix in (".list", ".sources"))
        elif path.is_file():
            files.append(path)
    for path in files:
        text = path.read_text(encoding="utf-8", errors="replace")
        if path.suffix == ".sources":
            for stanza in re.split(r"\n\s*\n", text):
                fields = _fields(stanza)
                if "deb" in fields.get("Types", "").split() and fields.get("Enabled") != "no":
                    for uri in fields.get("URIs", "").split():
                        for suite in fields.get("Suites", "").split():
                            yield suite, uri
        else:
            for line in text.splitlines():
                words = re.sub(r"\[[^]]*\]", "", line.split("#", 1)[0]).split()
                if len(words) >= 3 and words[0] == "deb":
                    yield words[2], words[1]


def _fields(stanza: str) -> dict[str, str]:
    """An RFC 822 stanza (Packages, Release, deb822 sources) as a dict; comments dropped."""
    fields: dict[str, str] = {}
    key = None
    for line in stanza.splitlines():
        if line.startswith("#"):
            continue
        if line[:1] in (" ", "\t") and key:
            fields[key] += "\n" + line.strip()
        elif ":" in line:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    return fields


def _get(url: str) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:
            return bytes(response.read())
    except OSError as exc:
        raise PackagingError(f"cannot download {url}: {exc}") from exc


def _release_hashes(base: str, suite: str) -> dict[str, str]:
    """SHA256 of every index a suite's InRelease lists, its signature checked."""
    gpgv = shutil.which("gpgv")
    if gpgv is None or not KEYRING.is_file():
        raise PackagingError(
            f"resolving Debian packages needs gpgv and {KEYRING} to check the archive's "
            "signature: apt-get install gpgv debian-archive-keyring"
        )
    signed = _get(f"{base}/dists/{suite}/InRelease")
    check = subprocess.run(
        [gpgv, "--keyring", str(KEYRING), "-"], input=signed, capture_output=True, check=False
    )
    if check.returncode != 0:
        raise PackagingError(f"{suite}/InRelease: bad signature: {check.stderr.decode()}")
    text = signed.decode("utf-8", errors="replace")
    body = text.split("\n\n", 1)[1] if text.startswith("-----BEGIN PGP SIGNED") else text
    sha256 = _fields(body.split("-----BEGIN PGP SIGNATURE", 1)[0]).get("SHA256", "")
    hashes = {}
    for line in sha256.splitlines():
        parts = line.split()
        if len(parts) == 3:
            hashes[parts[2]] = parts[0]
    return hashes


def packages_index(mirror: dict[str, str], arch: str) -> dict[str, list[dict[str, str]]]:
    """Every package of the release's main component for ``arch``: its stanza per pocket."""
    index: dict[str, list[dict[str, str]]] = {}
    for suite, archive in SUITES.items():
        base = mirror[archive]
        path = f"main/binary-{arch}/Packages.xz"
        data = _get(f"{base}/dists/{suite}/{path}")
        expected = _release_hashes(base, suite).get(path)
        if expected != hashlib.sha256(data).hexdigest():
            raise PackagingError(f"{suite}/{path}: SHA256 does not match its InRelease")
        for stanza in lzma.decompress(data).decode("utf-8").split("\n\n"):
            fields = _fields(stanza)
            if "Package" in fields:
                fields["_archive"] = archive
                index.setdefault(fields["Package"], []).append(fields)
    return index


def resolve(
    mirror: dict[str, str], arch: str, roots: list[str], excluded: frozenset[str]
) -> list[Deb]:
    """The newest version of every package the roots depend on, minus ``excluded``.

    Of alternatives (``a | b``) the first is taken; an excluded package's own
    dependencies are not followed.
    """
    index = packages_index(mirror, arch)
    chosen: dict[str, Deb] = {}
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name in chosen or name in excluded:
            continue
        candidates = index.get(name)
        if not candidates:
            raise PackagingError(f"{name} ({arch}) is not in Debian {RELEASE}")
        fields = max(candidates, key=lambda f: _version_key(f["Version"]))
        chosen[name] = Deb(
            name=name,
            version=fields["Version"],
            arch=fields["Architecture"],
            archive=fields["_archive"],
            filename=fields["Filename"],
            sha256=fields["SHA256"],
            size=int(fields["Size"]),
        )
        depends = ",".join(fields.get(k, "") for k in ("Pre-Depends", "Depends"))
        for clause in depends.split(","):
            if clause.strip():
                todo.append(clause.split("|")[0].split()[0].split(":")[0])
    return [chosen[n] for n in sorted(chosen)]


def _version_key(version: str) -> tuple[int, list[tuple[str, int]], list[tuple[str, int]]]:
    """A sort key ordering Debian versions as dpkg --compare-versions does."""
    epoch, _, rest = version.rpartition(":") if ":" in version else ("0", "", version)
    upstream, _, revision = rest.rpartition("-") if "-" in rest else (rest, "", "0")
    return int(epoch or 0), _part_key(upstream), _part_key(revision)


def _part_key(part: str) -> list[tuple[str, int]]:
    """Alternating non-digit (dpkg's character order: ~ first, letters before others) and
    digit runs."""
    key = []
    for text, digits in re.findall(r"(\D*)(\d*)", part):
        order = "".join(
            chr(0) if c == "~" else chr(ord(c) + 1) if c.isalpha() else chr(ord(c) + 256)
            for c in text
        )
        key.append((order + chr(1), int(digits or 0)))
    return key


def cached(deb: Deb, cache: Path) -> Path:
    """Where ``fetch`` keeps a package."""
    return cache / "debs" / deb.sha256 / Path(deb.filename).name


def fetch(deb: Deb, mirror: dict[str, str], cache: Path) -> Path:
    """The ``.deb`` in ``cache`` (downloaded once), its SHA256 checked against the pin."""
    path = cached(deb, cache)
    if path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == deb.sha256:
        return path
    data = _get(f"{mirror[deb.archive]}/{deb.filename}")
    digest = hashlib.sha256(data).hexdigest()
    if digest != deb.sha256:
        raise PackagingError(
            f"{deb.filename}: SHA256 {digest}, the lock pins {deb.sha256} "
            "(the archive no longer serves that version? re-lock with `make image-lock`)"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part")
    tmp.write_bytes(data)
    tmp.replace(path)
    return path


def data_members(deb: Path) -> Iterator[tuple[tarfile.TarInfo, bytes | None]]:
    """The entries of a ``.deb``'s ``data.tar.*``, each with its file content (or None)."""
    blob = deb.read_bytes()
    if not blob.startswith(b"!<arch>\n"):
        raise PackagingError(f"{deb}: not a Debian package (ar archive)")
    offset = 8
    while offset < len(blob):
        header = blob[offset : offset + 60]
        name = header[:16].decode().strip().rstrip("/")
        size = int(header[48:58].decode().strip())
        content = blob[offset + 60 : offset + 60 + size]
        offset += 60 + size + (size % 2)
        if name.startswith("data.tar"):
            with tarfile.open(fileobj=io.BytesIO(content), mode="r:*") as tar:
                for member in tar:
                    handle = tar.extractfile(member) if member.isfile() else None
                    yield member, handle.read() if handle else None
            return
    raise PackagingError(f"{deb}: no data.tar member")
