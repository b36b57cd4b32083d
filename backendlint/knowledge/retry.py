"""Retry policies: what bounds a retry, per library and for hand-written retries.

One model for every way Python code retries: a ``RetryPolicy`` says which library (or
which hand-written shape) retries, where, whether something caps it (``stop``) and
whether it waits between attempts (``wait``). BL101 (unbounded-retry) reads ``stop``;
BL102 (retry-without-backoff) can read ``wait`` from the same analysis.

Libraries (defaults checked against their sources):

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
- celery: ``Task.max_retries`` (default 3); ``None`` retries forever. ``Task.retry``
  treats ``max_retries=None`` as "use the task's limit", and autoretry passes
  ``retry_kwargs`` to ``Task.retry``, so ``self.retry(max_retries=None)`` and
  ``retry_kwargs={"max_retries": None}`` are only unbounded when the task's own
  ``max_retries`` is None.

Hand-written retries are judged by control flow: see ``loop_policy`` and
``recursion_policies``.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Any, Dict, FrozenSet, Iterable, Iterator, List, Optional, Sequence, Set, Tuple

import libcst as cst

from backendlint.engine.facts import ast_dotted, FactCollector, register
from backendlint.engine.imports import dotted_name
from backendlint.syntax.calls import CallArgs
from backendlint.syntax.literals import is_constant, is_falsy_constant, is_none, is_truthy_constant
from backendlint.syntax.names import last_name as last_part, names_in, param_names as _param_names, positional_params, target_names
from backendlint.syntax.walk import SCOPE_TYPES as _SCOPE_TYPES, statements, walk_local

# -- the policy model ------------------------------------------------------------------

BOUNDED = "bounded"
UNBOUNDED = "unbounded"
UNKNOWN = "unknown"  # cannot tell (kwargs passed through, a value from elsewhere): never reported

WAIT_NONE = "none"  # retries immediately
WAIT_SET = "set"  # some wait is configured
WAIT_ALWAYS = "always"  # the library always waits (backoff, stamina, celery countdown)
WAIT_UNKNOWN = "unknown"


@dataclass
class RetryPolicy:
    """One retry policy found in the code.

    ``library``: tenacity, backoff, retrying, urllib3, stamina, celery, loop, recursion.
    ``node``: where a finding about it is reported. ``stop``: BOUNDED / UNBOUNDED / UNKNOWN;
    ``problem`` says what is unbounded and ``fix`` how to bound it. ``wait``: WAIT_*.
    """

    library: str
    api: str
    node: cst.CSTNode
    stop: str
    problem: str = ""
    fix: str = ""
    wait: str = WAIT_UNKNOWN

    @property
    def unbounded(self) -> bool:
        return self.stop == UNBOUNDED

    @property
    def message(self) -> str:
        return f"{self.problem}; {self.fix}" if self.fix else self.problem


# -- qualified names -------------------------------------------------------------------

TENACITY_DECORATORS = frozenset({"retry"})
TENACITY_RETRYERS = frozenset({"Retrying", "AsyncRetrying", "TornadoRetrying"})
TENACITY_BOUNDED_STOPS = frozenset({"stop_after_attempt", "stop_after_delay", "stop_before_delay"})
RETRY_LIBRARIES = frozenset({"tenacity", "backoff", "retrying", "stamina"})
URLLIB3_RETRY = frozenset({"urllib3.Retry", "urllib3.util.Retry", "urllib3.util.retry.Retry", "requests.adapters.Retry"})
STAMINA_APIS = frozenset({"retry", "retry_context", "RetryingCaller", "AsyncRetryingCaller"})
CELERY_TASK_BASES = frozenset({"celery.Task", "celery.app.task.Task", "celery.app.Task", "celery.task.Task"})
CLOCK_CALLS = frozenset({"time", "monotonic", "perf_counter", "monotonic_ns", "time_ns", "perf_counter_ns", "now", "utcnow"})
TIMEOUT_SCOPES = frozenset({"timeout", "timeout_at", "fail_after", "fail_at", "move_on_after", "move_on_at"})
PROMPT_CALLS = frozenset({"getpass.getpass", "click.prompt", "click.confirm", "typer.prompt", "typer.confirm"})
LOG_CALLS = frozenset({"debug", "info", "warning", "warn", "error", "exception", "critical", "log", "print", "secho", "echo"})
EXIT_CALLS = frozenset({"sys.exit", "os._exit", "exit", "quit"})


def member_of(qualified: Optional[str], library: str, names: FrozenSet[str]) -> Optional[str]:
    """The API name when ``qualified`` is ``library[.submodule].name`` with name in names."""
    if not qualified or not (qualified == library or qualified.startswith(library + ".")):
        return None
    last = qualified.rsplit(".", 1)[-1]
    return last if last in names else None


def is_clock_call(node: cst.CSTNode) -> bool:
    return isinstance(node, cst.Call) and last_part(node.func) in CLOCK_CALLS


def mentions_clock(expr: cst.CSTNode) -> bool:
    return any(is_clock_call(n) for n in walk_local(expr))


def _module_level(body: Sequence[cst.CSTNode]) -> Iterator[cst.CSTNode]:
    """Statements that run at module level: through if/try/with blocks, not into defs."""
    work: List[cst.CSTNode] = list(reversed(body))
    while work:
        stmt = work.pop()
        if isinstance(stmt, cst.SimpleStatementLine):
            work.extend(reversed(stmt.body))
            continue
        yield stmt
        blocks: List[cst.CSTNode] = []
        if isinstance(stmt, (cst.If, cst.With, cst.Try, cst.TryStar)):
            blocks.append(stmt.body)
        if isinstance(stmt, cst.If) and stmt.orelse is not None:
            blocks.append(stmt.orelse if isinstance(stmt.orelse, cst.Else) else cst.IndentedBlock(body=[stmt.orelse]))
        if isinstance(stmt, (cst.Try, cst.TryStar)):
            blocks.extend(h.body for h in stmt.handlers)
            blocks.extend(b for b in (stmt.orelse, stmt.finalbody) if b is not None)
        for block in reversed(blocks):
            work.extend(reversed(statements(block)))


# -- scope-aware name resolution -------------------------------------------------------

_SHADOW = object()


class Scopes:
    """Resolves names through the file's imports, unless a local binding shadows them.

    The engine's import table knows module-level imports and defs; this adds function
    parameters and local assignments (a local ``retry`` is not tenacity's), module-level
    aliases (``my_retry = tenacity.retry``) and simple constant lookups.
    """

    def __init__(self, ctx):
        self.ctx = ctx
        self._locals: Dict[int, Set[str]] = {}
        self._assigns: Dict[int, Dict[str, Any]] = {}
        self._module_assigns: Optional[Dict[str, Any]] = None

    # bindings
    def local_names(self, scope: cst.CSTNode) -> Set[str]:
        key = id(scope)
        found = self._locals.get(key)
        if found is not None:
            return found
        names: Set[str] = set()
        globals_: Set[str] = set()
        if isinstance(scope, (cst.FunctionDef, cst.Lambda)):
            names.update(_param_names(scope.params))
        if isinstance(scope, cst.FunctionDef):
            for node in walk_local(scope.body):
                if isinstance(node, (cst.FunctionDef, cst.ClassDef)):
                    names.add(node.name.value)
                elif isinstance(node, cst.Assign):
                    for t in node.targets:
                        names.update(n for n in target_names(t.target) if "." not in n)
                elif isinstance(node, (cst.AnnAssign, cst.AugAssign, cst.NamedExpr)):
                    names.update(n for n in target_names(node.target) if "." not in n)
                elif isinstance(node, (cst.For, cst.CompFor)):
                    names.update(n for n in target_names(node.target) if "." not in n)
                elif isinstance(node, cst.AsName) and isinstance(node.name, (cst.Name, cst.Tuple, cst.List)):
                    names.update(n for n in target_names(node.name) if "." not in n)
                elif isinstance(node, (cst.Global, cst.Nonlocal)):
                    globals_.update(item.name.value for item in node.names)
        names -= globals_
        # Imports inside the function are resolved by the import table, not shadows.
        if isinstance(scope, cst.FunctionDef):
            for node in walk_local(scope.body):
                if isinstance(node, (cst.Import, cst.ImportFrom)) and not isinstance(node.names, cst.ImportStar):
                    for alias in node.names:
                        if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                            names.discard(alias.asname.name.value)
                        else:
                            names.discard((dotted_name(alias.name) or "").split(".")[0])
        self._locals[key] = names
        return names

    @staticmethod
    def enclosing_scopes(stack: Sequence[cst.CSTNode]) -> List[cst.CSTNode]:
        """Function scopes whose body holds the node (not their decorators or defaults)."""
        out = []
        for i, node in enumerate(stack):
            if isinstance(node, (cst.FunctionDef, cst.Lambda)):
                nxt = stack[i + 1] if i + 1 < len(stack) else None
                if isinstance(nxt, (cst.Decorator, cst.Parameters, cst.Annotation)):
                    continue
                out.append(node)
        return out

    def module_assigns(self) -> Dict[str, Any]:
        """Module-level ``name = value`` bindings: the value, or _SHADOW when ambiguous."""
        if self._module_assigns is None:
            self._module_assigns = self._collect_assigns(self.ctx.module.body, top=True)
        return self._module_assigns

    def scope_assigns(self, scope: cst.FunctionDef) -> Dict[str, Any]:
        key = id(scope)
        found = self._assigns.get(key)
        if found is None:
            found = self._collect_assigns(scope.body, top=False)
            self._assigns[key] = found
        return found

    @staticmethod
    def _collect_assigns(body, top: bool) -> Dict[str, Any]:
        out: Dict[str, Any] = {}
        nodes: Iterable[cst.CSTNode] = _module_level(body) if top else walk_local(body)
        for node in nodes:
            pairs: List[Tuple[str, Any]] = []
            if isinstance(node, cst.Assign):
                for t in node.targets:
                    if isinstance(t.target, cst.Name) and len(node.targets) == 1:
                        pairs.append((t.target.value, node.value))
                    else:
                        pairs.extend((n, _SHADOW) for n in target_names(t.target) if "." not in n)
            elif isinstance(node, cst.AnnAssign) and isinstance(node.target, cst.Name):
                pairs.append((node.target.value, node.value if node.value is not None else _SHADOW))
            elif isinstance(node, (cst.AugAssign, cst.For)):
                pairs.extend((n, _SHADOW) for n in target_names(node.target) if "." not in n)
            for name, value in pairs:
                out[name] = _SHADOW if name in out else value
        return out

    # resolution
    def resolve(self, expr: cst.CSTNode, stack: Sequence[cst.CSTNode], wanted=None) -> Optional[str]:
        """Qualified name of ``expr``, or None when a local binding shadows it.

        ``wanted(qualified)`` lets a caller skip the (costlier) shadowing check for names
        it does not care about.
        """
        dotted = dotted_name(expr)
        if not dotted:
            return None
        head, _, rest = dotted.partition(".")
        assigned = self.module_assigns().get(head)
        if assigned is not None:
            if assigned is _SHADOW or not isinstance(assigned, (cst.Name, cst.Attribute)):
                return None
            target = self.ctx.imports.resolve(assigned)
            if target is None:
                return None
            qualified: Optional[str] = f"{target}.{rest}" if rest else target
        else:
            qualified = self.ctx.imports.resolve_dotted(dotted)
        if qualified is None or (wanted is not None and not wanted(qualified)):
            return None
        for scope in self.enclosing_scopes(stack):
            if head in self.local_names(scope):
                return None
        return qualified

    def value_of(self, name: cst.Name, stack: Sequence[cst.CSTNode]) -> Optional[cst.CSTNode]:
        """The single value a plain name is assigned in its function or module, if known."""
        scopes = self.enclosing_scopes(stack)
        for scope in reversed(scopes):
            if isinstance(scope, cst.Lambda):
                if name.value in self.local_names(scope):
                    return None
                continue
            if name.value in self.local_names(scope):
                value = self.scope_assigns(scope).get(name.value)
                return None if value is None or value is _SHADOW else value
        value = self.module_assigns().get(name.value)
        return None if value is None or value is _SHADOW else value


# -- library policies ------------------------------------------------------------------


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
            return _tenacity_unbounded(decorator, "@retry", "tenacity @retry has no stop condition, so it retries forever")
        if member_of(qualified, "retrying", frozenset({"retry"})):
            return _retrying_unbounded(decorator, "@retry")
        if member_of(qualified, "stamina", frozenset({"retry"})):
            return RetryPolicy("stamina", "retry", decorator, BOUNDED, wait=WAIT_ALWAYS)
        return None

    def for_call(self, call: cst.Call, stack: Sequence[cst.CSTNode], report_at: cst.CSTNode) -> Optional[RetryPolicy]:
        qualified = self.scopes.resolve(call.func, stack, self.wanted)
        if not qualified:
            return None
        args = CallArgs.of(call)
        api = member_of(qualified, "tenacity", TENACITY_DECORATORS | TENACITY_RETRYERS)
        if api:
            return self._tenacity(call, args, api, stack, report_at)
        api = member_of(qualified, "backoff", frozenset({"on_exception", "on_predicate"}))
        if api:
            return self._backoff(args, api, report_at)
        api = member_of(qualified, "retrying", frozenset({"retry", "Retrying"}))
        if api:
            return self._retrying(args, api, report_at)
        if qualified in URLLIB3_RETRY or qualified in self.urllib3_subclasses:
            return self._urllib3(args, report_at)
        api = member_of(qualified, "stamina", STAMINA_APIS)
        if api:
            return self._stamina(args, api, report_at)
        return None

    # tenacity
    def _tenacity(self, call, args: CallArgs, api: str, stack, report_at) -> RetryPolicy:
        wait = _tenacity_wait(self, args, stack)
        label = "@retry" if api == "retry" else f"{api}(...)"
        given, stop = args.get("stop")
        if not given and len(args.positional) >= 2:
            given, stop = True, args.positional[1]  # Retrying(sleep, stop, ...)
        if not given:
            if args.star_kwargs or args.star_args:
                return RetryPolicy("tenacity", api, report_at, UNKNOWN, wait=wait)
            return _tenacity_unbounded(report_at, api, f"tenacity {label} has no stop condition, so it retries forever", wait)
        state = self.stop_state(stop, stack, 0)
        if state == UNBOUNDED:
            return _tenacity_unbounded(report_at, api, f"tenacity {label} uses stop=stop_never, so it retries forever", wait)
        return RetryPolicy("tenacity", api, report_at, state if state == BOUNDED else UNKNOWN, wait=wait)

    def stop_state(self, expr: cst.CSTNode, stack, depth: int) -> str:
        """BOUNDED / UNBOUNDED (stop_never) / UNKNOWN for a tenacity stop expression."""
        if depth > 4:
            return UNKNOWN
        if isinstance(expr, (cst.Name, cst.Attribute)):
            qualified = self.scopes.resolve(expr, stack, _is_tenacity)
            if member_of(qualified, "tenacity", frozenset({"stop_never"})):
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
            combine = member_of(qualified, "tenacity", frozenset({"stop_any", "stop_all"}))
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

    # backoff
    @staticmethod
    def _backoff(args: CallArgs, api: str, report_at) -> RetryPolicy:
        limits = []
        for name, position in (("max_tries", 2), ("max_time", 3)):
            given, value = args.get(name, position)
            if given and not is_none(value):
                return RetryPolicy("backoff", api, report_at, BOUNDED, wait=WAIT_ALWAYS)
            limits.append(given)
            if not given and args.maybe_hidden(position):
                return RetryPolicy("backoff", api, report_at, UNKNOWN, wait=WAIT_ALWAYS)
        if all(limits):
            how = "sets max_tries and max_time to None"
        elif any(limits):
            how = "sets max_tries=None and no max_time" if limits[0] else "sets max_time=None and no max_tries"
        else:
            how = "has neither max_tries nor max_time"
        return RetryPolicy(
            "backoff", api, report_at, UNBOUNDED,
            f"backoff.{api} {how}, so it retries forever",
            "add max_tries=N or max_time=SECONDS",
            WAIT_ALWAYS,
        )

    # retrying
    @staticmethod
    def _retrying(args: CallArgs, api: str, report_at) -> RetryPolicy:
        wait = WAIT_SET if any(k.startswith("wait") for k in args.keywords) else WAIT_NONE
        for name in ("stop_max_attempt_number", "stop_max_delay", "stop_func", "stop"):
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
        return _retrying_unbounded(report_at, "@retry" if api == "retry" else "Retrying(...)", wait)

    # urllib3
    @staticmethod
    def _urllib3(args: CallArgs, report_at) -> RetryPolicy:
        wait = WAIT_SET if "backoff_factor" in args.keywords else WAIT_NONE
        given, total = args.get("total", 0)
        if not given or not is_none(total):
            return RetryPolicy("urllib3", "Retry", report_at, BOUNDED if not args.maybe_hidden(0) or given else UNKNOWN, wait=wait)
        unlimited = []
        for name, position in (("connect", 1), ("read", 2), ("status", 4), ("other", 5)):
            given, value = args.get(name, position)
            if not given and args.maybe_hidden(position):
                return RetryPolicy("urllib3", "Retry", report_at, UNKNOWN, wait=wait)
            if not given or is_none(value):
                unlimited.append(name)
        if not unlimited:
            return RetryPolicy("urllib3", "Retry", report_at, BOUNDED, wait=wait)
        return RetryPolicy(
            "urllib3", "Retry", report_at, UNBOUNDED,
            f"urllib3 Retry(total=None) leaves {', '.join(unlimited)} retries without a limit",
            "give total a number (e.g. total=5), or give connect, read, status and other numbers",
            wait,
        )

    # stamina
    @staticmethod
    def _stamina(args: CallArgs, api: str, report_at) -> RetryPolicy:
        positions = {"retry_context": (1, 2), "RetryingCaller": (0, 1), "AsyncRetryingCaller": (0, 1)}.get(api, (None, None))
        has_attempts, attempts = args.get("attempts", positions[0])
        has_timeout, timeout = args.get("timeout", positions[1])
        if has_attempts and has_timeout and is_none(attempts) and is_none(timeout):
            return RetryPolicy(
                "stamina", api, report_at, UNBOUNDED,
                f"stamina {api} with attempts=None and timeout=None retries forever",
                "keep a limit: attempts=N or timeout=SECONDS (stamina's defaults are 10 attempts, 45 s)",
                WAIT_ALWAYS,
            )
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


def _tenacity_wait(policies: LibraryPolicies, args: CallArgs, stack) -> str:
    given, wait = args.get("wait")
    if not given:
        return WAIT_UNKNOWN if args.star_kwargs else WAIT_NONE
    if isinstance(wait, cst.Call) and member_of(policies.scopes.resolve(wait.func, stack), "tenacity", frozenset({"wait_none"})):
        return WAIT_NONE
    return WAIT_SET


def _tenacity_unbounded(node, api: str, problem: str, wait: str = WAIT_NONE) -> RetryPolicy:
    return RetryPolicy("tenacity", api, node, UNBOUNDED, problem, "add stop=stop_after_attempt(N) or stop=stop_after_delay(SECONDS)", wait)


def _retrying_unbounded(node, label: str, wait: str = WAIT_NONE) -> RetryPolicy:
    return RetryPolicy(
        "retrying", "retry", node, UNBOUNDED,
        f"retrying {label} has neither stop_max_attempt_number nor stop_max_delay, so it retries forever",
        "add stop_max_attempt_number=N or stop_max_delay=MILLISECONDS",
        wait,
    )


# -- celery ----------------------------------------------------------------------------


@dataclass
class CeleryRetryConfig:
    """Retry settings of a task or Task class: None means "not set here".

    ``max_retries``: "none" / "set". ``autoretry``: True when autoretry_for is non-empty.
    ``retry_kwargs_max``: "none" / "set" / "unknown". ``self_retry``: "unbounded" when a
    method calls ``self.retry(...)`` without a max_retries of its own.
    """

    max_retries: Optional[str] = None
    autoretry: Optional[bool] = None
    retry_kwargs_max: Optional[str] = None
    self_retry: Optional[str] = None

    def inherit(self, parent: "CeleryRetryConfig") -> "CeleryRetryConfig":
        return CeleryRetryConfig(
            self.max_retries if self.max_retries is not None else parent.max_retries,
            self.autoretry if self.autoretry is not None else parent.autoretry,
            self.retry_kwargs_max if self.retry_kwargs_max is not None else parent.retry_kwargs_max,
            self.self_retry if self.self_retry is not None else parent.self_retry,
        )

    def to_json(self) -> Dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}

    @classmethod
    def from_json(cls, data: Dict[str, Any]) -> "CeleryRetryConfig":
        return cls(data.get("max_retries"), data.get("autoretry"), data.get("retry_kwargs_max"), data.get("self_retry"))

    @property
    def retries_forever(self) -> bool:
        if self.max_retries != "none":
            return False
        autoretry_forever = bool(self.autoretry) and self.retry_kwargs_max not in ("set", "unknown")
        return autoretry_forever or self.self_retry == "unbounded"


def _cst_kind_of_max(value: cst.CSTNode) -> str:
    return "none" if is_none(value) else "set"


def _cst_autoretry(value: cst.CSTNode) -> bool:
    if isinstance(value, (cst.Tuple, cst.List)):
        return bool(value.elements)
    return not is_none(value)


def _cst_retry_kwargs_max(value: cst.CSTNode) -> Optional[str]:
    if not isinstance(value, cst.Dict):
        if isinstance(value, cst.Call) and last_part(value.func) == "dict":
            args = CallArgs.of(value)
            if "max_retries" in args.keywords:
                return _cst_kind_of_max(args.keywords["max_retries"])
            return "unknown" if (args.star_kwargs or args.positional) else None
        return "unknown"
    for element in value.elements:
        if isinstance(element, cst.StarredDictElement):
            return "unknown"
        key = element.key
        if isinstance(key, cst.SimpleString) and key.evaluated_value == "max_retries":
            return _cst_kind_of_max(element.value)
    return None


def retry_calls(body: cst.CSTNode, receivers: Set[str]) -> List[cst.Call]:
    """``<receiver>.retry(...)`` calls in a function body (celery's Task.retry)."""
    out = []
    for node in walk_local(body):
        if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) and node.func.attr.value == "retry":
            if dotted_name(node.func.value) in receivers:
                out.append(node)
    return out


def self_retry_state(calls: List[cst.Call]) -> Optional[str]:
    """"unbounded" if one call lets the task's max_retries decide, "bounded" if all override."""
    if not calls:
        return None
    for call in calls:
        args = CallArgs.of(call)
        given, value = args.get("max_retries")
        if not given and not args.star_kwargs:
            return "unbounded"
        if given and is_none(value):
            return "unbounded"
    return "bounded"


class CeleryPolicies:
    """Celery tasks and Task classes whose max_retries is None and that retry."""

    def __init__(self, scopes: Scopes, facts: Optional[Dict[str, Any]]):
        self.scopes = scopes
        self.facts = facts or {}

    def inherited(self, qualified: Optional[str], depth: int = 0, seen: Optional[Set[str]] = None) -> CeleryRetryConfig:
        """The retry config a class named ``qualified`` gives its tasks (project facts)."""
        seen = seen if seen is not None else set()
        info = self.facts.get(qualified) if qualified else None
        if not info or depth > 8 or qualified in seen:
            return CeleryRetryConfig()
        seen.add(qualified)
        config = CeleryRetryConfig.from_json(info.get("config", {}))
        for base in info.get("bases", []):
            config = config.inherit(self.inherited(base, depth + 1, seen))
        return config

    def is_task_class(self, qualified: Optional[str], depth: int = 0) -> bool:
        if not qualified or depth > 8:
            return False
        if qualified in CELERY_TASK_BASES or qualified.rsplit(".", 1)[-1].endswith("Task"):
            return True
        info = self.facts.get(qualified)
        return bool(info) and any(self.is_task_class(b, depth + 1) for b in info.get("bases", []))

    @staticmethod
    def task_decorator(decorator: cst.Decorator) -> Optional[cst.Call]:
        expr = decorator.decorator
        if isinstance(expr, cst.Call) and last_part(expr.func) in ("task", "shared_task"):
            return expr
        return None

    def for_function(self, fn: cst.FunctionDef, stack: Sequence[cst.CSTNode]) -> List[RetryPolicy]:
        out = []
        for decorator in fn.decorators:
            call = self.task_decorator(decorator)
            if call is None:
                continue
            policy = self._task(fn, decorator, call, stack)
            if policy is not None:
                out.append(policy)
        return out

    def _task(self, fn: cst.FunctionDef, decorator: cst.Decorator, call: cst.Call, stack) -> Optional[RetryPolicy]:
        args = CallArgs.of(call)
        own = CeleryRetryConfig()
        if "max_retries" in args.keywords:
            own.max_retries = _cst_kind_of_max(args.keywords["max_retries"])
        elif args.star_kwargs:
            return None
        if "autoretry_for" in args.keywords:
            own.autoretry = _cst_autoretry(args.keywords["autoretry_for"])
        if "retry_kwargs" in args.keywords:
            own.retry_kwargs_max = _cst_retry_kwargs_max(args.keywords["retry_kwargs"])
        receivers = {fn.name.value, "current_task", "celery.current_task"}
        params = positional_params(fn)
        bind = args.keywords.get("bind")
        if params and (isinstance(bind, cst.Name) and bind.value == "True" or params[0] == "self"):
            receivers.add(params[0])
        calls = retry_calls(fn.body, receivers)
        own.self_retry = self_retry_state(calls)
        base_name = None
        base = args.keywords.get("base")
        inherited = CeleryRetryConfig()
        if base is not None:
            base_name = self.scopes.resolve(base, list(stack) + [fn, decorator])
            inherited = self.inherited(base_name)
        config = own.inherit(inherited)
        contributes = own.max_retries == "none" or own.autoretry or own.self_retry == "unbounded"
        if not contributes or not config.retries_forever:
            return None
        where = "max_retries=None" if own.max_retries == "none" else "max_retries=None from its base class"
        how = "autoretry_for" if (config.autoretry and config.retry_kwargs_max not in ("set", "unknown")) else "self.retry()"
        return RetryPolicy(
            "celery", "task", decorator, UNBOUNDED,
            f"celery task retries ({how}) with {where}, so it retries forever",
            "set max_retries=N (celery's default is 3)",
            WAIT_ALWAYS,
        )

    def for_class(self, node: cst.ClassDef, stack: Sequence[cst.CSTNode]) -> Optional[RetryPolicy]:
        bases = []
        for arg in node.bases:
            base = arg.value.value if isinstance(arg.value, cst.Subscript) else arg.value  # Task[Any, Any]
            if not arg.keyword:
                bases.append(self.scopes.resolve(base, stack) or dotted_name(base))
        if not any(self.is_task_class(b) for b in bases):
            return None
        own = CeleryRetryConfig()
        anchors: Dict[str, cst.CSTNode] = {}
        for stmt in statements(node.body):
            if isinstance(stmt, cst.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0].target, cst.Name):
                name = stmt.targets[0].target.value
                if name == "max_retries":
                    own.max_retries = _cst_kind_of_max(stmt.value)
                    anchors[name] = stmt
                elif name == "autoretry_for":
                    own.autoretry = _cst_autoretry(stmt.value)
                    anchors[name] = stmt
                elif name == "retry_kwargs":
                    own.retry_kwargs_max = _cst_retry_kwargs_max(stmt.value)
            elif isinstance(stmt, cst.FunctionDef):
                params = positional_params(stmt)
                if params:
                    state = self_retry_state(retry_calls(stmt.body, {params[0]}))
                    if state and own.self_retry != "unbounded":
                        own.self_retry = state
                        if state == "unbounded":
                            anchors["self_retry"] = stmt.name
        inherited = CeleryRetryConfig()
        for base in bases:
            inherited = inherited.inherit(self.inherited(base))
        config = own.inherit(inherited)
        if not config.retries_forever:
            return None
        anchor = anchors.get("max_retries") if own.max_retries == "none" else None
        if anchor is None and own.autoretry:
            anchor = anchors.get("autoretry_for")
        if anchor is None:
            anchor = anchors.get("self_retry")
        if anchor is None:
            return None
        return RetryPolicy(
            "celery", "Task", anchor, UNBOUNDED,
            f"celery Task class {node.name.value} retries with max_retries = None, so its tasks retry forever",
            "set max_retries = N (celery's default is 3)",
            WAIT_ALWAYS,
        )


