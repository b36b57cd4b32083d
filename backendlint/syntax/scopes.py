"""Per-file name resolution that knows local bindings: the scope resolver.

The engine's import table (``ctx.imports``) knows module-level imports and defs. ``Scopes``
adds what a rule needs to trust a resolved name: function parameters and local
assignments shadow an import (a parameter named like an import is not the import), module-level
aliases (``my_name = package.name``) resolve through to what they alias, and a plain
name's single assigned value can be looked up (``value_of``).
"""

from __future__ import annotations

from typing import Any, Dict, Iterable, Iterator, List, Optional, Sequence, Set, Tuple

import libcst as cst

from backendlint.syntax.names import dotted_name, param_names, target_names
from backendlint.syntax.walk import statements, walk_local

__all__ = ["Scopes", "module_level", "project_function"]


def module_level(body: Sequence[cst.CSTNode]) -> Iterator[cst.CSTNode]:
    """Statements that run at module level: through if/try/with blocks, not into defs."""
    work: List[cst.CSTNode] = list(reversed(body))
    while work:
        stmt = work.pop()
        if isinstance(stmt, cst.SimpleStatementLine):
            work.extend(reversed(stmt.body))
            continue
        yield stmt
        blocks: List[cst.CSTNode] = []
        if isinstance(stmt, (cst.If, cst.With, cst.Try, cst.TryStar)):
            blocks.append(stmt.body)
        if isinstance(stmt, cst.If) and stmt.orelse is not None:
            blocks.append(stmt.orelse if isinstance(stmt.orelse, cst.Else) else cst.IndentedBlock(body=[stmt.orelse]))
        if isinstance(stmt, (cst.Try, cst.TryStar)):
            blocks.extend(h.body for h in stmt.handlers)
            blocks.extend(b for b in (stmt.orelse, stmt.finalbody) if b is not None)
        for block in reversed(blocks):
            work.extend(reversed(statements(block)))


_SHADOW = object()


