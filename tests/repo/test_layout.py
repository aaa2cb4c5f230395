"""The repository's shape: the runtime stands alone, and no first-party import cycle exists.

The runtime package ``forge`` (functions/) is what the image installs; the development
package ``forge_dev`` (devtools/) imports it and never the reverse. tests/, bench/ and
e2e/ each use the development package and never one another, and no test module
imports another test module.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Where each first-party top-level package lives.
PACKAGES = {
    "forge": ROOT / "functions" / "forge",
    "forge_dev": ROOT / "devtools" / "forge_dev",
    "tests": ROOT / "tests",
    "bench": ROOT / "bench",
    "e2e": ROOT / "e2e",
}
# The import name each runtime dependency (pyproject.toml) provides.
PROVIDES = {
    "crossplane-function-sdk-python": {"crossplane"},
    "click": {"click"},
    "grpcio": {"grpc"},
    "grpcio-reflection": {"grpc_reflection"},
    "protobuf": {"google"},
    "pydantic": {"pydantic"},
    "pyyaml": {"yaml"},
}
# Installed in development only: the runtime must import with none of them.
DEVELOPMENT_ONLY = ("forge_dev", "pytest", "hypothesis", "jsonschema", "kubernetes", "cryptography")


def module_name(path: Path) -> str:
    """The dotted name a first-party file is imported as."""
    for top, folder in PACKAGES.items():
        if path.is_relative_to(folder):
            parts = [top, *path.relative_to(folder).with_suffix("").parts]
            return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
    raise ValueError(path)


def modules() -> dict[str, Path]:
    """Every first-party module, by name."""
    found: dict[str, Path] = {}
    for folder in PACKAGES.values():
        for path in folder.rglob("*.py"):
            if ".venv" not in path.parts:
                found[module_name(path)] = path
    return found


MODULES = modules()


def imports(name: str, path: Path) -> Iterator[str]:
    """The modules ``name`` imports (wherever the import is), resolved to full names."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                child = f"{base}.{alias.name}"
                yield child if child in MODULES else base


def first_party_graph() -> dict[str, set[str]]:
    """Module -> the first-party modules it imports (the nearest known module of each)."""
    graph: dict[str, set[str]] = {}
    for name, path in MODULES.items():
        edges = set()
        for imported in imports(name, path):
            target = imported
            while target and target not in MODULES:
                target = target.rpartition(".")[0]
            if target and target != name:
                edges.add(target)
        graph[name] = edges
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_cycle_finder_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_first_party_import_cycle() -> None:
    assert cycles(first_party_graph()) == []


def _top(name: str) -> str:
    return name.split(".", maxsplit=1)[0]


@pytest.mark.parametrize(
    ("importer", "forbidden"),
    [
        ("forge", {"forge_dev", "tests", "bench", "e2e"}),
        ("forge_dev", {"tests", "bench", "e2e"}),
        ("tests", {"bench", "e2e"}),
        ("bench", {"tests", "e2e"}),
        ("e2e", {"tests", "bench"}),
    ],
)
def test_layers_import_only_downwards(importer: str, forbidden: set[str]) -> None:
    wrong = sorted(
        f"{name} imports {target}"
        for name, targets in first_party_graph().items()
        if _top(name) == importer
        for target in targets
        if _top(target) in forbidden
    )
    assert wrong == []


def test_no_test_module_imports_another() -> None:
    wrong = sorted(
        f"{name} imports {target}"
        for name, targets in first_party_graph().items()
        for target in targets
        if target.rpartition(".")[2].startswith("test_")
    )
    assert wrong == []


def test_runtime_imports_only_its_declared_dependencies() -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    names = {dep.split("=")[0].split(">")[0].split("<")[0].strip().lower() for dep in declared}
    allowed = {"forge", *sys.stdlib_module_names}
    for dep in names:
        allowed |= PROVIDES[dep]
    used = {
        _top(target)
        for name, path in MODULES.items()
        if _top(name) == "forge"
        for target in imports(name, path)
    }
    assert used - allowed == set()


def test_every_runtime_module_imports_without_development_packages() -> None:
    """Each runtime module imports in a fresh interpreter that refuses development packages."""
    runtime = sorted(name for name in MODULES if _top(name) == "forge")
    program = f"""
import importlib, importlib.abc, sys
BLOCKED = {DEVELOPMENT_ONLY!r}
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"development-only package imported: {{name}}")
        return None
sys.meta_path.insert(0, Block())
sys.path[:] = [{str(ROOT / "functions")!r}] + [p for p in sys.path if p and "devtools" not in p]
for name in {runtime!r}:
    importlib.import_module(name)
print(len({runtime!r}))
"""
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, check=False, cwd="/"
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == str(len(runtime))


def test_the_runtime_wheel_holds_only_the_runtime(tmp_path: Path) -> None:
    """The package the image installs carries no tooling module."""
    from forge_dev.packaging.image import runtime_wheel  # noqa: PLC0415

    wheel = runtime_wheel(ROOT, tmp_path)  # from a clean copy: no stale build/ counts
    names = zipfile.ZipFile(wheel).namelist()
    tops = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}
    assert tops == {"forge"}
    runtime = {
        f"forge/{path.relative_to(PACKAGES['forge'])}" for path in PACKAGES["forge"].rglob("*.py")
    }
    assert {name for name in names if name.endswith(".py")} == runtime
