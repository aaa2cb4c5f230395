"""Semantic versions and the constraint syntax Crossplane's package manager uses.

Crossplane checks ``dependsOn[].version`` and ``crossplane.version`` with
Masterminds/semver v3. This is the subset our packages use (comparison operators,
comma/space AND, ``||`` OR), with the same pre-release rule: a pre-release version
only satisfies a comparator that names a pre-release itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_SEMVER = re.compile(
    r"^v?(?P<major>0|[1-9]\d*)\.(?P<minor>0|[1-9]\d*)\.(?P<patch>0|[1-9]\d*)"
    r"(?:-(?P<pre>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?$"
)
_COMPARATOR = re.compile(r"^(?P<op>>=|<=|!=|=|>|<)?\s*(?P<version>v?[0-9][0-9A-Za-z.-]*)$")


class SemverError(ValueError):
    """A version or constraint that does not parse."""


@dataclass(frozen=True)
class Version:
    """A semantic version; ``original`` keeps the spelling (with or without ``v``)."""

    major: int
    minor: int
    patch: int
    pre: tuple[str, ...] = ()
    original: str = ""

    @classmethod
    def parse(cls, text: str) -> Version:
        """Parse ``v1.2.3`` or ``1.2.3-rc.1``; build metadata (``+``) is not allowed (OCI tags)."""
        m = _SEMVER.match(text.strip())
        if not m:
            raise SemverError(f"{text!r} is not a semantic version (vMAJOR.MINOR.PATCH[-PRE])")
        pre = tuple(m["pre"].split(".")) if m["pre"] else ()
        for ident in pre:
            if ident.isdigit() and len(ident) > 1 and ident.startswith("0"):
                raise SemverError(f"{text!r}: numeric pre-release identifier {ident!r} has a zero")
        return cls(int(m["major"]), int(m["minor"]), int(m["patch"]), pre, text.strip())

    @property
    def prerelease(self) -> bool:
        return bool(self.pre)

    def _key(self) -> tuple:
        # A release sorts after its pre-releases; numeric identifiers sort before alphanumeric.
        pre = tuple((0, int(i), "") if i.isdigit() else (1, 0, i) for i in self.pre)
        return (self.major, self.minor, self.patch, not self.pre, pre)

    def __lt__(self, other: Version) -> bool:
        return self._key() < other._key()

    def __le__(self, other: Version) -> bool:
        return self._key() <= other._key()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Version) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __str__(self) -> str:
        pre = f"-{'.'.join(self.pre)}" if self.pre else ""
        return f"v{self.major}.{self.minor}.{self.patch}{pre}"


_OPS = {
    "=": lambda v, c: v == c,
    "!=": lambda v, c: v != c,
    ">": lambda v, c: c < v,
    ">=": lambda v, c: c <= v,
    "<": lambda v, c: v < c,
    "<=": lambda v, c: v <= c,
}


@dataclass(frozen=True)
class Constraint:
    """``>=v1.2.0, <v2.0.0 || >=v3.0.0``: OR of AND-groups of comparators."""

    groups: tuple[tuple[tuple[str, Version], ...], ...]
    original: str

    @classmethod
    def parse(cls, text: str) -> Constraint:
        groups = []
        for alternative in text.split("||"):
            joined = re.sub(r"(>=|<=|!=|>|<|=)\s+", r"\1", alternative.strip())
            parts = [p for p in re.split(r"[\s,]+", joined) if p]
            if not parts:
                raise SemverError(f"constraint {text!r} has an empty alternative")
            group = []
            for part in parts:
                m = _COMPARATOR.match(part)
                if not m:
                    raise SemverError(f"constraint {text!r}: cannot parse {part!r}")
                group.append((m["op"] or "=", Version.parse(m["version"])))
            groups.append(tuple(group))
        return cls(tuple(groups), text)

    def allows(self, version: Version | str) -> bool:
        """Whether ``version`` satisfies the constraint (Masterminds pre-release rule)."""
        v = Version.parse(version) if isinstance(version, str) else version
        return any(
            all((not v.prerelease or c.prerelease) and _OPS[op](v, c) for op, c in group)
            for group in self.groups
        )

    def minimum(self) -> Version | None:
        """The ``>=`` lower bound of a single-alternative constraint (``>=v1.4.0, <v2.0.0``)."""
        if len(self.groups) != 1:
            return None
        bounds = [version for op, version in self.groups[0] if op == ">="]
        return bounds[0] if len(bounds) == 1 else None


def allows(constraint: str, version: str) -> bool:
    """Shorthand: does ``version`` satisfy ``constraint``."""
    return Constraint.parse(constraint).allows(version)
