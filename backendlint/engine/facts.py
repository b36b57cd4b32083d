"""Project facts: knowledge gathered from every file of the project, not just the checked ones.

Some rules need facts from other files: Django model relations, the settings'
``ATOMIC_REQUESTS``, SQLAlchemy relationships, project functions that wrap
``transaction.atomic``. The knowledge layer registers a ``FactCollector`` per kind of
fact; the engine runs the collectors that the enabled rules ask for over every file of
the project, caches each file's part by content, and merges the parts.

Collectors read the standard library's ``ast``: the index reads files that are not
checked and needs no concrete syntax, and ``ast.parse`` is several times faster than a
LibCST parse. Each part must be JSON-serialisable (it is cached).
"""

from __future__ import annotations

import ast
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple


class ProjectFacts:
    """Facts about the whole project, built by the knowledge layer's collectors.

    ``facts.get("django_models")`` returns what that collector merged from every file
    of the project; ``root`` is the project root and ``modules`` maps module names to
    their path relative to the root.
    """

    def __init__(self, data: Optional[Dict[str, Any]] = None, root: str = "", loader=None):
        self._data = dict(data or {})
        self.root = root
        # loader(kind) -> the merged fact; lets a run whose files all come from the
        # results cache skip loading or merging facts it never reads.
        self._loader = loader
        self._kinds: Tuple[str, ...] = tuple(getattr(loader, "kinds", ()))
        self.memo: Dict[str, Any] = {}  # per-run values derived from the facts

    def get(self, kind: str, default: Any = None) -> Any:
        if kind not in self._data and self._loader is not None and kind in self._kinds:
            self._data[kind] = self._loader(kind)
        return self._data.get(kind, default)

    @property
    def data(self) -> Dict[str, Any]:
        """Every fact, loaded (for handing to worker processes)."""
        for kind in self._kinds:
            self.get(kind)
        return self._data


class FactCollector:
    kind: str = ""
    # The collector only looks at files whose source contains one of these substrings.
    requires: Tuple[str, ...] = ()
    # Bump when the shape of a part changes, so cached parts are recomputed.
    version: int = 1

    def wants(self, relpath: str, source: str) -> bool:
        return not self.requires or any(token in source for token in self.requires)

    def collect(self, tree: ast.Module, relpath: str, module_name: str, source: str) -> Any:
        """This file's part of the fact (JSON-serialisable), or None for nothing."""
        raise NotImplementedError

    def merge(self, parts: Dict[str, Any]) -> Any:
        """Combine the parts of every file (keyed by relpath) into the fact rules read."""
        return parts


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


_COLLECTORS: Dict[str, FactCollector] = {}


def register(collector_cls: type) -> type:
    """Class decorator for the knowledge layer: make a collector available."""
    collector = collector_cls()
    _COLLECTORS[collector.kind] = collector
    return collector_cls


def collectors(kinds: Optional[List[str]] = None) -> List[FactCollector]:
    import backendlint.knowledge  # noqa: F401  (registers the collectors)

    if kinds is None:
        return list(_COLLECTORS.values())
    missing = [k for k in kinds if k not in _COLLECTORS]
    if missing:
        raise KeyError(f"no fact collector for {', '.join(missing)}")
    return [_COLLECTORS[k] for k in kinds]
