"""The standard library's ``ast``: the one toolkit for the project index.

The index (``backendlint.index``) reads every file of the project with ``ast`` (it needs
no concrete syntax and parses several times faster than LibCST). Everything an index
collector needs to walk a tree or resolve a name is here, once: walks that do or do not
enter nested scopes, the fields that hold statements, dotted names, and ``AstImports``,
the one import table on ``ast`` (the twin of the engine's LibCST ``ImportTable``).
"""

from __future__ import annotations

import ast
from typing import Dict, Iterator, List, Optional, Sequence

from backendlint.engine.imports import relative_package


def ast_dotted(node: ast.AST) -> Optional[str]:
    """``a.b.c`` for an ``ast`` Name/Attribute chain, else None (for collectors)."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


def all_nodes(tree: ast.AST) -> List[ast.AST]:
    """Every node of the tree in ``ast.walk`` order, computed once per tree.

    Several collectors scan the whole file for a few node types (imports, assignments,
    dicts); they share this one walk instead of each running ``ast.walk``.
    """
    cached = getattr(tree, "_backendlint_nodes", None)
    if cached is not None:
        return cached
    out = descendants(tree)
    tree._backendlint_nodes = out  # type: ignore[attr-defined]
    return out


def descendants(node: ast.AST) -> List[ast.AST]:
    """The node and every node below it, in ``ast.walk`` order (breadth first), without
    ``ast.walk``'s generator per node (several times faster)."""
    out: List[ast.AST] = [node]
    append = out.append
    position = 0
    AST = ast.AST
    while position < len(out):
        current = out[position]
        position += 1
        for name in current._fields:
            value = getattr(current, name, None)
            if isinstance(value, AST):
                append(value)
            elif isinstance(value, list):
                for item in value:
                    if isinstance(item, AST):
                        append(item)
    return out


def release_nodes(tree: ast.AST) -> None:
    """Drop the walk ``all_nodes`` kept on the tree: it holds the tree itself, a cycle
    that would keep the whole tree alive until the garbage collector's next full pass."""
    tree.__dict__.pop("_backendlint_nodes", None)


_NESTED_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)


def body_nodes(stmts: Sequence[ast.AST]) -> Iterator[ast.AST]:
    """The nodes of a body (depth first, last statement first), not entering nested
    function, class or lambda definitions (their bodies run elsewhere)."""
    stack = list(stmts)
    pop, push = stack.pop, stack.append
    AST = ast.AST
    while stack:
        node = pop()
        yield node
        for name in node._fields:  # ast.iter_child_nodes, without its generator cost
            value = getattr(node, name, None)
            if isinstance(value, AST):
                if not isinstance(value, _NESTED_SCOPES):
                    push(value)
            elif isinstance(value, list):
                for item in value:
                    if isinstance(item, AST) and not isinstance(item, _NESTED_SCOPES):
                        push(item)


# The fields of a statement that hold statements: bodies, else and finally blocks,
# except handlers and match cases (whose own bodies hold the statements).
STATEMENT_FIELDS = ("body", "orelse", "finalbody", "handlers", "cases")
# What holds a body of statements besides statements (match cases: Python 3.10+).
CLAUSES = (ast.excepthandler,) + ((ast.match_case,) if hasattr(ast, "match_case") else ())
_HOLDS_STATEMENTS = (ast.stmt,) + CLAUSES


def body_statements(stmts: Sequence[ast.AST]) -> Iterator[ast.AST]:
    """What ``body_nodes`` yields, in the same order, without the expressions: for
    looking for statements (assignments, returns), at a fraction of the cost.
    Expressions never hold statements, so leaving them out changes no order."""
    stack = list(stmts)
    pop, push = stack.pop, stack.append
    while stack:
        node = pop()
        yield node
        for name in node._fields:
            value = getattr(node, name, None)
            if type(value) is list:
                for item in value:
                    if isinstance(item, _HOLDS_STATEMENTS) and not isinstance(item, _NESTED_SCOPES):
                        push(item)


def nodes_of(tree: ast.AST, types) -> List[ast.AST]:
    """The tree's nodes of the given type(s), in ``ast.walk`` order."""
    return [node for node in all_nodes(tree) if isinstance(node, types)]


class AstImports:
    """Import bindings of one file (the stdlib-ast twin of the engine's ImportTable)."""

    def __init__(self, module_name: str, is_package: bool):
        self.module = module_name
        self.is_package = is_package
        self.bindings: Dict[str, str] = {}
        self.star = False

    def _package(self, level: int) -> str:
        return relative_package(self.module, self.is_package, level)

    def add(self, node: ast.AST) -> None:
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    self.bindings[alias.asname] = alias.name
                else:
                    head = alias.name.split(".", 1)[0]
                    self.bindings[head] = head
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                module = ".".join(p for p in (self._package(node.level), module) if p)
            for alias in node.names:
                if alias.name == "*":
                    self.star = True
                    continue
                self.bindings[alias.asname or alias.name] = f"{module}.{alias.name}" if module else alias.name

    def local(self, name: str) -> None:
        self.bindings[name] = f"{self.module}.{name}" if self.module else name

    def resolve(self, dotted: Optional[str]) -> Optional[str]:
        if not dotted:
            return None
        head, _, rest = dotted.partition(".")
        bound = self.bindings.get(head)
        if bound is None:
            return None
        return f"{bound}.{rest}" if rest else bound

    def ref(self, dotted: Optional[str]) -> Optional[str]:
        """Qualified name if bound, else ``?dotted`` (resolved by class name at merge)."""
        if not dotted:
            return None
        return self.resolve(dotted) or "?" + dotted


def file_bindings(tree: ast.Module, module_name: str, is_package: bool) -> Dict[str, str]:
    """Local name -> qualified name, from every import of the file (anywhere in it) and
    its top-level defs and classes."""
    table = AstImports(module_name, is_package)
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            table.local(node.name)
    for node in nodes_of(tree, (ast.Import, ast.ImportFrom)):
        table.add(node)
    return table.bindings


def resolve(bindings: Dict[str, str], node: ast.AST) -> Optional[str]:
    """The qualified name of a Name/Attribute chain through ``bindings``, or None."""
    dotted = ast_dotted(node)
    if not dotted:
        return None
    head, _, rest = dotted.partition(".")
    bound = bindings.get(head)
    if bound is None:
        return None
    return f"{bound}.{rest}" if rest else bound
