"""Querysets, statements and cursors: the words of the N+1 analysis (vocabulary only).

Read by ``backendlint.analysis.queries`` (the loop/query interpreter behind BL401 and
BL402): which Django QuerySet methods are lazy, return one row, a value, or write;
the SQLAlchemy Query/Select methods and loader options; relationship ``lazy=`` values
that load on access; the names a session, cursor or connection usually has; builtins
the interpreter models; libraries whose calls are not project code.

The ORM model vocabulary (relation kinds, model bases) is in ``knowledge.models``.
"""

from __future__ import annotations

from backendlint.knowledge.writes import DJANGO_MANAGER_WRITES
from backendlint.knowledge.orm import CONNECTION_NAMES, CURSOR_NAMES, SESSION_NAMES  # noqa: F401 - one table each

# Django QuerySet methods
DJ_LAZY = frozenset({
    "all", "filter", "exclude", "order_by", "distinct", "annotate", "alias", "only", "defer",
    "using", "select_for_update", "reverse", "none", "union", "intersection", "difference",
    "extra", "complex_filter", "iterator", "aiterator", "select_related", "prefetch_related",
    "values", "values_list", "fetch_mode", "dates", "datetimes",
})
DJ_ONE = frozenset({"get", "first", "last", "latest", "earliest", "aget", "afirst", "alast", "alatest", "aearliest"})
DJ_VAL = frozenset({"count", "exists", "aggregate", "contains", "explain", "in_bulk",
                    "acount", "aexists", "aaggregate", "acontains", "ain_bulk", "aexplain"})
DJ_WRITE = DJANGO_MANAGER_WRITES  # writes through a manager, queryset or related manager
# SQLAlchemy Query / Select
SA_LAZY = frozenset({
    "filter", "filter_by", "order_by", "join", "outerjoin", "limit", "offset", "group_by",
    "having", "distinct", "select_from", "where", "correlate", "execution_options",
    "populate_existing", "yield_per", "enable_eagerloads", "params", "autoflush",
    "with_for_update", "add_columns", "with_only_columns", "union", "union_all", "slice",
    "with_entities", "reset_joinpoint", "join_from", "outerjoin_from", "add_entity", "order_by",
    "with_parent", "enable_assertions", "execution_options",
})
SA_Q_ROWS = frozenset({"all"})
SA_Q_ONE = frozenset({"first", "one", "one_or_none", "get", "get_or_404", "first_or_404", "one_or_404"})
SA_Q_VAL = frozenset({"count", "scalar"})
LOADERS_EAGER = frozenset({"joinedload", "selectinload", "subqueryload", "contains_eager",
                           "immediateload", "raiseload", "noload", "selectin_polymorphic",
                           "joinedload_all", "subqueryload_all", "selectinload_all"})
LOADERS_LAZY = frozenset({"lazyload", "defaultload"})
LOADERS_COLUMN = frozenset({"load_only", "defer", "undefer", "undefer_group", "with_expression",
                            "defaultload_all", "Load", "with_loader_criteria"})
SA_LAZY_LOADS = frozenset({"select", "dynamic", "True"})

BUILTINS = frozenset({"list", "tuple", "sorted", "set", "frozenset", "reversed", "iter", "len",
                      "bool", "any", "all", "sum", "max", "min", "next", "enumerate", "zip",
                      "dict", "filter", "map", "getattr", "hasattr", "isinstance", "str",
                      "int", "print", "repr", "super", "range", "type", "id", "float"})
HTTP_PREFIXES = ("requests.", "httpx.", "aiohttp.", "urllib3.", "boto3", "botocore")
KNOWN_LIBRARIES = frozenset({"sqlalchemy", "sqlmodel", "django", "requests", "httpx", "aiohttp", "rest_framework",
                   "flask_sqlalchemy", "urllib3", "boto3", "botocore"})


# -- what a receiver's name says (corpus-learned: names of sessions, cursors and
#    connections in the projects of the corpus; "client"/"request" ones are HTTP) -------
_SESSION_CALLS = ("session", "get_session", "get_db", "db_session", "session_factory", "sessionlocal", "scoped_session")
_NOT_SESSIONS = ("http", "client", "request", "browser", "web", "boto", "redis", "cache")


def session_like(name: str) -> bool:
    """Is a lower-cased last name (``db``, ``get_session()``) a database session's?"""
    if not name:
        return False
    if name.endswith("()"):
        name = name[:-2]
        return name in _SESSION_CALLS or name.endswith("session")
    if any(h in name for h in _NOT_SESSIONS):
        return False
    return name in SESSION_NAMES or name.endswith("_session") or name.endswith("session") or name.endswith("_db")


def cursor_like(name: str) -> bool:
    """Is a lower-cased last name a DB-API cursor's?"""
    return name in CURSOR_NAMES or name.endswith("cursor") or name == "cursor()"


def connection_like(name: str) -> bool:
    """Is a lower-cased last name a DB-API connection's?"""
    return name in CONNECTION_NAMES or name.endswith("_conn") or name.endswith("_connection")


# Words in a loop variable or iterable's callee that say the loop walks batches
# (``for chunk in chunked(ids, 500)``), not rows.
BATCH_TARGET_WORDS = ("chunk", "batch", "page", "offset", "slice")
BATCH_CALL_WORDS = ("chunk", "batch", "grouper", "paginat", "slices", "partition")
# Words in the name of an executed statement's variable that say it writes.
WRITE_STATEMENT_WORDS = ("update", "insert", "delete", "upsert", "merge", "create", "drop", "alter", "truncate")

# Lookups that address rows by primary key (severity: such rows are bounded).
KEY_LOOKUPS = frozenset({"pk", "id", "pk__exact", "id__exact", "uuid"})
KEY_LIST_LOOKUPS = frozenset({"pk__in", "id__in"})
