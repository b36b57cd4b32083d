"""BL101 unbounded-retry: a retry policy with no cap on attempts and no cap on total time.

The knowledge of what bounds a retry lives in ``backendlint.knowledge.retry``; this rule
asks it about every retry it can see and reports the unbounded ones:

- library policies (tenacity, backoff, retrying, urllib3 Retry, stamina), at the
  decorator line or the constructor call line;
- celery tasks and Task classes with ``max_retries=None`` that retry, at the decorator
  (or at the class's ``max_retries = None`` line);
- hand-written retry loops (``while True`` / ``while <flag>`` / ``itertools.count()``),
  at the loop line, and functions that call themselves from their except handler, at
  the recursive call.
"""

from __future__ import annotations

import libcst as cst

from backendlint.engine.rule import Rule
from backendlint.knowledge.retry import (
    CeleryPolicies,
    LibraryPolicies,
    LoopPolicies,
    RetryPolicy,
    Scopes,
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
    facts = ("celery_retry_task_classes",)
    options = ()

    def __init__(self, ctx, options=None):
        super().__init__(ctx, options)
        self.scopes = Scopes(ctx)
        self.libraries = LibraryPolicies(self.scopes)
        self.loops = LoopPolicies(self.scopes)
        self._celery = None
        self._reported = set()

    @property
    def celery(self) -> CeleryPolicies:
        if self._celery is None:
            self._celery = CeleryPolicies(self.scopes, self.ctx.facts.get("celery_retry_task_classes"))
        return self._celery

    def _report(self, policy) -> None:
        if isinstance(policy, RetryPolicy) and policy.unbounded and id(policy.node) not in self._reported:
            self._reported.add(id(policy.node))  # nested handlers see the same call
            self.report(policy.node, policy.message)

    def _each(self, find, *args) -> None:
        """Report what ``find`` returns; a pathologically nested block is skipped."""
        try:
            found = find(*args)
        except RecursionError:
            return
        for policy in found if isinstance(found, list) else [found]:
            self._report(policy)

    # library policies
    def visit_Decorator(self, node: cst.Decorator) -> None:
        if isinstance(node.decorator, (cst.Name, cst.Attribute)):
            self._each(self.libraries.for_decorator, node, self.ctx.stack)

    def visit_Call(self, node: cst.Call) -> None:
        parent = self.ctx.parent
        at = parent if isinstance(parent, cst.Decorator) and parent.decorator is node else node
        self._each(self.libraries.for_call, node, self.ctx.stack, at)

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        stack = self.ctx.stack
        self.libraries.note_class(node, stack)
        if "etry" in self.ctx.source:
            self._each(self.celery.for_class, node, stack)

    # celery tasks
    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        if node.decorators:
            self._each(self.celery.for_function, node, self.ctx.stack)

    # recursion from an except handler
    def visit_ExceptHandler(self, node: cst.ExceptHandler) -> None:
        self._each(self.loops.recursion_policies, node, self.ctx.stack)

    def visit_ExceptStarHandler(self, node: cst.ExceptStarHandler) -> None:
        self._each(self.loops.recursion_policies, node, self.ctx.stack)

    # hand-written loops
    def visit_While(self, node: cst.While) -> None:
        self._each(self.loops.loop_policy, node, self.ctx.stack)

    def visit_For(self, node: cst.For) -> None:
        if isinstance(node.iter, cst.Call):
            self._each(self.loops.loop_policy, node, self.ctx.stack)
