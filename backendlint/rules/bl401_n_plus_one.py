"""BL401 n-plus-one: a loop over ORM rows that reads a relation not loaded eagerly.

The analysis (``backendlint.analysis.queries``) finds every relation read on a loop row
that the row's query did not load (``select_related`` / ``prefetch_related`` /
loader options / ``lazy=`` are understood there). This module owns the rule: which
files it reads, which of those reads it does not report (see the page's "Not
reported" list) and what it says.
"""

from __future__ import annotations

from typing import Dict, List

from backendlint.analysis.contexts import FACTS as CONTEXT_FACTS, context_map
from backendlint.analysis.queries import COMMIT, MAIL, OUTBOUND, RENDER, Access, LoopOwners, analysis
from backendlint.analysis.severity import Rank
from backendlint.engine.rule import Option, Rule
from backendlint.index.models import KIND, ModelIndex
from backendlint.knowledge.magnitude import is_lookup_model
from backendlint.knowledge.models import GFK, SINGLE
from backendlint.knowledge.paths import is_migration_path, is_test_path
from backendlint.rules._n_plus_one_messages import LOOKUP_OPTION_HELP, one_step_below, severity, short

# Per-item work that makes the query not the cost of the loop (catalog: BL401's low row).
_COSTLIER = frozenset({COMMIT, OUTBOUND, MAIL, RENDER})
_PLURAL_ENDINGS = ("s", "_list", "_set", "_all")


class NPlusOne(LoopOwners, Rule):
    code = "BL401"
    name = "n-plus-one"
    summary = "Loop over ORM rows reads a relation that the query did not load eagerly"
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
        found = reported(analysis(self.ctx).accesses)
        if not found:
            return
        index = ModelIndex.of(self.ctx.facts.get(KIND) if self.ctx.facts is not None else None)
        lines = self.ctx.lines_of([getattr(a.root, "node", None) for a in found])
        for a in found:
            self.report(a.node, message(index, a, lines), **rank_access(self.ctx, index, a, self.opts.lookup_models).as_report())


def reported(accesses: List[Access]) -> List[Access]:
    """The first read of each relation path per loop, leaving out reads that run at most
    once per loop or per group (``_once``), reads in an ``except`` handler (fallbacks,
    not the per-row path) and reads in the receiver of a write (``o.tags.all().delete()``)."""
    out: Dict[tuple, Access] = {}
    for a in accesses:
        if a.once or a.in_handler or a.writing:
            continue
        if a.key not in out:
            out[a.key] = a
    return list(out.values())


def many_to_one(a: Access) -> bool:
    """A SQLAlchemy scalar relationship read lazily: served from the identity map when the
    targets repeat. The index does not record which side holds the foreign key: a
    relationship said ``uselist=False``, or one with a singular name, counts as one."""
    return a.fw == "sa" and a.lazy != "dynamic" and (a.single or not a.attr.endswith(_PLURAL_ENDINGS))


def rank_access(ctx, index: ModelIndex, a: Access, lookup) -> Rank:
    loops = list(a.loops or (a.loop,))
    if not many_to_one(a):
        return severity(ctx, loops, a.loop, index, lookup, _COSTLIER)
    target = index.model_name("sa", a.target) if a.target else None
    low = f"rows of a lookup table ({target})" if target and is_lookup_model(target, lookup) else None
    return one_step_below(severity(ctx, loops, a.loop, index, lookup, _COSTLIER, low=low),
                          "up to one query per distinct target")


def _where(root, lines: Dict[int, int]) -> str:
    desc = short(getattr(root, "desc", "") or "the query")
    line = lines.get(id(getattr(root, "node", None)))
    return f"{desc} (line {line})" if line else desc


def message(index: ModelIndex, a: Access, lines: Dict[int, int]) -> str:
    model = index.model_name(a.fw, a.model)
    where = _where(a.root, lines)
    if a.fw == "sa":
        if a.lazy == "dynamic":
            return (f'{model}.{a.attr} (lazy="dynamic") runs a query for each row of {where}; '
                    "load the related rows for all of them in one query")
        chain = []
        for owner, attr, single in list(a.trail) + [(a.model, a.attr, a.single)]:
            loader = "joinedload" if single else "selectinload"
            text = f"{loader}({index.model_name('sa', owner)}.{attr})"
            chain.append(text if not chain else "." + text)
        return f"{model}.{a.attr} is lazy-loaded for each row of {where}; add .options({''.join(chain)})"
    if a.kind in SINGLE and a.kind != GFK:
        single_path = all(single for _, _, single in a.trail)
        method = "select_related" if single_path else "prefetch_related"
        if a.pk:
            return (f"{model}.{a.attr} is fetched for each row of {where} just to read its key; "
                    f'read {a.attr}_id instead, or add {method}("{a.path}")')
        return f'{model}.{a.attr} is read for each row of {where}; add {method}("{a.path}")'
    if a.kind == GFK:
        return f'{model}.{a.attr} is read for each row of {where}; add prefetch_related("{a.path}")'
    if a.meth and a.meth not in ("all", "count", "exists"):
        return (f"{model}.{a.attr}.{a.meth}() runs a query for each row of {where}; prefetch the rows with "
                f'prefetch_related(Prefetch("{a.path}", ...)) and select them in Python')
    return f'{model}.{a.attr} is queried for each row of {where}; add prefetch_related("{a.path}")'
