"""BL301 write-outside-transaction: a unit of work whose database writes are not atomic.

Django runs in autocommit mode: each write outside ``transaction.atomic`` is its own
transaction, so a function that writes twice can fail between the two and leave half of
its work in the database. With SQLAlchemy the session batches writes until ``commit()``;
two commits in one unit of work, each with writes before it, are the same partial write.

The analysis is per function (nested functions are their own units) and path-sensitive:
the writes of mutually exclusive paths (if/else, try/except, a write after an early
return) do not add up, and a write in a loop counts as several.

Calls (effect summaries): a call, outside a transaction, of a project function that
writes outside a transaction of its own (itself or through the project functions it
calls, to a fixed point) is one more write of the unit, listed with where the callee
writes. A function whose every call site is inside a transaction is covered by its
callers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, FrozenSet, List, Optional, Sequence, Tuple

import libcst as cst

from backendlint.engine.rule import Option, Rule
from backendlint.engine.traversal import walk
from backendlint.knowledge import effects, orm, settings, side_effects, transactions
from backendlint.knowledge.creates import is_log_model
from backendlint.knowledge.orm import AUTOCOMMIT, DJANGO, SQLALCHEMY, DbOp, OrmScope
from backendlint.knowledge.paths import is_test_path

try:  # shared with BL201 (catalog: "View (Django)")
    from backendlint.knowledge.handlers import is_django_view_class, is_view
except ImportError:  # pragma: no cover - the module ships with the package
    is_view = None  # type: ignore[assignment]
    is_django_view_class = None  # type: ignore[assignment]

# Path = tuple of entries; entry = (op index, transaction block id or None, repeated?,
# isolated?) where isolated means "inside a try whose handler swallows the error": a loop
# around it is written to make per-item progress, so the loop does not multiply it.
Entry = Tuple[int, Optional[int], bool, bool]
Path = Tuple[Entry, ...]
MAX_PATHS = 24
MAX_DEPTH = 120
MAX_LISTED = 6

# ModelAdmin methods that Django's admin calls inside its own transaction.atomic
# (changeform_view / delete_view wrap them).
ADMIN_ATOMIC_METHODS = frozenset(
    {"save_model", "save_related", "save_formset", "save_form", "delete_model", "log_addition",
     "log_change", "log_deletion", "response_add", "response_change", "response_delete",
     "construct_change_message"}
)
TEST_FUNCTION_PREFIXES = ("test_", "setUp", "tearDown", "setup_", "teardown_")


class _TooDeep(Exception):
    pass


@dataclass
class _CallOp(DbOp):
    """A call of a project function that writes outside a transaction of its own."""

    target: str = ""
    note: str = ""  # "writes Invoice in billing/services.py:30"


class _Res:
    """Paths through a piece of code: those that fall through, and those that leave it."""

    __slots__ = ("fall", "exits")

    def __init__(self, fall: List[Path], exits: Optional[Dict[str, List[Path]]] = None):
        self.fall = fall
        self.exits = exits or {}


EMPTY: Path = ()


def _effective(path: Path) -> Path:
    """The path without the writes that a later "nothing was written" branch cancels."""
    if not any(e[0] < 0 for e in path):
        return path
    cancelled = {-e[0] - 1 for e in path if e[0] < 0}
    return tuple(e for e in path if e[0] >= 0 and e[0] not in cancelled)


def _score(path: Path) -> Tuple[int, int]:
    path = _effective(path)
    weight = sum(2 if e[2] else 1 for e in path)
    uncovered = sum(1 for e in path if e[1] is None)
    return (min(uncovered, 2) and weight, uncovered)


def _prune(paths: List[Path]) -> List[Path]:
    seen = set()
    out = []
    for p in paths:
        if p not in seen:
            seen.add(p)
            out.append(p)
    if len(out) > MAX_PATHS:
        out.sort(key=_score, reverse=True)
        out = out[:MAX_PATHS]
    return out


def _cat(prefixes: List[Path], suffixes: List[Path]) -> List[Path]:
    if suffixes == [EMPTY]:
        return prefixes
    if prefixes == [EMPTY]:
        return suffixes
    return _prune([p + s for p in prefixes for s in suffixes])


def _seq(a: _Res, b: _Res) -> _Res:
    exits = {k: list(v) for k, v in a.exits.items()}
    for kind, paths in b.exits.items():
        exits[kind] = _prune(exits.get(kind, []) + _cat(a.fall, paths))
    return _Res(_cat(a.fall, b.fall), exits)


def _union(results: Sequence[_Res]) -> _Res:
    fall: List[Path] = []
    exits: Dict[str, List[Path]] = {}
    for res in results:
        fall.extend(res.fall)
        for kind, paths in res.exits.items():
            exits.setdefault(kind, []).extend(paths)
    return _Res(_prune(fall), {k: _prune(v) for k, v in exits.items()})


def _looped(path: Path) -> Path:
    return tuple((i, cover, rep or not iso, iso) for i, cover, rep, iso in path)


def _isolated(path: Path) -> Path:
    return tuple((i, cover, rep, True) for i, cover, rep, _ in path)


_BATCH_WORDS = ("batch", "chunk")


def _is_batching_loop(stmt: cst.CSTNode) -> bool:
    """A loop that writes in batches on purpose (``for chunk in chunks(ids, 1000)``,
    ``batch_size``, a ``sleep`` between rounds): making it one transaction would defeat it."""
    for node in walk(stmt):
        if isinstance(node, cst.Name):
            lower = node.value.lower()
            if any(w in lower for w in _BATCH_WORDS):
                return True
        elif isinstance(node, cst.Attribute):
            lower = node.attr.value.lower()
            if any(w in lower for w in _BATCH_WORDS) or lower == "sleep":
                return True
        elif isinstance(node, cst.Call) and isinstance(node.func, cst.Name) and node.func.value == "sleep":
            return True
    return False


def _is_true(expr: cst.BaseExpression) -> bool:
    return (isinstance(expr, cst.Name) and expr.value == "True") or (
        isinstance(expr, cst.Integer) and expr.value not in ("0",)
    )


class _FunctionAnalysis:
    """Paths of one function body, with the database operations along each."""

    def __init__(self, scope: OrmScope, tx: transactions.Transactions, callee_of=None):
        self.scope = scope
        self.tx = tx
        # call -> _CallOp for calls of project functions that write (None: not followed)
        self.callee_of = callee_of
        self.ops: List[DbOp] = []
        self.index_by_node: Dict[int, int] = {}
        # SQLAlchemy: the ``with <session>`` block each operation runs in (None: the function).
        self.scope_of: List[Optional[int]] = []
        self.session_scope: Optional[int] = None
        self.opened_scopes: List[int] = []
        # Transaction blocks that lock rows (select_for_update): a claim made on purpose
        # before work that runs outside it (a job marked "in progress", then finished).
        self.claim_blocks: set = set()
        # Bulk writes that flush a buffer in batches (and the buffers' names, whose final
        # flush after the loop belongs to the same series).
        self.batched_ops: set = set()
        self.flush_buffers: set = set()
        self.depth = 0

    def entries(self, node: Optional[cst.CSTNode], cover: Optional[int]) -> Path:
        if node is None:
            return EMPTY
        out = []
        ops = self.scope.ops_in(node)
        if self.callee_of is not None:
            ops = self._with_calls(node, ops)
        for op, repeated in ops:
            self.index_by_node[id(op.node)] = len(self.ops)
            self.scope_of.append(self.session_scope)
            out.append((len(self.ops), cover, repeated, False))
            self.ops.append(op)
        return tuple(out)

    def _with_calls(self, node: cst.CSTNode, ops: List[Tuple[DbOp, bool]]) -> List[Tuple[DbOp, bool]]:
        """``ops`` with the calls of writing project functions, in evaluation order."""
        found: List[Tuple[int, DbOp, bool]] = []
        position: Dict[int, int] = {}
        op_nodes = {id(op.node) for op, _ in ops}
        for index, (call, repeated) in enumerate(orm.calls_in(node)):
            position[id(call)] = index
            if id(call) not in op_nodes:
                op = self.callee_of(call)
                if op is not None:
                    found.append((index, op, repeated))
        if not found:
            return ops
        merged = [(position.get(id(op.node), -1), op, repeated) for op, repeated in ops] + found
        merged.sort(key=lambda item: item[0])
        return [(op, repeated) for _, op, repeated in merged]

    def noop_branch(self, test: cst.BaseExpression) -> Optional[int]:
        """The write whose "no row matched" result makes ``test`` true: in
        ``n = qs.update(...); if not n: Model.objects.create(...)`` the create runs only
        when the update wrote nothing, so the two never both write."""
        inner: Optional[cst.BaseExpression] = None
        if isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not):
            inner = test.expression
        elif isinstance(test, cst.Comparison) and len(test.comparisons) == 1:
            target = test.comparisons[0]
            right = target.comparator
            if isinstance(target.operator, (cst.Equal, cst.Is)) and (
                (isinstance(right, cst.Integer) and right.value == "0")
                or (isinstance(right, cst.Name) and right.value in ("None", "False"))
            ):
                inner = test.left
            elif isinstance(target.operator, cst.LessThan) and isinstance(right, cst.Integer) and right.value == "1":
                inner = test.left
        while isinstance(inner, cst.Await):
            inner = inner.expression
        if isinstance(inner, cst.Call):
            return self.index_by_node.get(id(inner))
        if isinstance(inner, cst.Name):
            for value in reversed(self.scope.bindings.get(inner.value, ())):
                while isinstance(value, cst.Await):
                    value = value.expression
                found = self.index_by_node.get(id(value))
                if found is not None and self.ops[found].kind in ("update", "delete", "query_update",
                                                                   "query_delete", "execute", "raw_sql"):
                    return found
        return None

    def block(self, stmts: Sequence[cst.BaseStatement], cover: Optional[int]) -> _Res:
        res = _Res([EMPTY])
        for stmt in stmts:
            if not res.fall:
                break  # the rest is unreachable
            step = self.stmt(stmt, cover)
            if step.fall == [EMPTY] and not step.exits:
                continue
            res = _seq(res, step)
        return res

    def suite(self, body: cst.BaseSuite, cover: Optional[int]) -> _Res:
        if isinstance(body, cst.IndentedBlock):
            return self.block(body.body, cover)
        if isinstance(body, cst.SimpleStatementSuite):
            return self.small(body.body, cover)
        return _Res([EMPTY])

    def small(self, stmts: Sequence[cst.BaseSmallStatement], cover: Optional[int]) -> _Res:
        path: Path = EMPTY
        for small in stmts:
            if isinstance(small, cst.Return):
                return _Res([], {"return": [path + self.entries(small.value, cover)]})
            if isinstance(small, cst.Raise):
                return _Res([], {"raise": [path + self.entries(small.exc, cover)]})
            if isinstance(small, cst.Break):
                return _Res([], {"break": [path]})
            if isinstance(small, cst.Continue):
                return _Res([], {"continue": [path]})
            path = path + self.entries(small, cover)
        return _Res([path])

    def stmt(self, stmt: cst.BaseStatement, cover: Optional[int]) -> _Res:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise _TooDeep()
        try:
            return self._stmt(stmt, cover)
        finally:
            self.depth -= 1

    def _stmt(self, stmt: cst.BaseStatement, cover: Optional[int]) -> _Res:
        if isinstance(stmt, cst.SimpleStatementLine):
            return self.small(stmt.body, cover)
        if isinstance(stmt, (cst.FunctionDef, cst.ClassDef)):
            return _Res([EMPTY])
        if isinstance(stmt, cst.If):
            head = _Res([self.entries(stmt.test, cover)])
            body = self.suite(stmt.body, cover)
            cancelled = self.noop_branch(stmt.test)
            if cancelled is not None:
                body = _seq(_Res([((-cancelled - 1, None, False, False),)]), body)
            orelse = stmt.orelse
            if isinstance(orelse, cst.If):
                other = self.stmt(orelse, cover)
            elif isinstance(orelse, cst.Else):
                other = self.suite(orelse.body, cover)
            else:
                other = _Res([EMPTY])
            return _seq(head, _union([body, other]))
        if isinstance(stmt, (cst.For, cst.While)):
            return self.loop(stmt, cover)
        if isinstance(stmt, (cst.Try, cst.TryStar)):
            return self.try_(stmt, cover)
        if isinstance(stmt, cst.With):
            return self.with_(stmt, cover)
        if isinstance(stmt, cst.Match):
            head = _Res([self.entries(stmt.subject, cover)])
            cases = [self.suite(case.body, cover) for case in stmt.cases]
            return _seq(head, _union(cases + [_Res([EMPTY])]))
        return _Res([EMPTY])

    def loop(self, stmt, cover: Optional[int]) -> _Res:
        if isinstance(stmt, cst.For):
            head = self.entries(stmt.iter, cover)
            infinite = False
        else:
            head = self.entries(stmt.test, cover)
            infinite = _is_true(stmt.test)
        opened_before = len(self.opened_scopes)
        ops_before = len(self.ops)
        body = self.suite(stmt.body, cover)
        again = body.fall + body.exits.get("continue", [])
        if len(self.ops) > ops_before:
            self._note_buffer_flushes(stmt, ops_before)
        if any(again) and _is_batching_loop(stmt):
            prefixes = [EMPTY]
        else:
            # A session opened inside the loop is a unit of work per item.
            per_item = set(self.opened_scopes[opened_before:])
            if per_item:
                again = [tuple(e for e in p if e[0] < 0 or self.scope_of[e[0]] not in per_item) for p in again]
            prefixes = _prune([EMPTY] + [_looped(p) for p in again if p])
        fall: List[Path] = []
        if not infinite:
            if stmt.orelse is not None:
                orelse = self.suite(stmt.orelse.body, cover)
                fall.extend(_cat(prefixes, orelse.fall))
                exits_else = {k: _cat(prefixes, v) for k, v in orelse.exits.items()}
            else:
                fall.extend(prefixes)
                exits_else = {}
        else:
            exits_else = {}
        fall.extend(_cat(prefixes, body.exits.get("break", [])))
        exits: Dict[str, List[Path]] = {}
        for kind in ("return", "raise"):
            paths = _cat(prefixes, body.exits.get(kind, [])) + exits_else.get(kind, [])
            if paths:
                exits[kind] = _prune(paths)
        for kind in ("break", "continue"):  # from an else: clause, they leave the outer loop
            if exits_else.get(kind):
                exits[kind] = exits_else[kind]
        return _seq(_Res([head]), _Res(_prune(fall), exits))

    def _note_buffer_flushes(self, loop, ops_before: int) -> None:
        """``buf.append(x); if len(buf) >= 1000: Model.objects.bulk_create(buf); buf = []``:
        flushing a buffer in batches is a deliberate series of commits, not one unit."""
        reset = _reset_lists(loop.body)
        if not reset:
            return
        for index in range(ops_before, len(self.ops)):
            op = self.ops[index]
            if (op.kind in _BULK_KINDS or isinstance(op, _CallOp)) and any(
                isinstance(arg.value, cst.Name) and arg.value.value in reset and arg.keyword is None
                for arg in op.node.args
            ):
                self.batched_ops.add(index)
                self.flush_buffers.add(next(a.value.value for a in op.node.args
                                            if isinstance(a.value, cst.Name) and a.value.value in reset))

    def try_(self, stmt, cover: Optional[int]) -> _Res:
        body = self.suite(stmt.body, cover)
        if stmt.orelse is not None:
            body = _seq(body, self.suite(stmt.orelse.body, cover))
        handlers = [self.suite(h.body, cover) for h in stmt.handlers]
        if any(h.fall or h.exits.get("continue") for h in handlers):
            # Some error is swallowed: per-item progress inside a loop is intended.
            body = _Res([_isolated(p) for p in body.fall], {k: [_isolated(p) for p in v] for k, v in body.exits.items()})
            handlers = [
                _Res([_isolated(p) for p in h.fall], {k: [_isolated(p) for p in v] for k, v in h.exits.items()})
                for h in handlers
            ]
        res = _union([body] + handlers)
        if stmt.finalbody is not None:
            final = self.suite(stmt.finalbody.body, cover)
            exits = {k: _cat(v, final.fall) for k, v in res.exits.items()}
            for kind, paths in final.exits.items():
                exits[kind] = _prune(exits.get(kind, []) + _cat(res.fall, paths))
            res = _Res(_cat(res.fall, final.fall), exits)
        return res

    def with_(self, stmt: cst.With, cover: Optional[int]) -> _Res:
        head: Path = EMPTY
        inner = cover
        opens_session = False
        for item in stmt.items:
            head = head + self.entries(item.item, cover)
            if inner is None and self.tx.with_item_kind(item.item, self.scope.bindings):
                inner = id(stmt)
                if _takes_row_locks(stmt.body):
                    self.claim_blocks.add(inner)
            if self._opens_session(item):
                opens_session = True
        if not opens_session:
            return _seq(_Res([head]), self.suite(stmt.body, inner))
        # ``with Session() as s:`` is a unit of work of its own (SQLAlchemy).
        outer = self.session_scope
        self.session_scope = id(stmt)
        self.opened_scopes.append(id(stmt))
        try:
            body = self.suite(stmt.body, inner)
        finally:
            self.session_scope = outer
        return _seq(_Res([head]), body)

    def _opens_session(self, item: cst.WithItem) -> bool:
        if not self.scope.flavour.sqlalchemy:
            return False
        if item.asname is not None and isinstance(item.asname.name, cst.Name):
            return self.scope.kind(item.asname.name) == orm.K_SESSION
        return False

    def run(self, func: cst.FunctionDef) -> List[Path]:
        res = self.suite(func.body, None)
        paths = list(res.fall)
        for kind_paths in res.exits.values():
            paths.extend(kind_paths)
        return paths


# -- the rule ------------------------------------------------------------------------------


def _is_migration(relpath: str, source: str) -> bool:
    parts = relpath.replace("\\", "/").split("/")[:-1]
    if "migrations" in parts:
        return True
    return "versions" in parts and ("revision" in source or "alembic" in source)


_BULK_KINDS = frozenset({"bulk_create", "bulk_update", "bulk_save", "session_add_all", "execute", "raw_sql"})


def _reset_lists(body: cst.CSTNode) -> set:
    """Names set back to an empty list (or cleared) inside a loop body."""
    names = set()
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


_LOCKING = frozenset({"select_for_update", "get_for_update", "lock_for_update", "with_for_update"})


def _takes_row_locks(body: cst.CSTNode) -> bool:
    for node in walk(body):
        if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) and node.func.attr.value in _LOCKING:
            return True
    return False


def _dedupe(listed):
    """One item per operation (a loop's first and later rounds are the same call)."""
    out = []
    index = {}
    for op, cover, rep in listed:
        key = id(op.node)
        if key in index:
            old = out[index[key]]
            out[index[key]] = (old[0], old[1], True)
            continue
        index[key] = len(out)
        out.append((op, cover, rep))
    return out


# -- writes made through calls (effect summaries) ---------------------------------------------
_DELIBERATE = 2  # effects: a batching loop, per-item error isolation, a buffer flushed in batches


def _last(name: str) -> str:
    return name.rsplit(".", 1)[-1]


class _TxNames:
    """Does a qualified name open a transaction (atomic, a project wrapper, an option)?"""

    def __init__(self, facts, extra: Sequence[str]):
        data = (facts.get(transactions.FACT_KIND) if facts is not None else None) or {}
        names = set(data.get("wrappers") or ()) | {n.strip() for n in extra if n and n.strip()}
        self.names = names
        self.by_last: Dict[str, List[str]] = {}
        for name in names:
            self.by_last.setdefault(_last(name), []).append(name)
        self.methods = {_last(n) for n in names if "." in n and _last(n.rsplit(".", 1)[0])[:1].isupper()}

    def opens(self, name: str) -> bool:
        if not name:
            return False
        if name in transactions.ATOMIC or name in self.names or _last(name) == "atomic":
            return True
        if name.startswith(("self.", "cls.")) and name.count(".") == 1:
            return name.split(".", 1)[1] in self.methods
        last = _last(name)
        return any(
            w == name or w.endswith("." + name) or name.endswith("." + w) or "." not in w
            for w in self.by_last.get(last, ())
        )


def _deliberate_or_wrapped(entry: Sequence[Any], wraps_at: int, tx: _TxNames) -> bool:
    """A write/call entry of the summaries (flags at 3) that BL301 leaves to its function."""
    flags = entry[3] if len(entry) > 3 else 0
    wraps = entry[wraps_at] if len(entry) > wraps_at else ()
    return bool(flags & _DELIBERATE) or any(tx.opens(w) for w in wraps or ())


_GETTER_PREFIXES = ("get_", "_get_", "aget_")
_EVENT_SUFFIXES = ("_event", "_events")  # saleor's order_captured_event(): an audit row
# How deep calls are followed from a unit: the function it calls, and the functions that
# one calls (handler -> service -> repository). Deeper chains, in the projects we checked,
# were bookkeeping of long-running work (a VCS push recording its state) more often than
# a unit of work the author would see as one.
MAX_DEPTH_FOLLOWED = 2
_NOTICE_SUFFIXES = ("mail", "mails", "email", "emails", "notification", "notifications")


def _is_bookkeeping(model: str) -> bool:
    """Rows a helper writes on the side: audit/log entries, cache rows, an outbox of
    mails or notifications. Helpers that write them (``log_action()``, ``mail()``,
    ``notify()``) are called next to nearly every write; counting them would bury the
    real findings."""
    low = model.lower()
    return is_log_model(model) or low.endswith(_NOTICE_SUFFIXES) or "outbox" in low


def callee_writers(facts, extra: Sequence[str] = ()) -> Dict[str, tuple]:
    """Project functions that write outside a transaction of their own, reached through calls.

    ``{key: (chain, what, relpath, line)}``: ``chain`` the callee keys from this function
    down to the one that writes, ``what`` the model (or the write's text), ``relpath:line``
    where it writes. A function counts when it writes outside a transaction itself (not
    in a batching loop, per-item error isolation, a transaction of its own: a
    ``with atomic()``, a project wrapper, an atomic decorator; not an audit, cache or
    outbox row) or calls, outside a transaction, a function that does itself; grown
    breadth first from the writers through their callers, so a cycle ends where it
    started and a unit sees writes at most MAX_DEPTH_FOLLOWED calls deep. Only functions
    that some project code calls are kept. Tests, migrations, lazy getters (``get_*``),
    audit events (``*_event``) and files of a SQLAlchemy project are left out (BL301
    follows Django writes only).
    """
    if facts is None:
        return {}
    memo = getattr(facts, "memo", None)
    key = "bl301.callee_writers:" + "|".join(sorted(extra))
    if memo is not None and key in memo:
        return memo[key]
    found = _callee_writers(facts, extra)
    if memo is not None:
        memo[key] = found
    return found


def _callee_writers(facts, extra: Sequence[str]) -> Dict[str, tuple]:
    summaries = facts.get(effects.FACT_KIND) or {}
    writes = summaries.get("writes") or {}
    if not writes:
        return {}
    django_project = bool((facts.get(orm.FACT_KIND) or {}).get("django"))
    flavour = summaries.get("flavour") or {}
    where = summaries.get("where") or {}
    tx = _TxNames(facts, extra)

    def usable(name: str) -> bool:
        last = _last(name)
        if last.startswith(_GETTER_PREFIXES) or last.endswith(_EVENT_SUFFIXES):
            return False  # a getter that creates on first use (a cache), an audit event
        relpath = where.get(name, ("", 0))[0]
        if any(w in last.lower() or w in relpath.lower() for w in _TOOLING_WORDS):
            return False  # fake-data generators, one-off migration scripts
        kind = flavour.get(relpath, "")
        if kind == "sa" or (kind != "dj" and not django_project):
            return False
        return not is_test_path(relpath) and "migrations" not in relpath.split("/")

    whole = set(summaries.get("tx") or ())
    for name, decorators in (summaries.get("decorators") or {}).items():
        if any(tx.opens(d) for d in decorators):
            whole.add(name)
    for name in writes:
        if _last(name) in ADMIN_ATOMIC_METHODS and "Admin" in name.rsplit(".", 2)[-2:][0]:
            whole.add(name)  # the admin calls it inside its own transaction
    found: Dict[str, tuple] = {}
    for name, entries in writes.items():
        if name in whole or not usable(name):
            continue
        for w in entries:
            if w[2] or _deliberate_or_wrapped(w, 5, tx):
                continue
            model = w[4] if len(w) > 4 else ""
            if model and _is_bookkeeping(model):
                continue
            found[name] = ((), model or w[0], where[name][0], w[1])
            break
    callers: Dict[str, List[str]] = {}
    called = set()
    for name, out in (summaries.get("edges") or {}).items():
        for edge in out:
            called.add(edge[0])
            if name in whole or edge[2] or _deliberate_or_wrapped(edge, 4, tx):
                continue
            callers.setdefault(edge[0], []).append(name)
    work = list(found)
    for _ in range(MAX_DEPTH_FOLLOWED - 1):  # breadth first: the shortest chain to a write
        nxt = []
        for target in work:
            chain, what, relpath, line = found[target]
            for caller in callers.get(target, ()):
                if caller in found or not usable(caller):
                    continue
                found[caller] = ((target,) + chain, what, relpath, line)
                nxt.append(caller)
        work = nxt
    return {name: value for name, value in found.items() if name in called}


def writer_names(facts, extra: Sequence[str] = ()) -> FrozenSet[str]:
    """The identifiers a call of a writing project function can be spelled with: the
    function's name, and names a package re-exports it under."""
    memo = getattr(facts, "memo", None)
    key = "bl301.writer_names:" + "|".join(sorted(extra))
    if memo is not None and key in memo:
        return memo[key]
    names = _writer_names(facts, callee_writers(facts, extra))
    if memo is not None:
        memo[key] = names
    return names


def _writer_names(facts, found: Dict[str, tuple]) -> FrozenSet[str]:
    if not found:
        return frozenset()
    names = {_last(name) for name in found}
    summaries = facts.get(effects.FACT_KIND) or {}
    for _ in range(4):
        added = {
            alias
            for table in (summaries.get("aliases") or {}).values()
            for alias, target in table.items()
            if alias not in names and _last(target) in names
        }
        if not added:
            break
        names |= added
    return frozenset(names)


# Fake-data generators, seeding and one-off migration scripts (saleor's populatedb and
# random_data, label-studio's old_ls_migration).
_TOOLING_WORDS = ("fake", "random_data", "populate", "sample_data", "demo_data", "migrat")
_MODEL_BASES_OUTSIDE = ("pydantic", "sqlmodel", "sqlalchemy", "marshmallow", "msgspec")


def django_model_classes(facts) -> FrozenSet[str]:
    """Project classes derived from a Django model (``models.Model``, a third-party model
    base such as ``MPTTModel``, or a project class that is one), from the effect
    summaries' class index."""
    if facts is None:
        return frozenset()
    memo = getattr(facts, "memo", None)
    if memo is not None and "bl301.models" in memo:
        return memo["bl301.models"]
    result = _django_model_classes((facts.get(effects.FACT_KIND) or {}).get("classes") or {})
    if memo is not None:
        memo["bl301.models"] = result
    return result


def _django_model_classes(classes: Dict[str, List[str]]) -> FrozenSet[str]:
    found: set = set()
    pending = dict(classes)
    for _ in range(16):
        grown = False
        for key, bases in list(pending.items()):
            for base in bases:
                if base in found or (
                    base not in classes
                    and (_last(base).endswith("Model") or base in ("wagtail.models.Page", "wagtail.core.models.Page"))
                    and not base.startswith(_MODEL_BASES_OUTSIDE)
                ):
                    found.add(key)
                    del pending[key]
                    grown = True
                    break
        if not grown:
            break
    return frozenset(found)


def _call_note(value: tuple) -> str:
    chain, what, relpath, line = value
    text = f"writes {what}" if what[:1].isupper() and "." not in what else what
    text = f"{text} in {relpath}:{line}"
    if chain:
        text = f"through {_last(chain[0])}(), {text}"
    return text


_OP_CALL = 1
_PROJECT_CALL = 2


class WriteOutsideTransaction(Rule):
    code = "BL301"
    name = "write-outside-transaction"
    summary = "A unit of work makes two or more database writes that are not all in one transaction"
    # Every write is a method call (``x.save()``: the attribute of one of orm.OP_METHODS,
    # after a dot, maybe across lines or comments), or a call of a project function that
    # writes (prefilter_names); a report needs two writes, so one of them occurs in the
    # file. "Waddington" or "address" do not count.
    requires_re = r"\.(?:\s|\\\r?\n|#[^\n]*\n)*(?:%s)\b" % "|".join(sorted(orm.OP_METHODS, key=lambda m: (-len(m), m)))
    facts = (orm.FACT_KIND, transactions.FACT_KIND, settings.FACT_KIND, effects.FACT_KIND)
    options = (
        Option(
            "transaction-wrappers",
            list,
            [],
            "Names of project functions/context managers that open a transaction "
            "(qualified like 'shop.db.traced_atomic', or a bare name), in addition to those "
            "found automatically.",
        ),
    )

    def __init__(self, ctx, options=None):
        super().__init__(ctx, options)
        self.skip = _is_migration(ctx.relpath, ctx.source) or is_test_path(ctx.relpath)
        self.tx = transactions.Transactions(ctx, self.opts.get("transaction-wrappers") or ())
        self.atomic_requests = bool(settings.atomic_requests_aliases(ctx.facts))
        # (reported node, framework, listed writes, ctx.where() of the function)
        self.pending: List[Tuple[cst.Call, str, List[Tuple[DbOp, Optional[int], bool]], tuple]] = []
        # Per enclosing function: calls a write-like method (_OP_CALL) / a project function
        # that may write (_PROJECT_CALL).
        self.frames: List[int] = []
        # Project functions that write outside a transaction of their own (Django files only).
        extra = tuple(self.opts.get("transaction-wrappers") or ())
        self.callee_names: FrozenSet[str] = frozenset()
        self.callees: Dict[str, tuple] = {}
        if not self.skip and ctx.facts is not None and orm.file_flavour(ctx).django:
            self.callee_names = writer_names(ctx.facts, extra)
            if self.callee_names:
                self.callees = callee_writers(ctx.facts, extra)

    @classmethod
    def skips_path(cls, relpath: str) -> bool:
        """Tests and migrations directories (alembic ``versions/`` needs the source)."""
        return is_test_path(relpath) or "migrations" in relpath.replace("\\", "/").split("/")[:-1]

    @classmethod
    def prefilter_names(cls, facts: Any, options: Optional[Dict[str, Any]] = None) -> FrozenSet[str]:
        """A file that calls a project function writing outside a transaction of its own can
        hold a finding without any write verb of its own (two such calls)."""
        return writer_names(facts, tuple((options or {}).get("transaction-wrappers") or ()))

    @classmethod
    def prepare(cls, facts: Any, options: Optional[Dict[str, Any]] = None) -> None:
        writer_names(facts, tuple((options or {}).get("transaction-wrappers") or ()))  # and callee_writers
        django_model_classes(facts)
        effects.run_resolver(facts)

    # -- coverage of a whole function ----------------------------------------------------
    def _classes(self) -> List[cst.ClassDef]:
        return [n for n in self.ctx.stack if isinstance(n, cst.ClassDef)]

    def _whole_function_covered(self, func: cst.FunctionDef, classes: List[cst.ClassDef]) -> bool:
        if self.tx.function_is_atomic(func, classes):
            return True
        direct_class = classes[-1] if classes and self._is_method(func, classes[-1]) else None
        if direct_class is not None:
            if func.name.value in ADMIN_ATOMIC_METHODS and any(
                (orm.dotted_name(b.value) or "").endswith("Admin") for b in direct_class.bases
            ):
                return True
            qualified = f"{self.ctx.module_name}.{direct_class.name.value}"
            if len(classes) == 1 and self.tx._known(qualified, self.tx.atomic_classes):
                return True
        if self.atomic_requests and not self.tx.is_non_atomic_requests(func, classes):
            if self._is_view_code(func, classes, direct_class):
                return True
        return self._covered_by_callers(func, classes, direct_class)

    def _covered_by_callers(self, func: cst.FunctionDef, classes, direct_class) -> bool:
        """Every call site of this function in the project is inside a transaction
        (effect summaries): the callers hold it."""
        summaries = self.ctx.facts.get(effects.FACT_KIND) if self.ctx.facts is not None else None
        if not summaries or not summaries.get("covered"):
            return False
        if not classes:
            key = f"{self.ctx.module_name}.{func.name.value}"
        elif len(classes) == 1 and direct_class is not None:
            key = f"{self.ctx.module_name}.{direct_class.name.value}.{func.name.value}"
        else:
            return False
        covered = self.ctx.memo.get("effects.covered")
        if covered is None:
            covered = self.ctx.memo["effects.covered"] = frozenset(summaries["covered"])
        return key in covered

    @staticmethod
    def _is_method(func: cst.FunctionDef, cls: cst.ClassDef) -> bool:
        body = cls.body
        return isinstance(body, cst.IndentedBlock) and any(stmt is func for stmt in body.body)

    def _is_view_code(self, func, classes, direct_class) -> bool:
        if is_view is None:
            return False
        if is_view(self.ctx, func, classes):
            return True
        if direct_class is not None:
            # Helper methods of a view class (form_valid, perform_create...) run inside the
            # request's transaction too.
            if is_django_view_class is not None and is_django_view_class(self.ctx, direct_class):
                return True
            body = direct_class.body
            if isinstance(body, cst.IndentedBlock):
                for stmt in body.body:
                    if isinstance(stmt, cst.FunctionDef) and stmt is not func and is_view(self.ctx, stmt, classes):
                        return True
        return False

    # -- analysis ----------------------------------------------------------------------------
    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self.frames.append(0)

    def visit_Call(self, node: cst.Call) -> None:
        # Cheap prefilter: does the function call any method an operation could be?
        frames = self.frames
        if frames and frames[-1] != _OP_CALL | _PROJECT_CALL:
            func = node.func
            if isinstance(func, cst.Attribute):
                if func.attr.value in orm.OP_METHODS:
                    frames[-1] |= _OP_CALL
                if func.attr.value in self.callee_names:
                    frames[-1] |= _PROJECT_CALL
            elif isinstance(func, cst.Name) and self.callee_names and not frames[-1] & _PROJECT_CALL:
                if func.value in self.callee_names or _last(self.ctx.qualified(func) or "") in self.callee_names:
                    frames[-1] |= _PROJECT_CALL

    def leave_FunctionDef(self, node: cst.FunctionDef) -> None:
        candidates = self.frames.pop() if self.frames else _OP_CALL | _PROJECT_CALL
        if self.skip or not candidates:
            return
        name = node.name.value
        if name.startswith(TEST_FUNCTION_PREFIXES):
            return
        params = [p.name.value for p in node.params.params[:2]]
        if params == ["apps", "schema_editor"]:
            return  # a RunPython data migration: migrations run in a transaction
        classes = self._classes()
        if self._whole_function_covered(node, classes):
            return
        scope = OrmScope(self.ctx, node)
        follow = candidates & _PROJECT_CALL and self.callees and self._follows_calls(node, classes)
        analysis = _FunctionAnalysis(scope, self.tx, self._callee_of(node, classes) if follow else None)
        try:
            paths = analysis.run(node)
        except _TooDeep:
            return
        if not analysis.ops:
            return
        if analysis.claim_blocks:
            paths = [tuple(e for e in p if e[1] not in analysis.claim_blocks) for p in paths]
        if analysis.batched_ops:
            batched = set(analysis.batched_ops)
            # The final flush of the same buffer after the loop is part of the series.
            for index, op in enumerate(analysis.ops):
                if (op.kind in _BULK_KINDS or isinstance(op, _CallOp)) and any(
                    isinstance(a.value, cst.Name) and a.value.value in analysis.flush_buffers and a.keyword is None
                    for a in op.node.args
                ):
                    batched.add(index)
            paths = [tuple(e for e in p if e[0] < 0 or e[0] not in batched) for p in paths]
        found = self._django_finding(paths, analysis.ops)
        if found is not None and any(isinstance(op, _CallOp) for op in analysis.ops):
            # Report where the unit's own writes alone would be reported, so that following
            # calls does not move existing findings.
            ops = analysis.ops
            direct = self._django_finding(
                [tuple(e for e in p if e[0] < 0 or not isinstance(ops[e[0]], _CallOp)) for p in paths], ops
            )
            if direct is not None and direct[0] is not found[0]:
                if any(op.node is direct[0] for op, _, _ in found[2]):
                    found = (direct[0], found[1], found[2])
                else:
                    found = direct
        found = found or self._sqlalchemy_finding(paths, analysis.ops, analysis.scope_of)
        if found is not None:
            top, scope = self.ctx.where()
            self.pending.append((*found, (top, scope + (node,))))

    def _follows_calls(self, func: cst.FunctionDef, classes: List[cst.ClassDef]) -> bool:
        """Units whose calls are followed. Not: signal receivers, save()/delete()
        overrides and other methods of Django models, which are steps of whatever saves
        the row (a view, a form, a task: the unit of work is the caller's, and in the
        projects we checked the writes behind a model method's calls were derived state:
        checks, counters, a VCS status); management commands and fake-data generators,
        which drive long jobs (populating a database, imports) step by step. Their own
        writes still count."""
        relpath = f"/{self.ctx.relpath.lower()}"
        if "/management/commands/" in relpath or any(w in relpath for w in _TOOLING_WORDS):
            return False
        name = func.name.value
        if any(w in name.lower() for w in _TOOLING_WORDS):
            return False
        if classes and name in ("save", "delete", "asave", "adelete"):
            return False
        params = func.params
        names = [p.name.value for p in (*params.posonly_params, *params.params, *params.kwonly_params)]
        if names[:1] == ["sender"] or ("instance" in names and isinstance(params.star_kwarg, cst.Param)):
            return False  # a signal receiver: (sender, instance, **kwargs)
        for dec in func.decorators:
            expr = dec.decorator.func if isinstance(dec.decorator, cst.Call) else dec.decorator
            if _last(orm.dotted_name(expr) or "") == "receiver":
                return False
        if classes and self._is_model_method(func, classes):
            return False
        return True

    def _is_model_method(self, func: cst.FunctionDef, classes: List[cst.ClassDef]) -> bool:
        if len(classes) != 1 or not self._is_method(func, classes[0]):
            return False
        key = f"{self.ctx.module_name}.{classes[0].name.value}"
        return key in django_model_classes(self.ctx.facts)

    def _callee_of(self, func: cst.FunctionDef, classes: List[cst.ClassDef]):
        """call -> _CallOp when the call resolves to a project function that writes outside a
        transaction of its own (effect summaries), else None."""
        names = self.callee_names
        direct_class = classes[-1] if len(classes) == 1 and self._is_method(func, classes[-1]) else None
        class_key = f"{self.ctx.module_name}.{direct_class.name.value}" if direct_class is not None else None
        self_key = f"{class_key}.{func.name.value}" if class_key else (
            None if classes else f"{self.ctx.module_name}.{func.name.value}"
        )
        bindings = []

        def callee_of(call: cst.Call) -> Optional[_CallOp]:
            target = call.func
            if isinstance(target, cst.Attribute):
                if target.attr.value not in names:
                    return None
            elif isinstance(target, cst.Name):
                if target.value not in names and _last(self.ctx.qualified(target) or "") not in names:
                    return None
            else:
                return None
            if not bindings:
                bindings.append(side_effects.local_bindings(func))
            found = effects.handler_callee(self.ctx, call, bindings[0], class_key, self_key, func)
            key = found[0] if found is not None else None
            if key is None or key not in self.callees:
                return None
            label = f"{orm.render(call.func)}()"
            note = _call_note(self.callees[key])
            if _last(label[:-2]) != _last(key):  # an alias: name the function
                note = f"{_last(key)}() {note}"
            return _CallOp(call, "call", DJANGO, label, None, key, note)

        return callee_of

    def _django_finding(self, paths: List[Path], ops: List[DbOp]):
        best = None
        best_key = None
        for path in paths:
            path = _effective(path)
            writes = [e for e in path if ops[e[0]].framework in (DJANGO, AUTOCOMMIT)]
            uncovered = [e for e in writes if e[1] is None]
            if not uncovered:
                continue
            # A call in a loop is one write: calling a service per item makes one unit of
            # work per item (label-studio's uploads, pretix's data sync), by design more
            # often than not; a write of the unit's own in a loop still counts twice.
            weight = sum(2 if e[2] and not isinstance(ops[e[0]], _CallOp) else 1 for e in writes)
            if weight < 2:
                continue
            key = (weight, -uncovered[0][0])
            if best_key is None or key > best_key:
                best, best_key = (writes, uncovered[0]), key
        if best is None:
            return None
        writes, first = best
        listed = _dedupe([(ops[e[0]], e[1], e[2]) for e in writes])
        framework = ops[first[0]].framework
        return (ops[first[0]].node, framework, listed)

    def _sqlalchemy_finding(self, paths: List[Path], ops: List[DbOp], scope_of: List[Optional[int]]):
        best = None
        best_key = None
        for path in paths:
            path = _effective(path)
            # Per session scope (a ``with Session() as s`` block is a unit of its own).
            pending: Dict[Optional[int], List[Entry]] = {}
            segments: Dict[Optional[int], List[Tuple[List[Entry], Entry]]] = {}
            counts: Dict[Optional[int], int] = {}
            for entry in path:
                op = ops[entry[0]]
                if op.framework != SQLALCHEMY or entry[1] is not None:
                    continue
                scope = scope_of[entry[0]]
                if op.is_commit:
                    if pending.get(scope):
                        segments.setdefault(scope, []).append((pending[scope], entry))
                        counts[scope] = counts.get(scope, 0) + (2 if entry[2] else 1)
                        pending[scope] = []
                else:
                    pending.setdefault(scope, []).append(entry)
            for scope, count in counts.items():
                if count < 2:
                    continue
                key = (count, -segments[scope][0][0][0][0])
                if best_key is None or key > best_key:
                    best, best_key = segments[scope], key
        if best is None:
            return None
        listed = []
        for writes, commit in best:
            listed.extend((ops[e[0]], e[1], e[2]) for e in writes)
            listed.append((ops[commit[0]], commit[1], commit[2]))
        listed = _dedupe(listed)
        first = best[0][0][0]
        return (ops[first[0]].node, SQLALCHEMY, listed)

    # -- reporting -----------------------------------------------------------------------------
    def end_module(self) -> None:
        for node, framework, listed, where in self.pending:
            lines = self.ctx.lines_of([op.node for op, _, _ in listed], where)
            self.report(node, self._message(framework, listed, lines), where)

    @staticmethod
    def _describe(listed, lines, covered_note: bool) -> str:
        parts = []
        for op, cover, repeated in listed[:MAX_LISTED]:
            text = f"{op.label} line {lines.get(id(op.node), '?')}"
            notes = [op.note] if isinstance(op, _CallOp) else []
            if repeated:
                notes.append("in a loop")
            if covered_note and cover is not None:
                notes.append("inside a transaction")
            if notes:
                text += f" ({', '.join(notes)})"
            parts.append(text)
        if len(listed) > MAX_LISTED:
            parts.append(f"and {len(listed) - MAX_LISTED} more")
        return ", ".join(parts)

    def _message(self, framework: str, listed, lines) -> str:
        if framework == SQLALCHEMY:
            commits = sum(2 if rep else 1 for op, _, rep in listed if op.is_commit)
            looped = any(rep for op, _, rep in listed if op.is_commit)
            count = "commits in a loop" if looped and commits == 2 and sum(1 for o, _, _ in listed if o.is_commit) == 1 else f"{commits} commits"
            return (
                f"writes committed in separate transactions ({count}): {self._describe(listed, lines, False)}; "
                "a failure between the commits leaves partial data: commit once at the end of the unit "
                "of work, or use `with session.begin():`"
            )
        uncovered = [x for x in listed if x[1] is None]
        fix = "wrap them in transaction.atomic()" if framework == DJANGO else "run them in one transaction (`with engine.begin():`)"
        if len(uncovered) < len(listed):
            return (
                f"{len(listed)} writes not in one transaction ({len(uncovered)} outside it): "
                f"{self._describe(listed, lines, True)}; move them into one transaction.atomic() block"
                if framework == DJANGO
                else f"{len(listed)} writes not in one transaction: {self._describe(listed, lines, True)}; {fix}"
            )
        if len(listed) == 1:
            return (
                f"a write in a loop runs outside a transaction: {self._describe(listed, lines, False)}; "
                "a failure part-way leaves the earlier iterations written: wrap the loop in transaction.atomic()"
                if framework == DJANGO
                else f"a write in a loop on an autocommit connection: {self._describe(listed, lines, False)}; {fix}"
            )
        where = "outside a transaction" if framework == DJANGO else "on an autocommit connection"
        return f"{len(listed)} writes {where}: {self._describe(listed, lines, False)}; {fix}"
