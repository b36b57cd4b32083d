"""BL101 unbounded-retry: a retry policy with no cap on attempts and no cap on total time.

Asks the retry vocabulary (``knowledge.retry``: libraries, celery) and the analysis of
hand-written retries (``analysis.retry_loops``) about every retry it sees, decides what is
not reported (rules/BL101.md) and words the findings. Reported at: the decorator or
constructor call line (libraries, celery tasks), the class's ``max_retries = None`` line
(celery Task classes), the loop line (retry loops), the recursive call (recursive retries).
"""

from __future__ import annotations

from typing import Optional

import libcst as cst

from backendlint.analysis.retry_loops import COUNTER, EXIT, RAISE, SAME, RetryLoop, RetryLoops, TrySite
from backendlint.engine.rule import Rule
from backendlint.index.celery import KIND as CELERY_TASK_CLASSES, CeleryTaskClassIndex
from backendlint.knowledge.retry import AUTORETRY, COUNTERS_UNLIMITED, LIMITS_NONE, STOP_NEVER, RetryPolicy
from backendlint.knowledge.retry.celery import CeleryPolicies
from backendlint.knowledge.retry.libraries import LibraryPolicies
from backendlint.syntax.scopes import Scopes

RETRIED_FOREVER = "so a failing operation is retried forever"
LOOP_SHAPES = {"true": "while True", "count": "for ... in itertools.count()"}


def policy_message(policy: RetryPolicy) -> str:
    """The finding for an unbounded library or celery policy: what is unbounded; how to bound it."""
    library, api, why, names = policy.library, policy.api, policy.why, policy.names
    if library == "tenacity":
        how = "uses stop=stop_never" if why == STOP_NEVER else "has no stop condition"
        return (f"tenacity {'@retry' if api == 'retry' else api + '(...)'} {how}, so it retries forever; "
                "add stop=stop_after_attempt(N) or stop=stop_after_delay(SECONDS)")
    if library == "backoff":
        how = {2: "sets max_tries and max_time to None", 0: "has neither max_tries nor max_time"}.get(len(names)) or (
            "sets max_tries=None and no max_time" if names[0] == "max_tries" else "sets max_time=None and no max_tries")
        return f"backoff.{api} {how}, so it retries forever; add max_tries=N or max_time=SECONDS"
    if library == "retrying":
        return (f"retrying {'@retry' if api == 'retry' else 'Retrying(...)'} has neither stop_max_attempt_number nor "
                "stop_max_delay, so it retries forever; add stop_max_attempt_number=N or stop_max_delay=MILLISECONDS")
    if library == "urllib3" and why == COUNTERS_UNLIMITED:
        return (f"urllib3 Retry(total=None) leaves {', '.join(names)} retries without a limit; "
                "give total a number (e.g. total=5), or give connect, read, status and other numbers")
    if library == "stamina" and why == LIMITS_NONE:
        return (f"stamina {api} with attempts=None and timeout=None retries forever; "
                "keep a limit: attempts=N or timeout=SECONDS (stamina's defaults are 10 attempts, 45 s)")
    if library == "celery" and api == "Task":
        return (f"celery Task class {names[0]} retries with max_retries = None, so its tasks retry forever; "
                "set max_retries = N (celery's default is 3)")
    how = "autoretry_for" if why == AUTORETRY else "self.retry()"
    where = "max_retries=None from its base class" if names else "max_retries=None"
    return f"celery task retries ({how}) with {where}, so it retries forever; set max_retries=N (celery's default is 3)"


def retries(site: TrySite) -> bool:
    """The ``try`` retries: an except branch goes round again (not: it re-raises, breaks or
    returns); success leaves the loop (not: a supervisor loop that keeps a consumer
    running), unconditionally or as a wait-until-it-works poll (not: pagination or a
    consumer's conditional exit); and an error does not move the loop on to other work."""
    if not site.goes_round:
        return False
    success = site.success
    if EXIT not in success:
        return False
    if not success <= {EXIT, RAISE} and not site.polls:
        return False
    return not site.moves_on


def loop_message(found: RetryLoop) -> Optional[str]:
    """The finding for a hand-written retry loop, or None when it is not reported."""
    site = next((s for s in found.sites if retries(s)), None)
    if site is None:
        return None
    if found.work_list or found.asks_person(site) or found.time_boxed or found.bounded:
        return None  # a work list; re-asks a person; inside asyncio.timeout(); a compared counter or deadline
    shape = LOOP_SHAPES.get(found.shape.kind) or f"while {found.shape.test}"
    unused = found.unchecked_counters
    if unused:
        return (
            f"retry loop ({shape}) counts attempts in `{unused[0]}` but never compares it, {RETRIED_FOREVER}; "
            f"stop after N attempts (e.g. `if {unused[0]} >= N: raise`) or use `for attempt in range(N):`"
        )
    return (
        f"retry loop ({shape}) goes round again after an exception with no attempt limit or deadline, {RETRIED_FOREVER}; "
        "use `for attempt in range(N):` and re-raise after the last attempt, or stop at a deadline"
    )


