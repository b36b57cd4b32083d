"""Hand-written retries: retry loops and functions that call themselves from an except
handler, analysed as a whole. Returns data, never sentences (BL101 words its findings;
BL102 retry-without-backoff reads the same loops for ``sleeps``).

- ``RetryLoops.retry_loop(loop, stack)``: a ``while True`` / ``while <flag>`` /
  ``for _ in itertools.count()`` loop with ``try`` statements, as a ``RetryLoop``: its
  shape, each ``try`` (``TrySite``: the attempt and what it catches, does an except branch
  go round again, how does the attempt's success path end, does the loop poll, does an
  error move it on to other work), whether a counter or deadline ends it, its attempt counters that are never
  compared, whether it sleeps, is time-boxed, asks a person.
- ``RetryLoops.self_calls(handler, stack)``: the calls of the enclosing function to itself
  inside an except handler, as ``SelfCalls``: how each call's arguments differ from the
  function's own, and whether a counter, deadline or flag is checked before retrying.

Control flow is ``RetryFlow``, the statement-flow walker (``backendlint.syntax.flow``)
with the outcomes of one loop body: fall through, continue, exit (``return``, ``break``,
or the assignment that ends a ``while <flag>`` loop), raise (``raise``, ``sys.exit()``).
Every property is computed when first read, in the order a rule asks, so a rule that
stops early pays for no more than it reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Callable, Dict, FrozenSet, Iterator, List, Optional, Sequence, Set, Tuple

import libcst as cst

from backendlint.knowledge.retry.loops import (
    ARITHMETIC_CALLS,
    EXIT_CALLS,
    PROMPT_BUILTINS,
    is_prompt,
    only_interrupts,
    is_log_call,
    is_sleep,
    is_timeout_scope,
    mentions_clock,
)
from backendlint.syntax.flow import BREAK, CONTINUE, NEXT, RAISE, RETURN, Flow, Outcome
from backendlint.syntax.literals import is_constant, is_falsy_constant, is_none, is_truthy_constant
from backendlint.syntax.names import dotted_name, last_name, names_in, param_names, positional_params, target_names
from backendlint.knowledge.retry.io import (
    ACQUIRE,
    EVENT_TEST,
    LOCK_CALLS,
    NONBLOCKING_FLAGS,
    OPTIMISTIC_ERRORS,
    is_io_method,
    is_io_qualified,
    is_running_flag,
)
from backendlint.syntax.scopes import Scopes, project_function
from backendlint.syntax.walk import SCOPE_TYPES, statements, walk, walk_local

EXIT = "exit"  # leaves the loop: return, break, or the flag-ending assignment

__all__ = [
    "NEXT", "CONTINUE", "EXIT", "RAISE", "RetryFlow", "LoopShape", "TrySite", "RetryLoop",
    "SelfCall", "SelfCalls", "RetryLoops", "Operation",
]


@dataclass
class Operation:
    """What an attempt runs: ``call`` the first call that does I/O (``io``) or, with no
    visible I/O, the first call that is not bookkeeping (None: no call at all); ``via``:
    the project function of this file through which the I/O call was reached."""

    call: Optional[cst.Call]
    io: bool = False
    via: Optional[cst.FunctionDef] = None


# -- control flow inside one loop body -------------------------------------------------


class RetryFlow(Flow[bool]):
    """How statements of one loop body can end: a subset of NEXT, CONTINUE, EXIT, RAISE.

    Reachability over the shared walker, with three hooks: ``ends_loop(stmt)`` marks the
    assignment that ends a ``while <flag>`` loop (an exit, like ``break``); a call of
    ``sys.exit`` / ``os._exit`` / ``exit`` / ``quit`` (as written, or resolved through
    ``scopes``) raises; and a nested loop is summarised, not walked: it falls through,
    and exits or raises when a ``return`` / ``raise`` is anywhere in its body (its
    ``break`` and ``continue`` are its own). Conditions are not evaluated (``if True:``
    has two sides here).
    """

    def __init__(self, scopes: Scopes, stack: Sequence[cst.CSTNode], ends_loop: Optional[Callable[[cst.CSTNode], bool]] = None):
        super().__init__()
        self.scopes = scopes
        self.stack = stack
        self.ends_loop = ends_loop

    # the state: "this point is reached"
    def join(self, a: bool, b: bool) -> bool:
        return a or b

    def test(self, expr, state):
        return state, state

    # hooks
    def _assignment(self, stmt, state: bool) -> Outcome[bool]:
        if self.ends_loop is not None and self.ends_loop(stmt):
            return Outcome(None, {BREAK: state})
        return Outcome(state)

    visit_Assign = _assignment
    visit_AnnAssign = _assignment

    def visit_Expr(self, stmt: cst.Expr, state: bool) -> Outcome[bool]:
        value = stmt.value.expression if isinstance(stmt.value, cst.Await) else stmt.value
        if isinstance(value, cst.Call):
            if dotted_name(value.func) in EXIT_CALLS or self.scopes.resolve(value.func, self.stack) in EXIT_CALLS:
                return Outcome(None, {RAISE: state})
        return Outcome(state)

    def _nested_loop(self, stmt, state: bool) -> Outcome[bool]:
        exits: Dict[str, bool] = {}
        for node in walk_local(stmt.body):
            if isinstance(node, cst.Return):
                exits[RETURN] = state
            elif isinstance(node, cst.Raise):
                exits[RAISE] = state
        return Outcome(state, exits)

    visit_For = _nested_loop
    visit_While = _nested_loop

    # answers
    def outcomes(self, stmts: Sequence[cst.CSTNode]) -> FrozenSet[str]:
        """How the statements, one after the other, can end."""
        return _as_loop_outcomes(self.block(stmts, True).kinds())

    def of(self, stmt: cst.CSTNode) -> FrozenSet[str]:
        """How one statement can end."""
        return self.outcomes([stmt])

    def after(self, kinds: FrozenSet[str], rest: Sequence[cst.CSTNode]) -> FrozenSet[str]:
        """``kinds`` followed by ``rest`` where it falls through (``then`` on outcome sets)."""
        if NEXT not in kinds:
            return kinds
        return (kinds - {NEXT}) | self.outcomes(rest)


def _as_loop_outcomes(kinds: FrozenSet[str]) -> FrozenSet[str]:
    if RETURN in kinds or BREAK in kinds:
        return frozenset(EXIT if k in (RETURN, BREAK) else k for k in kinds)
    return kinds


# -- the loop --------------------------------------------------------------------------


@dataclass
class LoopShape:
    """A candidate retry loop: ``kind`` "true" (``while True``), "flag" (``while <flag>``,
    ``while not <flag>``, ``while <x> is None``) or "count" (``itertools.count()``);
    ``test``: the flag test as written ("" otherwise); ``ends_loop``: the assignment that
    ends a flag loop; ``flag``: the name a plain ``while <flag>`` tests (it must be a
    True/False flag, else the loop works through a list)."""

    kind: str
    test: str = ""
    ends_loop: Optional[Callable[[cst.CSTNode], bool]] = None
    flag: Optional[str] = None


class TrySite:
    """A ``try`` in a loop body (through if/with blocks), with what runs after it in the
    loop body (``rest``)."""

    def __init__(self, node: cst.CSTNode, rest: List[cst.CSTNode], flow: RetryFlow, loop: cst.CSTNode):
        self.node = node  # Try / TryStar
        self.rest = rest
        self.flow = flow
        self.loop = loop

    @property
    def attempt(self) -> cst.CSTNode:
        """What is retried: the ``try`` body."""
        return self.node.body

    @property
    def handlers(self) -> Sequence[cst.CSTNode]:
        return self.node.handlers

    @property
    def caught(self) -> List[Optional[cst.BaseExpression]]:
        """The exception each handler catches, as written (None: a bare ``except:``)."""
        return [handler.type for handler in self.node.handlers]

    @cached_property
    def goes_round(self) -> bool:
        """Some except branch goes round again (falls through or continues), rather than
        re-raising, breaking or returning."""
        return bool(self.round_handlers)

    @cached_property
    def round_handlers(self) -> List[cst.CSTNode]:
        """The except branches that go round again. A branch that catches only
        ``KeyboardInterrupt`` / ``EOFError`` resumes an interactive or event loop: not a retry."""
        flow = self.flow
        out = []
        for handler in self.node.handlers:
            if only_interrupts(handler.type):
                continue
            outcome = flow.after(flow.outcomes(statements(handler.body)), self.rest)
            if NEXT in outcome or CONTINUE in outcome:
                out.append(handler)
        return out

    @cached_property
    def fails_over(self) -> bool:
        """Every branch that goes round draws the next candidate from an iterator and
        stops when it is exhausted: ``url = next(urls)`` (StopIteration ends the loop) or
        ``if url := next(urls, None): continue`` followed by ``raise`` / ``return``."""
        handlers = self.round_handlers
        if not handlers:
            return False
        for handler in handlers:
            draws = [n for n in walk_local(handler.body) if isinstance(n, cst.Call)
                     and isinstance(n.func, cst.Name) and n.func.value == "next" and n.args]
            if not draws:
                return False
            if any(len(call.args) == 1 for call in draws):
                continue
            if not self.flow.outcomes(statements(handler.body)) & {EXIT, RAISE}:
                return False
        return True

    @cached_property
    def success(self) -> FrozenSet[str]:
        """How a round whose attempt raised nothing can end (try body, else, finally, and
        the rest of the loop body)."""
        flow, node = self.flow, self.node
        normal = flow.outcomes(statements(node.body))
        if node.orelse is not None:
            normal = flow.after(normal, statements(node.orelse))
        if node.finalbody is not None:
            final = flow.outcomes(statements(node.finalbody))
            normal = final if NEXT not in final else (normal | (final - {NEXT}))
        return flow.after(normal, self.rest)

    @cached_property
    def polls(self) -> bool:
        """A conditional success exit in a loop that waits between attempts.

        ``try: r = get(); if r.ok: break / except: log / sleep(1)`` retries (or polls) the
        same call until it succeeds. A consumer also has a conditional exit (``if msg is
        None: break``) but does work after it (``handle(msg)``) and blocks on its source
        instead of sleeping. (Learned from wait-for-service loops, commit ac31854.)
        """
        if not any(is_sleep(n) for n in walk_local(self.loop.body)):
            return False
        node = self.node
        path = list(statements(node.body))
        if node.orelse is not None:
            path += statements(node.orelse)
        path += list(self.rest)
        last = None
        for i, stmt in enumerate(path):
            if EXIT in self.flow.of(stmt):
                last = i
        if last is None:
            return False
        return all(_idle(stmt) for stmt in path[last + 1:])

    @cached_property
    def moves_on(self) -> bool:
        """A branch that goes round moves on to other work instead of retrying.

        The try body uses a value that an except branch changes from the loop's own state:
        ``current = current.parent``, ``url = data["next"]``, ``port += 1``. The next round
        works on something else (a walk, a search for a free slot); it does not repeat the
        failed operation. A fresh value (``conn = connect()``) is still a retry, and a
        counter the operation does not use (``attempt += 1``, perhaps logged) is judged by
        whether it is compared.
        """
        return _makes_progress(self.node, self.loop)


class RetryLoop:
    """A candidate retry loop with its ``try`` statements (``sites``); see the module doc."""

    def __init__(self, analysis: "RetryLoops", loop: cst.CSTNode, stack: Sequence[cst.CSTNode], shape: LoopShape, sites: List[TrySite], flow: RetryFlow):
        self.analysis = analysis
        self.loop = loop
        self.stack = stack
        self.shape = shape
        self.sites = sites
        self.flow = flow

    @cached_property
    def _scope_facts(self) -> Tuple[Set[str], Set[str]]:
        return self.analysis.scope_facts(_scope(self.stack))

    @cached_property
    def work_list(self) -> bool:
        """``while items:`` where ``items`` is never set to True/False: a work list."""
        flag = self.shape.flag
        return bool(flag) and flag not in self._scope_facts[0] and flag not in self.analysis.module_bool_attrs()

    def asks_person(self, site: TrySite) -> bool:
        """The loop asks a person (``input()``, ``click.prompt()``, ``click.confirm()``):
        anywhere in its body and handlers, or through a project wrapper of this file."""
        return self.analysis.prompts(self.loop.body, self.stack)

    @cached_property
    def time_boxed(self) -> bool:
        """Inside ``async with asyncio.timeout(...)`` / ``anyio.fail_after(...)`` in this function."""
        for node in reversed(self.stack):
            if isinstance(node, (cst.FunctionDef, cst.Lambda)):
                return False
            if isinstance(node, cst.With):
                for item in node.items:
                    if is_timeout_scope(item.item):
                        return True
        return False

    @cached_property
    def bounded(self) -> bool:
        """A counter or deadline is compared and ends the loop."""
        loop = self.loop
        counters = _updated(loop)
        if isinstance(loop, cst.For) and loop.target is not None:
            counters.update(target_names(loop.target))
        return _bounded(loop, self.flow, counters, self._scope_facts[1])

    @cached_property
    def unchecked_counters(self) -> List[str]:
        """Attempt counters stepped by a constant (``n += 1``; local or ``self.`` names),
        sorted, after the ``itertools.count()`` loop variable. Read when not ``bounded``:
        then none of them is compared."""
        loop = self.loop
        out = sorted(c for c in _stepped(loop) if "." not in c or c.startswith("self."))
        if self.shape.kind == "count" and isinstance(loop.target, cst.Name) and loop.target.value != "_":
            out.insert(0, loop.target.value)
        return out

    @cached_property
    def sleeps(self) -> bool:
        """The loop body calls ``sleep`` somewhere (not in nested defs)."""
        return any(is_sleep(n) for n in walk_local(self.loop.body))

    # what is retried (severity)
    def operation(self, site: TrySite) -> Operation:
        """What the attempt (the ``try`` body) runs; see ``RetryLoops.operation``."""
        return self.analysis.operation(site.attempt, self.stack)

    @cached_property
    def running_gate(self) -> Optional[str]:
        """The running / shutdown flag that ends the loop, as written: the loop's own test
        (``while self.running``, ``while not stop.is_set()``) or an ``if`` in its body that
        leaves the loop (``if self._closed: break``); None without one."""
        loop = self.loop
        if isinstance(loop, cst.While):
            found = _running_flag(loop.test)
            if found:
                return found
        for node in walk_local(loop.body):
            if isinstance(node, cst.If):
                found = _running_flag(node.test)
                if found and self.flow.of(node) & {EXIT, RAISE}:
                    return found
        return None

    @staticmethod
    def optimistic(site: TrySite) -> bool:
        """Every handler of the attempt catches only ``RuntimeError`` (a collection changed
        by another thread during iteration): an in-memory optimistic retry."""
        caught = site.caught
        if not caught:
            return False
        for expr in caught:
            if expr is None:
                return False
            names = expr.elements if isinstance(expr, cst.Tuple) else [expr]
            for element in names:
                value = element.value if isinstance(element, cst.Element) else element
                if last_name(value) not in OPTIMISTIC_ERRORS:
                    return False
        return True

    def lock_wait(self, site: TrySite) -> bool:
        """The attempt tries a lock without blocking (``acquire(blocking=False)``,
        ``fcntl.flock(fd, LOCK_EX | LOCK_NB)``) and the loop sleeps or has a cancel flag."""
        if not (self.sleeps or self.running_gate):
            return False
        for node in walk_local(site.attempt):
            if not isinstance(node, cst.Call):
                continue
            if last_name(node.func) == ACQUIRE and _non_blocking_acquire(node):
                return True
            qualified = self.analysis.scopes.resolve(node.func, self.stack) or dotted_name(node.func)
            if qualified in LOCK_CALLS and any(
                    n.rsplit(".", 1)[-1] in NONBLOCKING_FLAGS for a in node.args for n in names_in(a.value)):
                return True
        return False


# -- recursion from an except handler --------------------------------------------------

# How a call to itself passes the function's arguments (``SelfCall.arguments``).
SAME = "same"  # unchanged, or a fresh local (a refreshed token, a new connection)
COUNTER = "counter"  # an argument computed from itself (``attempt + 1``)
UNKNOWN_ARGS = "unknown"  # ``*args`` / ``**kwargs`` that are not the function's own
CHECKED_ARG = "checked"  # a changed argument the function tests (a bound)
OTHER_MODE = "mode"  # a constant argument (``fallback=True``): a different call
DERIVED = "derived"  # a local derived from the arguments (``parent = path.parent``): progress
COMPUTED = "computed"  # another computed argument: works on something else


@dataclass
class SelfCall:
    call: cst.Call
    arguments: str  # SAME, COUNTER, UNKNOWN_ARGS, CHECKED_ARG, OTHER_MODE, DERIVED, COMPUTED
    counter: Optional[str] = None  # the argument passed on as a counter (COUNTER)
    fresh: Optional[str] = None  # a fresh local passed instead of an argument (SAME)


class SelfCalls:
    """A function's calls to itself inside one of its except handlers."""

    def __init__(self, analysis: "RetryLoops", fn: cst.FunctionDef, stack: Sequence[cst.CSTNode], calls: List[cst.Call], method: bool, skip_first: bool):
        self.analysis = analysis
        self.function = fn
        self.name = fn.name.value
        self.stack = stack  # ending with fn
        self.calls = calls
        self.method = method  # called through its class or first parameter
        self._skip_first = skip_first  # the first parameter is the receiver

    @cached_property
    def rebound(self) -> bool:
        """A plain function whose name is rebound inside it (an assignment, a nested def,
        or an import: ``from fallback import load`` inside ``def load``): not a call to itself."""
        if self.method:
            return False
        if self.name in self.analysis.scopes.local_names(self.function):
            return True
        for node in walk_local(self.function.body):
            if isinstance(node, (cst.Import, cst.ImportFrom)) and not isinstance(node.names, cst.ImportStar):
                for alias in node.names:
                    bound = alias.asname.name if alias.asname is not None else alias.name
                    if isinstance(bound, cst.Name) and bound.value == self.name:
                        return True
                    if alias.asname is None and (dotted_name(alias.name) or "").split(".")[0] == self.name:
                        return True
        return False

    @cached_property
    def asks_person(self) -> bool:
        return self.analysis.prompts(self.function.body, self.stack)

    @cached_property
    def _params(self) -> Tuple[List[str], Set[str], Set[str]]:
        fn = self.function
        params = positional_params(fn)
        own = params[1:] if self._skip_first else params
        return own, set(param_names(fn.params)), _tested_names(fn)

    @cached_property
    def _rebound_params(self) -> Set[str]:
        """Parameters assigned a new value inside the function."""
        params = self._params[1]
        out: Set[str] = set()
        for node in walk_local(self.function.body):
            if isinstance(node, cst.Assign):
                for t in node.targets:
                    out.update(n for n in target_names(t.target) if n in params)
        return out

    def arguments(self, call: cst.Call) -> SelfCall:
        """How ``call`` passes the function's arguments."""
        own_params, all_params, tested = self._params
        changed: List[Tuple[str, cst.CSTNode]] = []
        fresh_param: Optional[str] = None
        passed: Set[str] = set()
        for i, arg in enumerate(call.args):
            if arg.keyword is not None:
                passed.add(arg.keyword.value)
            elif not arg.star and i < len(own_params):
                passed.add(own_params[i])
            if arg.star:
                if isinstance(arg.value, cst.Name) and arg.value.value in all_params:
                    continue
                return SelfCall(call, UNKNOWN_ARGS)
            if arg.keyword is not None:
                param = arg.keyword.value
            elif i < len(own_params):
                param = own_params[i]
            else:
                param = None
            value = arg.value
            if isinstance(value, cst.Name) and value.value == param:
                if param in self._rebound_params:
                    fresh_param = fresh_param or param  # the same name, a new value (``token = refresh()``)
                continue  # passed through
            changed.append((param or "", value))
        for param, value in changed:
            if param and param in tested:
                return SelfCall(call, CHECKED_ARG)
        if not any(arg.star for arg in call.args) and any(
                p not in passed and p in _branch_params(self.function) for p in _optional_params(self.function)):
            return SelfCall(call, OTHER_MODE)  # an omitted optional argument switches branch
        counter = None
        fresh = fresh_param
        for param, value in changed:
            if isinstance(value, cst.BinaryOperation) and param and param in names_in(value):
                counter = param
            elif is_constant(value):
                return SelfCall(call, OTHER_MODE)
            elif isinstance(value, cst.Name) and value.value not in all_params:
                # A fresh local (a refreshed token, a new connection) is still the same
                # call; a local derived from the arguments (``parent = path.parent``) is not.
                if _derived_from(self.function, value.value, all_params):
                    return SelfCall(call, DERIVED)
                fresh = fresh or value.value
            else:
                return SelfCall(call, COMPUTED)
        return SelfCall(call, COUNTER, counter) if counter else SelfCall(call, SAME, fresh=fresh)

    @cached_property
    def checked(self) -> bool:
        """A counter kept elsewhere (``self.attempts += 1``), a deadline, or a one-shot flag
        flipped before retrying, tested by an ``if`` that exits. (One-shot flags: learned
        from kitsune's parse_query, commit ac31854.)"""
        fn = self.function
        flow = RetryFlow(self.analysis.scopes, self.stack)
        clocks = self.analysis.scope_facts(fn)[1]
        augmented: Set[str] = set()
        for node in walk_local(fn.body):
            if isinstance(node, cst.AugAssign):
                augmented.update(target_names(node.target))
            elif isinstance(node, cst.Assign) and _is_bool_name(node.value):
                for t in node.targets:
                    augmented.update(target_names(t.target))  # a one-shot flag flipped before retrying
        watched = augmented | clocks
        outcome_names = _outcome_names(fn.body)
        for node in walk_local(fn.body):
            if isinstance(node, cst.If) and (
                names_in(node.test) & watched or mentions_clock(node.test) or _limit_comparison(node.test, outcome_names)
            ):
                if flow.of(node) & {EXIT, RAISE}:
                    return True
        return False


