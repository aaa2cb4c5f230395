"""The names Crossplane gives the packages it installs.

A Configuration's dependency is installed as ``ToDNSLabel(<repository path>)``
(crossplane v2.3.4 ``internal/controller/pkg/resolver/reconciler.go``, ``NewPackage``:
``xpkg.ToDNSLabel(ref.Context().RepositoryStr())``). Every package we install
ourselves takes that name too, or the cluster ends up with two packages of one source.
``tests/conformance/test_package_names.py`` holds these equal to the Go code.
"""

from __future__ import annotations

DOCKER_HUB = ("", "docker.io", "index.docker.io")
SEPARATORS = "./:-"
LABEL_END = 62  # the last byte index ToDNSLabel reads: a label has at most 63 characters


def dns_label(text: str) -> str:
    """crossplane-runtime v2.3.3 ``pkg/xpkg/name.go`` ``ToDNSLabel``, byte for byte.

    Keeps lowercase letters and digits, turns separators into ``-`` except at the
    first, 63rd and last byte, stops after the 63rd byte, trims ``-``. Go ranges over
    a string by rune but indexes bytes, so positions count UTF-8 bytes here too.
    """
    out: list[str] = []
    last = len(text.encode()) - 1
    i = 0
    for ch in text:
        if "a" <= ch <= "z" or "0" <= ch <= "9":
            out.append(ch)
        elif ch in SEPARATORS and i not in (0, LABEL_END, last):
            out.append("-")
        if i == LABEL_END:
            break
        i += 1 if ch < "\x80" else len(ch.encode())
    return "".join(out).strip("-")


def repository_path(reference: str) -> str:
    """The repository path of a package reference, as go-containerregistry's
    ``name.ParseReference(ref).Context().RepositoryStr()`` reads it.

    The first element is the registry only when it holds a ``.`` or ``:``; a tag or
    digest is dropped; a one-element Docker Hub path is an official ``library/`` image.
    """
    base = reference.split("@", 1)[0]
    parts = base.split(":")
    if len(parts) > 1 and "/" not in parts[-1]:
        base = ":".join(parts[:-1])
    first, sep, rest = base.partition("/")
    registry, path = (first, rest) if sep and ("." in first or ":" in first) else ("", base)
    if "/" not in path and registry in DOCKER_HUB:
        return f"library/{path}"
    return path


def dependency_name(reference: str) -> str:
    """The name of the package object Crossplane creates for a dependency on ``reference``."""
    return dns_label(repository_path(reference))
