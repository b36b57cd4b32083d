"""BL102 retry-without-backoff: a retry policy that retries at once, with no wait between
attempts (catalog, BL102).

Reads the same vocabulary and analysis as BL101: a tenacity policy without ``wait=`` (or
with ``wait_none()``), a retrying policy without any ``wait_*`` argument (backoff and
stamina always wait; never a finding), and a hand-written retry loop — ``while True``,
``while <flag>``, ``itertools.count()`` or ``for attempt in range(N)`` — that goes round
after an exception with no sleep or wait in the loop (or one level into a project function
of the same file it calls). Loops BL101 exempts as not retries (re-prompts, work lists,
failover over a finite iterator, loops that move on) are not findings here either.
Severity (catalog): medium, low in operator or test context by precedence.
"""

from __future__ import annotations

import libcst as cst

from backendlint.analysis.contexts import FACTS as CONTEXT_FACTS, context_map, context_of
from backendlint.analysis.retry_loops import RetryLoops
from backendlint.analysis.severity import rank
from backendlint.engine.rule import Rule
from backendlint.knowledge.retry import WAIT_NONE, RetryPolicy
from backendlint.knowledge.retry.libraries import LibraryPolicies
from backendlint.rules.bl101.messages import call_text, caught_text, retries
from backendlint.syntax.scopes import Scopes

LOOP_SHAPES = {"true": "while True", "count": "for ... in itertools.count()", "range": "for ... in range(...)"}
HAMMERS = "so every failure is retried at once, with no time for its cause (a busy service, a lock, a restart) to clear"


def policy_message(policy: RetryPolicy) -> str:
    if policy.library == "tenacity":
        what = "@retry" if policy.api == "retry" else f"{policy.api}(...)"
        return (f"tenacity {what} has no wait between attempts, {HAMMERS}; "
                "add wait=wait_exponential(multiplier=1, max=30) (with wait_random for jitter)")
    what = "@retry" if policy.api == "retry" else "Retrying(...)"
    return (f"retrying {what} has no wait between attempts, {HAMMERS}; "
            "add wait_exponential_multiplier=1000, wait_exponential_max=30000")


class RetryWithoutBackoff(Rule):
    code = "BL102"
    name = "retry-without-backoff"
    summary = "Retry policy that retries at once, with no wait between attempts"
    requires = ("etry",)
    requires_re = r"except(?<!\wexcept)\b"
    facts = CONTEXT_FACTS
    options = ()

    @classmethod
    def prepare(cls, facts, options=None) -> None:
        context_map(facts)

    def __init__(self, ctx, options=None):
        super().__init__(ctx, options)
        self.scopes = Scopes(ctx)
        self.libraries = LibraryPolicies(self.scopes)
        self.loops = RetryLoops(self.scopes)
        self._reported = set()

    def _report(self, node: cst.CSTNode, message: str, stack) -> None:
        if id(node) in self._reported:
            return
        self._reported.add(id(node))
        context = context_of(self.ctx, stack)
        self.report(node, message, **rank(context.name, context_why=context.describe()).as_report())

    def _policy(self, find, *args) -> None:
        try:
            policy = find(*args)
        except RecursionError:
            return
        if isinstance(policy, RetryPolicy) and policy.library in ("tenacity", "retrying") and policy.wait == WAIT_NONE:
            self._report(policy.node, policy_message(policy), self.ctx.stack)

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        self.libraries.note_class(node, self.ctx.stack)

    def visit_Decorator(self, node: cst.Decorator) -> None:
        if isinstance(node.decorator, (cst.Name, cst.Attribute)):
            self._policy(self.libraries.for_decorator, node, self.ctx.stack)

    def visit_Call(self, node: cst.Call) -> None:
        parent = self.ctx.parent
        at = parent if isinstance(parent, cst.Decorator) and parent.decorator is node else node
        self._policy(self.libraries.for_call, node, self.ctx.stack, at)

    def visit_While(self, node: cst.While) -> None:
        self._loop(node)

    def visit_For(self, node: cst.For) -> None:
        if isinstance(node.iter, cst.Call):
            self._loop(node)

    def _loop(self, node: cst.CSTNode) -> None:
        try:
            found = self.loops.retry_loop(node, self.ctx.stack, ranges=True)
            if found is None:
                return
            site = next((s for s in found.sites if retries(s)), None)
            if site is None or found.work_list or found.asks_person(site) or site.fails_over or found.waits:
                return
            op = found.operation(site)
        except RecursionError:
            return
        shape = LOOP_SHAPES.get(found.shape.kind) or f"while {found.shape.test}"
        what = f"retries `{call_text(op.call)}`" if op.call is not None else "goes round again"
        self._report(node, (
            f"retry loop ({shape}) {what} after {caught_text(site.round_handlers)} with no wait between attempts, "
            f"{HAMMERS}; sleep between attempts, growing the delay (e.g. `time.sleep(min(2 ** attempt, 30))`)"
        ), self.ctx.stack)
