"""The one statement-flow walker: how control moves through a block of statements.

Every analysis that follows a function body statement by statement (a guard in force on
the POST path, the writes along each path, the queries a loop starts, how a retry loop
ends) needs the same answers to the same questions: what runs after what, how the
branches of an ``if`` / ``try`` / ``match`` come back together, and where ``return``,
``raise``, ``break`` and ``continue`` send the state. ``Flow`` answers them once, over a
state supplied by the caller (the shape of ruff's ``analyze/terminal.rs``, generalised
from "how does it end" to "with what state").

A caller subclasses ``Flow`` and supplies

- ``join(a, b)``: the state where two paths meet (required);
- ``simple(stmt, state)``: the effect of a small statement (an expression, an
  assignment, ``del``, ``assert``, ...; default: none);
- optional hooks: ``test`` (refine the state on the two sides of a condition; a
  ``while`` whose test is never false ends only by ``break``), ``enter_with`` /
  ``leave_with``, ``handler_entry`` (the state an ``except`` starts from),
  ``loop_entry`` (a loop body's first state), ``case_entry``;
- or overrides a whole statement kind (``visit_If``, ``visit_Try``, ...) where its
  semantics differ, calling ``block`` for the parts it keeps.

The result of a block is an ``Outcome``: the state when control falls out of its end
(``None``: it never does), and the state at each way out (``RETURN``, ``RAISE``,
``BREAK``, ``CONTINUE``). ``then`` is "one after the other", ``merge`` is "join of
branches". Nested functions and classes are statements like any other here (their
bodies do not run where they are defined); ``simple`` sees them if the caller wants to.

``outcomes(stmts)`` is the ready-made use: the set of ways a block can end, for "does
this branch always exit?" questions.
"""

from __future__ import annotations

from typing import Callable, Dict, FrozenSet, Generic, Optional, Sequence, Tuple, TypeVar

import libcst as cst

from backendlint.syntax.literals import is_falsy_constant, is_truthy_constant
from backendlint.syntax.walk import statements

S = TypeVar("S")

NEXT = "next"  # falls out of the end of the block
RETURN = "return"
RAISE = "raise"
BREAK = "break"
CONTINUE = "continue"

_LOOP_EXITS = (BREAK, CONTINUE)


class Outcome(Generic[S]):
    """The states a block leaves with: ``fall`` (None: never falls through) and ``exits``."""

    __slots__ = ("fall", "exits")

    def __init__(self, fall: Optional[S], exits: Optional[Dict[str, S]] = None):
        self.fall = fall
        self.exits: Dict[str, S] = exits if exits is not None else {}

    def kinds(self) -> FrozenSet[str]:
        """The ways out: ``NEXT`` when it falls through, and the exit kinds."""
        return frozenset(self.exits) | ({NEXT} if self.fall is not None else frozenset())

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"Outcome(fall={self.fall!r}, exits={self.exits!r})"


