"""The release version of a build and its channel.

A tag ``vX.Y.Z`` on the commit is a stable release. Anything else is a ``dev``
pre-release that sorts after the last tag and before the next patch release
(``v1.2.4-dev.5.gabc1234`` is 5 commits after ``v1.2.3``), so Crossplane's
semver constraints order builds the way they were made. OCI tags allow no ``+``,
so the commit goes into the pre-release, not build metadata.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from forge import versions
from forge_dev.packaging.semver import Version

STABLE = "stable"
DEV = "dev"
_DESCRIBE = re.compile(r"^(?P<tag>v.+)-(?P<count>\d+)-g(?P<sha>[0-9a-f]+)(?P<dirty>-dirty)?$")
_LABEL_VALUE = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")


def channel(version: str) -> str:
    """``stable`` for a plain semver release, ``dev`` for any pre-release."""
    return DEV if Version.parse(version).prerelease else STABLE


def from_describe(described: str) -> str:
    """The version for ``git describe --tags --long --dirty`` output."""
    m = _DESCRIBE.match(described.strip())
    if not m:
        raise ValueError(f"unexpected `git describe` output {described!r}")
    tag = Version.parse(m["tag"])
    count, sha, dirty = int(m["count"]), m["sha"], bool(m["dirty"])
    if count == 0 and not dirty:
        return str(tag)
    return _dev(tag, count, sha, dirty)


def _dev(tag: Version, count: int, sha: str | None, dirty: bool) -> str:
    """A pre-release after ``tag``: the next patch's ``dev``, or below a pre-release tag."""
    suffix = [str(count)] + ([f"g{sha}"] if sha else []) + (["dirty"] if dirty else [])
    if tag.prerelease:
        return str(Version(tag.major, tag.minor, tag.patch, (*tag.pre, "dev", *suffix)))
    return str(Version(tag.major, tag.minor, tag.patch + 1, ("dev", *suffix)))


def _git(root: Path, *args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", "-C", str(root), *args], capture_output=True, text=True, check=True
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.stdout.strip()


def from_git(root: Path) -> str:
    """The version of the checkout at ``root``.

    Without a ``v*`` tag the base is ``versions.FUNCTION_VERSION`` (the release the
    code is heading for) as a ``dev`` pre-release of it; without git at all (a
    source tarball) it is ``<FUNCTION_VERSION>-dev``.
    """
    described = _git(root, "describe", "--tags", "--long", "--dirty", "--match", "v[0-9]*")
    if described:
        return from_describe(described)
    base = Version.parse(versions.FUNCTION_VERSION)
    sha = _git(root, "rev-parse", "--short=7", "HEAD")
    if sha is None:
        return str(Version(base.major, base.minor, base.patch, ("dev",)))
    count = int(_git(root, "rev-list", "--count", "HEAD") or 0)
    dirty = bool(_git(root, "status", "--porcelain", "--untracked-files=no"))
    suffix = ("dev", str(count), f"g{sha}", *(("dirty",) if dirty else ()))
    return str(Version(base.major, base.minor, base.patch, suffix))


def check(version: str) -> list[str]:
    """Why ``version`` cannot be a package tag and Composition label (empty when it can)."""
    try:
        Version.parse(version)
    except ValueError as exc:
        return [str(exc)]
    if not version.startswith("v"):
        return [f"{version!r}: release versions start with 'v' (the git tag)"]
    if not _LABEL_VALUE.match(version):
        return [f"{version!r}: not a valid label value (63 characters at most)"]
    return []
