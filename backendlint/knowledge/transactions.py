"""Transactions: what opens one (Django ``atomic``, SQLAlchemy ``begin()``, project wrappers).

Rule-agnostic knowledge (BL301 asks "is this write covered?", BL302 will ask "is this
side effect inside a transaction?").

- Django: ``with transaction.atomic(...)`` in every import spelling (``using=``,
  ``savepoint=``, ``durable=`` arguments), ``@transaction.atomic`` / ``@atomic(...)`` /
  ``@method_decorator(atomic)`` on a method, ``@method_decorator(atomic, name=...)`` on a
  class, an atomic ``dispatch`` (inherited from a project mixin too), and
  ``@non_atomic_requests`` (which opts a view out of ATOMIC_REQUESTS).
- Project wrappers of atomic, found project-wide by the ``transaction_wrappers`` fact
  collector: a function whose body is ``with transaction.atomic(...): yield`` (usually
  under ``@contextmanager``; also when only one branch opens the transaction, as in
  ``conditional_atomic``), a function that returns ``transaction.atomic(...)``, a
  decorator whose inner function calls the wrapped one inside ``with atomic()``, and
  subclasses of ``django.db.transaction.Atomic``. Wrappers of wrappers count too.
  A rule can add names of its own (``Transactions(ctx, extra_names)``).
- SQLAlchemy: ``with session.begin():`` / ``with engine.begin():`` /
  ``async with session.begin():`` / ``begin_nested()``.
"""

from __future__ import annotations

import ast
from typing import Dict, Iterable, List, Optional, Sequence, Set, Tuple

import libcst as cst

from backendlint.engine.facts import ast_dotted, body_nodes, body_statements, FactCollector, nodes_of, register
from backendlint.engine.imports import dotted_name

FACT_KIND = "transaction_wrappers"
FACTS = (FACT_KIND,)

ATOMIC = frozenset({"django.db.transaction.atomic", "django.db.transaction.Atomic"})
NON_ATOMIC_REQUESTS = "django.db.transaction.non_atomic_requests"
METHOD_DECORATOR = "django.utils.decorators.method_decorator"
BEGIN_METHODS = frozenset({"begin", "begin_nested"})

DJANGO = "django"
SQLALCHEMY = "sqlalchemy"


def _callee(expr: cst.BaseExpression) -> cst.BaseExpression:
    return expr.func if isinstance(expr, cst.Call) else expr