# -- project facts: celery Task classes ------------------------------------------------


_ast_dotted = ast_dotted  # shared with the other collectors


def _ast_imports(tree: ast.Module, module_name: str, is_package: bool) -> Dict[str, str]:
    """Module-level imports and classes of a file (local name -> qualified name)."""
    from backendlint.engine.pyast import AstImports

    table = AstImports(module_name, is_package)
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            table.local(node.name)
        else:
            table.add(node)
    return table.bindings


def _ast_resolve(node: ast.AST, bindings: Dict[str, str]) -> Optional[str]:
    dotted = _ast_dotted(node)
    if not dotted:
        return None
    head, _, rest = dotted.partition(".")
    bound = bindings.get(head)
    if bound is None:
        return None
    return f"{bound}.{rest}" if rest else bound


def _ast_is_none(node: Optional[ast.AST]) -> bool:
    return isinstance(node, ast.Constant) and node.value is None


def _ast_class_config(node: ast.ClassDef) -> CeleryRetryConfig:
    config = CeleryRetryConfig()
    for stmt in node.body:
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
            name, value = stmt.targets[0].id, stmt.value
            if name == "max_retries":
                config.max_retries = "none" if _ast_is_none(value) else "set"
            elif name == "autoretry_for":
                config.autoretry = bool(value.elts) if isinstance(value, (ast.Tuple, ast.List)) else not _ast_is_none(value)
            elif name == "retry_kwargs":
                config.retry_kwargs_max = "unknown"
                if isinstance(value, ast.Dict):
                    config.retry_kwargs_max = None
                    for key, val in zip(value.keys, value.values):
                        if key is None:
                            config.retry_kwargs_max = "unknown"
                        elif isinstance(key, ast.Constant) and key.value == "max_retries":
                            config.retry_kwargs_max = "none" if _ast_is_none(val) else "set"
        elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)) and stmt.args.args:
            receiver = stmt.args.args[0].arg
            for sub in ast.walk(stmt):
                if (
                    isinstance(sub, ast.Call)
                    and isinstance(sub.func, ast.Attribute)
                    and sub.func.attr == "retry"
                    and isinstance(sub.func.value, ast.Name)
                    and sub.func.value.id == receiver
                ):
                    kw = {k.arg: k.value for k in sub.keywords}
                    if None in kw and "max_retries" not in kw:
                        state = "bounded"
                    elif "max_retries" in kw and not _ast_is_none(kw["max_retries"]):
                        state = "bounded"
                    else:
                        state = "unbounded"
                    if config.self_retry != "unbounded":
                        config.self_retry = state
    return config


