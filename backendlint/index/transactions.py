"""Project wrappers of atomic (fact ``transaction_wrappers``): functions that open a
transaction (a ``with atomic(): yield`` context manager, a function returning
``atomic()``, a decorator whose inner function calls the wrapped one inside ``with
atomic()``, subclasses of ``Atomic``; wrappers of wrappers too), and classes whose
``dispatch`` is atomic (and their subclasses). What opens a transaction at a LibCST node
is ``knowledge.transactions.Transactions``; this module finds the project's names for it.

Reader: ``TransactionFacts.of(facts)``.
"""

from __future__ import annotations

import ast
from typing import Dict, FrozenSet, List, NamedTuple, Optional, Sequence, Tuple

from backendlint.engine.facts import FactCollector, register
from backendlint.engine.pyast import body_nodes, body_statements, file_bindings, resolve
from backendlint.knowledge.transactions import ATOMIC, BEGIN_METHODS, FACT_KIND


def _item_refs(bindings: Dict[str, str], expr: ast.expr) -> Tuple[bool, List[str]]:
    """(opens a transaction directly, [qualified names that might be wrappers])."""
    if isinstance(expr, ast.IfExp):
        a, ra = _item_refs(bindings, expr.body)
        b, rb = _item_refs(bindings, expr.orelse)
        return a or b, ra + rb
    if isinstance(expr, ast.Await):
        return _item_refs(bindings, expr.value)
    callee = expr.func if isinstance(expr, ast.Call) else expr
    if isinstance(expr, ast.Call) and isinstance(callee, ast.Attribute) and callee.attr in BEGIN_METHODS:
        return True, []
    qualified = resolve(bindings, callee)
    if qualified is None:
        return False, []
    if qualified in ATOMIC:
        return True, []
    return False, [qualified]


def _has_yield(stmts: Sequence[ast.stmt]) -> bool:
    return any(isinstance(n, (ast.Yield, ast.YieldFrom)) for n in body_nodes(stmts))


def _function_part(bindings: Dict[str, str], func: ast.AST) -> Optional[dict]:
    direct = False
    refs: List[str] = []
    body = func.body  # type: ignore[attr-defined]
    for node in body_statements(body):
        if isinstance(node, (ast.With, ast.AsyncWith)) and _has_yield(node.body):
            for item in node.items:
                d, r = _item_refs(bindings, item.context_expr)
                direct = direct or d
                refs.extend(r)
        elif isinstance(node, ast.Return) and node.value is not None:
            value = node.value
            if isinstance(value, ast.Call) or isinstance(value, ast.IfExp):
                d, r = _item_refs(bindings, value)
                direct = direct or d
                if len([s for s in body if not _is_docstring(s)]) <= 3:
                    refs.extend(r)
    # A decorator: ``def atomic_view(f): @wraps(f) def inner(*a): with atomic(): return f(*a); return inner``
    params = [a.arg for a in func.args.args]  # type: ignore[attr-defined]
    if params:
        for stmt in body:
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
                returns_inner = any(
                    isinstance(s, ast.Return) and isinstance(s.value, ast.Name) and s.value.id == stmt.name for s in body
                )
                if not returns_inner:
                    continue
                for node in body_statements(stmt.body):
                    if isinstance(node, (ast.With, ast.AsyncWith)):
                        calls_param = any(
                            isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id in params
                            for n in body_nodes(node.body)
                        )
                        if not calls_param:
                            continue
                        for item in node.items:
                            d, r = _item_refs(bindings, item.context_expr)
                            direct = direct or d
                            refs.extend(r)
    if not direct and not refs:
        return None
    return {"direct": direct, "refs": sorted(set(refs))}


def _is_docstring(stmt: ast.stmt) -> bool:
    return isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, str)


