"""Database operations: which calls write to the database (Django ORM, SQLAlchemy).

Rule-agnostic knowledge. ``OrmScope(ctx, func)`` learns what the names of one function
are bound to (a queryset, a SQLAlchemy session, a cursor, a cache, a dict, an HTTP
session...) so that ``scope.op(call)`` can tell ``order.save()`` or
``Order.objects.filter(...).update(...)`` (writes) from ``cache.delete(key)``,
``data.update(other)``, ``seen.add(x)`` or ``http.delete(url)`` (not writes).

Django writes: ``.save()``/``.delete()`` on instances and querysets, manager and
queryset ``create``/``update``/``delete``/``bulk_create``/``bulk_update``/
``get_or_create``/``update_or_create``, related managers' ``add/remove/set/clear``
(relation names come from the project's models, fact ``orm_project``), and
``cursor.execute`` of INSERT/UPDATE/DELETE SQL.

SQLAlchemy writes: ``session.add/add_all/delete/merge``, ``Query.update()/delete()``,
``session.execute(stmt)`` where ``stmt`` is an insert/update/delete (or raw write SQL),
also when the statement was built earlier in the function; ``session.commit()`` is a
commit operation (``DbOp.is_write`` is False).

A file is read with Django semantics when it imports Django (or DRF), or when the
project uses Django and the file does not import SQLAlchemy; likewise for SQLAlchemy.
Rules that use this module should list ``FACTS`` in their ``facts`` (collected by
``backendlint.index.orm_project``).

Which method names write is ``knowledge.writes``; this module holds the receiver
vocabulary (kinds, non-ORM libraries and names, SQLAlchemy tables) and ``OrmScope``,
the classification of one call given the names of its function. ``OrmScope`` stays
here, not in ``analysis/``: it follows no path and keeps no order, it only answers
"what is this receiver, and so what does this call do to the database" for one call
at a time (BL201 and BL301 ask it per call).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Dict, Iterator, List, Optional, Set, Tuple

import libcst as cst

from backendlint.engine.imports import dotted_name
from backendlint.engine.traversal import children_of
from backendlint.knowledge.writes import (
    EXECUTE_METHODS, OP_METHODS, RELATED_MANAGER_WRITES, SA_SESSION_OPS,
)
from backendlint.syntax.calls import kwarg, kwarg_arg, positional_args
from backendlint.syntax.literals import is_falsy_constant

DJANGO = "django"
SQLALCHEMY = "sqlalchemy"
# A write on a connection in autocommit mode: each statement is its own transaction.
AUTOCOMMIT = "autocommit"

FACT_KIND = "orm_project"
FACTS = (FACT_KIND,)

# -- kinds of receivers ---------------------------------------------------------------
K_MANAGER = "manager"  # Model.objects, a related manager
K_QUERYSET = "queryset"
K_MODEL = "model"  # a model instance
K_SESSION = "session"  # a SQLAlchemy Session / Connection
K_AUTOCOMMIT = "autocommit-connection"
K_CURSOR = "cursor"  # a DB-API cursor (Django connection.cursor())
K_CONNECTION = "connection"  # django.db.connection / connections[alias]
K_QUERY = "sa-query"  # session.query(M)..., M.query...
K_WRITE_STMT = "write-statement"  # sqlalchemy insert()/update()/delete(), text("UPDATE ...")
K_SQL_WRITE = "write-sql"  # a string of INSERT/UPDATE/DELETE SQL
K_NON_ORM = "non-orm"  # cache, dict, set, list, HTTP session, redis, storage, file...

QUERYSET_METHODS = frozenset(
    {
        "filter", "exclude", "all", "order_by", "select_related", "prefetch_related",
        "annotate", "alias", "distinct", "only", "defer", "using", "select_for_update",
        "none", "reverse", "extra", "values", "values_list", "complex_filter",
        "get_queryset", "filter_queryset", "for_update", "active", "published", "live",
    }
)
MANAGER_ATTRS = frozenset({"objects", "_default_manager", "_base_manager", "all_objects"})
INSTANCE_GETTERS = frozenset({"get", "first", "last", "latest", "earliest", "get_object", "create"})

# Libraries whose objects are never ORM objects (their .delete()/.save()/.add()/.update()
# are not database writes in the ORM sense).
NON_ORM_PREFIXES = (
    "django.core.cache", "django.core.files", "django.contrib.sessions", "django.http",
    "redis", "requests", "httpx", "aiohttp", "urllib3", "boto3", "botocore", "stripe",
    "braintree", "PIL", "openpyxl", "xlsxwriter", "os", "io", "shutil", "pathlib",
    "tempfile", "json", "collections", "elasticsearch", "opensearchpy", "kombu", "ldap3",
    "ldap", "minio", "google", "azure", "paramiko", "smtplib", "socket", "zipfile",
    "tarfile", "csv", "yaml", "configparser", "queue", "asyncio", "threading",
    "multiprocessing", "concurrent", "contextlib", "dataclasses", "typing", "weakref",
    "pymemcache", "memcache", "pylibmc", "diskcache", "cachetools", "werkzeug",
    "flask.session", "flask.g", "starlette", "fastapi.Request",
)
NON_ORM_BUILTINS = frozenset(
    {"dict", "set", "list", "frozenset", "defaultdict", "OrderedDict", "Counter", "deque",
     "open", "bytearray", "tuple", "vars", "globals", "locals"}
)
HTTP_CLIENTS = (
    "requests.Session", "requests.session", "requests.sessions.Session", "httpx.Client",
    "httpx.AsyncClient", "aiohttp.ClientSession", "urllib3.PoolManager",
)
SA_SESSION_FACTORIES = (
    "sqlalchemy.orm.Session", "sqlalchemy.orm.session.Session", "sqlalchemy.orm.sessionmaker",
    "sqlalchemy.orm.scoped_session", "sqlalchemy.ext.asyncio.AsyncSession",
    "sqlalchemy.ext.asyncio.async_sessionmaker", "sqlalchemy.ext.asyncio.async_scoped_session",
    "sqlmodel.Session", "sqlmodel.ext.asyncio.session.AsyncSession",
)
SA_WRITE_FUNCS = frozenset({"insert", "update", "delete"})
SA_STMT_CHAIN = frozenset(
    {"where", "values", "returning", "filter", "filter_by", "on_conflict_do_nothing",
     "on_conflict_do_update", "on_duplicate_key_update", "prefix_with", "execution_options",
     "inline", "ordered_values", "from_select", "with_dialect_options", "params", "bindparams",
     "where_clause", "with_hint", "cte"}
)
# What a receiver's name says it is (one table each; the N+1 analysis, BL201, BL301 and
# the effect summaries all read these).
SESSION_NAMES = frozenset(
    {"session", "sess", "db", "db_session", "dbsession", "session_", "async_session", "session_db",
     "db_sess", "orm_session", "sa_session", "s_session", "tx_session", "dbs"}
)
CONNECTION_NAMES = frozenset({"conn", "connection", "con", "db_conn", "dbconn", "connection_"})
CURSOR_NAMES = frozenset({"cursor", "cur", "c", "db_cursor"})
# A receiver that executes statements: a SQLAlchemy session or a connection.
EXECUTOR_NAMES = SESSION_NAMES | CONNECTION_NAMES
HTTP_SESSION_HINTS = ("http", "request", "client", "aiohttp", "web", "api", "browser", "ws")
NON_ORM_NAME_HINTS = ("cache", "storage", "redis", "s3", "boto", "bucket", "blob")
# Names that, in the projects we checked, hold files or file formats rather than rows
# (weblate's translation ``store``).
NON_ORM_EXACT_NAMES = frozenset({"store", "_store", "workbook", "wb", "zipfile", "zf", "tar", "fp", "fh"})

_SQL_WRITE = re.compile(
    r"^\s*(?:(?:/\*.*?\*/|--[^\n]*\n)\s*)*(insert|update|delete|replace|merge|upsert|truncate)\b",
    re.I | re.S,
)
_DJANGO_HINTS = re.compile(
    r"\.objects\b|\bmodels\.Model\b|\btransaction\.atomic\b|\bQuerySet\b|\bget_object_or_404\b"
    r"|^[ \t]*from[ \t]+[\w.]*models[ \t]+import\b",
    re.M,
)
_IMPORTS_DJANGO = re.compile(r"^[ \t]*(?:from|import)[ \t]+(?:django|rest_framework)\b", re.M)
_IMPORTS_SA = re.compile(
    r"^[ \t]*(?:from|import)[ \t]+(?:sqlalchemy|flask_sqlalchemy|sqlmodel|alembic)\b", re.M
)


@dataclass
class DbOp:
    """One database operation (a write, or a SQLAlchemy commit)."""

    node: cst.Call
    kind: str  # save, delete, create, get_or_create, update_or_create, bulk_create,
    #            bulk_update, update, m2m_add, m2m_remove, m2m_set, m2m_clear, raw_sql,
    #            session_add, session_add_all, session_delete, session_merge, execute,
    #            query_update, query_delete, bulk_save, commit
    framework: str  # DJANGO, SQLALCHEMY or AUTOCOMMIT
    label: str  # "order.save()", "Payment.objects.create()"
    receiver: Optional[cst.BaseExpression]

    @property
    def is_write(self) -> bool:
        return self.kind != "commit"

    @property
    def is_commit(self) -> bool:
        return self.kind == "commit"


# -- small syntax helpers --------------------------------------------------------------
_STATEMENT_CONTAINERS = (
    cst.IndentedBlock, cst.SimpleStatementLine, cst.SimpleStatementSuite, cst.If, cst.Else, cst.For,
    cst.While, cst.Try, cst.TryStar, cst.ExceptHandler, cst.ExceptStarHandler, cst.Finally, cst.With,
    cst.Match, cst.MatchCase,
)

_SCOPES = (cst.FunctionDef, cst.ClassDef, cst.Lambda)
_COMPREHENSIONS = (cst.ListComp, cst.SetComp, cst.DictComp, cst.GeneratorExp)


def calls_in(node: cst.CSTNode) -> List[Tuple[cst.Call, bool]]:
    """Calls evaluated by ``node`` in evaluation order (post-order), with whether each
    is inside a comprehension (runs once per element). Nested defs, classes and lambdas
    are not entered (their bodies do not run here)."""
    out: List[Tuple[cst.Call, bool]] = []
    # (node, expanded?, in_comprehension)
    work: List[Tuple[cst.CSTNode, bool, bool]] = [(node, False, False)]
    while work:
        current, expanded, in_comp = work.pop()
        if expanded:
            out.append((current, in_comp))  # type: ignore[arg-type]
            continue
        if current is not node and isinstance(current, _SCOPES):
            continue
        if isinstance(current, cst.Call):
            work.append((current, True, in_comp))
        inner = in_comp or isinstance(current, _COMPREHENSIONS)
        kids = children_of(current)
        for kid in reversed(kids):
            work.append((kid, False, inner))
    return out


def render(expr: cst.CSTNode, depth: int = 0) -> str:
    """Short text of a receiver chain: ``Order.objects.filter(...)``."""
    if depth > 12:
        return "…"
    if isinstance(expr, cst.Name):
        return expr.value
    if isinstance(expr, cst.Attribute):
        return f"{render(expr.value, depth + 1)}.{expr.attr.value}"
    if isinstance(expr, cst.Call):
        return f"{render(expr.func, depth + 1)}({'...' if expr.args else ''})"
    if isinstance(expr, cst.Subscript):
        return f"{render(expr.value, depth + 1)}[...]"
    if isinstance(expr, cst.Await):
        return f"(await {render(expr.expression, depth + 1)})"
    return "…"


def string_prefix(expr: Optional[cst.CSTNode]) -> Optional[str]:
    """The leading literal text of a string expression (plain, f-string, concatenated,
    ``%``-formatted or ``.format()``-ed), or None."""
    for _ in range(8):
        if isinstance(expr, cst.SimpleString):
            try:
                value = expr.evaluated_value
            except Exception:  # noqa: BLE001 - odd literal
                return None
            return value.decode("latin-1") if isinstance(value, bytes) else value
        if isinstance(expr, cst.ConcatenatedString):
            expr = expr.left
            continue
        if isinstance(expr, cst.FormattedString):
            text = ""
            for part in expr.parts:
                if isinstance(part, cst.FormattedStringText):
                    text += part.value
                else:
                    break
            return text
        if isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, (cst.Modulo, cst.Add)):
            expr = expr.left
            continue
        if (
            isinstance(expr, cst.Call)
            and isinstance(expr.func, cst.Attribute)
            and expr.func.attr.value in ("format", "strip", "lstrip", "rstrip")
        ):
            expr = expr.func.value
            continue
        return None
    return None


def is_write_sql(text: Optional[str]) -> bool:
    return bool(text) and _SQL_WRITE.match(text) is not None


# -- the file's flavour ----------------------------------------------------------------
@dataclass
class FileFlavour:
    django: bool
    sqlalchemy: bool
    relations: frozenset


def file_flavour(ctx) -> FileFlavour:
    memo = getattr(ctx, "memo", None)
    if memo is not None and "orm.flavour" in memo:
        return memo["orm.flavour"]
    source = ctx.source
    imports_django = bool(_IMPORTS_DJANGO.search(source))
    imports_sa = bool(_IMPORTS_SA.search(source)) or "db.session" in source
    project = ctx.facts.get(FACT_KIND) if ctx.facts is not None else None
    project = project or {}
    known = bool(project.get("django")) or bool(project.get("sqlalchemy"))
        # With no ORM in the project (a lone file, stdin), the file itself must look like
    # Django code: ``.save()`` on arbitrary objects of a project without an ORM is not a
    # database write.
    django = (
        imports_django
        or (bool(project.get("django")) and not imports_sa)
        or (not known and not imports_sa and _DJANGO_HINTS.search(source) is not None)
    )
    sqlalchemy = imports_sa or (bool(project.get("sqlalchemy")) and not imports_django)
    flavour = FileFlavour(django, sqlalchemy, frozenset(project.get("relations") or ()))
    if memo is not None:
        memo["orm.flavour"] = flavour
    return flavour


# -- receiver resolution ---------------------------------------------------------------
class OrmScope:
    """Receiver resolution for the calls of one function (or a module-level block)."""

    def __init__(self, ctx, func: Optional[cst.FunctionDef] = None):
        self.ctx = ctx
        self.flavour = file_flavour(ctx)
        self.bindings: Dict[str, List[cst.BaseExpression]] = {}
        self.with_bound: Dict[str, List[cst.BaseExpression]] = {}
        self.params: Dict[str, cst.Param] = {}
        self._name_kinds: Dict[str, Optional[str]] = {}
        self._resolving: Set[str] = set()
        self._consumed: Set[int] = set()
        self._sql_cache: Dict[str, Optional[str]] = {}
        self._stmt_cache: Dict[str, bool] = {}
        if func is not None:
            self._collect(func)

    # -- collecting bindings ------------------------------------------------------------
    def _collect(self, func: cst.FunctionDef) -> None:
        params = func.params
        for param in (*params.posonly_params, *params.params, *params.kwonly_params):
            self.params[param.name.value] = param
        for star in (params.star_arg, params.star_kwarg):
            if isinstance(star, cst.Param):
                self.params[star.name.value] = star
        work: List[cst.CSTNode] = list(func.body.body) if isinstance(func.body, cst.IndentedBlock) else [func.body]
        # Bindings are made by statements; only ``:=`` binds inside expressions.
        full = ":=" in self.ctx.source
        while work:
            node = work.pop()
            if isinstance(node, (cst.FunctionDef, cst.ClassDef, cst.Lambda)):
                continue
            if isinstance(node, cst.Assign):
                for target in node.targets:
                    self._bind(target.target, node.value)
            elif isinstance(node, cst.AnnAssign):
                if node.value is not None:
                    self._bind(node.target, node.value)
                elif isinstance(node.target, cst.Name):
                    self.bindings.setdefault(node.target.value, [])
            elif isinstance(node, cst.NamedExpr):
                self._bind(node.target, node.value)
            elif isinstance(node, cst.WithItem):
                if node.asname is not None and isinstance(node.asname.name, cst.Name):
                    self.with_bound.setdefault(node.asname.name.value, []).append(node.item)
            elif isinstance(node, (cst.For, cst.CompFor)):
                # A loop variable is an element of the iterable: not the iterable's kind.
                if isinstance(node.target, cst.Name):
                    self.bindings.setdefault(node.target.value, []).append(cst.Name("__element__"))
            if full or isinstance(node, _STATEMENT_CONTAINERS):
                work.extend(children_of(node))

    def _bind(self, target: cst.CSTNode, value: cst.BaseExpression) -> None:
        if isinstance(target, cst.Name):
            self.bindings.setdefault(target.value, []).append(value)
        elif isinstance(target, (cst.Tuple, cst.List)):
            for element in target.elements:
                if isinstance(element.value, cst.Name):
                    # ``obj, created = X.objects.get_or_create(...)``
                    self.bindings.setdefault(element.value.value, []).append(cst.Name("__unknown__"))

    # -- kinds ------------------------------------------------------------------------
    def kind(self, expr: Optional[cst.CSTNode], depth: int = 0) -> Optional[str]:
        """What an expression is (one of the K_* kinds), or None when unknown."""
        if expr is None or depth > 20:
            return None
        if isinstance(expr, cst.Await):
            return self.kind(expr.expression, depth + 1)
        if isinstance(expr, cst.Name):
            return self._name_kind(expr.value, depth)
        if isinstance(expr, cst.Attribute):
            return self._attribute_kind(expr, depth)
        if isinstance(expr, cst.Call):
            return self._call_kind(expr, depth)
        if isinstance(expr, cst.Subscript):
            base = dotted_name(expr.value) or ""
            last = base.rsplit(".", 1)[-1]
            if last == "caches" or self._qualified(expr.value, "").startswith("django.core.cache"):
                return K_NON_ORM
            if last == "connections":
                return K_CONNECTION
            inner = self.kind(expr.value, depth + 1)
            return K_NON_ORM if inner == K_NON_ORM else None
        if isinstance(
            expr,
            (cst.Dict, cst.Set, cst.List, cst.Tuple, cst.SimpleString, cst.FormattedString,
             cst.ConcatenatedString, cst.Integer, cst.Float, cst.DictComp, cst.SetComp,
             cst.ListComp),
        ):
            if is_write_sql(string_prefix(expr)):
                return K_SQL_WRITE
            return K_NON_ORM
        if isinstance(expr, cst.BinaryOperation):
            if is_write_sql(string_prefix(expr)):
                return K_SQL_WRITE
            if isinstance(expr.operator, (cst.BitOr, cst.BitAnd)):
                # qs1 | qs2
                left = self.kind(expr.left, depth + 1)
                return left if left in (K_QUERYSET, K_NON_ORM) else None
            return None
        if isinstance(expr, cst.IfExp):
            a, b = self.kind(expr.body, depth + 1), self.kind(expr.orelse, depth + 1)
            return a if a == b else (a or b if K_NON_ORM not in (a, b) else None)
        if isinstance(expr, cst.BooleanOperation):
            return self.kind(expr.right, depth + 1)
        return None

    def _qualified(self, expr: cst.CSTNode, default: str = "") -> str:
        try:
            return self.ctx.qualified(expr) or default
        except Exception:  # noqa: BLE001
            return default

    def _name_kind(self, name: str, depth: int) -> Optional[str]:
        if name in self._name_kinds:
            return self._name_kinds[name]
        if name in self._resolving:
            return None
        self._resolving.add(name)
        try:
            result = self._name_kind_uncached(name, depth)
        finally:
            self._resolving.discard(name)
        self._name_kinds[name] = result
        return result

    def _name_kind_uncached(self, name: str, depth: int) -> Optional[str]:
        values = self.bindings.get(name)
        if values is not None or name in self.with_bound:
            kinds = {self.kind(v, depth + 1) for v in values or ()}
            for item in self.with_bound.get(name, ()):
                kinds.add(self._with_target_kind(item, name, depth))
            if len(kinds) == 1:
                found = next(iter(kinds))
                if found is not None:
                    return found
            elif K_NON_ORM in kinds:
                known = kinds - {None}
                return K_NON_ORM if known == {K_NON_ORM} else None
            else:
                known = kinds - {None}
                if len(known) == 1:
                    return next(iter(known))
            if values:
                return self._name_hint(name)
        param = self.params.get(name)
        if param is not None:
            return self._param_kind(name, param, depth)
        if values is None and name not in self.with_bound:
            qualified = self._qualified(cst.Name(name))
            if qualified:
                return self._qualified_kind(qualified)
            if name in NON_ORM_BUILTINS:
                return K_NON_ORM
        return self._name_hint(name)

    def _name_hint(self, name: str) -> Optional[str]:
        """Conventional names: ``qs``/``queryset``, ``cache``, ``session`` (SQLAlchemy files)."""
        lower = name.lower()
        if lower in ("qs", "queryset") or lower.endswith(("_qs", "_queryset")):
            return K_QUERYSET
        if lower in NON_ORM_EXACT_NAMES or any(h in lower for h in NON_ORM_NAME_HINTS):
            return K_NON_ORM
        if lower == "cursor" or lower.endswith("_cursor") or lower in ("cur", "c_"):
            return K_CURSOR
        if self.flavour.sqlalchemy and not self.flavour.django:
            if lower in EXECUTOR_NAMES or lower.endswith(("_session", "_db")):
                if any(h in lower for h in HTTP_SESSION_HINTS):
                    return K_NON_ORM
                return K_SESSION
        if lower.endswith("session") and any(h in lower for h in HTTP_SESSION_HINTS):
            return K_NON_ORM
        return None

    def _param_kind(self, name: str, param: cst.Param, depth: int) -> Optional[str]:
        annotation = param.annotation.annotation if param.annotation is not None else None
        if annotation is not None:
            text = _annotation_text(annotation)
            if text:
                if re.search(r"\b(?:Async)?Session\b|\bscoped_session\b|\bConnection\b", text) and not re.search(
                    r"ClientSession|requests|httpx|aiohttp|SessionBase|SessionStore", text
                ):
                    return K_SESSION
                if re.search(r"\bQuerySet\b|\bManager\b", text):
                    return K_QUERYSET
                if re.search(r"^(?:typing\.)?(?:dict|Dict|set|Set|list|List|Mapping|MutableMapping|"
                             r"defaultdict|OrderedDict|Counter|str|int|bytes)\b", text):
                    return K_NON_ORM
                if re.search(r"\bCursorWrapper\b|\bCursor\b", text):
                    return K_CURSOR
        default = param.default
        if isinstance(default, cst.Call):
            callee = dotted_name(default.func) or ""
            if callee.rsplit(".", 1)[-1] == "Depends" and default.args:
                dep = (dotted_name(default.args[0].value) or "").rsplit(".", 1)[-1].lower()
                if "db" in dep or "session" in dep:
                    return K_SESSION
        elif isinstance(default, (cst.Dict, cst.List, cst.Set, cst.SimpleString, cst.Integer)):
            return K_NON_ORM
        if param.star in ("*", "**"):
            return K_NON_ORM
        return self._name_hint(name)

    def _with_target_kind(self, item: cst.BaseExpression, name: str, depth: int) -> Optional[str]:
        """``with X as name``: the kind of what the context manager yields."""
        if isinstance(item, cst.Call):
            func = item.func
            if isinstance(func, cst.Attribute) and func.attr.value in ("begin", "connect", "begin_nested"):
                # engine.begin() / engine.connect() / session.begin() give a connection/session
                base = self.kind(func.value, depth + 1)
                if base == K_NON_ORM:
                    return K_NON_ORM
                if func.attr.value == "connect" and self.flavour.django and not self.flavour.sqlalchemy:
                    return None
                return K_SESSION
            if isinstance(func, cst.Attribute) and func.attr.value == "cursor":
                return K_CURSOR
        inner = self.kind(item, depth + 1)
        if inner in (K_SESSION, K_CURSOR, K_NON_ORM, K_AUTOCOMMIT):
            return inner
        if isinstance(item, cst.Call):
            callee = (dotted_name(item.func) or "").rsplit(".", 1)[-1].lower()
            if callee == "open" or callee.startswith(("tempfile", "named")):
                return K_NON_ORM
            if self.flavour.sqlalchemy and ("session" in callee or callee in ("get_db", "db", "get_db_session")):
                if not any(h in callee for h in ("client", "http", "aiohttp")):
                    return K_SESSION
        return self._name_hint(name)

    def _qualified_kind(self, qualified: str) -> Optional[str]:
        if qualified in ("django.db.connection",):
            return K_CONNECTION
        if qualified == "django.core.cache.cache" or qualified.startswith("django.core.cache."):
            return K_NON_ORM
        if qualified.endswith(".db.session") or qualified.endswith(".db_session"):
            return K_SESSION
        for prefix in NON_ORM_PREFIXES:
            if qualified == prefix or qualified.startswith(prefix + "."):
                return K_NON_ORM
        return None

    def _attribute_kind(self, expr: cst.Attribute, depth: int) -> Optional[str]:
        attr = expr.attr.value
        if attr in MANAGER_ATTRS:
            return K_MANAGER
        text = dotted_name(expr) or ""
        if text:
            qualified = self._qualified(expr)
            if qualified:
                found = self._qualified_kind(qualified)
                if found is not None:
                    return found
        base = self.kind(expr.value, depth + 1)
        if base == K_NON_ORM:
            return K_NON_ORM
        if attr == "session":
            head = text.rsplit(".", 1)[0] if text else ""
            if head.rsplit(".", 1)[-1] in ("db", "database", "_db", "sa", "orm", "sqla"):
                return K_SESSION
            if head.endswith(("request", "req")) or not self.flavour.sqlalchemy:
                return K_NON_ORM  # Django's request.session
            if base == K_SESSION:
                return K_SESSION
            return K_SESSION if not self.flavour.django else None
        if attr in ("queryset",):
            return K_QUERYSET
        if attr == "query" and self.flavour.sqlalchemy:
            return K_QUERY
        lower = attr.lower()
        if lower in NON_ORM_EXACT_NAMES or any(h in lower for h in NON_ORM_NAME_HINTS):
            return K_NON_ORM
        if lower in ("data", "initial", "cleaned_data", "validated_data", "kwargs", "headers",
                     "environ", "meta", "post", "get", "files", "cookies", "__dict__", "context"):
            return K_NON_ORM
        if self.flavour.django and (attr in self.flavour.relations or attr.endswith("_set")):
            return K_MANAGER
        if self.flavour.sqlalchemy and not self.flavour.django:
            if lower in ("session", "db_session", "dbsession", "db", "_session", "_db", "_db_session",
                         "connection", "conn", "_conn", "_connection"):
                return K_SESSION
        return None

    def _call_kind(self, call: cst.Call, depth: int) -> Optional[str]:
        func = call.func
        qualified = self._qualified(func)
        if qualified:
            if qualified in HTTP_CLIENTS:
                return K_NON_ORM
            if qualified in SA_SESSION_FACTORIES:
                return K_SESSION
            if qualified.startswith("sqlalchemy") or qualified.startswith("sqlmodel"):
                last = qualified.rsplit(".", 1)[-1]
                if last in SA_WRITE_FUNCS:
                    return K_WRITE_STMT
                if last == "text" and call.args and is_write_sql(self.sql_text(call.args[0].value, depth)):
                    return K_WRITE_STMT
                if last in ("create_engine", "engine_from_config"):
                    iso = kwarg_arg(call, "isolation_level")
                    if iso is not None and (string_prefix(iso.value) or "").upper() == "AUTOCOMMIT":
                        return K_AUTOCOMMIT
                    return None
            found = self._qualified_kind(qualified)
            if found is not None:
                return found
        if isinstance(func, cst.Name):
            name = func.value
            if name in NON_ORM_BUILTINS and not qualified:
                return K_NON_ORM
            if name in ("get_object_or_404", "get_object_or_none"):
                return K_MODEL
            if name in ("get_queryset",):
                return K_QUERYSET
            lower = name.lower()
            if self.flavour.sqlalchemy and lower in ("sessionlocal", "session_local", "session", "scoped_session",
                                                    "async_session", "asyncsessionlocal", "get_session",
                                                    "get_db_session", "new_session", "create_session"):
                return K_SESSION
            if name[:1].isupper() and not qualified.startswith(NON_ORM_PREFIXES):
                return K_MODEL if self.flavour.django else None
            return None
        if isinstance(func, cst.Attribute):
            method = func.attr.value
            receiver = func.value
            base = self.kind(receiver, depth + 1)
            if base == K_NON_ORM:
                return K_NON_ORM
            if method == "cursor":
                return K_CURSOR
            if method == "execution_options":
                iso = kwarg_arg(call, "isolation_level")
                if iso is not None and (string_prefix(iso.value) or "").upper() == "AUTOCOMMIT":
                    return K_AUTOCOMMIT
                return base
            if method == "connect" and base == K_AUTOCOMMIT:
                return K_AUTOCOMMIT
            if base == K_WRITE_STMT and method in SA_STMT_CHAIN:
                return K_WRITE_STMT
            if base == K_SESSION and method == "query":
                return K_QUERY
            if base == K_QUERY and method not in ("all", "first", "one", "one_or_none", "scalar", "count",
                                                  "get", "exists", "update", "delete"):
                return K_QUERY
            if method in ("get_queryset", "filter_queryset"):
                return K_QUERYSET
            if method in QUERYSET_METHODS:
                if base in (K_MANAGER, K_QUERYSET):
                    return K_QUERYSET
                if base in (K_QUERY,):
                    return K_QUERY
                if base is None and method in ("filter", "exclude", "all", "select_related", "prefetch_related",
                                               "select_for_update", "order_by", "annotate", "only", "defer"):
                    return K_QUERYSET if self.flavour.django else None
                return None
            if method in INSTANCE_GETTERS and base in (K_MANAGER, K_QUERYSET):
                return K_MODEL
            if method in ("copy", "items", "keys", "values", "split", "strip", "lower", "upper", "encode",
                          "decode", "json", "get_json", "to_dict", "dict", "model_dump", "read", "format"):
                return K_NON_ORM if method != "values" or base not in (K_MANAGER, K_QUERYSET) else K_QUERYSET
            if method in ("get", "setdefault", "pop") and base is None:
                return None
        return None

    def sql_text(self, expr: Optional[cst.CSTNode], depth: int = 0) -> Optional[str]:
        """Leading SQL text of an expression, following a local variable."""
        if expr is None or depth > 10:
            return None
        text = string_prefix(expr)
        if text is not None:
            return text
        if isinstance(expr, cst.Name):
            name = expr.value
            if name in self._sql_cache:
                return self._sql_cache[name]
            self._sql_cache[name] = None  # cycles (``sql = sql + "..."``) end here
            found = None
            for value in self.bindings.get(name, ()):
                found = self.sql_text(value, depth + 1)
                if found is not None:
                    break
            self._sql_cache[name] = found
            return found
        if isinstance(expr, cst.Call):
            qualified = self._qualified(expr.func)
            if qualified.rsplit(".", 1)[-1] == "text" and expr.args:
                return self.sql_text(expr.args[0].value, depth + 1)
        return None

    # -- operations -------------------------------------------------------------------
    def is_session(self, expr: cst.CSTNode) -> bool:
        return self.kind(expr) in (K_SESSION, K_AUTOCOMMIT)

    def is_write_statement(self, expr: Optional[cst.CSTNode], depth: int = 0) -> bool:
        """An insert/update/delete statement or write SQL (also through a local variable)."""
        if expr is None or depth > 10:
            return False
        if isinstance(expr, cst.Await):
            return self.is_write_statement(expr.expression, depth + 1)
        if is_write_sql(self.sql_text(expr)):
            return True
        found = self.kind(expr)
        if found in (K_WRITE_STMT, K_SQL_WRITE):
            return True
        if isinstance(expr, cst.Call) and isinstance(expr.func, cst.Attribute):
            method = expr.func.attr.value
            if method in SA_WRITE_FUNCS and not positional_args(expr) and not self.flavour.django:
                # users_table.insert() / Model.__table__.delete()
                return self.kind(expr.func.value) not in (K_SESSION, K_NON_ORM, K_QUERYSET, K_MANAGER)
            if method in SA_STMT_CHAIN:
                return self.is_write_statement(expr.func.value, depth + 1)
        if isinstance(expr, cst.Name):
            name = expr.value
            if name in self._stmt_cache:
                return self._stmt_cache[name]
            self._stmt_cache[name] = False  # cycles (``stmt = stmt.where(...)``) end here
            result = any(self.is_write_statement(v, depth + 1) for v in self.bindings.get(name, ()))
            self._stmt_cache[name] = result
            return result
        return False

    def op(self, call: cst.Call) -> Optional[DbOp]:
        """The database operation ``call`` performs, or None."""
        func = call.func
        if not isinstance(func, cst.Attribute):
            return None
        if id(call) in self._consumed:
            return None
        method = func.attr.value
        receiver = func.value
        flavour = self.flavour
        if flavour.sqlalchemy:
            found = self._sqlalchemy_op(call, method, receiver)
            if found is not None:
                return found
        if flavour.django:
            return self._django_op(call, method, receiver)
        return None

    def _make(self, call: cst.Call, kind: str, framework: str) -> DbOp:
        return DbOp(call, kind, framework, f"{render(call.func)}()", call.func.value if isinstance(call.func, cst.Attribute) else None)

    def _consume(self, expr: Optional[cst.CSTNode]) -> None:
        """Calls inside a statement passed to execute() are not operations themselves."""
        if expr is None:
            return
        for node, _ in calls_in(expr):
            self._consumed.add(id(node))

    def _sqlalchemy_op(self, call: cst.Call, method: str, receiver: cst.BaseExpression) -> Optional[DbOp]:
        if method in SA_SESSION_OPS:
            kind = self.kind(receiver)
            if kind in (K_SESSION, K_AUTOCOMMIT):
                framework = AUTOCOMMIT if kind == K_AUTOCOMMIT else SQLALCHEMY
                positional = positional_args(call)
                if method == "commit":
                    return None if positional or kind == K_AUTOCOMMIT else self._make(call, "commit", SQLALCHEMY)
                if method in ("execute", "exec"):
                    stmt = positional[0].value if positional else None
                    if stmt is None and call.args and call.args[0].keyword is not None and call.args[0].keyword.value == "statement":
                        stmt = call.args[0].value
                    if self.is_write_statement(stmt):
                        self._consume(stmt)
                        return self._make(call, "execute", framework)
                    return None
                if kind == K_AUTOCOMMIT:
                    return None
                if not positional:
                    return None
                first = positional[0].value
                if string_prefix(first) is not None or self.kind(first) == K_NON_ORM and method != "add_all":
                    return None  # http_session.delete(url)
                if method.startswith("bulk_"):
                    return self._make(call, "bulk_save", framework)
                return self._make(call, f"session_{method}", framework)
            if kind == K_CURSOR and method == "execute":
                return None  # handled by the Django side / not SQLAlchemy
        if method in ("update", "delete"):
            if self.kind(receiver) == K_QUERY:
                return self._make(call, f"query_{method}", SQLALCHEMY)
        return None

    def _django_op(self, call: cst.Call, method: str, receiver: cst.BaseExpression) -> Optional[DbOp]:
        positional = positional_args(call)
        if method == "save":
            if positional or is_falsy_constant(kwarg(call, "commit")):
                return None
            kind = self.kind(receiver)
            if kind in (K_NON_ORM, K_SESSION, K_CURSOR, K_CONNECTION, K_QUERY):
                return None
            return self._make(call, "save", DJANGO)
        if method == "delete":
            if positional or is_falsy_constant(kwarg(call, "save")) and kwarg_arg(call, "save") is not None:
                return None
            kind = self.kind(receiver)
            if kind in (K_NON_ORM, K_SESSION, K_CURSOR, K_CONNECTION, K_QUERY):
                return None
            return self._make(call, "delete", DJANGO)
        if method == "update":
            if positional or not call.args:
                return None
            if self.kind(receiver) in (K_QUERYSET, K_MANAGER):
                return self._make(call, "update", DJANGO)
            return None
        if method in ("get_or_create", "update_or_create", "bulk_create", "bulk_update"):
            if self.kind(receiver) in (K_NON_ORM, K_SESSION, K_CURSOR, K_QUERY):
                return None
            return self._make(call, method, DJANGO)
        if method == "create":
            if self.kind(receiver) in (K_MANAGER, K_QUERYSET):
                return self._make(call, "create", DJANGO)
            return None
        if method in RELATED_MANAGER_WRITES:
            if not isinstance(receiver, cst.Attribute):
                return None
            attr = receiver.attr.value
            if attr not in self.flavour.relations and not attr.endswith("_set"):
                return None
            if self.kind(receiver.value) in (K_NON_ORM, K_SESSION, K_CURSOR, K_QUERY):
                return None
            if method == "clear" and positional:
                return None
            if method in ("add", "remove", "set") and not call.args:
                return None
            if method == "set" and len(positional) > 1:
                return None  # cache.set(key, value) shape
            return self._make(call, f"m2m_{method}", DJANGO)
        if method in EXECUTE_METHODS and method != "exec":  # DB-API cursors have no exec()
            kind = self.kind(receiver)
            if kind != K_CURSOR:
                return None
            if positional and is_write_sql(self.sql_text(positional[0].value)):
                return self._make(call, "raw_sql", DJANGO)
        return None

    def ops_in(self, node: cst.CSTNode) -> List[Tuple[DbOp, bool]]:
        """Database operations evaluated by ``node``, in order, with ``repeated`` (inside a
        comprehension)."""
        out = []
        # Outer calls first, so that execute(stmt) consumes the calls that build stmt.
        for call, repeated in reversed(calls_in(node)):
            found = self.op(call)
            if found is not None:
                out.append((found, repeated))
        out.reverse()
        return out


def _annotation_text(node: cst.CSTNode) -> str:
    if isinstance(node, cst.SimpleString):
        value = node.value.strip("\"'")
        return value
    parts = []
    for sub in _iter_names(node):
        parts.append(sub)
    return " ".join(parts)


def _iter_names(node: cst.CSTNode) -> Iterator[str]:
    work = [node]
    while work:
        current = work.pop()
        if isinstance(current, (cst.Name, cst.Attribute)):
            text = dotted_name(current)
            if text:
                yield text
                continue
        if isinstance(current, cst.SimpleString):
            yield current.value.strip("\"'")
            continue
        work.extend(reversed(children_of(current)))