def _module_names(relpath: str, module_name: str) -> List[str]:
    """The module's name, and its dotted path from the project root (namespace packages)."""
    names = [module_name]
    path = relpath[:-3] if relpath.endswith(".py") else relpath
    if path.endswith("/__init__"):
        path = path[: -len("/__init__")]
    dotted = path.replace("/", ".")
    if dotted and dotted != module_name and all(part.isidentifier() for part in dotted.split(".")):
        names.append(dotted)
    return names


@register
class CeleryTaskClasses(FactCollector):
    """Classes that set celery retry options: {qualified name: {"bases", "config"}}.

    Lets a task's ``base=`` (and a Task subclass's parent) be read from another file.
    """

    kind = "celery_retry_task_classes"
    requires = ("max_retries", "autoretry_for", "retry_kwargs", ".retry(")
    version = 2

    def collect(self, tree: ast.Module, relpath: str, module_name: str, source: str):
        is_package = relpath.endswith("__init__.py")
        bindings = _ast_imports(tree, module_name, is_package)
        out = {}
        for node in tree.body:
            if not isinstance(node, ast.ClassDef):
                continue
            plain = [b.value if isinstance(b, ast.Subscript) else b for b in node.bases]
            bases = [b for b in (_ast_resolve(base, bindings) or _ast_dotted(base) for base in plain) if b]
            config = _ast_class_config(node)
            if bases or config.to_json():
                entry = {"bases": bases, "config": config.to_json()}
                for module in _module_names(relpath, module_name):
                    out[f"{module}.{node.name}" if module else node.name] = entry
        return out or None

    def merge(self, parts):
        merged: Dict[str, Any] = {}
        for relpath in sorted(parts):
            merged.update(parts[relpath])
        return merged


