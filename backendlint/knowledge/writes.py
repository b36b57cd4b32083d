"""Database writes: the write vocabulary (which method names write, in Django and in
SQLAlchemy) and the predicates about the code around writes that a rule asks of a loop
or a block ("is this loop batching on purpose?", "does this block lock rows?", "which
buffers does this loop flush and reset?").

One table per concept; ``OP_METHODS`` is the union of every method name
``knowledge.orm.OrmScope.op`` can recognise as an operation (BL301's prefilter is built
from it). The stdlib-ast predicate sits beside its LibCST twin (``tests/test_twins_writes.py``
pins that they agree).

The N+1 analysis (``queries.DJ_WRITE``), the effect summaries and the create vocabulary
build their sets from these tables (they used to keep drifted copies).
"""

from __future__ import annotations

import ast
from typing import Sequence, Set

import libcst as cst

from backendlint.engine.pyast import body_nodes, descendants
from backendlint.syntax.walk import walk

# -- Django --------------------------------------------------------------------------------
# On a model instance.
DJANGO_INSTANCE_WRITES = frozenset({"save", "delete"})
# On a manager or a queryset (``Order.objects.create``, ``qs.update``).
DJANGO_QUERYSET_WRITES = frozenset(
    {"create", "get_or_create", "update_or_create", "bulk_create", "bulk_update", "update", "delete"}
)
# On a related manager (many-to-many, reverse foreign key): ``order.tags.add(tag)``.
RELATED_MANAGER_WRITES = frozenset({"add", "remove", "set", "clear"})
# Django's async forms (``acreate``, ``asave``, ``aadd``...).
DJANGO_ASYNC_WRITES = frozenset(
    "a" + name for name in DJANGO_INSTANCE_WRITES | DJANGO_QUERYSET_WRITES | RELATED_MANAGER_WRITES
)
# Every Django write method, sync and async.
DJANGO_WRITE_METHODS = DJANGO_INSTANCE_WRITES | DJANGO_QUERYSET_WRITES | RELATED_MANAGER_WRITES | DJANGO_ASYNC_WRITES
# The async forms of the manager / queryset writes (``acreate``, ``abulk_update``...).
DJANGO_QUERYSET_ASYNC_WRITES = frozenset("a" + name for name in DJANGO_QUERYSET_WRITES)
# What a manager, a queryset or a related manager writes with (not ``save``).
DJANGO_MANAGER_WRITES = DJANGO_WRITE_METHODS - {"save", "asave"}
# Django's UserManager: creates a row too.
USER_MANAGER_CREATES = frozenset({"create_user", "create_superuser"})

# -- SQL through a cursor / connection ---------------------------------------------------------
EXECUTE_METHODS = frozenset({"execute", "executemany", "exec"})

# -- SQLAlchemy ------------------------------------------------------------------------------
SA_SESSION_WRITES = frozenset(
    {"add", "add_all", "delete", "merge", "bulk_save_objects", "bulk_insert_mappings", "bulk_update_mappings"}
)
# What a session method call can be, for ``OrmScope``: its writes, commit, execute.
SA_SESSION_OPS = SA_SESSION_WRITES | frozenset({"commit", "execute", "exec"})
COMMIT_METHODS = frozenset({"commit"})

# Every method name an operation can be called with (BL301's prefilter).
OP_METHODS = (
    DJANGO_INSTANCE_WRITES | DJANGO_QUERYSET_WRITES | RELATED_MANAGER_WRITES | EXECUTE_METHODS
    | SA_SESSION_WRITES | COMMIT_METHODS
)

# -- kinds of operations (``DbOp.kind``) -------------------------------------------------------
# Writes of many rows at once: flushing a buffer with them is a batch.
BULK_KINDS = frozenset({"bulk_create", "bulk_update", "bulk_save", "session_add_all", "execute", "raw_sql"})
# Writes whose result says how many rows they wrote (``if not n: create()``).
COUNTING_KINDS = frozenset({"update", "delete", "query_update", "query_delete", "execute", "raw_sql"})

# -- row locks -------------------------------------------------------------------------------
# Django ``select_for_update``, SQLAlchemy ``with_for_update``, and the project spellings
# of the same (``get_for_update``, ``lock_for_update``: saleor, pretix).
LOCKING_METHODS = frozenset({"select_for_update", "get_for_update", "lock_for_update", "with_for_update"})


