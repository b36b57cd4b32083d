"""The retry libraries: what bounds tenacity, backoff, retrying, urllib3 ``Retry`` and
stamina (defaults checked against their sources).

- tenacity: ``retry`` / ``Retrying`` / ``AsyncRetrying`` default to ``stop=stop_never``;
  ``stop_after_attempt`` / ``stop_after_delay`` / ``stop_before_delay`` bound it,
  ``a | b`` (stop_any) is bounded when either side is, ``a & b`` (stop_all) only when
  both are. The second positional argument of ``Retrying(sleep, stop, ...)`` is ``stop``.
- backoff: ``on_exception(wait_gen, exception, max_tries=None, max_time=None, ...)`` and
  ``on_predicate(wait_gen, predicate, max_tries=None, max_time=None, ...)``: no limit by
  default (backoff 1.x also accepted both limits positionally). It always waits.
- retrying: ``@retry`` stops only when ``stop_max_attempt_number``, ``stop_max_delay``,
  ``stop_func`` or ``stop`` (a method name) is given.
- urllib3 ``Retry(total=10, connect, read, redirect, status, other, ...)``: with
  ``total=None`` the run stops only when a per-kind counter runs out, so every counter
  (connect, read, status, other) needs a number.
- stamina: bounded by default (10 attempts, 45 s); unbounded only with both
  ``attempts=None`` and ``timeout=None``.
"""

from __future__ import annotations

from typing import FrozenSet, List, Optional, Sequence, Set

import libcst as cst

from backendlint.knowledge.retry import (
    BOUNDED,
    COUNTERS_UNLIMITED,
    LIMITS_NONE,
    NO_STOP,
    STOP_NEVER,
    UNBOUNDED,
    UNKNOWN,
    WAIT_ALWAYS,
    WAIT_NONE,
    WAIT_SET,
    WAIT_UNKNOWN,
    RetryPolicy,
)
from backendlint.syntax.calls import CallArgs
from backendlint.syntax.literals import is_none
from backendlint.syntax.scopes import Scopes

TENACITY_DECORATORS = frozenset({"retry"})
TENACITY_RETRYERS = frozenset({"Retrying", "AsyncRetrying", "TornadoRetrying"})
TENACITY_BOUNDED_STOPS = frozenset({"stop_after_attempt", "stop_after_delay", "stop_before_delay"})
TENACITY_UNBOUNDED_STOPS = frozenset({"stop_never"})
TENACITY_COMBINED_STOPS = frozenset({"stop_any", "stop_all"})
TENACITY_NO_WAIT = frozenset({"wait_none"})
BACKOFF_DECORATORS = frozenset({"on_exception", "on_predicate"})
# backoff's limits and their positions (backoff 1.x took them positionally).
BACKOFF_LIMITS = (("max_tries", 2), ("max_time", 3))
RETRYING_APIS = frozenset({"retry", "Retrying"})
RETRYING_DECORATORS = frozenset({"retry"})
# Any one of these bounds a retrying policy (``stop``: the name of a method).
RETRYING_STOPS = ("stop_max_attempt_number", "stop_max_delay", "stop_func", "stop")
URLLIB3_RETRY = frozenset({"urllib3.Retry", "urllib3.util.Retry", "urllib3.util.retry.Retry", "requests.adapters.Retry"})
# urllib3 Retry's per-kind counters that must all run out when total=None, with positions.
URLLIB3_COUNTERS = (("connect", 1), ("read", 2), ("status", 4), ("other", 5))
STAMINA_APIS = frozenset({"retry", "retry_context", "RetryingCaller", "AsyncRetryingCaller"})
STAMINA_DECORATORS = frozenset({"retry"})
# (attempts, timeout) positions of stamina's APIs.
STAMINA_POSITIONS = {"retry_context": (1, 2), "RetryingCaller": (0, 1), "AsyncRetryingCaller": (0, 1)}
RETRY_LIBRARIES = frozenset({"tenacity", "backoff", "retrying", "stamina"})


def member_of(qualified: Optional[str], library: str, names: FrozenSet[str]) -> Optional[str]:
    """The API name when ``qualified`` is ``library[.submodule].name`` with name in names."""
    if not qualified or not (qualified == library or qualified.startswith(library + ".")):
        return None
    last = qualified.rsplit(".", 1)[-1]
    return last if last in names else None