# -- the analysis ----------------------------------------------------------------------


class RetryLoops:
    """Hand-written retry loops and recursive retries of one file."""

    def __init__(self, scopes: Scopes):
        self.scopes = scopes
        self._scope_facts: Dict[int, Tuple[Set[str], Set[str]]] = {}
        self._module_bool_attrs: Optional[Set[str]] = None

    # the loop
    def retry_loop(self, loop: cst.CSTNode, stack: Sequence[cst.CSTNode]) -> Optional[RetryLoop]:
        """A ``while True`` / ``while <flag>`` / ``itertools.count()`` loop with ``try``
        statements in its body, else None."""
        shape = self.shape(loop, stack)
        if shape is None:
            return None
        flow = RetryFlow(self.scopes, stack, shape.ends_loop)
        sites: List[TrySite] = []
        _try_sites(statements(loop.body), [], sites, flow, loop)
        if not sites:
            return None
        return RetryLoop(self, loop, stack, shape, sites, flow)

    def shape(self, loop: cst.CSTNode, stack: Sequence[cst.CSTNode]) -> Optional[LoopShape]:
        if isinstance(loop, cst.While):
            test = loop.test
            if isinstance(test, cst.Name) and test.value == "True" or isinstance(test, cst.Integer) and is_truthy_constant(test):
                return LoopShape("true")
            negated = False
            is_none_test = False
            if isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not):
                negated, test = True, test.expression
            elif (
                isinstance(test, cst.Comparison)
                and len(test.comparisons) == 1
                and isinstance(test.comparisons[0].operator, cst.Is)
                and is_none(test.comparisons[0].comparator)
            ):
                is_none_test, test = True, test.left
            if not isinstance(test, (cst.Name, cst.Attribute)):
                return None
            flag = dotted_name(test)
            if not flag or flag in ("True", "False", "None"):
                return None

            def ends_loop(stmt) -> bool:
                targets = [t.target for t in stmt.targets] if isinstance(stmt, cst.Assign) else [stmt.target]
                if not any(dotted_name(t) == flag for t in targets) or stmt.value is None:
                    return False
                value = stmt.value
                if is_none_test:
                    return not is_none(value)
                if negated:
                    return not (is_constant(value) and not is_truthy_constant(value))
                return is_falsy_constant(value)

            text = f"{flag} is None" if is_none_test else (f"not {flag}" if negated else flag)
            return LoopShape("flag", text, ends_loop, None if (negated or is_none_test) else flag)
        if isinstance(loop, cst.For) and isinstance(loop.iter, cst.Call):
            if self.scopes.resolve(loop.iter.func, stack) == "itertools.count":
                return LoopShape("count")
        return None

    # recursion
    def self_calls(self, handler: cst.CSTNode, stack: Sequence[cst.CSTNode]) -> Optional[SelfCalls]:
        """Calls of the enclosing function to itself inside this except handler (a plain
        function by name, a method through its first parameter or its class), else None."""
        fn_index = None
        for i in range(len(stack) - 1, -1, -1):
            node = stack[i]
            if isinstance(node, (cst.Lambda, cst.ClassDef)):
                return None
            if isinstance(node, cst.FunctionDef):
                fn_index = i
                break
        if fn_index is None or only_interrupts(getattr(handler, "type", None)):
            return None  # no function; Ctrl-C resumes an interactive or event loop
        fn = stack[fn_index]
        fn_stack = stack[:fn_index]
        name = fn.name.value
        cls = fn_stack[-2] if len(fn_stack) >= 2 and isinstance(fn_stack[-2], cst.ClassDef) else None
        params = positional_params(fn)
        receivers: Set[str] = set()
        skip_first = False
        if cls is not None:
            receivers.add(cls.name.value)
            if "staticmethod" not in {last_name(d.decorator) for d in fn.decorators} and params:
                receivers.add(params[0])
                skip_first = True
        calls: List[cst.Call] = []
        for sub in walk_local(handler.body):
            if not isinstance(sub, cst.Call):
                continue
            func = sub.func
            if cls is None and isinstance(func, cst.Name) and func.value == name:
                calls.append(sub)
            elif (
                cls is not None
                and isinstance(func, cst.Attribute)
                and func.attr.value == name
                and dotted_name(func.value) in receivers
            ):
                calls.append(sub)
        if not calls:
            return None
        return SelfCalls(self, fn, list(fn_stack) + [fn], calls, cls is not None, skip_first)

    # facts about the function (or module) holding a loop
    def scope_facts(self, scope: cst.CSTNode) -> Tuple[Set[str], Set[str]]:
        """(names assigned True/False, names assigned from an expression reading a clock)."""
        key = id(scope)
        found = self._scope_facts.get(key)
        if found is None:
            bools: Set[str] = set()
            clocks: Set[str] = set()
            nodes = walk_local(scope.body) if isinstance(scope, cst.FunctionDef) else (
                n for stmt in scope.body for n in walk_local(stmt)
            )
            for node in nodes:
                targets: List[str] = []
                value = None
                if isinstance(node, cst.Assign):
                    value = node.value
                    for t in node.targets:
                        targets.extend(target_names(t.target))
                elif isinstance(node, (cst.AnnAssign, cst.AugAssign)) and node.value is not None:
                    value = node.value
                    targets.extend(target_names(node.target))
                if value is None:
                    continue
                if _is_bool_name(value):
                    bools.update(targets)
                if mentions_clock(value):
                    clocks.update(targets)
            found = (bools, clocks)
            self._scope_facts[key] = found
        return found

    def module_bool_attrs(self) -> Set[str]:
        """Attributes (``self.running``) assigned True/False anywhere in the file."""
        if self._module_bool_attrs is None:
            out: Set[str] = set()
            for node in walk(self.scopes.ctx.module):
                if isinstance(node, cst.Assign) and _is_bool_name(node.value):
                    for t in node.targets:
                        out.update(n for n in target_names(t.target) if "." in n)
            self._module_bool_attrs = out
        return self._module_bool_attrs

    def operation(self, body: cst.CSTNode, stack: Sequence[cst.CSTNode]) -> Operation:
        """What ``body`` runs: its first I/O call (``knowledge.retry.io``), looking one level
        into the project functions of this file it calls (``self._fetch()``, ``load()``);
        else its first call that is not logging or a sleep; else ``Operation(None)``."""
        first: Optional[cst.Call] = None
        helpers: List[Tuple[cst.Call, cst.FunctionDef]] = []
        for node in walk_local(body):
            if not isinstance(node, cst.Call):
                continue
            if self.is_io(node, stack):
                return Operation(node, True)
            if is_log_call(node) or is_sleep(node):
                continue
            if first is None:
                first = node
            fn = project_function(self.scopes, node.func, stack)
            if fn is not None:
                helpers.append((node, fn))
        for call, fn in helpers:
            inner = list(stack) + [fn]
            for node in walk_local(fn.body):
                if isinstance(node, cst.Call) and self.is_io(node, inner):
                    return Operation(call, True, fn)
        return Operation(first)

    def is_io(self, call: cst.Call, stack: Sequence[cst.CSTNode]) -> bool:
        func = call.func.func if isinstance(call.func, cst.Call) else call.func
        dotted = dotted_name(func)
        if is_io_qualified(self.scopes.resolve(func, stack)):
            return True
        return is_io_method(dotted)

    def prompts(self, body: cst.CSTNode, stack: Sequence[cst.CSTNode], follow: bool = True) -> bool:
        """The block asks a person (``input()``, ``click.prompt()``, ``prompt_toolkit``), or
        (``follow``) calls a project function of this file that does (one level)."""
        wrappers: List[cst.FunctionDef] = []
        for node in walk_local(body):
            if isinstance(node, cst.Call):
                if isinstance(node.func, cst.Name) and node.func.value in PROMPT_BUILTINS:
                    if self.scopes.resolve(node.func, stack) is None:
                        return True
                if is_prompt(self.scopes.resolve(node.func, stack)):
                    return True
                if follow:
                    fn = project_function(self.scopes, node.func, stack)
                    if fn is not None:
                        wrappers.append(fn)
        return any(self.prompts(fn.body, list(stack) + [fn], follow=False) for fn in wrappers)


