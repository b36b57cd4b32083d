"""The unit of work of one function: which database operations happen on which path,
under which transaction, repeated or not.

``UnitOfWork(scope, tx, callee_of).run(func)`` returns the paths through the function
body; each path is a tuple of ``Step``s, one per operation along it (``ops[step.op]``,
a ``knowledge.orm.DbOp``), with the transaction block that covers it (``cover``: the id
of the ``with`` statement, None: outside any), whether it repeats (a loop, a
comprehension) and whether it is isolated (inside a ``try`` whose handler swallows the
error: a loop around it makes per-item progress, so the loop does not multiply it).
Mutually exclusive paths (if/else, try/except, an early return) are kept apart; nested
functions and classes are their own units (they do not run where they are defined).

The walk rides on ``backendlint.syntax.flow.Flow``: the state is a list of paths (the
paths that reach a point), ``join`` concatenates two lists and prunes them (duplicates
out; past ``MAX_PATHS``, the paths with the most uncovered writes are kept). Each
statement is interpreted from the empty path and then appended to the paths that reach
it (``seq``), which keeps the order of the paths (and so which of two equal findings a
rule reports first) the one of the compositional algebra BL301 was written with.

Returns data only; BL301 decides what is a finding, BL302 can ask the same paths which
calls run inside a transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, List, NamedTuple, Optional, Sequence, Set, Tuple

import libcst as cst

from backendlint.knowledge import orm
from backendlint.knowledge.orm import DbOp, OrmScope
from backendlint.knowledge.transactions import Transactions
from backendlint.knowledge.writes import BULK_KINDS, COUNTING_KINDS, reset_lists, takes_row_locks
from backendlint.syntax.flow import BREAK, CONTINUE, RAISE, RETURN, Flow, Outcome
from backendlint.syntax.literals import is_truthy_constant

MAX_PATHS = 24
MAX_DEPTH = 120


class Step(NamedTuple):
    """One operation on a path. ``op`` < 0: the marker "op ``-op - 1`` wrote nothing"
    (a branch that runs only then cancels that write on its path)."""

    op: int
    cover: Optional[int]  # id of the transaction block around it; None: outside any
    repeated: bool  # in a loop or a comprehension
    isolated: bool  # in a try whose handler swallows the error


Path = Tuple[Step, ...]
Paths = List[Path]
EMPTY: Path = ()


class TooDeep(Exception):
    """The function nests deeper than ``MAX_DEPTH``: no answer."""


@dataclass
class CallOp(DbOp):
    """A call of a project function that writes outside a transaction of its own."""

    target: str = ""  # the callee's qualified name
    note: str = ""  # "writes Invoice in billing/services.py:30"


# -- the path algebra ------------------------------------------------------------------------
def effective(path: Path) -> Path:
    """The path without the writes that a later "nothing was written" branch cancels."""
    if not any(e.op < 0 for e in path):
        return path
    cancelled = {-e.op - 1 for e in path if e.op < 0}
    return tuple(e for e in path if e.op >= 0 and e.op not in cancelled)


def _score(path: Path) -> Tuple[int, int]:
    path = effective(path)
    weight = sum(2 if e.repeated else 1 for e in path)
    uncovered = sum(1 for e in path if e.cover is None)
    return (min(uncovered, 2) and weight, uncovered)


def prune(paths: Paths) -> Paths:
    """Without duplicates; past MAX_PATHS, the paths that weigh most."""
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


def cat(prefixes: Paths, suffixes: Paths) -> Paths:
    """Every prefix followed by every suffix."""
    if suffixes == [EMPTY]:
        return prefixes
    if prefixes == [EMPTY]:
        return suffixes
    return prune([p + s for p in prefixes for s in suffixes])


def _fall(outcome: "Outcome[Paths]") -> Paths:
    return outcome.fall if outcome.fall is not None else []


def _outcome(fall: Paths, exits: Optional[Dict[str, Paths]] = None) -> "Outcome[Paths]":
    """An Outcome from path lists (no path falls through: ``fall`` None)."""
    return Outcome(fall or None, exits if exits is not None else {})


def _map(outcome: "Outcome[Paths]", step: Callable[[Path], Path]) -> "Outcome[Paths]":
    """Every path rewritten by ``step`` (two paths may become one)."""
    return _outcome(prune([step(p) for p in _fall(outcome)]),
                    {k: prune([step(p) for p in v]) for k, v in outcome.exits.items()})


def _looped(path: Path) -> Path:
    return tuple(Step(i, cover, rep or not iso, iso) for i, cover, rep, iso in path)


def _isolated(path: Path) -> Path:
    return tuple(Step(i, cover, rep, True) for i, cover, rep, _ in path)


# -- the walk -------------------------------------------------------------------------------
class UnitOfWork(Flow[Paths]):
    """Paths of one function body, with the database operations along each."""

    def __init__(self, scope: OrmScope, tx: Transactions,
                 callee_of: Optional[Callable[[cst.Call], Optional[CallOp]]] = None):
        super().__init__()
        self.scope = scope
        self.tx = tx
        # call -> CallOp for calls of project functions that write (None: calls not followed)
        self.callee_of = callee_of
        self.ops: List[DbOp] = []
        self.index_by_node: Dict[int, int] = {}
        # The transaction block the statements being walked run in (None: none).
        self.cover: Optional[int] = None
        # SQLAlchemy: the ``with <session>`` block each operation runs in (None: the function).
        self.scope_of: List[Optional[int]] = []
        self.session_scope: Optional[int] = None
        self.opened_scopes: List[int] = []
        # Transaction blocks that lock rows (select_for_update): a claim made on purpose
        # before work that runs outside it (a job marked "in progress", then finished).
        self.claim_blocks: Set[int] = set()
        # Bulk writes that flush a buffer in batches (and the buffers' names, whose final
        # flush after the loop belongs to the same series).
        self.batched_ops: Set[int] = set()
        self.flush_buffers: Set[str] = set()

    def run(self, func: cst.FunctionDef) -> Paths:
        """Every path through the body: those that fall out of its end, then those that
        leave it (return, raise...). Raises ``TooDeep``."""
        res = self.suite(func.body, [EMPTY])
        paths = list(_fall(res))
        for kind_paths in res.exits.values():
            paths.extend(kind_paths)
        return paths

    # -- operations ----------------------------------------------------------------------
    def entries(self, node: Optional[cst.CSTNode]) -> Path:
        """The operations ``node`` evaluates, as steps under the current cover."""
        if node is None:
            return EMPTY
        out = []
        ops = self.scope.ops_in(node)
        if self.callee_of is not None:
            ops = self._with_calls(node, ops)
        for op, repeated in ops:
            self.index_by_node[id(op.node)] = len(self.ops)
            self.scope_of.append(self.session_scope)
            out.append(Step(len(self.ops), self.cover, repeated, False))
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
                op = self.callee_of(call)  # type: ignore[misc]
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
                if found is not None and self.ops[found].kind in COUNTING_KINDS:
                    return found
        return None

    # -- Flow: the state is the list of paths reaching a point -----------------------------
    def join(self, a: Paths, b: Paths) -> Paths:
        return prune(a + b)

    def seq(self, first: "Outcome[Paths]", second: "Outcome[Paths]") -> "Outcome[Paths]":
        """``second`` after ``first`` (both computed): ``then`` over whole results."""
        fall = _fall(first)
        exits = {k: list(v) for k, v in first.exits.items()}
        for kind, paths in second.exits.items():
            exits[kind] = prune(exits.get(kind, []) + cat(fall, paths))
        return _outcome(cat(fall, _fall(second)), exits)

    def statement(self, stmt: cst.CSTNode, state: Paths) -> "Outcome[Paths]":
        """The statement from the empty path, appended to the paths that reach it."""
        visit = getattr(self, "visit_" + type(stmt).__name__, None)
        if isinstance(stmt, cst.BaseSmallStatement):
            alone = visit(stmt, [EMPTY]) if visit is not None else Outcome(self.simple(stmt, [EMPTY]))
        else:
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise TooDeep()
            try:
                alone = visit(stmt, [EMPTY]) if visit is not None else Outcome([EMPTY])
            finally:
                self.depth -= 1
        if _fall(alone) == [EMPTY] and not alone.exits:
            return Outcome(state)
        return self.seq(Outcome(state), alone)

    def suite(self, suite: Optional[cst.CSTNode], state: Optional[Paths]) -> "Outcome[Paths]":
        """A block, its statement lines whole (a line is one statement deep)."""
        if isinstance(suite, (cst.Else, cst.Finally, cst.ExceptHandler, cst.ExceptStarHandler, cst.MatchCase)):
            suite = suite.body
        if isinstance(suite, (cst.IndentedBlock, cst.SimpleStatementSuite)):
            return self.block(suite.body, state)
        return Outcome(state)

    def simple(self, stmt: cst.CSTNode, state: Paths) -> Paths:
        return cat(state, [self.entries(stmt)])

    def visit_Return(self, stmt: cst.Return, state: Paths) -> "Outcome[Paths]":
        return Outcome(None, {RETURN: cat(state, [self.entries(stmt.value)])})

    def visit_Raise(self, stmt: cst.Raise, state: Paths) -> "Outcome[Paths]":
        return Outcome(None, {RAISE: cat(state, [self.entries(stmt.exc)])})

    def visit_FunctionDef(self, stmt: cst.FunctionDef, state: Paths) -> "Outcome[Paths]":
        return Outcome(state)  # its own unit

    visit_ClassDef = visit_FunctionDef

    def visit_If(self, stmt: cst.If, state: Paths) -> "Outcome[Paths]":
        head = Outcome([self.entries(stmt.test)])
        body = self.suite(stmt.body, [EMPTY])
        cancelled = self.noop_branch(stmt.test)
        if cancelled is not None:
            body = self.seq(Outcome([(Step(-cancelled - 1, None, False, False),)]), body)
        orelse = stmt.orelse
        if isinstance(orelse, cst.If):
            other = self.statement(orelse, [EMPTY])
        elif isinstance(orelse, cst.Else):
            other = self.suite(orelse.body, [EMPTY])
        else:
            other = Outcome([EMPTY])
        return self.seq(head, self.merge(body, other))

    def visit_Match(self, stmt: cst.Match, state: Paths) -> "Outcome[Paths]":
        head = Outcome([self.entries(stmt.subject)])
        cases = [self.suite(case.body, [EMPTY]) for case in stmt.cases]
        return self.seq(head, self.merge(*cases, Outcome([EMPTY])))

    def visit_For(self, stmt: cst.For, state: Paths) -> "Outcome[Paths]":
        return self._loop(stmt, self.entries(stmt.iter), False)

    def visit_While(self, stmt: cst.While, state: Paths) -> "Outcome[Paths]":
        head = self.entries(stmt.test)
        # ``while True`` / ``while 1`` ends by break only.
        return self._loop(stmt, head, is_truthy_constant(stmt.test))

    def _loop(self, stmt, head: Path, infinite: bool) -> "Outcome[Paths]":
        """A later round repeats what one round wrote (``repeated``), unless the rounds
        are apart on purpose (``rounds_apart``) or each opens a session of its own."""
        opened_before = len(self.opened_scopes)
        ops_before = len(self.ops)
        body = self.suite(stmt.body, [EMPTY])
        again = _fall(body) + body.exits.get(CONTINUE, [])
        if len(self.ops) > ops_before:
            self._note_buffer_flushes(stmt, ops_before)
        if any(again) and self.rounds_apart(stmt):
            prefixes = [EMPTY]
        else:
            # A session opened inside the loop is a unit of work per item.
            per_item = set(self.opened_scopes[opened_before:])
            if per_item:
                again = [tuple(e for e in p if e.op < 0 or self.scope_of[e.op] not in per_item) for p in again]
            prefixes = prune([EMPTY] + [_looped(p) for p in again if p])
        fall: Paths = []
        exits_else: Dict[str, Paths] = {}
        if not infinite:
            if stmt.orelse is not None:
                orelse = self.suite(stmt.orelse.body, [EMPTY])
                fall.extend(cat(prefixes, _fall(orelse)))
                exits_else = {k: cat(prefixes, v) for k, v in orelse.exits.items()}
            else:
                fall.extend(prefixes)
        fall.extend(cat(prefixes, body.exits.get(BREAK, [])))
        exits: Dict[str, Paths] = {}
        for kind in (RETURN, RAISE):
            paths = cat(prefixes, body.exits.get(kind, [])) + exits_else.get(kind, [])
            if paths:
                exits[kind] = prune(paths)
        for kind in (BREAK, CONTINUE):  # from an else: clause, they leave the outer loop
            if exits_else.get(kind):
                exits[kind] = exits_else[kind]
        return self.seq(Outcome([head]), _outcome(prune(fall), exits))

    def rounds_apart(self, loop: cst.CSTNode) -> bool:
        """The rounds of this loop are separate units on purpose: what one round writes
        is not repeated by the next. A rule's policy (BL301: a batching loop); default:
        no loop."""
        return False

    def _note_buffer_flushes(self, loop, ops_before: int) -> None:
        """``buf.append(x); if len(buf) >= 1000: Model.objects.bulk_create(buf); buf = []``:
        flushing a buffer in batches is a deliberate series of commits, not one unit."""
        reset = reset_lists(loop.body)
        if not reset:
            return
        for index in range(ops_before, len(self.ops)):
            op = self.ops[index]
            if (op.kind in BULK_KINDS or isinstance(op, CallOp)) and any(
                isinstance(arg.value, cst.Name) and arg.value.value in reset and arg.keyword is None
                for arg in op.node.args
            ):
                self.batched_ops.add(index)
                self.flush_buffers.add(next(a.value.value for a in op.node.args
                                            if isinstance(a.value, cst.Name) and a.value.value in reset))

    def visit_Try(self, stmt, state: Paths) -> "Outcome[Paths]":
        body = self.suite(stmt.body, [EMPTY])
        if stmt.orelse is not None:
            body = self.seq(body, self.suite(stmt.orelse.body, [EMPTY]))
        handlers = [self.suite(h.body, [EMPTY]) for h in stmt.handlers]
        if any(h.fall or h.exits.get(CONTINUE) for h in handlers):
            # Some error is swallowed: per-item progress inside a loop is intended.
            body = _map(body, _isolated)
            handlers = [_map(h, _isolated) for h in handlers]
        res = self.merge(body, *handlers)
        if stmt.finalbody is not None:
            final = self.suite(stmt.finalbody.body, [EMPTY])
            exits = {k: cat(v, _fall(final)) for k, v in res.exits.items()}
            for kind, paths in final.exits.items():
                exits[kind] = prune(exits.get(kind, []) + cat(_fall(res), paths))
            res = _outcome(cat(_fall(res), _fall(final)), exits)
        return res

    visit_TryStar = visit_Try

    def visit_With(self, stmt: cst.With, state: Paths) -> "Outcome[Paths]":
        head: Path = EMPTY
        outer_cover = self.cover
        inner = outer_cover
        opens_session = False
        for item in stmt.items:
            head = head + self.entries(item.item)
            if inner is None and self.tx.with_item_kind(item.item, self.scope.bindings):
                inner = id(stmt)
                if takes_row_locks(stmt.body):
                    self.claim_blocks.add(inner)
            if self._opens_session(item):
                opens_session = True
        outer_session = self.session_scope
        if opens_session:
            # ``with Session() as s:`` is a unit of work of its own (SQLAlchemy).
            self.session_scope = id(stmt)
            self.opened_scopes.append(id(stmt))
        self.cover = inner
        try:
            body = self.suite(stmt.body, [EMPTY])
        finally:
            self.cover = outer_cover
            self.session_scope = outer_session
        return self.seq(Outcome([head]), body)

    def _opens_session(self, item: cst.WithItem) -> bool:
        if not self.scope.flavour.sqlalchemy:
            return False
        if item.asname is not None and isinstance(item.asname.name, cst.Name):
            return self.scope.kind(item.asname.name) == orm.K_SESSION
        return False