# -- hand-written retry loops ----------------------------------------------------------

NEXT, CONTINUE, EXIT, RAISE = "next", "continue", "exit", "raise"


class Flow:
    """Outcomes of statements inside one loop: fall through, continue, exit, raise.

    ``EXIT`` is a ``break`` / ``return`` (or the assignment that ends a ``while <flag>``
    loop); breaks and continues inside nested loops belong to those loops.
    """

    def __init__(self, ends_loop=None, scopes: Optional[Scopes] = None, stack=()):
        self.ends_loop = ends_loop  # callable(stmt) -> bool for flag-ending assignments
        self.scopes = scopes
        self.stack = stack

    def seq(self, stmts: Sequence[cst.CSTNode]) -> FrozenSet[str]:
        current = {NEXT}
        for stmt in stmts:
            if NEXT not in current:
                break
            current.discard(NEXT)
            current |= self.stmt(stmt)
        return frozenset(current)

    def then(self, outcomes: FrozenSet[str], rest: Sequence[cst.CSTNode]) -> FrozenSet[str]:
        if NEXT not in outcomes:
            return outcomes
        return (outcomes - {NEXT}) | self.seq(rest)

    def stmt(self, s: cst.CSTNode) -> FrozenSet[str]:
        if isinstance(s, (cst.Return, cst.Break)):
            return frozenset({EXIT})
        if isinstance(s, cst.Raise):
            return frozenset({RAISE})
        if isinstance(s, cst.Continue):
            return frozenset({CONTINUE})
        if isinstance(s, (cst.Assign, cst.AnnAssign)):
            return frozenset({EXIT}) if self.ends_loop is not None and self.ends_loop(s) else frozenset({NEXT})
        if isinstance(s, cst.Expr):
            value = s.value.expression if isinstance(s.value, cst.Await) else s.value
            if isinstance(value, cst.Call) and self.scopes is not None:
                dotted = dotted_name(value.func)
                if dotted in EXIT_CALLS or self.scopes.resolve(value.func, self.stack) in EXIT_CALLS:
                    return frozenset({RAISE})
            return frozenset({NEXT})
        if isinstance(s, cst.If):
            out = set(self.seq(statements(s.body)))
            orelse = s.orelse
            if orelse is None:
                out.add(NEXT)
            elif isinstance(orelse, cst.If):
                out |= self.stmt(orelse)
            else:
                out |= self.seq(statements(orelse))
            return frozenset(out)
        if isinstance(s, cst.With):
            return self.seq(statements(s.body))
        if isinstance(s, (cst.Try, cst.TryStar)):
            body = self.seq(statements(s.body))
            if s.orelse is not None:
                body = self.then(body, statements(s.orelse))
            out = set(body)
            for handler in s.handlers:
                out |= self.seq(statements(handler.body))
            if s.finalbody is not None:
                final = self.seq(statements(s.finalbody))
                if NEXT not in final:
                    return final
                out |= final - {NEXT}
            return frozenset(out)
        if isinstance(s, (cst.While, cst.For)):
            out = {NEXT}
            for node in walk_local(s.body):
                if isinstance(node, cst.Return):
                    out.add(EXIT)
                elif isinstance(node, cst.Raise):
                    out.add(RAISE)
            return frozenset(out)
        if isinstance(s, cst.Match):
            out = {NEXT}
            for case in s.cases:
                out |= self.seq(statements(case.body))
            return frozenset(out)
        return frozenset({NEXT})