# -- helpers ---------------------------------------------------------------------------


def _running_flag(test: cst.CSTNode) -> Optional[str]:
    """The running / shutdown flag a test reads (``self.running``, ``stop.is_set()``)."""
    for node in walk_local(test):
        if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) and node.func.attr.value == EVENT_TEST:
            return dotted_name(node.func) or EVENT_TEST
        if isinstance(node, (cst.Name, cst.Attribute)):
            dotted = dotted_name(node)
            if dotted and is_running_flag(dotted):
                return dotted
    return None


def _non_blocking_acquire(call: cst.Call) -> bool:
    """``lock.acquire(False)`` / ``lock.acquire(blocking=False)`` / ``acquire(timeout=...)``."""
    for i, arg in enumerate(call.args):
        if arg.keyword is None and i == 0 and is_falsy_constant(arg.value):
            return True
        if arg.keyword is not None and arg.keyword.value == "blocking" and is_falsy_constant(arg.value):
            return True
        if arg.keyword is not None and arg.keyword.value == "timeout":
            return True
    return False


def _is_bool_name(value: cst.CSTNode) -> bool:
    return isinstance(value, cst.Name) and value.value in ("True", "False")


def _try_sites(stmts: Sequence[cst.CSTNode], rest: List[cst.CSTNode], out: List[TrySite], flow: RetryFlow, loop, depth: int = 0) -> None:
    """Try statements of a loop body (through if/with blocks, not nested loops or defs)."""
    if depth > 50:
        return
    for i, stmt in enumerate(stmts):
        after = list(stmts[i + 1:]) + rest
        if isinstance(stmt, (cst.Try, cst.TryStar)):
            out.append(TrySite(stmt, after, flow, loop))
            _try_sites(statements(stmt.body), [], out, flow, loop, depth + 1)
        elif isinstance(stmt, cst.If):
            _try_sites(statements(stmt.body), after, out, flow, loop, depth + 1)
            orelse = stmt.orelse
            while isinstance(orelse, cst.If):
                _try_sites(statements(orelse.body), after, out, flow, loop, depth + 1)
                orelse = orelse.orelse
            if orelse is not None:
                _try_sites(statements(orelse), after, out, flow, loop, depth + 1)
        elif isinstance(stmt, cst.With):
            _try_sites(statements(stmt.body), after, out, flow, loop, depth + 1)


