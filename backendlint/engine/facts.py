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
from typing import Any, Dict, List, Optional, Tuple

# The stdlib-ast toolkit moved to pyast.py; these names stay importable from here.
from backendlint.engine.pyast import (  # noqa: F401
    CLAUSES,
    STATEMENT_FIELDS,
    all_nodes,
    ast_dotted,
    body_nodes,
    body_statements,
    descendants,
    nodes_of,
    release_nodes,
)


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
        # relpath -> what the index's parse said: True, or [line, column, message]
        self.parsed: Dict[str, Any] = {}

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


_COLLECTORS: Dict[str, FactCollector] = {}


def register(collector_cls: type) -> type:
    """Class decorator for the knowledge layer: make a collector available."""
    collector = collector_cls()
    _COLLECTORS[collector.kind] = collector
    return collector_cls


def collectors(kinds: Optional[List[str]] = None) -> List[FactCollector]:
    """The registered collectors (``backendlint.plugins.load`` imports the modules that
    register them), all or those of ``kinds``."""
    if kinds is None:
        return list(_COLLECTORS.values())
    missing = [k for k in kinds if k not in _COLLECTORS]
    if missing:
        raise KeyError(f"no fact collector for {', '.join(missing)}")
    return [_COLLECTORS[k] for k in kinds]