@dataclass
class _TrySite:
    node: cst.CSTNode  # Try / TryStar
    rest: List[cst.CSTNode]  # what runs after it in the loop body


def _try_sites(stmts: Sequence[cst.CSTNode], rest: List[cst.CSTNode], out: List[_TrySite], depth: int = 0) -> None:
    """Try statements of a loop body (through if/with blocks, not nested loops or defs)."""
    if depth > 50:
        return
    for i, stmt in enumerate(stmts):
        after = list(stmts[i + 1:]) + rest
        if isinstance(stmt, (cst.Try, cst.TryStar)):
            out.append(_TrySite(stmt, after))
            _try_sites(statements(stmt.body), [], out, depth + 1)
        elif isinstance(stmt, cst.If):
            _try_sites(statements(stmt.body), after, out, depth + 1)
            orelse = stmt.orelse
            while isinstance(orelse, cst.If):
                _try_sites(statements(orelse.body), after, out, depth + 1)
                orelse = orelse.orelse
            if orelse is not None:
                _try_sites(statements(orelse), after, out, depth + 1)
        elif isinstance(stmt, cst.With):
            _try_sites(statements(stmt.body), after, out, depth + 1)


class LoopPolicies:
    """Hand-written retry loops and recursive retries, judged by control flow."""

    def __init__(self, scopes: Scopes):
        self.scopes = scopes
        self._scope_facts: Dict[int, Tuple[Set[str], Set[str]]] = {}
        self._module_bool_attrs: Optional[Set[str]] = None

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
                if isinstance(value, cst.Name) and value.value in ("True", "False"):
                    bools.update(targets)
                if mentions_clock(value):
                    clocks.update(targets)
            found = (bools, clocks)
            self._scope_facts[key] = found
        return found

    def module_bool_attrs(self) -> Set[str]:
        if self._module_bool_attrs is None:
            out: Set[str] = set()
            for node in walk_any(self.scopes.ctx.module):
                if isinstance(node, cst.Assign) and isinstance(node.value, cst.Name) and node.value.value in ("True", "False"):
                    for t in node.targets:
                        out.update(n for n in target_names(t.target) if "." in n)
            self._module_bool_attrs = out
        return self._module_bool_attrs

    # the loop
    def loop_policy(self, loop: cst.CSTNode, stack: Sequence[cst.CSTNode]) -> Optional[RetryPolicy]:
        shape = self._shape(loop, stack)
        if shape is None:
            return None
        kind, flag, ends_loop, needs_bool = shape
        sites: List[_TrySite] = []
        _try_sites(statements(loop.body), [], sites)
        if not sites:
            return None
        flow = Flow(ends_loop, self.scopes, stack)
        retry_site = None
        for site in sites:
            if self._retries(site, flow, loop):
                retry_site = site
                break
        if retry_site is None:
            return None
        scope = self._scope(stack)
        bools, clocks = self.scope_facts(scope)
        if needs_bool and needs_bool not in bools and needs_bool not in self.module_bool_attrs():
            return None  # ``while items:`` is a work list, not a flag
        if self._prompts(retry_site.node.body, stack):
            return None
        if self._time_boxed(stack):
            return None
        counters = self._updated(loop)
        if isinstance(loop, cst.For) and loop.target is not None:
            counters.update(target_names(loop.target))
        if self._bounded(loop, flow, counters, clocks):
            return None
        shape_text = {"true": "while True", "flag": f"while {flag}", "count": "for ... in itertools.count()"}[kind]
        unused = sorted(c for c in self._stepped(loop) if "." not in c or c.startswith("self."))
        if kind == "count" and isinstance(loop.target, cst.Name) and loop.target.value != "_":
            unused.insert(0, loop.target.value)
        if unused:
            problem = (
                f"retry loop ({shape_text}) counts attempts in `{unused[0]}` but never compares it, "
                "so a failing operation is retried forever"
            )
            fix = f"stop after N attempts (e.g. `if {unused[0]} >= N: raise`) or use `for attempt in range(N):`"
        else:
            problem = (
                f"retry loop ({shape_text}) goes round again after an exception with no attempt limit "
                "or deadline, so a failing operation is retried forever"
            )
            fix = "use `for attempt in range(N):` and re-raise after the last attempt, or stop at a deadline"
        return RetryPolicy("loop", shape_text, loop, UNBOUNDED, problem, fix, WAIT_UNKNOWN)

    def _shape(self, loop, stack):
        """("true" | "flag" | "count", flag text, ends_loop) for a candidate loop, else None."""
        if isinstance(loop, cst.While):
            test = loop.test
            if isinstance(test, cst.Name) and test.value == "True" or isinstance(test, cst.Integer) and is_truthy_constant(test):
                return "true", "", None, None
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
                targets = (
                    [t.target for t in stmt.targets] if isinstance(stmt, cst.Assign) else [stmt.target]
                )
                if not any(dotted_name(t) == flag for t in targets) or stmt.value is None:
                    return False
                value = stmt.value
                if is_none_test:
                    return not is_none(value)
                if negated:
                    return not (is_constant(value) and not is_truthy_constant(value))
                return is_falsy_constant(value)

            text = f"{flag} is None" if is_none_test else (f"not {flag}" if negated else flag)
            # ``while items:`` is a work list unless ``items`` is a flag set to True/False.
            needs_bool = None if (negated or is_none_test) else flag
            return "flag", text, ends_loop, needs_bool
        if isinstance(loop, cst.For) and isinstance(loop.iter, cst.Call):
            qualified = self.scopes.resolve(loop.iter.func, stack)
            if qualified == "itertools.count":
                return "count", "", None, None
        return None

    @staticmethod
    def _retries(site: _TrySite, flow: Flow, loop) -> bool:
        """An except branch goes round again, and success leaves the loop."""
        node = site.node
        goes_round = False
        for handler in node.handlers:
            outcome = flow.then(flow.seq(statements(handler.body)), site.rest)
            if NEXT in outcome or CONTINUE in outcome:
                goes_round = True
                break
        if not goes_round:
            return False
        normal = flow.seq(statements(node.body))
        if node.orelse is not None:
            normal = flow.then(normal, statements(node.orelse))
        if node.finalbody is not None:
            final = flow.seq(statements(node.finalbody))
            normal = final if NEXT not in final else (normal | (final - {NEXT}))
        normal = flow.then(normal, site.rest)
        if EXIT not in normal:
            return False
        if not normal <= {EXIT, RAISE} and not _polls(node, site.rest, flow, loop):
            return False
        return not _makes_progress(node, loop)

    def _prompts(self, body, stack) -> bool:
        """The operation asks a person (``input()``): re-asking is not a retry storm."""
        for node in walk_local(body):
            if isinstance(node, cst.Call):
                if isinstance(node.func, cst.Name) and node.func.value in ("input", "raw_input"):
                    if self.scopes.resolve(node.func, stack) is None:
                        return True
                if self.scopes.resolve(node.func, stack) in PROMPT_CALLS:
                    return True
        return False

    def _time_boxed(self, stack) -> bool:
        """Inside ``async with asyncio.timeout(...)`` / ``anyio.fail_after(...)`` in this function."""
        for node in reversed(stack):
            if isinstance(node, (cst.FunctionDef, cst.Lambda)):
                return False
            if isinstance(node, cst.With):
                for item in node.items:
                    if isinstance(item.item, cst.Call) and last_part(item.item.func) in TIMEOUT_SCOPES:
                        return True
        return False

    @staticmethod
    def _scope(stack):
        for node in reversed(stack):
            if isinstance(node, cst.FunctionDef):
                return node
        return stack[0] if stack else None

    @staticmethod
    def _stepped(loop) -> Set[str]:
        """Attempt counters: ``n += 1`` / ``n -= 1`` (stepped by a constant)."""
        return {
            n
            for node in walk_local(loop.body)
            if isinstance(node, cst.AugAssign) and isinstance(node.value, cst.Integer)
            for n in target_names(node.target)
        }

    @staticmethod
    def _updated(loop) -> Set[str]:
        """Names the loop updates: counters (``n += 1``, ``n = n + 1``) and flipped flags."""
        out: Set[str] = set()
        for node in walk_local(loop.body):
            if isinstance(node, cst.AugAssign):
                out.update(target_names(node.target))
            elif isinstance(node, cst.Assign):
                for t in node.targets:
                    names = target_names(t.target)
                    flips = isinstance(node.value, cst.Name) and node.value.value in ("True", "False")
                    if flips or any(n in names_in(node.value) for n in names):
                        out.update(names)
        return out

    def _bounded(self, loop, flow: Flow, counters: Set[str], clocks: Set[str]) -> bool:
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
                        own = flow.stmt(branch)
                        if own & {EXIT, RAISE}:
                            return True
                        if CONTINUE in own and flow.seq(block[i + 1:]) <= {EXIT, RAISE}:
                            return True
                    branch = branch.orelse
        return False

    # recursion from an except handler
    def recursion_policies(self, handler: cst.CSTNode, stack: Sequence[cst.CSTNode]) -> List[RetryPolicy]:
        """Calls of the enclosing function to itself inside this except handler."""
        fn_index = None
        for i in range(len(stack) - 1, -1, -1):
            node = stack[i]
            if isinstance(node, (cst.Lambda, cst.ClassDef)):
                return []
            if isinstance(node, cst.FunctionDef):
                fn_index = i
                break
        if fn_index is None:
            return []
        fn = stack[fn_index]
        fn_stack = stack[:fn_index]
        name = fn.name.value
        cls = fn_stack[-2] if len(fn_stack) >= 2 and isinstance(fn_stack[-2], cst.ClassDef) else None
        params = positional_params(fn)
        receivers: Set[str] = set()
        skip_first = False
        if cls is not None:
            receivers.add(cls.name.value)
            if "staticmethod" not in {last_part(d.decorator) for d in fn.decorators} and params:
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
            return []
        if cls is None and name in self.scopes.local_names(fn):
            return []  # the name is rebound inside: not a call to itself
        if self._prompts(fn.body, fn_stack + [fn]):
            return []
        out = []
        own_params = params[1:] if skip_first else params
        all_params = set(_param_names(fn.params))
        tested = self._tested_names(fn)
        for call in calls:
            verdict = self._recursion_verdict(call, fn, own_params, all_params, tested, fn_stack + [fn])
            if verdict is None:
                continue
            problem = f"`{name}` calls itself from its except handler {verdict}, so a failing operation is retried forever"
            out.append(RetryPolicy(
                "recursion", name, call, UNBOUNDED, problem,
                "pass an attempt count and re-raise after N attempts, or use a bounded retry loop",
                WAIT_UNKNOWN,
            ))
        return out

    def _tested_names(self, fn: cst.FunctionDef) -> Set[str]:
        out: Set[str] = set()
        for node in walk_local(fn.body):
            if isinstance(node, (cst.If, cst.While, cst.IfExp, cst.Assert)):
                out |= names_in(node.test)
        return out

    def _recursion_verdict(self, call, fn, own_params, all_params, tested, stack) -> Optional[str]:
        """None when bounded (or not a retry), else how the recursion is unbounded."""
        changed: List[Tuple[str, cst.CSTNode]] = []
        for i, arg in enumerate(call.args):
            if arg.star:
                if isinstance(arg.value, cst.Name) and arg.value.value in all_params:
                    continue
                return None  # unknown arguments
            if arg.keyword is not None:
                param = arg.keyword.value
            elif i < len(own_params):
                param = own_params[i]
            else:
                param = None
            value = arg.value
            if isinstance(value, cst.Name) and value.value == param:
                continue  # passed through unchanged
            changed.append((param or "", value))
        for param, value in changed:
            if param and param in tested:
                return None  # a bounding argument the function checks
        counter = None
        for param, value in changed:
            if isinstance(value, cst.BinaryOperation) and param and param in names_in(value):
                counter = param
            elif is_constant(value):
                return None  # a different mode of the call (``fallback=True``), not the same call
            elif isinstance(value, cst.Name) and value.value not in all_params:
                # A fresh local (a refreshed token, a new connection) is still the same
                # call; a local derived from the arguments (``parent = path.parent``) is not.
                if _derived_from(fn, value.value, all_params):
                    return None
            else:
                return None  # computed arguments: works on something else (progress)
        # A counter kept elsewhere (``self.attempts += 1``) or a deadline, checked before retrying.
        flow = Flow(None, self.scopes, stack)
        clocks = self.scope_facts(fn)[1]
        augmented = set()
        for node in walk_local(fn.body):
            if isinstance(node, cst.AugAssign):
                augmented.update(target_names(node.target))
            elif isinstance(node, cst.Assign) and isinstance(node.value, cst.Name) and node.value.value in ("True", "False"):
                for t in node.targets:
                    augmented.update(target_names(t.target))  # a one-shot flag flipped before retrying
        watched = augmented | clocks
        outcome_names = _outcome_names(fn.body)
        for node in walk_local(fn.body):
            if isinstance(node, cst.If) and (
                names_in(node.test) & watched or mentions_clock(node.test) or _limit_comparison(node.test, outcome_names)
            ):
                if flow.stmt(node) & {EXIT, RAISE}:
                    return None
        if counter:
            return f"passing `{counter}` on but never checking it"
        return "with the same arguments and no attempt limit"


