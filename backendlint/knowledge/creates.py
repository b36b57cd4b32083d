"""What creates a database row, and what guards such a create against duplicates.

Used by BL201 (non-idempotent POST). A *create* is a new row: ``Model.objects.create``,
``Model(...).save()`` of a new instance, ``bulk_create``, ``session.add`` of a newly
constructed object, an executed ``insert(...)`` or raw ``INSERT``. A *guard* makes a
retried request harmless: an upsert, ``get_or_create``, a lookup of the same model that
returns early (or branches) when the row already exists, a create whose
``IntegrityError`` is handled, an idempotency key.

Everything works on LibCST nodes, the file's import table and a function's local
bindings (``side_effects.local_bindings``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import List, Optional, Tuple

import libcst as cst

from backendlint.engine.facts import FactCollector, nodes_of, register
from backendlint.engine.imports import dotted_name
from backendlint.engine.traversal import walk
from backendlint.knowledge.side_effects import Bindings, unwrap


@dataclass
class Create:
    model: str  # what guards are matched against: "Order", "items" (related manager), table
    label: str  # for messages: "Order", "Order (bulk_create)"
    node: cst.CSTNode


# ----------------------------------------------------------------------------------
# names
# ----------------------------------------------------------------------------------

_NOT_MODEL_SUFFIXES = (
    "Form", "FormSet", "Formset", "Serializer", "Schema", "Exception", "Error", "Response",
    "Request", "Client", "Session", "Mixin", "View", "ViewSet", "Thread", "Lock", "Manager",
    "Builder", "Factory", "Service", "Handler", "Dict", "Counter", "Writer", "Reader", "Buffer",
    "Widget", "Parser", "Encoder", "Decoder", "Logger", "Timer", "Paginator", "Renderer",
    "Validator", "Workbook", "Adapter", "Backend", "Provider", "Command", "Proxy", "Wrapper",
)
_NOT_MODEL_NAMES = frozenset(
    {
        "HttpResponse", "JsonResponse", "Response", "Http404", "ValidationError", "Q", "F",
        "Value", "Decimal", "UUID", "Path", "OrderedDict", "Counter", "defaultdict",
        "BytesIO", "StringIO", "Image", "Workbook", "Thread", "Lock", "Retry", "Markup",
        "ContentFile", "SimpleUploadedFile", "Request", "Paginator", "Path",
    }
)
# Library packages whose classes are not ORM models.
_NOT_MODEL_MODULES = (
    "datetime", "decimal", "uuid", "pathlib", "collections", "io", "json", "re", "typing",
    "django.http", "django.forms", "django.core", "django.template", "django.utils",
    "django.db.models.Q", "django.db.models.F", "django.db.models.expressions",
    "rest_framework", "flask", "fastapi", "starlette", "pydantic", "marshmallow",
    "sqlalchemy", "requests", "httpx", "aiohttp", "celery", "PIL", "openpyxl", "xlsxwriter",
    "csv", "zipfile", "tempfile", "threading", "asyncio", "logging", "email", "smtplib",
    "jinja2", "werkzeug", "wtforms", "flask_wtf", "stripe", "boto3", "botocore",
)

_MANAGER_CREATES = {"create": "", "create_user": "", "create_superuser": "", "bulk_create": " (bulk_create)"}
_MANAGER_GUARDED = {"get_or_create", "update_or_create", "aget_or_create", "aupdate_or_create"}
_ASYNC = {"acreate": "create", "abulk_create": "bulk_create"}


def _last(name: str) -> str:
    return name.rsplit(".", 1)[-1]


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
    if last in _NOT_MODEL_NAMES or last.endswith(_NOT_MODEL_SUFFIXES):
        return None
    qualified = ctx.qualified(expr) or ""
    if qualified.startswith(_NOT_MODEL_MODULES) and not qualified.startswith("django.contrib.auth.models"):
        return None
    if "." in text:
        owner = text.rsplit(".", 1)[0]
        # models.Order(...) is a model; stripe.Charge(...), datetime.datetime(...) are not
        owner_q = ctx.qualified(expr.value) if isinstance(expr, cst.Attribute) else None
        if owner_q and owner_q.split(".", 1)[0] in {m.split(".", 1)[0] for m in _NOT_MODEL_MODULES}:
            return None
        if _last(owner)[:1].isupper():
            return None  # Outer.Inner(...): nested classes are rarely models
    return last


def model_construction(ctx, expr: cst.BaseExpression) -> Optional[str]:
    """``Order(...)`` (a model instance built here) -> "Order"."""
    expr = unwrap(expr)
    if isinstance(expr, cst.Call) and not any(a.star for a in expr.args):
        return is_model_name(ctx, expr.func)
    return None


def _manager_root(expr: cst.BaseExpression) -> Optional[Tuple[str, str]]:
    """(model, manager) for ``Order.objects`` / ``models.Order.objects`` / ``self.model.objects``."""
    if not isinstance(expr, cst.Attribute):
        return None
    manager = expr.attr.value
    owner = expr.value
    text = dotted_name(owner)
    if not text:
        return None
    last = _last(text)
    if manager in ("objects", "_default_manager", "_base_manager", "all_objects"):
        if last[:1].isupper() or last == "model":
            return (last, manager)
        return None
    if last[:1].isupper() and any(c.islower() for c in last) and manager.islower() and manager.endswith(("objects", "manager")):
        return (last, manager)
    return None


def manager_create(ctx, call: cst.Call) -> Optional[Create]:
    """``Order.objects.create(...)``, ``bulk_create`` (without conflict handling), ``create_user``."""
    func = call.func
    if not isinstance(func, cst.Attribute):
        return None
    method = _ASYNC.get(func.attr.value, func.attr.value)
    if method not in _MANAGER_CREATES:
        return None
    root = _manager_root(func.value)
    if root is None:
        # Order.objects.using("x").create(...)
        inner = func.value
        if isinstance(inner, cst.Call) and isinstance(inner.func, cst.Attribute) and inner.func.attr.value in ("using", "db_manager"):
            root = _manager_root(inner.func.value)
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


def manager_guarded_create(call: cst.Call) -> Optional[str]:
    """The model of ``Order.objects.get_or_create(...)`` / ``update_or_create``."""
    func = call.func
    if isinstance(func, cst.Attribute) and func.attr.value in _MANAGER_GUARDED:
        root = _manager_root(func.value)
        if root:
            return root[0]
        text = dotted_name(func.value) or ""
        return _last(text) or "?"
    return None


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
            if attr in ("on_conflict_do_nothing", "on_conflict_do_update", "on_duplicate_key_update"):
                upsert = True
            if attr == "prefix_with" and node.args:
                text = _string(node.args[0].value) or ""
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


def _string(expr: cst.BaseExpression) -> Optional[str]:
    if isinstance(expr, cst.SimpleString):
        try:
            value = expr.evaluated_value
        except Exception:  # noqa: BLE001
            return None
        return value if isinstance(value, str) else None
    if isinstance(expr, cst.ConcatenatedString):
        left, right = _string(expr.left), _string(expr.right)
        return (left or "") + (right or "") if left is not None or right is not None else None
    if isinstance(expr, cst.FormattedString):
        return "".join(p.value for p in expr.parts if isinstance(p, cst.FormattedStringText))
    return None


def raw_insert(expr: cst.BaseExpression) -> Optional[Tuple[str, bool]]:
    """(table, upsert?) for a raw SQL INSERT string (or ``text("INSERT ...")``)."""
    expr = unwrap(expr)
    if isinstance(expr, cst.Call) and _last(dotted_name(expr.func) or "") == "text" and expr.args:
        expr = expr.args[0].value
    text = _string(expr)
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

_WRITE_METHODS = frozenset(
    {"create", "bulk_create", "update", "delete", "get_or_create", "update_or_create", "bulk_update",
     "acreate", "abulk_create", "aupdate", "adelete", "aget_or_create", "aupdate_or_create", "create_user",
     "create_superuser"}
)
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
        root = _manager_root(expr.func.value)
        if root and expr.func.attr.value not in _WRITE_METHODS and not expr.func.attr.value.startswith(("create", "bulk_", "update", "delete")):
            return (root[0], "collection")  # Setting.objects.get_settings_dict(...)
        return None
    node: cst.BaseExpression = expr
    # walk down the chain to its root
    while True:
        if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute):
            attr = node.func.attr.value
            recv = node.func.value
            root = _manager_root(recv)
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
# exceptions that make a guard
# ----------------------------------------------------------------------------------

_INTEGRITY = ("IntegrityError", "UniqueViolation", "UniqueViolationError", "DuplicateKeyError", "NotUniqueError")
_DOES_NOT_EXIST = ("DoesNotExist", "ObjectDoesNotExist", "NoResultFound")


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
    return any(_last(n) in _INTEGRITY for n in _exception_names(handler.type))


def does_not_exist_models(handler: cst.ExceptHandler) -> Optional[List[str]]:
    """Models whose absence this handler catches: ``Order.DoesNotExist`` -> ["Order"];
    ``ObjectDoesNotExist`` / ``NoResultFound`` -> [""] (any model looked up); None if none."""
    out = []
    for name in _exception_names(handler.type):
        last = _last(name)
        if last == "DoesNotExist" and "." in name:
            out.append(_last(name.rsplit(".", 1)[0]))
        elif last in _DOES_NOT_EXIST:
            out.append("")
    return out or None


def suppresses_integrity_error(ctx, item: cst.WithItem) -> bool:
    """``with suppress(IntegrityError):``"""
    expr = item.item
    if isinstance(expr, cst.Call) and _last(dotted_name(expr.func) or "") == "suppress":
        return any(_last(dotted_name(a.value) or "") in _INTEGRITY for a in expr.args)
    return False


# ----------------------------------------------------------------------------------
# idempotency keys
# ----------------------------------------------------------------------------------


def _mentions(text: str) -> bool:
    return "idempot" in text.lower()


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


# ----------------------------------------------------------------------------------
# rows whose duplication does not matter, tasks that are idempotent by name
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


_IDEMPOTENT_TASK_VERBS = frozenset(
    {
        "invalidate", "refresh", "recalc", "recalculate", "recompute", "rebuild", "reindex",
        "clear", "purge", "cleanup", "clean", "expire", "warm", "sync", "synchronize", "resync",
        "update", "index", "reload", "prune", "evict", "flush", "revert", "delete", "remove",
        # state transitions: doing them twice leaves the same state
        "accept", "approve", "reject", "archive", "unarchive", "lock", "unlock", "enable",
        "disable", "activate", "deactivate", "publish", "unpublish", "mark", "cancel", "close",
        # caches and renders of data that exists
        "cache", "compute", "precompute", "render", "thumbnail",
    }
)
# the last word of a task name that says the same (``component_removal``, ``status_update``)
_IDEMPOTENT_TASK_NOUNS = frozenset(
    {"removal", "deletion", "delete", "cleanup", "update", "sync", "refresh", "invalidation", "reindex", "purge"}
)
_TASK_PREFIXES = ("task", "tasks", "do", "run", "async", "celery", "job", "bg", "background", "bulk", "batch")


def is_idempotent_task_name(label: str) -> bool:
    """A task whose name says it recomputes, invalidates or deletes
    (``invalidate_cache.delay``, ``component_removal.delay``): running it twice gives the
    same result."""
    parts = label.split(".")
    name = parts[-2] if len(parts) >= 2 else label
    words = [w.lower() for w in re.split(r"_+|(?<=[a-z])(?=[A-Z])", name) if w]
    while words and words[0] in _TASK_PREFIXES:
        words = words[1:]
    while words and words[-1] in _TASK_PREFIXES:
        words = words[:-1]
    return bool(words) and (words[0] in _IDEMPOTENT_TASK_VERBS or words[-1] in _IDEMPOTENT_TASK_NOUNS)


# ----------------------------------------------------------------------------------
# project fact: idempotency middleware
# ----------------------------------------------------------------------------------

MIDDLEWARE_FACT = "idempotency_middleware"


@register
class IdempotencyMiddleware(FactCollector):
    """Middleware that makes every request of the project idempotent.

    Django ``MIDDLEWARE = [..., "x.IdempotencyMiddleware"]`` (also ``+=`` and
    ``MIDDLEWARE_CLASSES``), Starlette/FastAPI ``app.add_middleware(IdempotencyMiddleware)``,
    Flask ``app.wsgi_app = IdempotencyMiddleware(app.wsgi_app)``, ``@app.middleware("http")``
    functions. Part: the names found; merged: a sorted list of them.
    """

    kind = MIDDLEWARE_FACT
    requires = ("idempot", "Idempot", "IDEMPOT")
    version = 1

    def collect(self, tree, relpath, module_name, source):
        import ast

        found = set()
        for node in nodes_of(tree, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Call, ast.FunctionDef, ast.AsyncFunctionDef)):
            if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                names = [t.id if isinstance(t, ast.Name) else getattr(t, "attr", "") for t in targets]
                value = node.value
                if value is None:
                    continue
                if any(n in ("MIDDLEWARE", "MIDDLEWARE_CLASSES") for n in names):
                    for sub in ast.walk(value):
                        if isinstance(sub, ast.Constant) and isinstance(sub.value, str) and "idempot" in sub.value.lower():
                            found.add(sub.value)
                if any(n == "wsgi_app" for n in names) and isinstance(value, ast.Call):
                    callee = _ast_name(value.func)
                    if "idempot" in callee.lower():
                        found.add(callee)
            elif isinstance(node, ast.Call):
                callee = _ast_name(node.func)
                if callee.endswith(("add_middleware", "Middleware")) or callee.endswith("insert") or callee.endswith("append"):
                    for arg in node.args:
                        name = _ast_name(arg) or (arg.value if isinstance(arg, ast.Constant) and isinstance(arg.value, str) else "")
                        if name and "idempot" in name.lower() and (callee.endswith("add_middleware") or "MIDDLEWARE" in _ast_name(getattr(node.func, "value", node.func))):
                            found.add(name)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and "idempot" in node.name.lower():
                for dec in node.decorator_list:
                    target = dec.func if isinstance(dec, ast.Call) else dec
                    if _ast_name(target).endswith(".middleware"):
                        found.add(node.name)
        return sorted(found) or None

    def merge(self, parts):
        out = set()
        for part in parts.values():
            out.update(part or ())
        return sorted(out)


def _ast_name(node) -> str:
    from backendlint.engine.facts import ast_dotted

    return ast_dotted(node) or ""
