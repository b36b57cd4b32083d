"""The house rules of the code base (CONTRIBUTING.md, "Layout"): floors that import only
from below, no import circle (module level or inside functions), no module over 1,200
lines, rule modules of a readable size."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Dict, List, Set

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "backendlint"

# Each floor imports only from the floors before it (and from itself).
FLOORS = ["engine", "syntax", "knowledge", "index", "analysis", "rules"]
# Modules above every floor: the command line, output formats, rule pages, the loader.
TOP = {"cli", "plugins", "reporting", "docs", "__main__"}
MAX_LINES = 1200
RULE_LIMITS = {"bl101": 200, "bl401": 200, "bl402": 200, "bl201": 500, "bl301": 500}


def modules() -> Dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports_of(name: str, path: Path, known: Set[str]) -> Set[str]:
    """Project modules ``name`` imports, anywhere in it (not under ``if TYPE_CHECKING:``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: Set[str] = set()
    skip = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and _type_checking(node):
            skip.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            targets = [base] + [f"{base}.{a.name}" for a in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name and target.startswith("backendlint"):
                found.add(target)
    return found


def graph() -> Dict[str, Set[str]]:
    mods = modules()
    known = set(mods)
    return {name: imports_of(name, path, known) for name, path in mods.items()}


def floor(name: str) -> int:
    parts = name.split(".")
    if len(parts) < 2:
        return len(FLOORS)  # the package itself (__version__)
    if parts[1] in FLOORS:
        return FLOORS.index(parts[1])
    if parts[1] in TOP:
        return len(FLOORS) + 1
    raise AssertionError(f"{name}: a module outside the floors ({', '.join(FLOORS)}) and the top ({', '.join(sorted(TOP))})")


def test_each_floor_imports_only_from_below():
    wrong = []
    for name, targets in graph().items():
        for target in targets:
            if target == "backendlint":
                continue  # __version__
            if floor(target) > floor(name):
                wrong.append(f"{name} imports {target}")
    assert not wrong, "\n".join(sorted(wrong))


def test_no_import_circle():
    g = graph()
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack: List[str] = []
    on: Set[str] = set()
    cycles = []
    counter = [0]

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in g.get(v, ()):
            if w not in g:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in sorted(g):
        if v not in index:
            visit(v)
    # a package importing its own submodules is not a circle of code
    cycles = [c for c in cycles if not all(x == c[0] or x.startswith(c[0] + ".") for x in c)]
    assert not cycles, cycles


@pytest.mark.parametrize("name, path", sorted(modules().items()))
def test_module_size(name, path):
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{name}: {lines} lines (at most {MAX_LINES}: split it by concern)"
    parts = name.split(".")
    if len(parts) == 3 and parts[1] == "rules":
        limit = RULE_LIMITS.get(parts[2][:5])
        if limit is not None:
            assert lines <= limit * 1.1, f"{name}: {lines} lines (about {limit}: make the rule a package)"