def _dispatch_is_atomic(bindings: Dict[str, str], cls: ast.ClassDef) -> Tuple[bool, List[str]]:
    """(atomic dispatch, [refs])."""

    def decorator_refs(dec: ast.expr) -> Tuple[bool, List[str]]:
        targets = [dec]
        if isinstance(dec, ast.Call) and (resolve(bindings, dec.func) or "").endswith("method_decorator") and dec.args:
            first = dec.args[0]
            targets = list(first.elts) if isinstance(first, (ast.List, ast.Tuple)) else [first]
        direct, refs = False, []
        for target in targets:
            d, r = _item_refs(bindings, target)
            direct = direct or d
            refs.extend(r)
        return direct, refs

    direct, refs = False, []
    for dec in cls.decorator_list:
        if isinstance(dec, ast.Call) and any(
            kw.arg == "name" and isinstance(kw.value, ast.Constant) and kw.value.value == "dispatch" for kw in dec.keywords
        ):
            d, r = decorator_refs(dec)
            direct, refs = direct or d, refs + r
    for stmt in cls.body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)) and stmt.name == "dispatch":
            for dec in stmt.decorator_list:
                d, r = decorator_refs(dec)
                direct, refs = direct or d, refs + r
            for node in body_statements(stmt.body):
                if isinstance(node, (ast.With, ast.AsyncWith)):
                    if any(isinstance(n, ast.Return) for n in body_statements(node.body)):
                        for item in node.items:
                            d, r = _item_refs(bindings, item.context_expr)
                            direct, refs = direct or d, refs + r
    return direct, refs


@register
class TransactionWrappers(FactCollector):
    """Project functions that open a transaction, and classes whose dispatch is atomic.

    Part per file: {"functions": {qualified: {"direct": bool, "refs": [...]}},
    "classes": {qualified: {"direct": bool, "refs": [...], "bases": [...]}}}.
    Merged: {"wrappers": [qualified names], "atomic_classes": [qualified names]}.
    """

    kind = FACT_KIND
    requires = ("atomic", "begin", "Atomic")
    version = 1

    def collect(self, tree: ast.Module, relpath: str, module_name: str, source: str):
        is_package = relpath.endswith("__init__.py")
        bindings = file_bindings(tree, module_name, is_package)
        prefix = f"{module_name}." if module_name else ""
        functions: Dict[str, dict] = {}
        classes: Dict[str, dict] = {}
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                part = _function_part(bindings, node)
                if part:
                    functions[prefix + node.name] = part
            elif isinstance(node, ast.ClassDef):
                bases = [q for q in (resolve(bindings, b) for b in node.bases) if q]
                if any(b in ATOMIC for b in bases):
                    functions[prefix + node.name] = {"direct": True, "refs": []}
                direct, refs = _dispatch_is_atomic(bindings, node)
                if direct or refs or bases:
                    classes[prefix + node.name] = {"direct": direct, "refs": sorted(set(refs)), "bases": bases}
                for stmt in node.body:
                    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
                        part = _function_part(bindings, stmt)
                        if part:
                            functions[f"{prefix}{node.name}.{stmt.name}"] = part
        if not functions and not any(c["direct"] or c["refs"] for c in classes.values()):
            return None
        return {"functions": functions, "classes": classes}

    def merge(self, parts):
        functions: Dict[str, dict] = {}
        classes: Dict[str, dict] = {}
        for part in parts.values():
            functions.update(part.get("functions") or {})
            classes.update(part.get("classes") or {})
        wrappers = {name for name, f in functions.items() if f.get("direct")}
        for _ in range(8):
            added = {
                name
                for name, f in functions.items()
                if name not in wrappers and any(ref in wrappers for ref in f.get("refs", ()))
            }
            if not added:
                break
            wrappers |= added
        atomic = {name for name, c in classes.items() if c.get("direct") or any(r in wrappers for r in c.get("refs", ()))}
        for _ in range(8):
            added = {
                name for name, c in classes.items() if name not in atomic and any(b in atomic for b in c.get("bases", ()))
            }
            if not added:
                break
            atomic |= added
        return {"wrappers": sorted(wrappers), "atomic_classes": sorted(atomic)}


class TransactionFacts(NamedTuple):
    """The merged ``transaction_wrappers`` fact."""

    wrappers: FrozenSet[str]  # qualified names of functions that open a transaction
    atomic_classes: FrozenSet[str]  # classes whose every method runs in one

    @classmethod
    def of(cls, facts) -> "TransactionFacts":
        data = (facts.get(FACT_KIND) if facts is not None else None) or {}
        return cls(frozenset(data.get("wrappers") or ()), frozenset(data.get("atomic_classes") or ()))
