"""What guards a create against duplicates: the vocabulary of BL201's "Not reported".

A *guard* makes a retried request harmless: ``get_or_create`` / an upsert, a create
whose ``IntegrityError`` is handled, a lookup of the same model that returns early (or
branches) when the row already exists (a *loader* reads the row, a *duplicate
predicate* asks for it), a state field of a loaded row tested before the create, an
idempotency key. Where the project index (``index/effects.py``, stdlib ``ast``) asks the
same question as BL201 (LibCST), the two predicates stand side by side here and share
their tables (``tests/test_twins_effects.py`` pins that they agree).
"""

from __future__ import annotations

import ast
import re
from typing import List, Optional, Tuple

import libcst as cst

from backendlint.engine.pyast import ast_dotted
from backendlint.knowledge.creates import manager_root
from backendlint.syntax.names import dotted_name, last_of as _last
from backendlint.syntax.walk import walk

# ----------------------------------------------------------------------------------
# get-or-create
# ----------------------------------------------------------------------------------

GUARDED_CREATES = frozenset({"get_or_create", "update_or_create", "aget_or_create", "aupdate_or_create"})


def manager_guarded_create(call: cst.Call) -> Optional[str]:
    """The model of ``Order.objects.get_or_create(...)`` / ``update_or_create``."""
    func = call.func
    if isinstance(func, cst.Attribute) and func.attr.value in GUARDED_CREATES:
        root = manager_root(func.value)
        if root:
            return root[0]
        text = dotted_name(func.value) or ""
        return _last(text) or "?"
    return None


# ----------------------------------------------------------------------------------
# exceptions that make a guard
# ----------------------------------------------------------------------------------

INTEGRITY_ERRORS = ("IntegrityError", "UniqueViolation", "UniqueViolationError", "DuplicateKeyError", "NotUniqueError")
DOES_NOT_EXIST = ("DoesNotExist", "ObjectDoesNotExist", "NoResultFound")


def _exception_names(expr: Optional[cst.BaseExpression]) -> List[str]:
    if expr is None:
        return []
    if isinstance(expr, cst.Tuple):
        out: List[str] = []
        for el in expr.elements:
            out.extend(_exception_names(el.value))
        return out
    text = dotted_name(expr)
    return [text] if text else []


def catches_integrity_error(handler: cst.ExceptHandler) -> bool:
    """``except IntegrityError:`` (also in a tuple, ``except db.IntegrityError``)."""
    return any(_last(n) in INTEGRITY_ERRORS for n in _exception_names(handler.type))


def ast_catches_integrity(expr: Optional[ast.AST]) -> bool:
    """The ast twin, on an ``except`` clause's type or a ``with`` item: any name in it
    (``IntegrityError``, ``(ValueError, db.IntegrityError)``, ``suppress(IntegrityError)``)
    ends with an integrity error. (Wider than the LibCST twin: it does not look only at
    the exception names of a handler, so a ``with`` item counts too.)"""
    if expr is None:
        return False
    for node in ast.walk(expr):
        text = ast_dotted(node) if isinstance(node, (ast.Name, ast.Attribute)) else None
        if text and _last(text) in INTEGRITY_ERRORS:
            return True
    return False


def does_not_exist_models(handler: cst.ExceptHandler) -> Optional[List[str]]:
    """Models whose absence this handler catches: ``Order.DoesNotExist`` -> ["Order"];
    ``ObjectDoesNotExist`` / ``NoResultFound`` -> [""] (any model looked up); None if none."""
    out = []
    for name in _exception_names(handler.type):
        last = _last(name)
        if last == "DoesNotExist" and "." in name:
            out.append(_last(name.rsplit(".", 1)[0]))
        elif last in DOES_NOT_EXIST:
            out.append("")
    return out or None


def suppresses_integrity_error(ctx, item: cst.WithItem) -> bool:
    """``with suppress(IntegrityError):``"""
    expr = item.item
    if isinstance(expr, cst.Call) and _last(dotted_name(expr.func) or "") == "suppress":
        return any(_last(dotted_name(a.value) or "") in INTEGRITY_ERRORS for a in expr.args)
    return False


# ----------------------------------------------------------------------------------
# rows read from the database (a duplicate check looks one up)
# ----------------------------------------------------------------------------------

LOADER_PREFIXES = ("get_", "aget_", "find_", "fetch_", "load_", "retrieve_", "lookup_")
# 404 helpers of Django, Flask-SQLAlchemy; ``get_object`` of DRF/Django generic views
ROW_OR_404 = ("get_object_or_404", "get_object", "aget_object_or_404", "first_or_404", "get_or_404", "one_or_404")
# getters of a generic view that do not read a row (a heuristic added with BL201's
# duplicate-check shapes, commit dcb7be4; the commit does not name the project it came from)
NOT_LOADERS = ("get_form", "get_serializer", "get_context_data", "get_queryset", "get_success_url", "get_form_kwargs", "get_serializer_context")
# ORM terminals that read one row (``Order.objects.get(...)``, ``query.first()``)
ROW_TERMINALS = frozenset({"get", "first", "last", "latest", "earliest", "aget", "afirst", "alast"})


