"""What creates a database row, and the lookups that find one.

Used by BL201 (non-idempotent POST) and the effect summaries. A *create* is a new row:
``Model.objects.create``, ``Model(...).save()`` of a new instance, ``bulk_create``,
``session.add`` of a newly constructed object, an executed ``insert(...)`` or raw
``INSERT``; an upsert is not one. What guards a create against duplicates is in
``guards.py``.

The LibCST predicates work on the file's import table and a function's local bindings
(``side_effects.local_bindings``); their stdlib-ast twins (``ast_*``, for the project
index) stand beside them and share their tables.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional, Tuple

import libcst as cst

import ast

from backendlint.engine.pyast import ast_dotted
from backendlint.knowledge.orm import EXECUTOR_NAMES
from backendlint.knowledge.writes import DJANGO_QUERYSET_ASYNC_WRITES, DJANGO_QUERYSET_WRITES, USER_MANAGER_CREATES
from backendlint.knowledge.side_effects import Bindings, unwrap
from backendlint.syntax.literals import string_literal
from backendlint.syntax.names import dotted_name, last_of
from backendlint.syntax.walk import walk


@dataclass
class Create:
    model: str  # what guards are matched against: "Order", "items" (related manager), table
    label: str  # for messages: "Order", "Order (bulk_create)"
    node: cst.CSTNode


# ----------------------------------------------------------------------------------
# names
# ----------------------------------------------------------------------------------

NOT_MODEL_SUFFIXES = (
    "Form", "FormSet", "Formset", "Serializer", "Schema", "Exception", "Error", "Response",
    "Request", "Client", "Session", "Mixin", "View", "ViewSet", "Thread", "Lock", "Manager",
    "Builder", "Factory", "Service", "Handler", "Dict", "Counter", "Writer", "Reader", "Buffer",
    "Widget", "Parser", "Encoder", "Decoder", "Logger", "Timer", "Paginator", "Renderer",
    "Validator", "Workbook", "Adapter", "Backend", "Provider", "Command", "Proxy", "Wrapper",
)
NOT_MODEL_NAMES = frozenset(
    {
        "HttpResponse", "JsonResponse", "Response", "Http404", "ValidationError", "Q", "F",
        "Value", "Decimal", "UUID", "Path", "OrderedDict", "Counter", "defaultdict",
        "BytesIO", "StringIO", "Image", "Workbook", "Thread", "Lock", "Retry", "Markup",
        "ContentFile", "SimpleUploadedFile", "Request", "Paginator", "Path",
    }
)
# Library packages whose classes are not ORM models.
NOT_MODEL_MODULES = (
    "datetime", "decimal", "uuid", "pathlib", "collections", "io", "json", "re", "typing",
    "django.http", "django.forms", "django.core", "django.template", "django.utils",
    "django.db.models.Q", "django.db.models.F", "django.db.models.expressions",
    "rest_framework", "flask", "fastapi", "starlette", "pydantic", "marshmallow",
    "sqlalchemy", "requests", "httpx", "aiohttp", "celery", "PIL", "openpyxl", "xlsxwriter",
    "csv", "zipfile", "tempfile", "threading", "asyncio", "logging", "email", "smtplib",
    "jinja2", "werkzeug", "wtforms", "flask_wtf", "stripe", "boto3", "botocore",
)

_MANAGER_CREATES = {"create": "", "create_user": "", "create_superuser": "", "bulk_create": " (bulk_create)"}
_ASYNC = {"acreate": "create", "abulk_create": "bulk_create"}


_last = last_of
# Django managers every model has (``Order.objects``)
MANAGER_ATTRS = ("objects", "_default_manager", "_base_manager", "all_objects")
# SQLAlchemy/Postgres/MySQL upserts: an insert that does not duplicate
UPSERT_METHODS = ("on_conflict_do_nothing", "on_conflict_do_update", "on_duplicate_key_update")


def model_key(name: str) -> str:
    """What guards and creates are matched on: ``AuditLog``, ``auditlog_set`` and
    ``audit_log`` are one model."""
    low = name.lower()
    if low.endswith("_set"):
        low = low[:-4]
    return low.replace("_", "")


def is_model_name(ctx, expr: cst.BaseExpression) -> Optional[str]:
    """The class name when ``expr`` (a constructor callee) looks like an ORM model class."""
    text = dotted_name(expr)
    if not text:
        return None
    last = _last(text)
    if not last[:1].isupper() or last.isupper() and len(last) > 1:
        return None  # CONSTANTS, functions
    if not any(c.islower() for c in last):
        return None
    if last in NOT_MODEL_NAMES or last.endswith(NOT_MODEL_SUFFIXES):
        return None
    qualified = ctx.qualified(expr) or ""
    if qualified.startswith(NOT_MODEL_MODULES) and not qualified.startswith("django.contrib.auth.models"):
        return None
    if "." in text:
        owner = text.rsplit(".", 1)[0]
        # models.Order(...) is a model; stripe.Charge(...), datetime.datetime(...) are not
        owner_q = ctx.qualified(expr.value) if isinstance(expr, cst.Attribute) else None
        if owner_q and owner_q.split(".", 1)[0] in {m.split(".", 1)[0] for m in NOT_MODEL_MODULES}:
            return None
        if _last(owner)[:1].isupper():
            return None  # Outer.Inner(...): nested classes are rarely models
    return last


def ast_model_name(dotted: Optional[str], qualified: Optional[str]) -> Optional[str]:
    """The ast twin of ``is_model_name``, given a constructor callee's dotted text and its
    name through the imports. (The LibCST twin looks at the owner's qualified name where
    this one looks at the callee's: ``stripe.Charge`` is left out by both.)"""
    if not dotted:
        return None
    last = _last(dotted)
    if not last[:1].isupper() or (last.isupper() and len(last) > 1) or not any(c.islower() for c in last):
        return None
    if last in NOT_MODEL_NAMES or last.endswith(NOT_MODEL_SUFFIXES):
        return None
    q = qualified or ""
    if q.startswith(NOT_MODEL_MODULES) and not q.startswith("django.contrib.auth.models"):
        return None
    if "." in dotted:
        owner = dotted.rsplit(".", 1)[0]
        if _last(owner)[:1].isupper():
            return None
        heads = {m.split(".", 1)[0] for m in NOT_MODEL_MODULES}
        if q and q.split(".", 1)[0] in heads:
            return None
    return last


def model_construction(ctx, expr: cst.BaseExpression) -> Optional[str]:
    """``Order(...)`` (a model instance built here) -> "Order"."""
    expr = unwrap(expr)
    if isinstance(expr, cst.Call) and not any(a.star for a in expr.args):
        return is_model_name(ctx, expr.func)
    return None


def manager_root(expr: cst.BaseExpression) -> Optional[Tuple[str, str]]:
    """(model, manager) for ``Order.objects`` / ``models.Order.objects`` / ``self.model.objects``."""
    if not isinstance(expr, cst.Attribute):
        return None
    manager = expr.attr.value
    owner = expr.value
    text = dotted_name(owner)
    if not text:
        return None
    last = _last(text)
    if manager in MANAGER_ATTRS:
        if last[:1].isupper() or last == "model":
            return (last, manager)
        return None
    if last[:1].isupper() and any(c.islower() for c in last) and manager.islower() and manager.endswith(("objects", "manager")):
        return (last, manager)
    return None


def ast_manager_model(expr: ast.AST) -> Optional[str]:
    """The ast twin of ``manager_root`` (its model only): ``Order`` for ``Order.objects`` /
    ``models.Order.objects``, also through ``.using(...)``; custom managers
    (``Order.active_objects``) and ``self.model.objects`` are left to the LibCST twin."""
    if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute) and expr.func.attr in ("using", "db_manager"):
        expr = expr.func.value
    if not isinstance(expr, ast.Attribute) or expr.attr not in MANAGER_ATTRS:
        return None
    owner = ast_dotted(expr.value)
    if not owner:
        return None
    last = _last(owner)
    return last if last[:1].isupper() and any(c.islower() for c in last) else None


