"""BL401 n-plus-one: a loop over ORM rows that reads a relation not loaded eagerly."""

from __future__ import annotations

from backendlint.engine.rule import Rule
from backendlint.knowledge.models import KIND
from backendlint.knowledge.queries import LoopCollector, access_message, analysis, is_migration, is_test


class NPlusOne(LoopCollector, Rule):
    code = "BL401"
    name = "n-plus-one"
    summary = "Loop over ORM rows reads a relation that the query did not load eagerly"
    # Any loop can iterate rows from a helper or another module: only "for" is certain.
    # The "for" keyword as a word ("format" does not count; "1for x in y" does).
    requires_re = r"(?<![A-Za-z_])for\b"
    facts = (KIND,)

    @classmethod
    def skips_path(cls, relpath: str) -> bool:
        return is_migration(relpath) or is_test(relpath)  # as analysis() does

    def end_module(self) -> None:
        fa = analysis(self.ctx)
        if not fa.accesses:
            return
        found = [fa.accesses[key] for key in fa.access_order]
        lines = self.ctx.lines_of([getattr(a.root, "node", None) for a in found])
        for a in found:
            self.report(a.node, access_message(fa, a, lines))