def _scope(stack):
    for node in reversed(stack):
        if isinstance(node, cst.FunctionDef):
            return node
    return stack[0] if stack else None


def _stepped(loop) -> Set[str]:
    """Attempt counters: ``n += 1`` / ``n -= 1`` (stepped by a constant)."""
    return {
        n
        for node in walk_local(loop.body)
        if isinstance(node, cst.AugAssign) and isinstance(node.value, cst.Integer)
        for n in target_names(node.target)
    }


def _updated(loop) -> Set[str]:
    """Names the loop updates: counters (``n += 1``, ``n = n + 1``) and flipped flags."""
    out: Set[str] = set()
    for node in walk_local(loop.body):
        if isinstance(node, cst.AugAssign):
            out.update(target_names(node.target))
        elif isinstance(node, cst.Assign):
            for t in node.targets:
                names = target_names(t.target)
                flips = _is_bool_name(node.value)
                if flips or any(n in names_in(node.value) for n in names):
                    out.update(names)
    return out


def _bounded(loop, flow: RetryFlow, counters: Set[str], clocks: Set[str]) -> bool:
    """A counter or deadline is compared and ends the loop."""
    assigned_in_loop: Set[str] = set()
    for node in walk_local(loop.body):
        if isinstance(node, cst.Assign):
            for t in node.targets:
                assigned_in_loop.update(target_names(t.target))
    watched = counters | clocks
    outcome_names = _outcome_names(loop.body)

    def bounding(test: cst.CSTNode) -> bool:
        return bool(names_in(test) & watched) or mentions_clock(test) or _limit_comparison(test, outcome_names)

    for node in walk_local(loop.body):
        if isinstance(node, cst.Assert) and bounding(node.test):
            return True
        if isinstance(node, cst.Call):
            for arg in node.args:
                if isinstance(arg.value, cst.Name) and arg.value.value in clocks and arg.value.value not in assigned_in_loop:
                    return True  # a deadline handed to a helper that checks it
    for block in _blocks(loop.body):
        for i, stmt in enumerate(block):
            if not isinstance(stmt, cst.If):
                continue
            branch = stmt
            while isinstance(branch, cst.If):
                if bounding(branch.test):
                    own = flow.of(branch)
                    if own & {EXIT, RAISE}:
                        return True
                    if CONTINUE in own and flow.outcomes(block[i + 1:]) <= {EXIT, RAISE}:
                        return True
                branch = branch.orelse
    return False