def is_loader(call: cst.Call) -> bool:
    """``get_object_or_404(...)``, ``self.get_object()``, ``Chats.get_chat_by_id(...)``:
    a row read from the database (BL201)."""
    last = _last(dotted_name(call.func))
    if last in ROW_OR_404:
        return True
    return last.startswith(LOADER_PREFIXES) and last not in NOT_LOADERS


def ast_is_loader(call: ast.Call) -> bool:
    """The ast twin (effect summaries). It also counts ORM terminals (``x.get(...)``,
    ``x.first()``) and does not leave out ``NOT_LOADERS``: the summaries never did, and
    changing that would change BL301's findings (kept as it was)."""
    func = call.func
    name = func.attr if isinstance(func, ast.Attribute) else _last(ast_dotted(func))
    if isinstance(func, ast.Attribute) and name in ROW_TERMINALS:
        return True
    return name.startswith(LOADER_PREFIXES) or name in ROW_OR_404


# Lookups whose use in an ``if`` makes a function guard its creates (effect summaries).
DUPLICATE_CHECK_LOOKUPS = frozenset(
    {"exists", "first", "get", "one_or_none", "scalar", "scalar_one_or_none", "count", "filter",
     "filter_by", "aexists", "afirst", "aget", "acount"}
)

# ``user.has_active_staff_session(...)``, ``already_registered(...)``: a project predicate
# (heuristic from BL201's state-check/consumed-row work, commit df1116c)
_PREDICATE = re.compile(r"^(has_|already_|is_duplicate|exists|.*_exists$)")
_NOT_PREDICATES = ("has_perm", "has_perms", "has_permission", "has_changed", "has_key", "has_header")


def is_duplicate_predicate(call: cst.Call) -> bool:
    """``user.has_active_staff_session(...)``, ``already_registered(...)``: a duplicate
    check done by a project predicate."""
    name = _last(dotted_name(call.func))
    return bool(name) and bool(_PREDICATE.match(name)) and name not in _NOT_PREDICATES


# A state field of a row (``order.status``, ``invoice.paid_at``): a handler that tests it
# on a row it loaded finds the row in its new state when retried.
STATE_ATTR = re.compile(
    r"(status|state|paid|confirmed|completed|processed|approved|cancell?ed|done|finished|submitted|"
    r"published|sent|used|redeemed|locked|closed|_at$)",
    re.IGNORECASE,
)


# ----------------------------------------------------------------------------------
# idempotency keys
# ----------------------------------------------------------------------------------


def mentions_idempotency(text: str) -> bool:
    """A name or string that speaks of idempotency (``Idempotency-Key``, ``idempotency_key``)."""
    return "idempot" in text.lower()


_mentions = mentions_idempotency


_CONTAINERS = (
    cst.Dict, cst.DictElement, cst.List, cst.Tuple, cst.Set, cst.Element, cst.FormattedString,
    cst.FormattedStringExpression, cst.BinaryOperation, cst.ConcatenatedString, cst.Await,
    cst.IfExp, cst.BooleanOperation, cst.StarredElement, cst.StarredDictElement,
)


def idempotency_key_used(func: cst.FunctionDef) -> bool:
    """The handler reads an idempotency key (header, body, params, a parameter) and uses it.

    Reading means a string or name mentioning "idempot" (``request.headers.get(
    "Idempotency-Key")``, ``payload.idempotency_key``, a parameter ``idempotency_key``);
    using means the value (or a variable holding it) reaches a call argument, a
    subscript, a comparison with something other than a constant, or an attribute of
    an object. A key that is only read, or only tested for presence, is not a guard.
    """
    parents: dict = {}
    for node in walk(func):
        for child in _children(node):
            parents[id(child)] = node
    params = func.params
    tainted = set()
    for p in list(params.posonly_params) + list(params.params) + list(params.kwonly_params):
        if _mentions(p.name.value) or (p.default is not None and _any_mention(p.default)) or (
            p.annotation is not None and _any_mention(p.annotation)
        ):
            tainted.add(p.name.value)
    seeds = []
    for node in walk(func.body):
        if isinstance(node, cst.SimpleString) and _mentions(node.value):
            seeds.append(node)
        elif isinstance(node, cst.Attribute) and _mentions(node.attr.value):
            seeds.append(node)
        elif isinstance(node, cst.Name) and _mentions(node.value):
            seeds.append(node)
    for _ in range(4):  # taint through a few assignments
        reads = list(seeds)
        for node in walk(func.body):
            if isinstance(node, cst.Name) and node.value in tainted:
                reads.append(node)
        grew = False
        for read in reads:
            verdict, new_names = _use_of(read, parents)
            if verdict:
                return True
            for name in new_names:
                if name not in tainted:
                    tainted.add(name)
                    grew = True
        if not grew:
            return False
    return False


