"""The documentation points only at what exists: its relative links resolve (to a file, a
folder or a heading), and every `make` target it names is one the Makefile defines.

Nothing here reads what the prose says; rewording a page never breaks a test.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from functools import cache
from pathlib import Path

import pytest


def _root() -> Path:
    """The repository: the nearest folder above this file with a Makefile and a README."""
    here = Path(__file__).resolve().parent
    for folder in (here, *here.parents):
        if (folder / "Makefile").is_file() and (folder / "README.md").is_file():
            return folder
    raise RuntimeError(f"no repository root above {here}")


ROOT = _root()
# Folders of tools, caches and build output, never documentation of ours.
SKIP = {".git", ".venv", ".cache", ".pytest_cache", ".ruff_cache", "build", "dist"}

FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
CODE_SPAN = re.compile(r"(`+)(.+?)\1")
INLINE_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE_LINK = re.compile(r"^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$")
HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
MAKE = re.compile(r"(?:^|[\s`;&|(])make\s+(?:-\S+\s+)*([A-Za-z0-9][A-Za-z0-9_.-]*)(?![=\w])")
RULE = re.compile(r"^([A-Za-z0-9_.][^:#=\s]*(?:[ \t]+[^:#=\s]+)*)[ \t]*::?(?!=)")


def markdown_files() -> list[Path]:
    """Every Markdown file of the repository."""
    found = []
    for path in sorted(ROOT.rglob("*.md")):
        parts = path.relative_to(ROOT).parts
        if not any(part in SKIP or part.endswith(".egg-info") for part in parts):
            found.append(path)
    return found


def split(text: str) -> tuple[list[str], list[str]]:
    """The lines outside fenced blocks (blank inside them), and the code: the lines of
    fenced blocks and every code span."""
    outside: list[str] = []
    code: list[str] = []
    fence: str | None = None
    for line in text.splitlines():
        opened = FENCE.match(line)
        if fence is not None:
            if opened and opened.group(1)[0] == fence[0] and len(opened.group(1)) >= len(fence):
                fence = None
            else:
                code.append(line)
            outside.append("")
            continue
        if opened:
            fence = opened.group(1)
            outside.append("")
            continue
        code.extend(span.group(2) for span in CODE_SPAN.finditer(line))
        outside.append(line)
    return outside, code


def links(path: Path) -> list[tuple[int, str]]:
    """(line number, target) of every link outside code."""
    outside, _ = split(path.read_text(encoding="utf-8"))
    found = []
    for number, raw in enumerate(outside, start=1):
        line = CODE_SPAN.sub(lambda m: " " * len(m.group(0)), raw)
        found += [(number, m.group(1)) for m in INLINE_LINK.finditer(line)]
        reference = REFERENCE_LINK.match(line)
        if reference:
            found.append((number, reference.group(1)))
    return found


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lowercase, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link: its text
    text = re.sub(r"<[^>]+>", "", text).replace("`", "").strip().lower()
    kept = "".join(c for c in text if c in " -_" or unicodedata.category(c)[0] in {"L", "N", "M"})
    return kept.replace(" ", "-")


@cache
def anchors(path: Path) -> frozenset[str]:
    """Every heading anchor of a Markdown file, numbered as GitHub numbers repeats."""
    outside, _ = split(path.read_text(encoding="utf-8"))
    seen: dict[str, int] = {}
    out = set()
    for line in outside:
        heading = HEADING.match(line)
        if not heading:
            continue
        base = slug(heading.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        out.add(base if count == 0 else f"{base}-{count}")
    return frozenset(out)


def broken(path: Path, target: str) -> str | None:
    """Why a link target does not resolve, or None when it does."""
    if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", target) or target.startswith("//"):
        return None  # a URL: not ours to check offline
    file_part, _, anchor = target.partition("#")
    destination = (path.parent / file_part).resolve() if file_part else path
    if file_part.startswith("/"):
        return "is absolute: write it relative to the page"
    if not destination.exists():
        return "points at nothing"
    if ROOT not in (destination, *destination.parents):
        return "points outside the repository"
    if anchor and destination.suffix == ".md" and anchor not in anchors(destination):
        return f"names no heading of {destination.relative_to(ROOT)}"
    return None


def make_targets() -> frozenset[str]:
    """The targets the Makefile defines (rule heads; variables and patterns left out)."""
    targets = set()
    for line in (ROOT / "Makefile").read_text(encoding="utf-8").splitlines():
        rule = RULE.match(line)
        if rule:
            targets.update(t for t in rule.group(1).split() if "%" not in t and "$" not in t)
    return frozenset(targets)


def named_targets(path: Path) -> list[str]:
    """Every `make <target>` in the code of a Markdown file."""
    _, code = split(path.read_text(encoding="utf-8"))
    return [m.group(1) for line in code for m in MAKE.finditer(line)]


DOCS = markdown_files()
IDS = [str(p.relative_to(ROOT)) for p in DOCS]


def test_the_documentation_is_there():
    names = set(IDS)
    assert {"README.md", "docs/README.md"} <= names
    assert any(name.startswith("docs/decisions/") for name in names)


@pytest.mark.parametrize("path", DOCS, ids=IDS)
def test_every_relative_link_resolves(path: Path):
    problems = [
        f"{path.relative_to(ROOT)}:{number}: {target} {why}"
        for number, target in links(path)
        if (why := broken(path, target))
    ]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("path", DOCS, ids=IDS)
def test_every_make_target_named_exists(path: Path):
    missing = sorted(set(named_targets(path)) - make_targets())
    assert not missing, f"{path.relative_to(ROOT)} names make targets the Makefile lacks: {missing}"


# The checker itself, on pages written for the purpose.


def test_a_broken_link_or_anchor_is_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    (tmp_path / "there.md").write_text("# A heading: `with code`\n\n## Twice\n\n## Twice\n")
    page = tmp_path / "page.md"
    page.write_text(
        "[ok](there.md) [anchor](there.md#a-heading-with-code) [repeat](there.md#twice-1)\n"
        "[gone](missing.md) [no heading](there.md#nowhere) [web](https://example.com/x)\n"
        "`[in code](nowhere.md)`\n\n```\n[in a block](nowhere.md)\n```\n"
    )
    assert [t for _, t in links(page) if broken(page, t)] == ["missing.md", "there.md#nowhere"]


def test_make_targets_are_read_from_code_only(tmp_path: Path):
    page = tmp_path / "page.md"
    page.write_text(
        "Make sure: `make preview XR=x.yaml`, `make e2e-local SCENARIOS=keda`\n\n"
        "```sh\nmake render   # then\nmake -s test\n```\n"
    )
    assert named_targets(page) == ["preview", "e2e-local", "render", "test"]
    assert {"help", "render", "test", "e2e-local", "preview"} <= make_targets()