def _tested_names(fn: cst.FunctionDef) -> Set[str]:
    out: Set[str] = set()
    for node in walk_local(fn.body):
        if isinstance(node, (cst.If, cst.While, cst.IfExp, cst.Assert)):
            out |= names_in(node.test)
    return out


def _idle(stmt: cst.CSTNode) -> bool:
    """Waiting or bookkeeping, not work: pass, continue, sleep, logging, counters."""
    if isinstance(stmt, (cst.Pass, cst.Continue, cst.AugAssign)):
        return True
    if isinstance(stmt, cst.Expr):
        value = stmt.value.expression if isinstance(stmt.value, cst.Await) else stmt.value
        if isinstance(value, cst.Call):
            return is_sleep(value) or is_log_call(value)
        return isinstance(value, (cst.SimpleString, cst.ConcatenatedString, cst.Ellipsis))
    if isinstance(stmt, cst.Assign):
        # ``delay = min(delay * 2, 60)``: arithmetic on the loop's own numbers, no calls out.
        return not any(isinstance(n, cst.Call) and last_name(n.func) not in ARITHMETIC_CALLS for n in walk_local(stmt.value))
    if isinstance(stmt, cst.If):
        blocks = [statements(stmt.body)]
        orelse = stmt.orelse
        while isinstance(orelse, cst.If):
            blocks.append(statements(orelse.body))
            orelse = orelse.orelse
        if orelse is not None:
            blocks.append(statements(orelse))
        return all(_idle(s) or isinstance(s, (cst.Raise, cst.Return, cst.Break)) for block in blocks for s in block)
    return False


