"""What a rule can see of the file it runs on."""

from __future__ import annotations

from typing import Any, Dict, List, Optional

import libcst as cst

from backendlint.engine.facts import ProjectFacts  # noqa: F401 - re-exported for rules and tests
from backendlint.engine.imports import ImportTable
from backendlint.engine.rule import PendingReport


class Source(str):
    """The file's source, whose ``text in source`` is computed once per file and text.

    Knowledge helpers ask such questions per function or per finding (``":=" in
    ctx.source`` before walking a function's bindings); a scan of the whole source each
    time made a file of N functions cost N² (a 1 MiB file: about a minute)."""

    __slots__ = ("_found",)

    def __contains__(self, text: object) -> bool:  # type: ignore[override]
        try:
            found = self._found
        except AttributeError:
            found = self._found = {}
        hit = found.get(text)  # type: ignore[call-overload]
        if hit is None:
            hit = found[text] = str.__contains__(self, text)  # type: ignore[index]
        return hit


class FileContext:
    def __init__(
        self,
        *,
        path: str,
        relpath: str,
        module_name: str,
        is_package: bool,
        source: str,
        module: cst.Module,
        facts: ProjectFacts,
        import_aliases: Optional[Dict[str, str]] = None,
    ):
        self.path = path  # as displayed
        self.relpath = relpath  # posix, relative to the project root
        self.module_name = module_name
        self.source = Source(source)
        self.module = module
        self.facts = facts
        self.imports = ImportTable(module_name, is_package, import_aliases)
        # Ancestors of the node being visited (outermost first), kept by the traversal.
        self.stack: List[cst.CSTNode] = []
        # The top-level statement (child of the module) being traversed, if any.
        self.top: Optional[cst.CSTNode] = None
        self.reports: List[PendingReport] = []
        # Per-file memo for knowledge helpers (dies with the file; never a global cache,
        # which would keep whole syntax trees alive across files).
        self.memo: Dict[str, Any] = {}

    # -- helpers for rules ---------------------------------------------------------
    def qualified(self, node: cst.CSTNode) -> Optional[str]:
        """Qualified name of a Name/Attribute expression, resolved through imports."""
        return self.imports.resolve(node)

    def qualified_callee(self, node: cst.CSTNode) -> Optional[str]:
        """Qualified name of what a call (or bare decorator expression) refers to."""
        if isinstance(node, cst.Call):
            node = node.func
        return self.imports.resolve(node)

    @property
    def parent(self) -> Optional[cst.CSTNode]:
        """Parent of the node being visited (valid inside visit_/leave_ callbacks)."""
        return self.stack[-1] if self.stack else None

    def enclosing(self, *types: type) -> Optional[cst.CSTNode]:
        for node in reversed(self.stack):
            if isinstance(node, types):
                return node
        return None

    def scope(self) -> tuple:
        """The def/class statements enclosing the node being visited, outermost first."""
        return tuple(n for n in self.stack if type(n) is cst.FunctionDef or type(n) is cst.ClassDef)

    def where(self) -> tuple:
        """(the top-level statement, the def/class statements) around the node being
        visited: for a rule that reports or names nodes after the traversal, where they
        are (``Rule.report``, ``lines_of``)."""
        return self.top, self.scope()

    def contains(self, text: str) -> bool:
        """``text in self.source``, computed once per file and text: for checks made per
        function or per finding, which must not scan the whole source each time."""
        key = ("contains", text)
        found = self.memo.get(key)
        if found is None:
            found = self.memo[key] = text in self.source
        return found

    def lines_of(self, nodes, where: Optional[tuple] = None) -> Dict[int, int]:
        """1-based first line of each node (keyed by ``id``), for messages that name the
        lines of other nodes. Uses the same partial position computation as findings
        (and shares its work: the statements generated here are not generated again).
        ``where``: as for ``Rule.report``, when all the nodes are inside it (a hint: a
        node outside it is still located, at more cost)."""
        from backendlint.engine.positions import positions as _positions

        top, scope = where if where is not None else (self.top, ())
        wanted = [(n, top, scope) for n in nodes if n is not None]
        if not wanted:
            return {}
        return {key: pos[0] for key, pos in _positions(self.module, wanted, self.source, self.memo).items()}

    def add_report(self, report: PendingReport) -> None:
        self.reports.append(report)

    def release(self) -> None:
        """Forget the file's tree and everything derived from it, once it is checked.

        Some memo values point back at this context (the N+1 analysis does), and
        rules point at it too: such a cycle would keep the whole syntax tree alive
        until the garbage collector's next full pass, by then with other trees."""
        self.memo.clear()
        self.reports = []
        self.stack = []
        self.top = None
        self.module = None  # type: ignore[assignment]