class Transactions:
    """Transaction knowledge for one file (project wrappers from the facts)."""

    def __init__(self, ctx, extra_names: Iterable[str] = ()):
        self.ctx = ctx
        facts = (ctx.facts.get(FACT_KIND) if ctx.facts is not None else None) or {}
        self.wrappers: Set[str] = set(facts.get("wrappers") or ())
        self.atomic_classes: Set[str] = set(facts.get("atomic_classes") or ())
        self.method_wrappers = {
            parts[-1] for parts in (w.split(".") for w in self.wrappers) if len(parts) >= 2 and parts[-2][:1].isupper()
        }
        self.extra = {n.strip() for n in extra_names if n and n.strip()}
        self.extra_last = {n.rsplit(".", 1)[-1] for n in self.extra}

    # -- names --------------------------------------------------------------------------
    def _names(self, expr: cst.BaseExpression) -> Tuple[Optional[str], str]:
        """(qualified name or None, dotted text) of a Name/Attribute expression."""
        try:
            qualified = self.ctx.qualified(expr)
        except Exception:  # noqa: BLE001
            qualified = None
        return qualified, dotted_name(expr) or ""

    @staticmethod
    def _same_module_path(a: str, b: str) -> bool:
        """``shop.db.f`` and ``db.f`` name the same thing when the module names of the
        project are rooted differently (a directory without ``__init__.py``)."""
        return a == b or a.endswith("." + b) or b.endswith("." + a)

    def _known(self, qualified: str, names: Set[str]) -> bool:
        if qualified in names:
            return True
        last = qualified.rsplit(".", 1)[-1]
        return any(
            name.rsplit(".", 1)[-1] == last and "." in name and self._same_module_path(qualified, name)
            for name in names
        )

    def _is_wrapper_name(self, qualified: Optional[str], text: str) -> bool:
        if qualified and self._known(qualified, self.wrappers):
            return True
        if not qualified and text.startswith(("self.", "cls.")) and text.count(".") == 1:
            # ``with self.locked_row():`` - a method of this class (or a base) that wraps atomic
            if text.split(".", 1)[1] in self.method_wrappers:
                return True
        if not qualified and text and "." not in text:
            # A function of this module defined below its use (not yet in the import table).
            local = f"{self.ctx.module_name}.{text}" if self.ctx.module_name else text
            if local in self.wrappers:
                return True
        if self.extra:
            for name in (qualified, text):
                if not name:
                    continue
                if name in self.extra or name.rsplit(".", 1)[-1] in self.extra and (
                    name.rsplit(".", 1)[-1] in self.extra_last
                ):
                    return True
                if any(name.endswith("." + e) for e in self.extra):
                    return True
        return False

    def is_atomic(self, expr: Optional[cst.BaseExpression]) -> bool:
        """``transaction.atomic``, ``atomic(using=...)``, a project wrapper (called or not)."""
        if expr is None:
            return False
        if isinstance(expr, cst.IfExp):
            # ``atomic() if cond else nullcontext()``: the author asked for a transaction.
            return self.is_atomic(expr.body) or self.is_atomic(expr.orelse)
        if isinstance(expr, cst.Call) and isinstance(expr.func, cst.Call):
            # ``atomic(using=db)`` used as a decorator factory then applied: atomic()(f)
            return self.is_atomic(expr.func)
        callee = _callee(expr)
        if not isinstance(callee, (cst.Name, cst.Attribute)):
            return False
        qualified, text = self._names(callee)
        if qualified in ATOMIC:
            return True
        return self._is_wrapper_name(qualified, text)

    def with_item_kind(self, expr: cst.BaseExpression, bound: Optional[Dict[str, List[cst.BaseExpression]]] = None) -> Optional[str]:
        """DJANGO / SQLALCHEMY when a ``with`` item opens a transaction, else None.

        ``bound`` maps local names to the expressions assigned to them
        (``tx = transaction.atomic(); with tx:``).
        """
        if isinstance(expr, cst.Call) and self.is_atomic(expr):
            return DJANGO
        if isinstance(expr, cst.IfExp):
            return self.with_item_kind(expr.body, bound) or self.with_item_kind(expr.orelse, bound)
        if isinstance(expr, cst.Await):
            return self.with_item_kind(expr.expression, bound)
        if isinstance(expr, cst.Call) and isinstance(expr.func, cst.Attribute):
            if expr.func.attr.value in BEGIN_METHODS:
                if self._is_sqlalchemy_begin_receiver(expr.func.value):
                    return SQLALCHEMY
        if isinstance(expr, cst.Name) and bound:
            for value in bound.get(expr.value, ()):
                if value is not expr and not isinstance(value, cst.Name):
                    found = self.with_item_kind(value, None)
                    if found:
                        return found
        return None

    def _is_sqlalchemy_begin_receiver(self, expr: cst.BaseExpression) -> bool:
        qualified, text = self._names(expr) if isinstance(expr, (cst.Name, cst.Attribute)) else (None, "")
        if qualified and qualified.startswith(("django", "psycopg", "sqlite3", "redis", "requests", "httpx")):
            return False
        last = (text or "").rsplit(".", 1)[-1].lower()
        if "redis" in last or "pipeline" in last:
            return False
        return True

    # -- decorators and classes ------------------------------------------------------------
    def decorator_is_atomic(self, dec: cst.Decorator) -> bool:
        expr = dec.decorator
        if self.is_atomic(expr):
            return True
        return any(self.is_atomic(inner) for inner in self._method_decorator_args(expr))

    def _method_decorator_args(self, expr: cst.BaseExpression) -> List[cst.BaseExpression]:
        """The decorators passed to ``method_decorator(d)`` / ``method_decorator([d1, d2])``."""
        if not isinstance(expr, cst.Call) or not expr.args:
            return []
        qualified, text = self._names(expr.func) if isinstance(expr.func, (cst.Name, cst.Attribute)) else (None, "")
        if qualified != METHOD_DECORATOR and (qualified or text.rsplit(".", 1)[-1] != "method_decorator"):
            return []
        first = expr.args[0].value
        if isinstance(first, (cst.List, cst.Tuple)):
            return [e.value for e in first.elements]
        return [first]

    def _method_decorator_name(self, expr: cst.BaseExpression) -> Optional[str]:
        if not isinstance(expr, cst.Call):
            return None
        for arg in expr.args:
            if arg.keyword is not None and arg.keyword.value == "name" and isinstance(arg.value, cst.SimpleString):
                try:
                    value = arg.value.evaluated_value
                except Exception:  # noqa: BLE001
                    return None
                return value if isinstance(value, str) else None
        if len(expr.args) >= 2 and expr.args[1].keyword is None and isinstance(expr.args[1].value, cst.SimpleString):
            value = expr.args[1].value.evaluated_value
            return value if isinstance(value, str) else None
        return None

    def class_is_atomic(self, cls: cst.ClassDef) -> bool:
        """Every method of the class runs inside a transaction: an atomic ``dispatch``
        (decorated on the method, or ``@method_decorator(atomic, name="dispatch")`` on the
        class), or a base class known (project-wide) to have one."""
        for dec in cls.decorators:
            if self._method_decorator_name(dec.decorator) == "dispatch":
                if any(self.is_atomic(d) for d in self._method_decorator_args(dec.decorator)):
                    return True
        body = cls.body
        if isinstance(body, cst.IndentedBlock):
            for stmt in body.body:
                if isinstance(stmt, cst.FunctionDef) and stmt.name.value == "dispatch":
                    if any(self.decorator_is_atomic(d) for d in stmt.decorators):
                        return True
        for arg in cls.bases:
            base = arg.value
            if isinstance(base, (cst.Name, cst.Attribute)):
                qualified, text = self._names(base)
                if qualified and self._known(qualified, self.atomic_classes):
                    return True
                if not qualified and text and f"{self.ctx.module_name}.{text}" in self.atomic_classes:
                    return True
        return False

    def class_decorates_method(self, cls: cst.ClassDef, method: str) -> bool:
        """``@method_decorator(atomic, name="<method>")`` on the class."""
        for dec in cls.decorators:
            if self._method_decorator_name(dec.decorator) == method:
                if any(self.is_atomic(d) for d in self._method_decorator_args(dec.decorator)):
                    return True
        return False

    def function_is_atomic(self, func: cst.FunctionDef, classes: Sequence[cst.ClassDef] = ()) -> bool:
        """The whole function body runs inside one transaction (decorators, atomic class)."""
        if any(self.decorator_is_atomic(d) for d in func.decorators):
            return True
        if classes:
            cls = classes[-1]
            body = cls.body
            if isinstance(body, cst.IndentedBlock) and any(stmt is func for stmt in body.body):
                if self.class_is_atomic(cls) or self.class_decorates_method(cls, func.name.value):
                    return True
        return False

    def is_non_atomic_requests(self, func: cst.FunctionDef, classes: Sequence[cst.ClassDef] = ()) -> bool:
        """``@transaction.non_atomic_requests`` (bare or called, or via method_decorator)."""

        def non_atomic(expr: cst.BaseExpression) -> bool:
            callee = _callee(expr)
            if not isinstance(callee, (cst.Name, cst.Attribute)):
                return False
            qualified, text = self._names(callee)
            if qualified:
                return qualified == NON_ATOMIC_REQUESTS
            return text.rsplit(".", 1)[-1] == "non_atomic_requests"

        for dec in func.decorators:
            if non_atomic(dec.decorator) or any(non_atomic(d) for d in self._method_decorator_args(dec.decorator)):
                return True
        if classes:
            cls = classes[-1]
            for dec in cls.decorators:
                name = self._method_decorator_name(dec.decorator)
                if name in ("dispatch", func.name.value):
                    if any(non_atomic(d) for d in self._method_decorator_args(dec.decorator)):
                        return True
            body = cls.body
            if isinstance(body, cst.IndentedBlock):
                for stmt in body.body:
                    if isinstance(stmt, cst.FunctionDef) and stmt.name.value == "dispatch":
                        for dec in stmt.decorators:
                            if non_atomic(dec.decorator) or any(
                                non_atomic(d) for d in self._method_decorator_args(dec.decorator)
                            ):
                                return True
        return False