def ast_queryset_model(expr: ast.AST) -> Optional[str]:
    """``Order`` for ``Order.objects.filter(...)...`` chains."""
    depth = 0
    while isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute) and depth < 12:
        found = ast_manager_model(expr.func.value)
        if found:
            return found
        expr = expr.func.value
        depth += 1
    return ast_manager_model(expr)


def manager_create(ctx, call: cst.Call) -> Optional[Create]:
    """``Order.objects.create(...)``, ``bulk_create`` (without conflict handling), ``create_user``."""
    func = call.func
    if not isinstance(func, cst.Attribute):
        return None
    method = _ASYNC.get(func.attr.value, func.attr.value)
    if method not in _MANAGER_CREATES:
        return None
    root = manager_root(func.value)
    if root is None:
        # Order.objects.using("x").create(...)
        inner = func.value
        if isinstance(inner, cst.Call) and isinstance(inner.func, cst.Attribute) and inner.func.attr.value in ("using", "db_manager"):
            root = manager_root(inner.func.value)
    if root is None:
        return None
    if method == "bulk_create" and _upsert_kwargs(call):
        return None
    model = root[0]
    return Create(model, model + _MANAGER_CREATES[method], call)


def _upsert_kwargs(call: cst.Call) -> bool:
    for arg in call.args:
        if arg.keyword is not None and arg.keyword.value in ("ignore_conflicts", "update_conflicts"):
            if not (isinstance(arg.value, cst.Name) and arg.value.value in ("False", "None")):
                return True
    return False