_ORDERING = (cst.LessThan, cst.GreaterThan, cst.LessThanEqual, cst.GreaterThanEqual)


def _outcome_names(body: cst.CSTNode) -> Set[str]:
    """Names that hold what an attempt produced: assigned in try bodies, caught exceptions."""
    out: Set[str] = set()
    for node in walk_local(body):
        if isinstance(node, (cst.Try, cst.TryStar)):
            for sub in walk_local(node.body):
                if isinstance(sub, cst.Assign):
                    for t in sub.targets:
                        out.update(target_names(t.target))
                elif isinstance(sub, (cst.AnnAssign, cst.AugAssign)):
                    out.update(target_names(sub.target))
            for handler in node.handlers:
                if handler.name is not None and isinstance(handler.name.name, cst.Name):
                    out.add(handler.name.name.value)
    return out


def _limit_comparison(test: cst.CSTNode, outcome_names: Set[str]) -> bool:
    """``elapsed > job.timeout + 60``: an ordering comparison that is not about the attempt's
    result or error (``resp.status >= 500`` is), so most likely a limit kept elsewhere.
    (Learned from redash's job-timeout monitor loop, commit ac31854.)"""
    for node in walk_local(test):
        if isinstance(node, cst.Comparison) and any(isinstance(c.operator, _ORDERING) for c in node.comparisons):
            if not (names_in(node) & outcome_names):
                return True
    return False