class UnboundedRetry(Rule):
    code = "BL101"
    name = "unbounded-retry"
    summary = "Retry policy with no cap on attempts and no cap on total time"
    # Every finding needs a retry library or celery option (all spelled with "etry" or
    # "backoff"), or an except clause (hand-written loops and recursion): the keyword as
    # a word, not the "exception" that most modules mention. (The lookbehind comes
    # after the literal so that the regex engine can scan for the literal: 20x faster.)
    requires = ("etry", "backoff")
    requires_re = r"except(?<!\wexcept)\b"
    facts = (CELERY_TASK_CLASSES,)
    options = ()

    def __init__(self, ctx, options=None):
        super().__init__(ctx, options)
        self.scopes = Scopes(ctx)
        self.libraries = LibraryPolicies(self.scopes)
        self.loops = RetryLoops(self.scopes)
        self._celery = None
        self._reported = set()

    @property
    def celery(self) -> CeleryPolicies:
        if self._celery is None:
            classes = CeleryTaskClassIndex(self.ctx.facts.get(CELERY_TASK_CLASSES))
            self._celery = CeleryPolicies(self.scopes, classes)
        return self._celery

    def _report(self, node: cst.CSTNode, message: str) -> None:
        if id(node) not in self._reported:
            self._reported.add(id(node))  # nested handlers see the same call
            self.report(node, message)

    def _policies(self, find, *args) -> None:
        """Report the unbounded policies ``find`` returns; a pathologically nested block is skipped."""
        try:
            found = find(*args)
        except RecursionError:
            return
        for policy in found if isinstance(found, list) else [found]:
            if isinstance(policy, RetryPolicy) and policy.unbounded:
                self._report(policy.node, policy_message(policy))

    # library policies
    def visit_Decorator(self, node: cst.Decorator) -> None:
        if isinstance(node.decorator, (cst.Name, cst.Attribute)):
            self._policies(self.libraries.for_decorator, node, self.ctx.stack)

    def visit_Call(self, node: cst.Call) -> None:
        parent = self.ctx.parent
        at = parent if isinstance(parent, cst.Decorator) and parent.decorator is node else node
        self._policies(self.libraries.for_call, node, self.ctx.stack, at)

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        stack = self.ctx.stack
        self.libraries.note_class(node, stack)
        if "etry" in self.ctx.source:
            self._policies(self.celery.for_class, node, stack)

    # celery tasks
    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        if node.decorators:
            self._policies(self.celery.for_function, node, self.ctx.stack)

    # recursion from an except handler
    def visit_ExceptHandler(self, node: cst.ExceptHandler) -> None:
        self._self_calls(node)

    def visit_ExceptStarHandler(self, node: cst.ExceptStarHandler) -> None:
        self._self_calls(node)

    def _self_calls(self, handler: cst.CSTNode) -> None:
        findings = []
        try:
            found = self.loops.self_calls(handler, self.ctx.stack)
            if found is None or found.rebound or found.asks_person:
                return  # the name is rebound inside; re-asks a person
            for call in found.calls:
                passed = found.arguments(call)
                if passed.arguments not in (SAME, COUNTER) or found.checked:
                    continue  # works on something else, another mode, or a limit is checked first
                how = f"passing `{passed.counter}` on but never checking it" if passed.counter else "with the same arguments and no attempt limit"
                findings.append((call, (
                    f"`{found.name}` calls itself from its except handler {how}, {RETRIED_FOREVER}; "
                    "pass an attempt count and re-raise after N attempts, or use a bounded retry loop"
                )))
        except RecursionError:
            return
        for call, message in findings:
            self._report(call, message)

    # hand-written loops
    def visit_While(self, node: cst.While) -> None:
        self._loop(node)

    def visit_For(self, node: cst.For) -> None:
        if isinstance(node.iter, cst.Call):
            self._loop(node)

    def _loop(self, node: cst.CSTNode) -> None:
        try:
            found = self.loops.retry_loop(node, self.ctx.stack)
            message = loop_message(found) if found is not None else None
        except RecursionError:
            return
        if message is not None:
            self._report(node, message)
