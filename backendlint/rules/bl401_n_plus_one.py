"""BL401 n-plus-one: a loop over ORM rows that reads a relation not loaded eagerly."""

from __future__ import annotations

from backendlint.engine.rule import Rule
from backendlint.knowledge.models import KIND
from backendlint.knowledge.queries import LoopCollector, access_message, analysis


class NPlusOne(LoopCollector, Rule):
    code = "BL401"
    name = "n-plus-one"
    summary = "Loop over ORM rows reads a relation that the query did not load eagerly"
    # Prefilter ("for" as a word) and path skips: LoopCollector, shared with BL402.
    facts = (KIND,)

    def end_module(self) -> None:
        fa = analysis(self.ctx)
        if not fa.accesses:
            return
        found = [fa.accesses[key] for key in fa.access_order]
        lines = self.ctx.lines_of([getattr(a.root, "node", None) for a in found])
        for a in found:
            self.report(a.node, access_message(fa, a, lines))
