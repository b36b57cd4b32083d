"""Per-file import table: resolves names to qualified names without ScopeProvider.

LibCST's QualifiedNameProvider needs the ScopeProvider, which on real code costs more
than parsing the file. Rules only need to know which library an expression comes from
(``tc.retry`` -> ``tenacity.retry``), so a table of the bindings made by import
statements and module-level definitions, filled in source order during the one
traversal, is enough and much cheaper.
"""

from __future__ import annotations

from typing import Dict, Optional

import libcst as cst


def dotted_name(node: cst.CSTNode) -> Optional[str]:
    """``a.b.c`` for a Name/Attribute chain, else None."""
    parts = []
    while isinstance(node, cst.Attribute):
        parts.append(node.attr.value)
        node = node.value
    if isinstance(node, cst.Name):
        parts.append(node.value)
        return ".".join(reversed(parts))
    return None


def _module_dotted(node) -> str:
    if node is None:
        return ""
    return dotted_name(node) or ""


def relative_package(module_name: str, is_package: bool, level: int) -> str:
    """The package a relative import of ``level`` dots refers to, from ``module_name``
    (``from . import x`` in ``a.b.c`` -> ``a.b``; in the package ``a.b`` itself -> ``a.b``)."""
    parts = module_name.split(".") if module_name else []
    if not is_package:
        parts = parts[:-1]
    if level > 1:
        parts = parts[: len(parts) - (level - 1)] if level - 1 <= len(parts) else []
    return ".".join(parts)


class ImportTable:
    """Maps local names to the qualified names they are bound to."""

    def __init__(self, module_name: str, is_package: bool = False, aliases: Optional[Dict[str, str]] = None):
        self.module_name = module_name
        self.is_package = is_package
        self.bindings: Dict[str, str] = {}
        # Prefix rewrites for vendored copies (``requests.packages.urllib3`` -> ``urllib3``).
        self.aliases = aliases or {}

    # -- filling -------------------------------------------------------------------
    def _package(self, level: int) -> str:
        return relative_package(self.module_name, self.is_package, level)

    def add_import(self, node: cst.Import) -> None:
        for alias in node.names:
            full = _module_dotted(alias.name)
            if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                self.bindings[alias.asname.name.value] = full
            else:
                head = full.split(".", 1)[0]
                self.bindings[head] = head

    def add_import_from(self, node: cst.ImportFrom) -> None:
        module = _module_dotted(node.module)
        level = len(node.relative)
        if level:
            package = self._package(level)
            module = ".".join(p for p in (package, module) if p)
        if isinstance(node.names, cst.ImportStar):
            return
        for alias in node.names:
            name = _module_dotted(alias.name)
            local = name
            if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                local = alias.asname.name.value
            self.bindings[local] = f"{module}.{name}" if module else name

    def add_local(self, name: str) -> None:
        """A module-level def/class/assignment: it shadows an earlier import."""
        self.bindings[name] = f"{self.module_name}.{name}" if self.module_name else name

    # -- querying ------------------------------------------------------------------
    def _normalise(self, qualified: str) -> str:
        for prefix, target in self.aliases.items():
            if qualified == prefix or qualified.startswith(prefix + "."):
                return target + qualified[len(prefix):]
        return qualified

    def resolve_dotted(self, dotted: Optional[str]) -> Optional[str]:
        """Qualified name of a dotted expression whose head is bound here, else None."""
        if not dotted:
            return None
        head, _, rest = dotted.partition(".")
        bound = self.bindings.get(head)
        if bound is None:
            return None
        return self._normalise(f"{bound}.{rest}" if rest else bound)

    def resolve(self, node: cst.CSTNode) -> Optional[str]:
        """Qualified name of a Name/Attribute expression (``tc.retry`` -> ``tenacity.retry``).

        A call is resolved through its callee when asked for the callee explicitly; a
        name bound by nothing this table knows (parameters, locals, builtins) gives None.
        """
        return self.resolve_dotted(dotted_name(node))