def _derived_from(fn: cst.FunctionDef, name: str, params: Set[str]) -> bool:
    """``name`` is assigned from the arguments (``parent = path.parent``) or is a loop
    variable drawn from them (``for item in payload["items"]``)."""
    for node in walk_local(fn.body):
        if isinstance(node, cst.Assign) and any(name in target_names(t.target) for t in node.targets):
            if names_in(node.value) & params:
                return True
        if isinstance(node, (cst.For, cst.CompFor)) and name in target_names(node.target):
            if names_in(node.iter) & params:
                return True
    return False


def _branch_params(fn: cst.FunctionDef) -> Set[str]:
    """Names an ``if`` tests for presence: ``if p:``, ``if not p:``, ``if p is None:``,
    ``if p is not None:`` (a mode switch, not a counter compared with a limit)."""
    out: Set[str] = set()
    for node in walk_local(fn.body):
        if not isinstance(node, (cst.If, cst.IfExp)):
            continue
        test = node.test
        if isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not):
            test = test.expression
        if (isinstance(test, cst.Comparison) and len(test.comparisons) == 1
                and isinstance(test.comparisons[0].operator, (cst.Is, cst.IsNot)) and is_none(test.comparisons[0].comparator)):
            test = test.left
        if isinstance(test, cst.Name):
            out.add(test.value)
    return out