class Scopes:
    """Resolves names through the file's imports, unless a local binding shadows them.

    The engine's import table knows module-level imports and defs; this adds function
    parameters and local assignments (a local binding is not the imported name), module-level
    aliases (``my_name = package.name``) and simple constant lookups.
    """

    def __init__(self, ctx):
        self.ctx = ctx
        self._locals: Dict[int, Set[str]] = {}
        self._assigns: Dict[int, Dict[str, Any]] = {}
        self._module_assigns: Optional[Dict[str, Any]] = None

    # bindings
    def local_names(self, scope: cst.CSTNode) -> Set[str]:
        key = id(scope)
        found = self._locals.get(key)
        if found is not None:
            return found
        names: Set[str] = set()
        globals_: Set[str] = set()
        if isinstance(scope, (cst.FunctionDef, cst.Lambda)):
            names.update(param_names(scope.params))
        if isinstance(scope, cst.FunctionDef):
            for node in walk_local(scope.body):
                if isinstance(node, (cst.FunctionDef, cst.ClassDef)):
                    names.add(node.name.value)
                elif isinstance(node, cst.Assign):
                    for t in node.targets:
                        names.update(n for n in target_names(t.target) if "." not in n)
                elif isinstance(node, (cst.AnnAssign, cst.AugAssign, cst.NamedExpr)):
                    names.update(n for n in target_names(node.target) if "." not in n)
                elif isinstance(node, (cst.For, cst.CompFor)):
                    names.update(n for n in target_names(node.target) if "." not in n)
                elif isinstance(node, cst.AsName) and isinstance(node.name, (cst.Name, cst.Tuple, cst.List)):
                    names.update(n for n in target_names(node.name) if "." not in n)
                elif isinstance(node, (cst.Global, cst.Nonlocal)):
                    globals_.update(item.name.value for item in node.names)
        names -= globals_
        # Imports inside the function are resolved by the import table, not shadows.
        if isinstance(scope, cst.FunctionDef):
            for node in walk_local(scope.body):
                if isinstance(node, (cst.Import, cst.ImportFrom)) and not isinstance(node.names, cst.ImportStar):
                    for alias in node.names:
                        if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                            names.discard(alias.asname.name.value)
                        else:
                            names.discard((dotted_name(alias.name) or "").split(".")[0])
        self._locals[key] = names
        return names

    @staticmethod
    def enclosing_scopes(stack: Sequence[cst.CSTNode]) -> List[cst.CSTNode]:
        """Function scopes whose body holds the node (not their decorators or defaults)."""
        out = []
        for i, node in enumerate(stack):
            if isinstance(node, (cst.FunctionDef, cst.Lambda)):
                nxt = stack[i + 1] if i + 1 < len(stack) else None
                if isinstance(nxt, (cst.Decorator, cst.Parameters, cst.Annotation)):
                    continue
                out.append(node)
        return out

    def module_assigns(self) -> Dict[str, Any]:
        """Module-level ``name = value`` bindings: the value, or _SHADOW when ambiguous."""
        if self._module_assigns is None:
            self._module_assigns = self._collect_assigns(self.ctx.module.body, top=True)
        return self._module_assigns

    def scope_assigns(self, scope: cst.FunctionDef) -> Dict[str, Any]:
        key = id(scope)
        found = self._assigns.get(key)
        if found is None:
            found = self._collect_assigns(scope.body, top=False)
            self._assigns[key] = found
        return found

    @staticmethod
    def _collect_assigns(body, top: bool) -> Dict[str, Any]:
        out: Dict[str, Any] = {}
        nodes: Iterable[cst.CSTNode] = module_level(body) if top else walk_local(body)
        for node in nodes:
            pairs: List[Tuple[str, Any]] = []
            if isinstance(node, cst.Assign):
                for t in node.targets:
                    if isinstance(t.target, cst.Name) and len(node.targets) == 1:
                        pairs.append((t.target.value, node.value))
                    else:
                        pairs.extend((n, _SHADOW) for n in target_names(t.target) if "." not in n)
            elif isinstance(node, cst.AnnAssign) and isinstance(node.target, cst.Name):
                pairs.append((node.target.value, node.value if node.value is not None else _SHADOW))
            elif isinstance(node, (cst.AugAssign, cst.For)):
                pairs.extend((n, _SHADOW) for n in target_names(node.target) if "." not in n)
            for name, value in pairs:
                out[name] = _SHADOW if name in out else value
        return out

    # resolution
    def resolve(self, expr: cst.CSTNode, stack: Sequence[cst.CSTNode], wanted=None) -> Optional[str]:
        """Qualified name of ``expr``, or None when a local binding shadows it.

        ``wanted(qualified)`` lets a caller skip the (costlier) shadowing check for names
        it does not care about.
        """
        dotted = dotted_name(expr)
        if not dotted:
            return None
        head, _, rest = dotted.partition(".")
        assigned = self.module_assigns().get(head)
        if assigned is not None:
            if assigned is _SHADOW or not isinstance(assigned, (cst.Name, cst.Attribute)):
                return None
            target = self.ctx.imports.resolve(assigned)
            if target is None:
                return None
            qualified: Optional[str] = f"{target}.{rest}" if rest else target
        else:
            qualified = self.ctx.imports.resolve_dotted(dotted)
        if qualified is None or (wanted is not None and not wanted(qualified)):
            return None
        for scope in self.enclosing_scopes(stack):
            if head in self.local_names(scope):
                return None
        return qualified

    def value_of(self, name: cst.Name, stack: Sequence[cst.CSTNode]) -> Optional[cst.CSTNode]:
        """The single value a plain name is assigned in its function or module, if known."""
        scopes = self.enclosing_scopes(stack)
        for scope in reversed(scopes):
            if isinstance(scope, cst.Lambda):
                if name.value in self.local_names(scope):
                    return None
                continue
            if name.value in self.local_names(scope):
                value = self.scope_assigns(scope).get(name.value)
                return None if value is None or value is _SHADOW else value
        value = self.module_assigns().get(name.value)
        return None if value is None or value is _SHADOW else value


def project_function(scopes: Scopes, func: cst.CSTNode, stack: Sequence[cst.CSTNode]) -> Optional[cst.FunctionDef]:
    """The function of this file that ``func`` calls: ``name(...)`` for a module-level def
    not shadowed by a local, ``self.name(...)`` / ``cls.name(...)`` for a method of the
    enclosing class. None otherwise (imports, other receivers)."""
    if isinstance(func, cst.Name):
        for scope in scopes.enclosing_scopes(stack):
            if func.value in scopes.local_names(scope):
                return None
        for stmt in scopes.ctx.module.body:
            if isinstance(stmt, cst.FunctionDef) and stmt.name.value == func.value:
                return stmt
        return None
    if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name) and func.value.value in ("self", "cls"):
        for node in reversed(stack):
            if isinstance(node, cst.ClassDef):
                for stmt in statements(node.body):
                    if isinstance(stmt, cst.FunctionDef) and stmt.name.value == func.attr.value:
                        return stmt
                return None
    return None