class Flow(Generic[S]):
    """Walk statements with a caller-defined state. See the module docstring."""

    # Depth guard: pathological nesting ends the walk with what is known so far.
    max_depth = 200

    def __init__(self) -> None:
        self.depth = 0

    # -- the caller's domain ---------------------------------------------------------
    def join(self, a: S, b: S) -> S:
        raise NotImplementedError

    def simple(self, stmt: cst.CSTNode, state: S) -> S:
        """Effect of a small statement, or of a compound one this walker does not model."""
        return state

    def test(self, expr: cst.BaseExpression, state: S) -> Tuple[Optional[S], Optional[S]]:
        """(state where ``expr`` is true, state where it is false); None: that side
        cannot happen. Default: a constant (``while True``, ``if 0``) has one side."""
        if is_truthy_constant(expr):
            return state, None
        if is_falsy_constant(expr):
            return None, state
        return state, state

    def enter_with(self, node: cst.With, state: S) -> S:
        return state

    def leave_with(self, node: cst.With, state: S) -> S:
        return state

    def handler_entry(self, handler: cst.CSTNode, entry: S, body: "Outcome[S]") -> Optional[S]:
        """The state an ``except`` clause starts from; default: the state before the
        ``try`` (the error may come from its first statement)."""
        return entry

    def loop_entry(self, loop: cst.CSTNode, state: S) -> Optional[S]:
        """The state at the start of a loop body (``test`` refines ``while`` first)."""
        return state

    def case_entry(self, case: cst.MatchCase, state: S) -> Optional[S]:
        return state

    # -- composition -----------------------------------------------------------------
    def meet(self, a: Optional[S], b: Optional[S]) -> Optional[S]:
        """``join`` with None as "no path"."""
        if a is None:
            return b
        if b is None:
            return a
        return self.join(a, b)

    def merge(self, *outcomes: "Outcome[S]") -> "Outcome[S]":
        """Join of branches: the paths of several alternatives, together."""
        fall: Optional[S] = None
        exits: Dict[str, S] = {}
        for outcome in outcomes:
            fall = self.meet(fall, outcome.fall)
            for kind, state in outcome.exits.items():
                exits[kind] = self.meet(exits.get(kind), state)  # type: ignore[assignment]
        return Outcome(fall, exits)

    def then(self, first: "Outcome[S]", rest: Callable[[S], "Outcome[S]"]) -> "Outcome[S]":
        """One after the other: ``rest`` runs from where ``first`` falls through."""
        if first.fall is None:
            return first
        second = rest(first.fall)
        return self.merge(Outcome(None, first.exits), second)

    # -- walking ---------------------------------------------------------------------
    def block(self, stmts: Sequence[cst.CSTNode], state: Optional[S]) -> "Outcome[S]":
        """The statements one after the other (``statements(suite)`` gives them)."""
        exits: Dict[str, S] = {}
        for stmt in stmts:
            if state is None:
                break
            out = self.statement(stmt, state)
            for kind, st in out.exits.items():
                exits[kind] = self.meet(exits.get(kind), st)  # type: ignore[assignment]
            state = out.fall
        return Outcome(state, exits)

    def suite(self, suite: Optional[cst.CSTNode], state: Optional[S]) -> "Outcome[S]":
        return self.block(statements(suite), state)

    def statement(self, stmt: cst.CSTNode, state: S) -> "Outcome[S]":
        visit = getattr(self, "visit_" + type(stmt).__name__, None)
        if visit is None:
            return Outcome(self.simple(stmt, state))
        if self.depth >= self.max_depth:
            return Outcome(self.simple(stmt, state))
        self.depth += 1
        try:
            return visit(stmt, state)
        finally:
            self.depth -= 1

    # Small statements that leave the block.
    def visit_Return(self, stmt: cst.Return, state: S) -> "Outcome[S]":
        return Outcome(None, {RETURN: self.simple(stmt, state)})

    def visit_Raise(self, stmt: cst.Raise, state: S) -> "Outcome[S]":
        return Outcome(None, {RAISE: self.simple(stmt, state)})

    def visit_Break(self, stmt: cst.Break, state: S) -> "Outcome[S]":
        return Outcome(None, {BREAK: state})

    def visit_Continue(self, stmt: cst.Continue, state: S) -> "Outcome[S]":
        return Outcome(None, {CONTINUE: state})

    def visit_SimpleStatementLine(self, stmt: cst.SimpleStatementLine, state: S) -> "Outcome[S]":
        return self.block(stmt.body, state)

    def visit_SimpleStatementSuite(self, stmt: cst.SimpleStatementSuite, state: S) -> "Outcome[S]":
        return self.block(stmt.body, state)

    # Compound statements.
    def visit_If(self, stmt: cst.If, state: S) -> "Outcome[S]":
        true, false = self.test(stmt.test, state)
        body = self.suite(stmt.body, true)
        orelse = stmt.orelse
        if orelse is None:
            other: Outcome[S] = Outcome(false)
        elif isinstance(orelse, cst.If):
            other = self.statement(orelse, false) if false is not None else Outcome(None)
        else:
            other = self.suite(orelse, false)
        return self.merge(body, other)

    def visit_With(self, stmt: cst.With, state: S) -> "Outcome[S]":
        inner = self.suite(stmt.body, self.enter_with(stmt, state))
        fall = self.leave_with(stmt, inner.fall) if inner.fall is not None else None
        exits = {kind: self.leave_with(stmt, st) for kind, st in inner.exits.items()}
        return Outcome(fall, exits)

    def _loop(self, stmt, entry: Optional[S], before: Optional[S], ends: bool = True) -> "Outcome[S]":
        """A loop whose body starts from ``entry``; ``before``: the state when it runs no
        round; ``ends``: whether it can end without ``break`` (not ``while True``)."""
        body = self.suite(stmt.body, entry)
        exits = {k: v for k, v in body.exits.items() if k not in _LOOP_EXITS}
        broke = body.exits.get(BREAK)
        no_break = self.meet(self.meet(before, body.fall), body.exits.get(CONTINUE)) if ends else None
        if stmt.orelse is not None:  # ``else`` runs when the loop ends without ``break``
            return self.merge(Outcome(broke, exits), self.suite(stmt.orelse, no_break))
        return Outcome(self.meet(no_break, broke), exits)

    def visit_For(self, stmt: cst.For, state: S) -> "Outcome[S]":
        return self._loop(stmt, self.loop_entry(stmt, state), state)

    def visit_While(self, stmt: cst.While, state: S) -> "Outcome[S]":
        true, false = self.test(stmt.test, state)
        entry = self.loop_entry(stmt, true) if true is not None else None
        return self._loop(stmt, entry, false, ends=false is not None)

    def visit_Try(self, stmt, state: S) -> "Outcome[S]":
        body = self.suite(stmt.body, state)
        if stmt.orelse is not None:
            body = self.then(body, lambda st: self.suite(stmt.orelse, st))
        branches = [body]
        for handler in stmt.handlers:
            entry = self.handler_entry(handler, state, body)
            branches.append(self.suite(handler.body, entry))
        joined = self.merge(*branches)
        if stmt.finalbody is None:
            return joined
        return self._finally(stmt.finalbody, joined)

    visit_TryStar = visit_Try

    def _finally(self, final: cst.Finally, joined: "Outcome[S]") -> "Outcome[S]":
        """``finally`` runs on every way out; where it falls through, the way out stays."""
        pieces = []
        for kind, st in [(NEXT, joined.fall)] + list(joined.exits.items()):
            if st is None:
                continue
            done = self.suite(final, st)
            if done.fall is None:
                pieces.append(Outcome(None, done.exits))
            elif kind == NEXT:
                pieces.append(done)
            else:
                pieces.append(Outcome(None, {**done.exits, kind: done.fall}))
        return self.merge(*pieces) if pieces else Outcome(None)

    def visit_Match(self, stmt: cst.Match, state: S) -> "Outcome[S]":
        branches = [Outcome(state)]  # no case may match
        for case in stmt.cases:
            entry = self.case_entry(case, state)
            branches.append(self.suite(case.body, entry))
        return self.merge(*branches)


