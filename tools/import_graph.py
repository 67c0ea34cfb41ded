"""Print the import graph of the package's stages, or fail on a cycle.

    .venv/bin/python tools/import_graph.py

Reads every module under src/deepfake_ensemble/ with ``ast`` (imports inside
functions included, nothing is imported) and prints one line per edge
between stages: ``train -> preprocess  3`` means three import statements of
modules of ``train/`` name a module of ``preprocess/``. A stage is one
subpackage (ingest, preprocess, train, evaluate, bundle); the top-level
modules are ``core``. Exits 1, naming the stages, when the graph has a
cycle. Standard library only; tests/test_packages.py reads the same
functions.
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "deepfake_ensemble"
SRC = ROOT / "src" / PACKAGE
STAGES = ("ingest", "preprocess", "train", "evaluate", "bundle")
CORE = "core"


@dataclass(frozen=True)
class Import:
    """One import statement of a module of the package."""

    module: str  # the importing module, dotted (deepfake_ensemble.x.y)
    target: str  # the module imported from: dotted, absolute
    names: tuple[str, ...]  # the names it imports (empty for ``import x``)
    nested: bool  # inside a function (imported when it runs)
    lineno: int


def module_name(path: Path, src: Path = SRC) -> str:
    """Dotted name of a module file under ``src`` (the package folder)."""
    parts = [src.name, *path.relative_to(src).with_suffix("").parts]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules(src: Path = SRC) -> dict[str, Path]:
    """Dotted name -> file, for every module of the package."""
    return {module_name(p, src): p for p in sorted(src.rglob("*.py"))}


def _walk(node: ast.AST, nested: bool = False) -> Iterator[tuple[ast.AST, bool]]:
    for child in ast.iter_child_nodes(node):
        yield child, nested
        inner = nested or isinstance(
            child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda
        )
        yield from _walk(child, inner)


def imports(path: Path, module: str) -> Iterator[Import]:
    """Every import statement of one module, relative ones made absolute."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module.split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    for node, nested in _walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(module, alias.name, (), nested, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            names = tuple(alias.name for alias in node.names)
            yield Import(module, target, names, nested, node.lineno)


def internal_targets(imp: Import, known: set[str]) -> list[str]:
    """The package's modules an import statement names: ``from pkg import
    mod`` names the submodule ``pkg.mod``, else the module imported from."""
    if imp.target != PACKAGE and not imp.target.startswith(PACKAGE + "."):
        return []
    subs = [f"{imp.target}.{n}" for n in imp.names if f"{imp.target}.{n}" in known]
    return subs or [imp.target]


def stage_of(module: str) -> str:
    """The stage a dotted module name belongs to, or ``core``."""
    parts = module.split(".")
    if len(parts) > 1 and parts[1] in STAGES:
        return parts[1]
    return CORE


def internal_edges(src: Path = SRC) -> list[tuple[Import, str]]:
    """(import statement, imported module of the package) of every module."""
    found = modules(src)
    known = set(found)
    return [
        (imp, target)
        for name, path in found.items()
        for imp in imports(path, name)
        for target in internal_targets(imp, known)
    ]


def stage_graph(src: Path = SRC) -> Counter[tuple[str, str]]:
    """(importing stage, imported stage) -> number of import statements."""
    counts: Counter[tuple[str, str]] = Counter()
    seen = set()
    for imp, target in internal_edges(src):
        edge = (stage_of(imp.module), stage_of(target))
        key = (imp.module, imp.lineno, edge)
        if edge[0] != edge[1] and key not in seen:
            seen.add(key)
            counts[edge] += 1
    return counts


def find_cycle(edges: set[tuple[str, str]]) -> list[str] | None:
    """One cycle of a directed graph, as a closed path, or ``None``."""
    succ: dict[str, list[str]] = {}
    for a, b in sorted(edges):
        succ.setdefault(a, []).append(b)
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in succ.get(node, []):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(succ):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--src", type=Path, default=SRC, help="the package folder")
    args = parser.parse_args(argv)
    graph = stage_graph(args.src)
    order = {s: i for i, s in enumerate((*STAGES, CORE))}
    for (a, b), n in sorted(
        graph.items(), key=lambda e: (order[e[0][0]], order[e[0][1]])
    ):
        print(f"{a:>10} -> {b:<10} {n:3d}")
    cycle = find_cycle(set(graph))
    if cycle:
        print(f"cycle: {' -> '.join(cycle)}", file=sys.stderr)
        return 1
    print("no cycle")
    return 0


if __name__ == "__main__":
    sys.exit(main())