def _any_mention(node: cst.CSTNode) -> bool:
    for sub in walk(node):
        if isinstance(sub, cst.SimpleString) and _mentions(sub.value):
            return True
        if isinstance(sub, cst.Name) and _mentions(sub.value):
            return True
    return False


def _children(node: cst.CSTNode):
    for sub in node.children:
        yield sub


def _use_of(read: cst.CSTNode, parents: dict):
    """(used?, names the value was assigned to) for one read of the key."""
    node = read
    parent = parents.get(id(node))
    # a string key: climb to the read it names (headers["X"], headers.get("X"))
    if isinstance(read, cst.SimpleString):
        if isinstance(parent, cst.Arg):
            call = parents.get(id(parent))
            if isinstance(call, cst.Call):
                if parent.keyword is not None:
                    return False, []
                node, parent = call, parents.get(id(call))
        elif isinstance(parent, cst.Index):
            sub_el = parents.get(id(parent))
            sub = parents.get(id(sub_el)) if sub_el is not None else None
            if isinstance(sub, cst.Subscript):
                node, parent = sub, parents.get(id(sub))
        elif isinstance(parent, (cst.Comparison, cst.ComparisonTarget)):
            return False, []  # "Idempotency-Key" in request.headers: a presence test
    if isinstance(read, cst.Name) and isinstance(parent, cst.Arg) and parent.keyword is read:
        return False, []  # the keyword of an argument, not a value
    if isinstance(read, cst.Name) and isinstance(parent, cst.Param):
        return False, []
    if isinstance(read, cst.Name) and isinstance(parent, cst.Attribute) and parent.attr is read:
        return False, []  # handled as an Attribute seed
    for _ in range(30):
        if parent is None:
            return False, []
        if isinstance(parent, cst.Attribute) and parent.value is node:
            # key.strip(), request.headers.get: keep climbing through method calls on it
            node, parent = parent, parents.get(id(parent))
            continue
        if isinstance(parent, cst.Call):
            if parent.func is node:
                node, parent = parent, parents.get(id(parent))
                continue
            return True, []
        if isinstance(parent, cst.Arg):
            call = parents.get(id(parent))
            if isinstance(call, cst.Call) and parent.value is node:
                return True, []
            return False, []
        if isinstance(parent, (cst.Index, cst.SubscriptElement, cst.Subscript)):
            if isinstance(parent, cst.Subscript) and parent.value is node:
                node, parent = parent, parents.get(id(parent))
                continue
            return True, []  # cache[key]
        if isinstance(parent, (cst.Assign, cst.AnnAssign, cst.AugAssign)):
            targets = [t.target for t in parent.targets] if isinstance(parent, cst.Assign) else [parent.target]
            if any(t is node for t in targets):
                return False, []
            names = []
            for target in targets:
                if isinstance(target, cst.Name):
                    names.append(target.value)
                elif isinstance(target, (cst.Attribute, cst.Subscript)):
                    return True, []  # obj.key = ...; store[...] = ...
                else:
                    names.extend(n.value for n in walk(target) if isinstance(n, cst.Name))
            return False, names
        if isinstance(parent, cst.AssignTarget):
            return False, []
        if isinstance(parent, cst.NamedExpr):
            return False, [parent.target.value] if isinstance(parent.target, cst.Name) else []
        if isinstance(parent, cst.ComparisonTarget):
            comp = parents.get(id(parent))
            other = comp.left if isinstance(comp, cst.Comparison) else None
            return (other is not None and not _is_constant(other)), []
        if isinstance(parent, cst.Comparison):
            others = [c.comparator for c in parent.comparisons]
            return any(not _is_constant(o) for o in others), []
        if isinstance(parent, _CONTAINERS) or isinstance(parent, cst.UnaryOperation):
            node, parent = parent, parents.get(id(parent))
            continue
        return False, []
    return False, []


def _is_constant(expr: cst.BaseExpression) -> bool:
    return isinstance(expr, (cst.SimpleString, cst.Integer, cst.Float, cst.ConcatenatedString)) or (
        isinstance(expr, cst.Name) and expr.value in ("None", "True", "False")
    )


def guard_named(text: str, extra: Tuple[str, ...] = ()) -> bool:
    """A decorator/dependency/middleware name that makes a handler idempotent."""
    low = text.lower()
    if "idempot" in low:
        return True
    last = _last(text)
    return any(name == text or name == last or _last(name) == last for name in extra)


