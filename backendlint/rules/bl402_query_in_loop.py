"""BL402 query-in-loop: a query started in a loop body that depends on the loop variable."""

from __future__ import annotations

from backendlint.engine.rule import Rule
from backendlint.knowledge.models import KIND
from backendlint.knowledge.queries import LoopCollector, analysis, query_message


class QueryInLoop(LoopCollector, Rule):
    code = "BL402"
    name = "query-in-loop"
    summary = "Database query inside a loop that depends on the loop variable (hand-written N+1)"
    # Prefilter ("for" as a word) and path skips: LoopCollector, shared with BL401.
    facts = (KIND,)

    def end_module(self) -> None:
        fa = analysis(self.ctx)
        if not fa.queries:
            return
        found = list(fa.queries.values())
        lines = self.ctx.lines_of([q.loop.src_e[1] for q in found])
        for q in found:
            self.report(q.node, query_message(q, lines))