_LIBRARY_HEADS = frozenset(
    {"stripe", "braintree", "openai", "anthropic", "boto3", "botocore", "google", "azure", "redis",
     "celery", "kombu", "requests", "httpx", "aiohttp", "jwt", "datetime", "uuid", "pydantic",
     "marshmallow", "rest_framework", "django", "flask", "fastapi", "starlette", "sqlalchemy",
     "paypalrestsdk", "razorpay", "twilio", "sendgrid", "slack_sdk", "github", "gitlab", "docker",
     "kubernetes", "elasticsearch", "minio", "tempfile", "zipfile", "asyncio", "threading"}
)
_ACTIVE_RECORD_ORMS = re.compile(r"^[ \t]*(?:from|import)[ \t]+(?:tortoise|peewee|ormar|piccolo|pony|mongoengine|beanie|odmantic)\b", re.M)


def model_classmethod_create(ctx, call: cst.Call, session_arg) -> Optional[Create]:
    """``Order.create(db=db, data=...)`` (a project ORM base's classmethod) or the
    active-record ``await Order.create(...)`` of Tortoise/Peewee/ormar.

    ``session_arg(expr) -> bool`` tells whether an argument is a database session; the
    call must pass one (``db=``/``session=`` or a session positional) unless the file
    imports an active-record ORM.
    """
    func = call.func
    if not isinstance(func, cst.Attribute) or func.attr.value not in ("create", "acreate", "create_one"):
        return None
    owner = func.value
    if not isinstance(owner, cst.Name):
        return None
    model = is_model_name(ctx, owner)
    if not model:
        return None
    qualified = ctx.qualified(owner) or ""
    if qualified.split(".", 1)[0] in _LIBRARY_HEADS:
        return None
    evidence = bool(_ACTIVE_RECORD_ORMS.search(ctx.source))
    if not evidence:
        for arg in call.args:
            if arg.keyword is not None and arg.keyword.value in ("db", "session", "db_session", "dbsession"):
                evidence = True
                break
            if arg.keyword is None and not arg.star and session_arg(arg.value):
                evidence = True
                break
    if not evidence:
        return None
    return Create(model, model, call)