class LibraryPolicies:
    """Policies of the retry libraries, for calls and bare decorators."""

    def __init__(self, scopes: Scopes):
        self.scopes = scopes
        self.urllib3_subclasses: Set[str] = set()

    def note_class(self, node: cst.ClassDef, stack: Sequence[cst.CSTNode]) -> None:
        """Remember classes of this file that subclass urllib3's Retry."""
        for base in node.bases:
            qualified = self.scopes.resolve(base.value, stack, self.wanted)
            if qualified in URLLIB3_RETRY or qualified in self.urllib3_subclasses:
                own = self.scopes.ctx.imports.resolve_dotted(node.name.value)
                if own:
                    self.urllib3_subclasses.add(own)

    def wanted(self, qualified: str) -> bool:
        return qualified.split(".", 1)[0] in RETRY_LIBRARIES or qualified in URLLIB3_RETRY or qualified in self.urllib3_subclasses

    def for_decorator(self, decorator: cst.Decorator, stack: Sequence[cst.CSTNode]) -> Optional[RetryPolicy]:
        """A bare decorator (``@retry``, ``@tenacity.retry``): the library's defaults."""
        expr = decorator.decorator
        if not isinstance(expr, (cst.Name, cst.Attribute)):
            return None
        qualified = self.scopes.resolve(expr, list(stack) + [decorator], self.wanted)
        if member_of(qualified, "tenacity", TENACITY_DECORATORS):
            return RetryPolicy("tenacity", "retry", decorator, UNBOUNDED, WAIT_NONE, NO_STOP)
        if member_of(qualified, "retrying", RETRYING_DECORATORS):
            return RetryPolicy("retrying", "retry", decorator, UNBOUNDED, WAIT_NONE, NO_STOP)
        if member_of(qualified, "stamina", STAMINA_DECORATORS):
            return RetryPolicy("stamina", "retry", decorator, BOUNDED, wait=WAIT_ALWAYS)
        return None

    def for_call(self, call: cst.Call, stack: Sequence[cst.CSTNode], report_at: cst.CSTNode) -> Optional[RetryPolicy]:
        qualified = self.scopes.resolve(call.func, stack, self.wanted)
        if not qualified:
            return None
        args = CallArgs.of(call)
        api = member_of(qualified, "tenacity", TENACITY_DECORATORS | TENACITY_RETRYERS)
        if api:
            return self._tenacity(args, api, stack, report_at)
        api = member_of(qualified, "backoff", BACKOFF_DECORATORS)
        if api:
            return self._backoff(args, api, report_at)
        api = member_of(qualified, "retrying", RETRYING_APIS)
        if api:
            return self._retrying(args, api, report_at)
        if qualified in URLLIB3_RETRY or qualified in self.urllib3_subclasses:
            return self._urllib3(args, report_at)
        api = member_of(qualified, "stamina", STAMINA_APIS)
        if api:
            return self._stamina(args, api, report_at)
        return None

    # tenacity
    def _tenacity(self, args: CallArgs, api: str, stack, report_at) -> RetryPolicy:
        wait = self._tenacity_wait(args, stack)
        given, stop = args.get("stop")
        if not given and len(args.positional) >= 2:
            given, stop = True, args.positional[1]  # Retrying(sleep, stop, ...)
        if not given:
            if args.star_kwargs or args.star_args:
                return RetryPolicy("tenacity", api, report_at, UNKNOWN, wait=wait)
            return RetryPolicy("tenacity", api, report_at, UNBOUNDED, wait, NO_STOP)
        state = self.stop_state(stop, stack, 0)
        if state == UNBOUNDED:
            return RetryPolicy("tenacity", api, report_at, UNBOUNDED, wait, STOP_NEVER)
        return RetryPolicy("tenacity", api, report_at, state if state == BOUNDED else UNKNOWN, wait=wait)

    def stop_state(self, expr: cst.CSTNode, stack, depth: int) -> str:
        """BOUNDED / UNBOUNDED (stop_never) / UNKNOWN for a tenacity stop expression."""
        if depth > 4:
            return UNKNOWN
        if isinstance(expr, (cst.Name, cst.Attribute)):
            qualified = self.scopes.resolve(expr, stack, _is_tenacity)
            if member_of(qualified, "tenacity", TENACITY_UNBOUNDED_STOPS):
                return UNBOUNDED
            if isinstance(expr, cst.Name) and qualified is None:
                value = self.scopes.value_of(expr, stack)
                if value is not None:
                    return self.stop_state(value, stack, depth + 1)
            return UNKNOWN
        if isinstance(expr, cst.Call):
            qualified = self.scopes.resolve(expr.func, stack, _is_tenacity)
            if member_of(qualified, "tenacity", TENACITY_BOUNDED_STOPS):
                return BOUNDED
            combine = member_of(qualified, "tenacity", TENACITY_COMBINED_STOPS)
            if combine:
                parts = [self.stop_state(a.value, stack, depth + 1) for a in expr.args if not a.star]
                return _combine(parts, combine == "stop_any")
            return UNKNOWN
        if isinstance(expr, cst.BinaryOperation):
            parts = [self.stop_state(expr.left, stack, depth + 1), self.stop_state(expr.right, stack, depth + 1)]
            if isinstance(expr.operator, cst.BitOr):
                return _combine(parts, True)
            if isinstance(expr.operator, cst.BitAnd):
                return _combine(parts, False)
        return UNKNOWN

    def _tenacity_wait(self, args: CallArgs, stack) -> str:
        given, wait = args.get("wait")
        if not given:
            return WAIT_UNKNOWN if args.star_kwargs else WAIT_NONE
        if isinstance(wait, cst.Call) and member_of(self.scopes.resolve(wait.func, stack), "tenacity", TENACITY_NO_WAIT):
            return WAIT_NONE
        return WAIT_SET

    # backoff
    @staticmethod
    def _backoff(args: CallArgs, api: str, report_at) -> RetryPolicy:
        set_to_none = []
        for name, position in BACKOFF_LIMITS:
            given, value = args.get(name, position)
            if given and not is_none(value):
                return RetryPolicy("backoff", api, report_at, BOUNDED, wait=WAIT_ALWAYS)
            if given:
                set_to_none.append(name)
            if not given and args.maybe_hidden(position):
                return RetryPolicy("backoff", api, report_at, UNKNOWN, wait=WAIT_ALWAYS)
        why = LIMITS_NONE if set_to_none else NO_STOP
        return RetryPolicy("backoff", api, report_at, UNBOUNDED, WAIT_ALWAYS, why, tuple(set_to_none))

    # retrying
    @staticmethod
    def _retrying(args: CallArgs, api: str, report_at) -> RetryPolicy:
        wait = WAIT_SET if any(k.startswith("wait") for k in args.keywords) else WAIT_NONE
        for name in RETRYING_STOPS:
            given, value = args.get(name)
            if given and not is_none(value):
                return RetryPolicy("retrying", api, report_at, BOUNDED, wait=wait)
        if args.star_kwargs or args.star_args:
            return RetryPolicy("retrying", api, report_at, UNKNOWN, wait=wait)
        if args.positional:
            only = args.positional[0]
            # ``retry(func)`` wraps with the defaults; other positional uses are rare.
            if len(args.positional) > 1 or args.keywords or isinstance(only, (cst.SimpleString, cst.ConcatenatedString)):
                return RetryPolicy("retrying", api, report_at, UNKNOWN, wait=wait)
        return RetryPolicy("retrying", api, report_at, UNBOUNDED, wait, NO_STOP)

    # urllib3
    @staticmethod
    def _urllib3(args: CallArgs, report_at) -> RetryPolicy:
        wait = WAIT_SET if "backoff_factor" in args.keywords else WAIT_NONE
        given, total = args.get("total", 0)
        if not given or not is_none(total):
            return RetryPolicy("urllib3", "Retry", report_at, BOUNDED if not args.maybe_hidden(0) or given else UNKNOWN, wait=wait)
        unlimited = []
        for name, position in URLLIB3_COUNTERS:
            given, value = args.get(name, position)
            if not given and args.maybe_hidden(position):
                return RetryPolicy("urllib3", "Retry", report_at, UNKNOWN, wait=wait)
            if not given or is_none(value):
                unlimited.append(name)
        if not unlimited:
            return RetryPolicy("urllib3", "Retry", report_at, BOUNDED, wait=wait)
        return RetryPolicy("urllib3", "Retry", report_at, UNBOUNDED, wait, COUNTERS_UNLIMITED, tuple(unlimited))

    # stamina
    @staticmethod
    def _stamina(args: CallArgs, api: str, report_at) -> RetryPolicy:
        positions = STAMINA_POSITIONS.get(api, (None, None))
        has_attempts, attempts = args.get("attempts", positions[0])
        has_timeout, timeout = args.get("timeout", positions[1])
        if has_attempts and has_timeout and is_none(attempts) and is_none(timeout):
            return RetryPolicy("stamina", api, report_at, UNBOUNDED, WAIT_ALWAYS, LIMITS_NONE, ("attempts", "timeout"))
        return RetryPolicy("stamina", api, report_at, BOUNDED, wait=WAIT_ALWAYS)


def _is_tenacity(qualified: str) -> bool:
    return qualified.startswith("tenacity.")


def _combine(parts: List[str], any_: bool) -> str:
    if any_:
        if BOUNDED in parts:
            return BOUNDED
        return UNBOUNDED if all(p == UNBOUNDED for p in parts) else UNKNOWN
    if UNBOUNDED in parts:
        return UNBOUNDED
    return BOUNDED if all(p == BOUNDED for p in parts) else UNKNOWN
