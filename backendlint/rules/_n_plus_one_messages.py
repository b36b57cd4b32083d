"""Message text shared by BL401 and BL402 (both name the query a loop runs over), and the
severity row they share (magnitude of the loops around a finding, context, per-item work)."""

from __future__ import annotations

from typing import Optional, Sequence, Tuple

import libcst as cst

from backendlint.analysis.contexts import Context, context_of
from backendlint.analysis.queries import COMMIT, MAIL, OUTBOUND, RENDER, Loop, loop_context, per_item_work
from backendlint.analysis.severity import HIGH, LOW, MEDIUM, Rank, rank
from backendlint.index.models import ModelIndex
from backendlint.knowledge.contexts import REQUEST
from backendlint.knowledge.magnitude import BOUNDED, RELATION, TABLE, UNKNOWN, is_lookup_model, largest, syntactic


def short(desc: str) -> str:
    """``A.objects.filter(...).filter(...).order_by(...)`` -> ``A.objects.filter(...)...order_by(...)``."""
    if len(desc) <= 60:
        return desc
    calls = [i for i, ch in enumerate(desc) if ch == ")" and (i + 1 == len(desc) or desc[i + 1] == ".")]
    if len(calls) < 3:
        return desc[:57] + "..."
    head = desc[: calls[0] + 1]
    tail = desc[calls[-2] + 2:]
    return f"{head}...{tail}"


# -- severity (catalog "Severity", rows BL401 and BL402): shared by both rules -------------

LOOKUP_OPTION_HELP = ("Names of models whose rows are a short list an operator maintains (a lookup table), in "
                      "addition to those named like one (*Type, *Category, *Status, *Choice, *Config, *Setting): "
                      "a loop over all of their rows is bounded (ranked low).")

WORK_WHY = {COMMIT: "commits per item", OUTBOUND: "an outbound call per item", MAIL: "sends mail per item",
            RENDER: "renders a file per item"}


def loop_magnitude(loop: Loop, index: ModelIndex, lookup: Sequence[str]) -> Tuple[str, str]:
    """(magnitude, a few words) of one loop: the iterable's syntax first, then what the
    query analysis knows of the rows it walks."""
    if loop.first_round:
        return BOUNDED, "a loop that leaves in its first round"
    node = loop.src_e[1] if isinstance(loop.src_e, tuple) and len(loop.src_e) > 1 else None
    syn = syntactic(node) if isinstance(node, cst.BaseExpression) else None
    if syn == BOUNDED or (syn is None and loop.literal):
        return BOUNDED, "a fixed or small collection"
    if syn == UNKNOWN:
        return UNKNOWN, "a list the client sends"
    name = index.model_name(loop.fw, loop.model) if loop.rows and loop.model else None
    if syn == TABLE:
        return TABLE, f"a listing page of {name}" if name else "a listing page"
    if not loop.rows:
        return UNKNOWN, "a collection of unknown size"
    if loop.size == "bounded":
        return BOUNDED, f"rows of {name} by key or a small slice" if name else "rows by key or a small slice"
    if loop.size == "keys":
        return UNKNOWN, f"rows of {name} by a list of keys" if name else "rows by a list of keys"
    if loop.size == "relation":
        owner, attr = loop.of or (None, None)
        owner_name = index.model_name(loop.fw, owner) if owner else "row"
        if attr:
            return RELATION, f"the {attr} of one {owner_name}"
        return RELATION, f"the {name} rows of one {owner_name}" if name else "the related rows of one row"
    if name and is_lookup_model(name, lookup):
        return BOUNDED, f"rows of a lookup table ({name})"
    if loop.size == "page":
        return TABLE, f"a listing page of {name}" if name else "a listing page"
    if loop.size == "filtered":
        return TABLE, f"rows of {name}" if name else "rows of a query"
    return TABLE, f"all rows of {name}" if name else "rows of a query"


def magnitude(loops: Sequence[Loop], index: ModelIndex, lookup: Sequence[str]) -> Tuple[str, str]:
    """The largest magnitude of the loops around a finding (outermost first; ties: the
    outermost), with its words."""
    best: Optional[Tuple[str, str]] = None
    for loop in loops:
        found = loop_magnitude(loop, index, lookup)
        if best is None or largest((best[0], found[0])) != best[0]:
            best = found
    return best or (UNKNOWN, "a collection of unknown size")


def context_for(ctx, loops: Sequence[Loop]) -> Context:
    for loop in loops:
        found = loop_context(ctx, loop)
        if found is not None:
            return found
    return context_of(ctx, ())


def severity(ctx, loops: Sequence[Loop], work_loop: Loop, index: ModelIndex, lookup: Sequence[str],
             work_kinds: frozenset, low: Optional[str] = None) -> Rank:
    """BL401/BL402's common row: low when bounded or the loop does costlier work per item
    (``work_kinds``: what counts for the rule) or ``low`` (the rule's own reason); high in a
    request over a table; medium otherwise."""
    mag, words = magnitude(loops, index, lookup)
    context = context_for(ctx, loops)
    if low is None and mag == BOUNDED:
        low = words
    if low is None:
        work = sorted(per_item_work(ctx, work_loop) & work_kinds)
        if work:
            low = f"{words}; {WORK_WHY[work[0]]}"
    if low is None and mag in (RELATION, UNKNOWN) and context.name != REQUEST:
        # The catalog's medium column is "table in task or library; relation or unknown in
        # request": one parent's rows or a caller's list, off the request path, is what
        # remains, and on the corpus these were loops over a few items (see the page).
        low = f"{words}, off the request path"
    high = words if context.name == REQUEST and mag == TABLE else None
    return rank(context.name, context_why=context.describe(), low=low, high=high, medium=words)


def one_step_below(r: Rank, note: str) -> Rank:
    """high -> medium, medium -> low (a SQLAlchemy many-to-one lazy read)."""
    down = {HIGH: MEDIUM, MEDIUM: LOW}.get(r.severity)
    if down is None:
        return r
    return Rank(down, r.context, f"{r.why}; {note}")