# ``request.user.addresses.create(...)``: related managers reached from the request
_REQUEST_ROOTS = ("request.user", "self.request.user", "request.event", "self.request.event",
                  "request.organizer", "self.request.organizer", "self.object", "self.request.organization",
                  "request.organization")
_NOT_RELATIONS = frozenset(
    {"objects", "_default_manager", "session", "data", "POST", "GET", "FILES", "META", "COOKIES",
     "headers", "query_params", "cache", "client", "api", "messages", "chat", "completions",
     "beta", "responses", "files", "models", "images", "audio", "embeddings"}
)


def _related_root_ok(owner: str, model_vars, relations, rel_name: str) -> bool:
    root = owner.split(".", 1)[0]
    if relations and rel_name in relations:
        return True
    if owner.startswith(_REQUEST_ROOTS):
        return True
    if model_vars and (root in model_vars or owner in model_vars):
        return True
    if owner.startswith("self.") and owner.count(".") == 1 and relations is not None and rel_name.endswith("_set"):
        return True
    return False


def related_create(call: cst.Call, model_vars=None, relations=None) -> Optional[Create]:
    """``order.items.create(...)``: a related manager of a model instance of the handler,
    of the request user, or named like a relation of the project's models."""
    func = call.func
    if not isinstance(func, cst.Attribute):
        return None
    method = _ASYNC.get(func.attr.value, func.attr.value)
    if method not in ("create", "bulk_create"):
        return None
    rel = func.value
    if not isinstance(rel, cst.Attribute):
        return None
    owner = dotted_name(rel.value)
    if not owner:
        return None
    rel_name = rel.attr.value
    if not rel_name.islower() or rel_name in _NOT_RELATIONS:
        return None
    if not _related_root_ok(owner, model_vars, relations, rel_name):
        return None
    if method == "bulk_create" and _upsert_kwargs(call):
        return None
    return Create(rel_name, f"{_last(owner)}.{rel_name} row", call)


# ----------------------------------------------------------------------------------
# SQLAlchemy sessions and inserts
# ----------------------------------------------------------------------------------

_SESSION_CLASSES = ("Session", "AsyncSession", "scoped_session", "sessionmaker", "SessionLocal", "async_session")


def is_session(ctx, expr: cst.BaseExpression, bindings: Bindings) -> bool:
    """``session``, ``db.session``, ``self.session``, ``db`` (a Session parameter) ..."""
    text = dotted_name(expr) or ""
    if not text:
        return False
    last = _last(text).lower()
    if "session" in last and "requests" not in (ctx.qualified(expr) or ""):
        return True
    if isinstance(expr, cst.Name):
        for ann in bindings.annotations.get(expr.value, []):
            ann_text = dotted_name(ann) or ""
            if isinstance(ann, cst.Subscript):
                ann_text = dotted_name(ann.value) or ""
                # Annotated[Session, Depends(...)]
                for el in ann.slice:
                    inner = getattr(el.slice, "value", None)
                    if inner is not None and _last(dotted_name(inner) or "") in _SESSION_CLASSES:
                        return True
            if _last(ann_text) in _SESSION_CLASSES or "Session" in _last(ann_text):
                return True
        for value in bindings.of(expr.value):
            value = unwrap(value)
            if isinstance(value, cst.Call):
                callee = _last(dotted_name(value.func) or "")
                if callee in _SESSION_CLASSES or "session" in callee.lower() or callee in ("get_db", "Depends"):
                    if callee == "Depends":
                        dep = value.args[0].value if value.args else None
                        dep_text = _last(dotted_name(dep) or "") if dep is not None else ""
                        if "db" in dep_text or "session" in dep_text.lower():
                            return True
                        continue
                    return True
        if last in ("db", "dbsession", "db_session"):
            return True
    return False