def _optional_params(fn: cst.FunctionDef) -> List[str]:
    """Parameters with a default value (positional or keyword-only)."""
    params = fn.params
    return [p.name.value for p in list(params.params) + list(params.kwonly_params) if p.default is not None]


def _reads_outside_logging(node: cst.CSTNode) -> Set[str]:
    """Dotted names read under ``node``, not counting arguments of logging calls."""
    out: Set[str] = set()
    work = [node]
    while work:
        current = work.pop()
        if is_log_call(current):
            continue
        if isinstance(current, SCOPE_TYPES):
            continue
        if isinstance(current, (cst.Name, cst.Attribute)):
            dotted = dotted_name(current)
            if dotted:
                out.add(dotted)
        for child in current.children:
            work.append(child)
    return out


def _makes_progress(try_node, loop) -> bool:
    """See ``TrySite.moves_on``."""
    read = _reads_outside_logging(try_node.body)
    local: Set[str] = set()
    for node in walk_local(loop.body):
        if isinstance(node, cst.Assign):
            for t in node.targets:
                local.update(target_names(t.target))
        elif isinstance(node, (cst.AnnAssign, cst.AugAssign, cst.For)):
            local.update(target_names(node.target))
        elif isinstance(node, cst.AsName) and isinstance(node.name, (cst.Name, cst.Tuple, cst.List)):
            local.update(target_names(node.name))
    if isinstance(loop, cst.For):
        local.update(target_names(loop.target))
    for handler in try_node.handlers:
        for sub in walk_local(handler.body):
            if isinstance(sub, cst.AugAssign):
                if any(n in read for n in target_names(sub.target)):
                    return True
            elif isinstance(sub, cst.Assign) and not is_constant(sub.value):
                targets = [n for t in sub.targets for n in target_names(t.target)]
                if any(n in read for n in targets) and names_in(sub.value) & local:
                    return True
    return False


def _blocks(suite) -> Iterator[List[cst.CSTNode]]:
    """Every statement block under a suite (not entering nested defs)."""
    work = [statements(suite)]
    while work:
        block = work.pop()
        yield block
        for stmt in block:
            if isinstance(stmt, (cst.FunctionDef, cst.ClassDef)):
                continue
            if isinstance(stmt, cst.If):
                work.append(statements(stmt.body))
                orelse = stmt.orelse
                if isinstance(orelse, cst.If):
                    work.append([orelse])
                elif orelse is not None:
                    work.append(statements(orelse))
            elif isinstance(stmt, (cst.With, cst.While, cst.For)):
                work.append(statements(stmt.body))
                if getattr(stmt, "orelse", None) is not None:
                    work.append(statements(stmt.orelse))
            elif isinstance(stmt, (cst.Try, cst.TryStar)):
                work.append(statements(stmt.body))
                for handler in stmt.handlers:
                    work.append(statements(handler.body))
                if stmt.orelse is not None:
                    work.append(statements(stmt.orelse))
                if stmt.finalbody is not None:
                    work.append(statements(stmt.finalbody))
            elif isinstance(stmt, cst.Match):
                for case in stmt.cases:
                    work.append(statements(case.body))
