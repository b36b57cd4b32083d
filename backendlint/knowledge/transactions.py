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
  subclasses of ``django.db.transaction.Atomic``. Wrappers of wrappers count too
  (collected by ``backendlint.index.transactions``, handed in by the rule).
  A rule can add names of its own (``Transactions(ctx, extra_names)``).
- SQLAlchemy: ``with session.begin():`` / ``with engine.begin():`` /
  ``async with session.begin():`` / ``begin_nested()``.
"""

from __future__ import annotations

from typing import Dict, Iterable, List, Optional, Sequence, Set, Tuple

import libcst as cst

from backendlint.engine.imports import dotted_name

FACT_KIND = "transaction_wrappers"
FACTS = (FACT_KIND,)

ATOMIC = frozenset({"django.db.transaction.atomic", "django.db.transaction.Atomic"})
NON_ATOMIC_REQUESTS = "django.db.transaction.non_atomic_requests"
METHOD_DECORATOR = "django.utils.decorators.method_decorator"
BEGIN_METHODS = frozenset({"begin", "begin_nested"})

DJANGO = "django"
SQLALCHEMY = "sqlalchemy"

# ModelAdmin methods that Django's admin calls inside its own transaction.atomic
# (changeform_view / delete_view wrap them).
ADMIN_ATOMIC_METHODS = frozenset(
    {"save_model", "save_related", "save_formset", "save_form", "delete_model", "log_addition",
     "log_change", "log_deletion", "response_add", "response_change", "response_delete",
     "construct_change_message"}
)


def _callee(expr: cst.BaseExpression) -> cst.BaseExpression:
    return expr.func if isinstance(expr, cst.Call) else expr


class Transactions:
    """Transaction knowledge for one file. ``wrappers`` / ``atomic_classes``: the project's
    wrappers of atomic and classes with an atomic dispatch (``index.transactions``)."""

    def __init__(self, ctx, extra_names: Iterable[str] = (), wrappers: Iterable[str] = (),
                 atomic_classes: Iterable[str] = ()):
        self.ctx = ctx
        self.wrappers: Set[str] = set(wrappers)
        self.atomic_classes: Set[str] = set(atomic_classes)
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

    def is_atomic_class_name(self, qualified: str) -> bool:
        """A project class (qualified name) whose every method runs in a transaction."""
        return self._known(qualified, self.atomic_classes)

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
