"""BL402 query-in-loop: a query started in a loop body that depends on the loop variable."""

from __future__ import annotations

from backendlint.engine.rule import Rule
from backendlint.knowledge.models import KIND
from backendlint.knowledge.queries import LoopCollector, analysis, is_migration, is_test, query_message


class QueryInLoop(LoopCollector, Rule):
    code = "BL402"
    name = "query-in-loop"
    summary = "Database query inside a loop that depends on the loop variable (hand-written N+1)"
    # A loop is needed, and queries can come from names defined in other modules.
    # The "for" keyword as a word ("format" does not count; "1for x in y" does).
    requires_re = r"(?<![A-Za-z_])for\b"
    facts = (KIND,)

    @classmethod
    def skips_path(cls, relpath: str) -> bool:
        return is_migration(relpath) or is_test(relpath)  # as analysis() does

    def end_module(self) -> None:
        fa = analysis(self.ctx)
        if not fa.queries:
            return
        found = list(fa.queries.values())
        lines = self.ctx.lines_of([q.loop.src_e[1] for q in found])
        for q in found:
            self.report(q.node, query_message(q, lines))