class _Reach(Flow[bool]):
    """Reachability only: the state is "this point is reached"."""

    def __init__(self, exit_call: Optional[Callable[[cst.Call], bool]] = None):
        super().__init__()
        self.exit_call = exit_call

    def join(self, a: bool, b: bool) -> bool:
        return a or b

    def statement(self, stmt: cst.CSTNode, state: bool) -> Outcome[bool]:
        if self.exit_call is not None and isinstance(stmt, cst.Expr):
            value = stmt.value.expression if isinstance(stmt.value, cst.Await) else stmt.value
            if isinstance(value, cst.Call) and self.exit_call(value):
                return Outcome(None, {RAISE: True})
        return super().statement(stmt, state)


def outcomes(stmts: Sequence[cst.CSTNode], exit_call: Optional[Callable[[cst.Call], bool]] = None) -> FrozenSet[str]:
    """How a block can end: a subset of ``NEXT``, ``RETURN``, ``RAISE``, ``BREAK``,
    ``CONTINUE``. ``exit_call(call)``: calls that never return (``sys.exit``), as a raise."""
    return _Reach(exit_call).block(stmts, True).kinds()


def always_exits(stmts: Sequence[cst.CSTNode], exit_call: Optional[Callable[[cst.Call], bool]] = None) -> bool:
    """True when the block never falls out of its end."""
    return NEXT not in outcomes(stmts, exit_call)