# -- the project fact: wrappers of atomic ---------------------------------------------------
def _ast_bindings(tree: ast.Module, module_name: str, is_package: bool) -> Dict[str, str]:
    """Local name -> qualified name, from every import of the file and its top-level defs."""
    from backendlint.engine.pyast import AstImports

    table = AstImports(module_name, is_package)
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            table.local(node.name)
    for node in nodes_of(tree, (ast.Import, ast.ImportFrom)):
        table.add(node)  # imports anywhere in the file
    return table.bindings


_ast_dotted = ast_dotted  # shared with the other collectors


def _resolve(bindings: Dict[str, str], node: ast.AST) -> Optional[str]:
    dotted = _ast_dotted(node)
    if not dotted:
        return None
    head, _, rest = dotted.partition(".")
    bound = bindings.get(head)
    if bound is None:
        return None
    return f"{bound}.{rest}" if rest else bound


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
    qualified = _resolve(bindings, callee)
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
        if isinstance(dec, ast.Call) and (_resolve(bindings, dec.func) or "").endswith("method_decorator") and dec.args:
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
        bindings = _ast_bindings(tree, module_name, is_package)
        prefix = f"{module_name}." if module_name else ""
        functions: Dict[str, dict] = {}
        classes: Dict[str, dict] = {}
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                part = _function_part(bindings, node)
                if part:
                    functions[prefix + node.name] = part
            elif isinstance(node, ast.ClassDef):
                bases = [q for q in (_resolve(bindings, b) for b in node.bases) if q]
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