def ast_is_session(expr: ast.AST) -> bool:
    """The ast twin of ``is_session`` for the effect summaries: the receiver's last name
    speaks of a session or is one of ``orm.EXECUTOR_NAMES``; it has no local bindings or
    import table to look through (so ``db`` counts only by that table)."""
    text = ast_dotted(expr) or ""
    last = _last(text).lower() if text else ""
    return bool(last) and ("session" in last or last in EXECUTOR_NAMES) and not last.startswith(("requests", "http"))


_INSERT_NAMES = ("sqlalchemy.insert", "sqlalchemy.sql.insert", "sqlalchemy.sql.expression.insert", "sqlalchemy.sql.dml.insert")
_RAW_INSERT = re.compile(r"^\s*(?:/\*.*?\*/\s*)?(insert|replace)\s+(?:into\s+)?[`\"\[]?([\w.]+)", re.IGNORECASE | re.DOTALL)
_RAW_UPSERT = re.compile(r"on\s+conflict|on\s+duplicate\s+key|insert\s+or\s+(ignore|replace)|insert\s+ignore|^\s*replace\b|\bmerge\b", re.IGNORECASE)


def _insert_target(ctx, expr: cst.BaseExpression) -> Optional[Tuple[str, bool]]:
    """(table/model, upsert?) when ``expr`` is an insert statement built with SQLAlchemy."""
    expr = unwrap(expr)
    upsert = False
    node = expr
    while True:
        if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute):
            attr = node.func.attr.value
            if attr in UPSERT_METHODS:
                upsert = True
            if attr == "prefix_with" and node.args:
                text = string_literal(node.args[0].value, fstring_text=True) or ""
                if "ignore" in text.lower() or "replace" in text.lower():
                    upsert = True
            if attr == "insert":
                target = dotted_name(node.func.value) or "table"
                parts = target.split(".")
                name = parts[-2] if parts[-1] in ("__table__", "table") and len(parts) > 1 else parts[-1]
                return (name, upsert)
            node = node.func.value
            continue
        if isinstance(node, cst.Call):
            qualified = ctx.qualified_callee(node) or ""
            if qualified in _INSERT_NAMES or (qualified.startswith("sqlalchemy.dialects.") and qualified.endswith(".insert")):
                arg = node.args[0].value if node.args else None
                target = dotted_name(arg) if arg is not None else None
                if target:
                    parts = target.split(".")
                    name = parts[-2] if parts[-1] in ("__table__",) and len(parts) > 1 else parts[-1]
                else:
                    name = "table"
                return (name, upsert)
            return None
        return None


def raw_insert(expr: cst.BaseExpression) -> Optional[Tuple[str, bool]]:
    """(table, upsert?) for a raw SQL INSERT string (or ``text("INSERT ...")``)."""
    expr = unwrap(expr)
    if isinstance(expr, cst.Call) and _last(dotted_name(expr.func) or "") == "text" and expr.args:
        expr = expr.args[0].value
    text = string_literal(expr, fstring_text=True)
    if not text:
        return None
    m = _RAW_INSERT.match(text)
    if not m:
        return None
    return (m.group(2).split(".")[-1], bool(_RAW_UPSERT.search(text)))


