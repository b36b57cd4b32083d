"""BL101 unbounded-retry: a retry policy with no cap on attempts and no cap on total time.

Asks the retry vocabulary (``knowledge.retry``: libraries, celery) and the analysis of
hand-written retries (``analysis.retry_loops``) about every retry it sees, decides what is
not reported (rules/BL101.md) and words the findings. Reported at: the decorator or
constructor call line (libraries, celery tasks), the class's ``max_retries = None`` line
(celery Task classes), the loop line (retry loops), the recursive call (recursive retries).
"""

from __future__ import annotations

import libcst as cst

from backendlint.analysis.contexts import FACTS as CONTEXT_FACTS, Context, context_map, context_of
from backendlint.analysis.retry_loops import COUNTER, SAME, RetryLoops
from backendlint.analysis.severity import rank
from backendlint.engine.rule import Rule
from backendlint.index.celery import KIND as CELERY_TASK_CLASSES, CeleryTaskClassIndex
from backendlint.knowledge.retry import RetryPolicy
from backendlint.knowledge.contexts import LIBRARY, TASK
from backendlint.knowledge.retry.celery import CeleryPolicies
from backendlint.knowledge.retry.libraries import LibraryPolicies
from backendlint.rules.bl101.messages import (
    NO_IO,
    RECURSION,
    RETRIED_FOREVER,
    caught_text,
    io_reason,
    loop_low,
    loop_message,
    policy_message,
    retries,
)
from backendlint.syntax.scopes import Scopes

__all__ = ["UnboundedRetry", "policy_message", "loop_message", "retries"]


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
    facts = (CELERY_TASK_CLASSES,) + CONTEXT_FACTS
    options = ()

    @classmethod
    def prepare(cls, facts, options=None) -> None:
        context_map(facts)

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

    def _report(self, node: cst.CSTNode, message: str, context: Context, *, low=None, high=None) -> None:
        if id(node) not in self._reported:
            self._reported.add(id(node))  # nested handlers see the same call
            ranked = rank(context.name, context_why=context.describe(), low=low, high=high, medium=NO_IO)
            self.report(node, message, **ranked.as_report())

    def _policies(self, find, *args, body=None, stack=None) -> None:
        """Report the unbounded policies ``find`` returns; a pathologically nested block is
        skipped. ``body`` (with ``stack``, its ancestors): the code the policy retries, for
        the severity (default: the enclosing function)."""
        try:
            found = find(*args)
        except RecursionError:
            return
        for policy in found if isinstance(found, list) else [found]:
            if isinstance(policy, RetryPolicy) and policy.unbounded:
                self._report_policy(policy, body, stack)

    def _report_policy(self, policy: RetryPolicy, body, stack) -> None:
        stack = list(self.ctx.stack if stack is None else stack)
        if body is None:
            fn = next((n for n in reversed(stack) if isinstance(n, cst.FunctionDef)), None)
            body = fn.body if fn is not None else None
        context = context_of(self.ctx, stack)
        if policy.library == "celery" and context.name == LIBRARY:
            context = Context(TASK)  # a celery task with no registration the index knows
        if policy.library == "urllib3":
            high = "retries HTTP requests"
        else:
            try:
                high = io_reason(self.loops.operation(body, stack)) if body is not None else None
            except RecursionError:
                high = None
        self._report(policy.node, policy_message(policy), context, high=high)

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
            self._policies(self.celery.for_class, node, stack, body=node.body, stack=list(stack) + [node])

    # celery tasks
    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        if node.decorators:
            self._policies(self.celery.for_function, node, self.ctx.stack, body=node.body,
                           stack=list(self.ctx.stack) + [node])

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
                if passed.counter:
                    how = f"passing `{passed.counter}` on but never checking it"
                elif passed.fresh:
                    how = f"with a fresh `{passed.fresh}` and no attempt limit"
                else:
                    how = "with the same arguments and no attempt limit"
                findings.append((call, (
                    f"`{found.name}` calls itself from its except handler ({caught_text([handler])}) {how}, "
                    f"{RETRIED_FOREVER}; "
                    "pass an attempt count and re-raise after N attempts, or use a bounded retry loop"
                )))
        except RecursionError:
            return
        if findings:
            context = context_of(self.ctx, found.stack)
            for call, message in findings:
                self._report(call, message, context, high=RECURSION)

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
            if message is None:
                return
            site = next(s for s in found.sites if retries(s))
            low = loop_low(found, site)
            high = None if low else io_reason(found.operation(site))
        except RecursionError:
            return
        self._report(node, message, context_of(self.ctx), low=low, high=high)