def takes_row_locks(node: cst.CSTNode) -> bool:
    """The code calls a row-locking method (``.select_for_update()`` ...)."""
    for sub in walk(node):
        if isinstance(sub, cst.Call) and isinstance(sub.func, cst.Attribute) and sub.func.attr.value in LOCKING_METHODS:
            return True
    return False


def ast_takes_row_locks(stmts: Sequence[ast.AST]) -> bool:
    """The stdlib-ast twin of ``takes_row_locks`` (over statements or a node list)."""
    for stmt in stmts:
        for sub in descendants(stmt):
            if isinstance(sub, ast.Call) and isinstance(sub.func, ast.Attribute) and sub.func.attr in LOCKING_METHODS:
                return True
    return False


# -- loops that write in batches on purpose ---------------------------------------------------
# Learned on the corpus (saleor's ``for chunk in chunks(...)``, pretix's ``batch_size``,
# sleeps between rounds in data migrations run as commands).
BATCH_WORDS = ("batch", "chunk")


def is_batching_loop(loop: cst.CSTNode) -> bool:
    """A loop that writes in batches on purpose (``for chunk in chunks(ids, 1000)``,
    ``batch_size``, a ``sleep`` between rounds): making it one transaction would defeat it.

    Anywhere in the loop (head, body, else; nested scopes too): a name containing
    "batch" or "chunk" (any case), an attribute containing them or named ``sleep``
    (``time.sleep``, ``asyncio.sleep``), or a call of a bare name ``sleep``
    (``from time import sleep``). A bare ``sleep`` that is not called does not count.

    The effect summaries (``index/effects.py``, stdlib ast) have a looser variant that
    also counts any name spelled ``sleep`` in any case, called or not.
    """
    for node in walk(loop):
        if isinstance(node, cst.Name):
            lower = node.value.lower()
            if any(w in lower for w in BATCH_WORDS):
                return True
        elif isinstance(node, cst.Attribute):
            lower = node.attr.value.lower()
            if any(w in lower for w in BATCH_WORDS) or lower == "sleep":
                return True
        elif isinstance(node, cst.Call) and isinstance(node.func, cst.Name) and node.func.value == "sleep":
            return True
    return False


def ast_is_batching_loop(loop: ast.AST) -> bool:
    """The stdlib-ast twin of ``is_batching_loop`` (same answers)."""
    for node in descendants(loop):
        if isinstance(node, ast.Name):
            lower = node.id.lower()
            if any(w in lower for w in BATCH_WORDS):
                return True
        elif isinstance(node, ast.Attribute):
            lower = node.attr.lower()
            if any(w in lower for w in BATCH_WORDS) or lower == "sleep":
                return True
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "sleep":
            return True
    return False


# -- buffers flushed in batches -----------------------------------------------------------------
def reset_lists(body: cst.CSTNode) -> Set[str]:
    """Names set back to an empty list (``buf = []``, ``buf = list()``) or cleared
    (``buf.clear()``) inside a loop body: the buffer of a batch flush."""
    names: Set[str] = set()
    for node in walk(body):
        if isinstance(node, cst.Assign) and isinstance(node.value, (cst.List, cst.Call)):
            value = node.value
            empty = (isinstance(value, cst.List) and not value.elements) or (
                isinstance(value, cst.Call) and isinstance(value.func, cst.Name) and value.func.value == "list" and not value.args
            )
            if empty:
                for target in node.targets:
                    if isinstance(target.target, cst.Name):
                        names.add(target.target.value)
        elif (
            isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) and node.func.attr.value == "clear"
            and isinstance(node.func.value, cst.Name) and not node.args
        ):
            names.add(node.func.value.value)
    return names


def ast_reset_lists(stmts: Sequence[ast.stmt]) -> Set[str]:
    """The stdlib-ast twin of ``reset_lists``, over a loop body's statements. It does not
    enter nested functions or classes; ``reset_lists`` does (a buffer reset in a nested
    function is not a reset of the loop's buffer in either reading, and the projects we
    checked have none)."""
    names: Set[str] = set()
    for node in body_nodes(stmts):
        if isinstance(node, ast.Assign):
            value = node.value
            if (isinstance(value, ast.List) and not value.elts) or (
                isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id == "list" and not value.args
            ):
                names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif (
            isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "clear"
            and isinstance(node.func.value, ast.Name) and not node.args
        ):
            names.add(node.func.value.id)
    return names