def executed_insert(ctx, call: cst.Call, bindings: Bindings) -> Optional[Tuple[str, bool, cst.CSTNode]]:
    """``session.execute(insert(M)...)``, ``conn.execute(stmt)`` with stmt an insert,
    ``cursor.execute("INSERT ...")``: (table/model, upsert?, node)."""
    func = call.func
    if not isinstance(func, cst.Attribute) or func.attr.value not in ("execute", "executemany", "exec_driver_sql"):
        return None
    if not call.args or call.args[0].keyword is not None:
        return None
    arg = unwrap(call.args[0].value)
    candidates = [arg]
    if isinstance(arg, cst.Name):
        candidates = list(bindings.of(arg.value)) or [arg]
    found = None
    upsert_any = False
    for cand in candidates:
        got = _insert_target(ctx, cand) or raw_insert(cand)
        if got is None:
            # stmt = stmt.on_conflict_do_nothing(...) : the chain starts from a name
            base = unwrap(cand)
            if isinstance(base, cst.Call) and isinstance(base.func, cst.Attribute) and base.func.attr.value.startswith("on_conflict"):
                upsert_any = True
            continue
        found = found or got
        upsert_any = upsert_any or got[1]
    if found is None:
        return None
    return (found[0], upsert_any, call)


# ----------------------------------------------------------------------------------
# lookups (for duplicate checks)
# ----------------------------------------------------------------------------------

_WRITE_METHODS = DJANGO_QUERYSET_WRITES | DJANGO_QUERYSET_ASYNC_WRITES | USER_MANAGER_CREATES  # knowledge/writes.py
_CLASS_LOOKUPS = ("get_by", "get_one", "find", "find_by", "find_one", "exists", "lookup", "get_or_none", "first_by", "one_by")
_LOOKUP_TERMINALS = {
    "exists": "bool", "aexists": "bool", "first": "instance", "afirst": "instance",
    "last": "instance", "alast": "instance",
    "get": "instance", "aget": "instance", "one_or_none": "instance", "scalar": "instance",
    "scalar_one_or_none": "instance", "one": "instance", "scalar_one": "instance",
    "count": "count", "acount": "count", "filter": "queryset", "filter_by": "queryset",
    "exclude": "queryset", "where": "queryset", "get_or_none": "instance", "all": "queryset",
}


def lookup_model(ctx, expr: cst.BaseExpression, model_vars=None) -> Optional[Tuple[str, str]]:
    """(model, shape) for an ORM lookup: ``Order.objects.filter(...).exists()`` ->
    ("Order", "bool"); ``session.query(Order).filter_by(...).first()`` -> ("Order",
    "instance"); ``session.scalar(select(Order)...)``; ``Order.query.filter_by().first()``;
    ``request.user.orders.filter(...).exists()`` -> ("orders", "bool")."""
    expr = unwrap(expr)
    if not isinstance(expr, cst.Call) or not isinstance(expr.func, cst.Attribute):
        return None
    shape = _LOOKUP_TERMINALS.get(expr.func.attr.value)
    if shape is None:
        if expr.func.attr.value in ("scalars", "execute") and expr.args:
            inner = _select_model(ctx, expr.args[0].value)
            return (inner, "queryset") if inner else None
        method = expr.func.attr.value
        owner = expr.func.value
        if isinstance(owner, cst.Name) and method.startswith(_CLASS_LOOKUPS) and is_model_name(ctx, owner):
            return (owner.value, "instance")  # FidesUser.get_by(db, field=..., value=...)
        root = manager_root(expr.func.value)
        if root and expr.func.attr.value not in _WRITE_METHODS and not expr.func.attr.value.startswith(("create", "bulk_", "update", "delete")):
            return (root[0], "collection")  # Setting.objects.get_settings_dict(...)
        return None
    node: cst.BaseExpression = expr
    # walk down the chain to its root
    while True:
        if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute):
            attr = node.func.attr.value
            recv = node.func.value
            root = manager_root(recv)
            if root:
                return (root[0], shape)
            if attr in ("query",) and node.args:  # session.query(Order)
                model = dotted_name(node.args[0].value)
                if model:
                    return (_model_of_column(model), shape)
            if attr in ("scalar", "scalars", "execute", "get", "scalar_one_or_none") and node.args:
                first = node.args[0].value
                model = _select_model(ctx, first)
                if model:
                    return (model, shape)
                if attr == "get" and _last(dotted_name(first) or "")[:1].isupper() and len(node.args) >= 2:
                    return (_last(dotted_name(first) or ""), "instance")  # session.get(Order, id)
            if isinstance(recv, cst.Attribute) and recv.attr.value == "query":
                owner = dotted_name(recv.value) or ""
                if _last(owner)[:1].isupper():
                    return (_last(owner), shape)  # Order.query.filter_by(...)
            if isinstance(recv, cst.Attribute) and attr in ("filter", "exists", "first", "get", "count", "exclude", "all", "last", "select_for_update"):
                owner = dotted_name(recv.value) or ""
                rel_name = recv.attr.value
                if owner and rel_name.islower() and rel_name not in _NOT_RELATIONS and (
                    owner.startswith(_REQUEST_ROOTS)
                    or (model_vars and owner.split(".", 1)[0] in model_vars)
                    or (owner.startswith("self.") and owner.count(".") == 1)  # self.order.invoices
                ):
                    return (rel_name, shape)  # request.user.orders.filter(...), order.payments.get(...)
            node = recv
            continue
        if isinstance(node, cst.Attribute):
            if node.attr.value == "query":
                owner = dotted_name(node.value) or ""
                if _last(owner)[:1].isupper():
                    return (_last(owner), shape)
            node = node.value
            continue
        return None


