"""BL402 query-in-loop: a query started in a loop body that depends on the loop variable.

The analysis (``backendlint.analysis.queries``) finds every query that a loop
variable reaches, with the loops around it. This module owns the rule: which files it
reads, which of those queries it does not report (see the page's "Not reported"
list) and what it says.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Tuple

from backendlint.analysis.contexts import FACTS as CONTEXT_FACTS, context_map
from backendlint.analysis.queries import MAIL, OUTBOUND, RENDER, Loop, LoopOwners, QueryEvent, analysis
from backendlint.analysis.queries.ir import render
from backendlint.engine.rule import Option, Rule
from backendlint.index.models import KIND, ModelIndex
from backendlint.knowledge.paths import is_migration_path, is_test_path
from backendlint.rules._n_plus_one_messages import LOOKUP_OPTION_HELP, severity, short

# Per-item work that makes the query not the cost of the loop (catalog: BL402's low row).
_COSTLIER = frozenset({OUTBOUND, MAIL, RENDER})


class QueryInLoop(LoopOwners, Rule):
    code = "BL402"
    name = "query-in-loop"
    summary = "Database query inside a loop that depends on the loop variable (hand-written N+1)"
    # Every loop the analysis follows has the "for" keyword, as a word ("format" does
    # not count; "1for x in y" does). The lookbehind follows the literal so that the
    # regex engine can scan for the literal.
    requires_re = r"for(?<![A-Za-z_]for)\b"
    facts = (KIND,) + CONTEXT_FACTS
    options = (Option("lookup-models", list, [], LOOKUP_OPTION_HELP),)

    @classmethod
    def skips_path(cls, relpath: str) -> bool:
        """Migrations run once and tests on a handful of rows."""
        return is_migration_path(relpath) or is_test_path(relpath)

    @classmethod
    def prepare(cls, facts, options=None) -> None:
        ModelIndex.of(facts.get(KIND))
        context_map(facts)

    def end_module(self) -> None:
        if self.skips_path(self.ctx.relpath):
            return
        found = reported(analysis(self.ctx).queries)
        if not found:
            return
        lines = self.ctx.lines_of([loop.src_e[1] for _, loop in found])
        index = ModelIndex.of(self.ctx.facts.get(KIND) if self.ctx.facts is not None else None)
        for event, loop in found:
            loops = [c.loop for c in event.loops]
            ranked = severity(self.ctx, loops, loop, index, self.opts.lookup_models, _COSTLIER)
            self.report(event.node, message(event, loop, lines), **ranked.as_report())


def per_item_loop(event: QueryEvent) -> Optional[Loop]:
    """The loop whose items each run this query, or None when it is not reported: in an
    ``except`` handler (a fallback); each item in its own ``transaction.atomic()`` /
    ``session.begin()`` (deliberate per-item work); a loop over a fixed collection
    written in the code or the settings, or over batches; a query that runs at most
    once per loop (before a ``return``/``break``) or once per group."""
    if event.in_handler:
        return None
    for context in event.loops:
        if context.in_transaction:
            return None
        loop = context.loop
        if loop.id in event.taint and not loop.literal and not loop.batch and not context.once:
            return loop
    return None


def reported(events: List[QueryEvent]) -> List[Tuple[QueryEvent, Loop]]:
    """One finding per query call, at its first reported run."""
    out: Dict[int, Tuple[QueryEvent, Loop]] = {}
    for event in events:
        loop = per_item_loop(event)
        if loop is not None and id(event.node) not in out:
            out[id(event.node)] = (event, loop)
    return list(out.values())


def message(event: QueryEvent, loop: Loop, lines: Dict[int, int]) -> str:
    loop_src = render(loop.src_e)
    line = lines.get(id(loop.src_e[1]))
    over = f"{loop_src} (line {line})" if line else loop_src
    if event.kind == "cursor":
        fix = "run one query with IN (...) before the loop, or executemany() for writes"
    elif event.kind == "sa":
        fix = "load the rows in one statement before the loop (e.g. .where(Model.id.in_(...)))"
    else:
        fix = "fetch the rows in one query before the loop (e.g. filter(<field>__in=...) or in_bulk())"
    return f"{short(event.desc)} runs a query for each item of {over}; {fix}"