def _is_sleep(node: cst.CSTNode) -> bool:
    return isinstance(node, cst.Call) and last_part(node.func) == "sleep"


def _idle(stmt: cst.CSTNode) -> bool:
    """Waiting or bookkeeping, not work: pass, continue, sleep, logging, counters."""
    if isinstance(stmt, (cst.Pass, cst.Continue, cst.AugAssign)):
        return True
    if isinstance(stmt, cst.Expr):
        value = stmt.value.expression if isinstance(stmt.value, cst.Await) else stmt.value
        if isinstance(value, cst.Call):
            return _is_sleep(value) or last_part(value.func) in LOG_CALLS
        return isinstance(value, (cst.SimpleString, cst.ConcatenatedString, cst.Ellipsis))
    if isinstance(stmt, cst.Assign):
        # ``delay = min(delay * 2, 60)``: arithmetic on the loop's own numbers, no calls out.
        return not any(isinstance(n, cst.Call) and last_part(n.func) not in ("min", "max") for n in walk_local(stmt.value))
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


def _polls(try_node, rest: Sequence[cst.CSTNode], flow: "Flow", loop) -> bool:
    """A conditional success exit in a loop that waits between attempts.

    ``try: r = get(); if r.ok: break / except: log / sleep(1)`` retries (or polls) the
    same call until it succeeds. A consumer also has a conditional exit (``if msg is
    None: break``) but does work after it (``handle(msg)``) and blocks on its source
    instead of sleeping.
    """
    if not any(_is_sleep(n) for n in walk_local(loop.body)):
        return False
    path = list(statements(try_node.body))
    if try_node.orelse is not None:
        path += statements(try_node.orelse)
    path += list(rest)
    last = None
    for i, stmt in enumerate(path):
        if EXIT in flow.stmt(stmt):
            last = i
    if last is None:
        return False
    return all(_idle(stmt) for stmt in path[last + 1:])


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
    result or error (``resp.status >= 500`` is), so most likely a limit kept elsewhere."""
    for node in walk_local(test):
        if isinstance(node, cst.Comparison) and any(isinstance(c.operator, _ORDERING) for c in node.comparisons):
            if not (names_in(node) & outcome_names):
                return True
    return False


def _derived_from(fn: cst.FunctionDef, name: str, params: Set[str]) -> bool:
    for node in walk_local(fn.body):
        if isinstance(node, cst.Assign) and any(name in target_names(t.target) for t in node.targets):
            if names_in(node.value) & params:
                return True
    return False


def _reads_outside_logging(node: cst.CSTNode) -> Set[str]:
    """Dotted names read under ``node``, not counting arguments of logging calls."""
    out: Set[str] = set()
    work = [node]
    while work:
        current = work.pop()
        if isinstance(current, cst.Call) and last_part(current.func) in LOG_CALLS:
            continue
        if isinstance(current, _SCOPE_TYPES):
            continue
        if isinstance(current, (cst.Name, cst.Attribute)):
            dotted = dotted_name(current)
            if dotted:
                out.add(dotted)
        for child in current.children:
            work.append(child)
    return out


def _makes_progress(try_node, loop) -> bool:
    """A branch that goes round moves on to other work instead of retrying.

    The try body uses a value that an except branch changes from the loop's own state:
    ``current = current.parent``, ``url = data["next"]``, ``port += 1``. The next round
    works on something else (a walk, a search for a free slot); it does not repeat the
    failed operation. A fresh value (``conn = connect()``) is still a retry, and a
    counter the operation does not use (``attempt += 1``, perhaps logged) is judged by
    whether it is compared.
    """
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


def walk_any(node: cst.CSTNode) -> Iterator[cst.CSTNode]:
    from backendlint.engine.traversal import walk

    return walk(node)