def _model_of_column(text: str) -> str:
    parts = text.split(".")
    for part in parts:
        if part[:1].isupper():
            return part
    return parts[-1]


def _select_model(ctx, expr: cst.BaseExpression) -> Optional[str]:
    """``select(Order).where(...)`` -> "Order" (also ``select(Order.id)``, ``exists()``)."""
    node = unwrap(expr)
    while isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute):
        node = node.func.value
    if isinstance(node, cst.Call):
        name = _last(ctx.qualified_callee(node) or dotted_name(node.func) or "")
        if name in ("select", "exists") and node.args:
            target = dotted_name(node.args[0].value)
            if target:
                return _model_of_column(target)
            inner = node.args[0].value
            if isinstance(inner, cst.Call):  # select(func.count(Order.id))
                for sub in walk(inner):
                    if isinstance(sub, (cst.Attribute, cst.Name)):
                        t = dotted_name(sub)
                        if t and t.split(".")[0][:1].isupper():
                            return _model_of_column(t)
    return None


# ----------------------------------------------------------------------------------
# rows whose duplication does not matter
# ----------------------------------------------------------------------------------

_LOG_MODEL_SUFFIXES = ("log", "logs", "logentry", "logentries", "history", "historyentry", "auditentry",
                       "auditevent", "change", "changes")
_NOT_LOG_WORDS = ("catalog", "blog", "dialog", "backlog", "analog", "prolog", "epilog", "exchange", "interchange")


def is_log_model(name: str) -> bool:
    """Rows whose duplicate is harmless: audit/log rows (``LogEntry``, ``ActionLog``,
    ``OrderHistory``, ``ObjectChange``, a related ``change_set``) and temporary cache rows
    (``CachedFile``, ``TempUpload``)."""
    low = name.lower()
    if low.endswith("_set"):
        low = low[:-4]
    low = low.replace("_", "")
    if low.startswith(("cached", "temp", "tmp")) or low.endswith("cache"):
        return True
    return low.endswith(_LOG_MODEL_SUFFIXES) and not low.endswith(_NOT_LOG_WORDS)


def attr_names_model(attr: str, created_keys) -> Optional[str]:
    """The created model an attribute points at: ``user.permissions`` ->
    "fidesuserpermissions", ``request.user.config`` -> "userconfig"."""
    key = model_key(attr[:-3] if attr.endswith("_id") else attr)
    if len(key) < 3:
        return None
    singular = key[:-1] if key.endswith("s") else key
    for created in created_keys:
        c_singular = created[:-1] if created.endswith("s") else created
        if created.endswith(key) or c_singular.endswith(singular) or created.startswith(singular):
            return created
    return None
