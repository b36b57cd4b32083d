"""What the query analysis returns: loops, relation reads per row, queries per item.

Records only (data, never sentences): the rules decide what is reported and say it.

- ``Loop``: a ``for`` loop or comprehension the interpreter entered, with what it
  iterates (``src``: the value, ``src_e``: the IR, whose origin node the messages
  point at) and how it is classified: ``literal`` (a fixed collection written in the
  code or the settings) and ``batch`` (it walks chunks / pages, not rows);
- ``Access``: a relation read on a loop row that the query did not load (BL401's
  candidate), with the context the rule's "not reported" decisions read;
- ``QueryEvent``: a query started where a loop variable reaches it (BL402's
  candidate), with each enclosing loop's ``LoopContext``.
"""

from __future__ import annotations

from typing import Any, FrozenSet, List, NamedTuple, Optional, Tuple

from backendlint.analysis.queries.ir import last_name_ir
from backendlint.analysis.queries.values import Val
from backendlint.index.models import IR_ATTR, IR_CALL, IR_COMPARE, IR_CONST, IR_NAME, IR_STR, IR_TUPLE
from backendlint.knowledge.magnitude import SMALL_LIMIT
from backendlint.knowledge.queries import BATCH_CALL_WORDS, BATCH_TARGET_WORDS, KEY_LOOKUPS, KEY_LIST_LOOKUPS


class Loop:
    """A loop (or comprehension) of the analysed code; ``id`` counts from 1 per file."""

    __slots__ = ("id", "node", "src", "src_e", "literal", "depth", "batch", "rows", "size", "model", "fw", "of",
                 "first_round")

    def __init__(self, ident: int, node: Any, src: Val, src_e: Any, literal: bool, depth: int):
        self.id = ident
        self.node = node
        self.src = src
        self.src_e = src_e
        self.literal = literal
        self.depth = depth
        self.batch = False
        # What the interpreter knows of its size (the rules' magnitude): ``rows`` (it walks
        # the rows of a query or a relation), then ``size`` (see ``Val.size``), the rows'
        # ``model``/``fw`` and, for a relation, ``of`` (parent model key, relation name);
        # ``first_round``: the body always leaves in its first round.
        self.rows = False
        self.size: Optional[str] = None
        self.model: Optional[str] = None
        self.fw: Optional[str] = None
        self.of: Optional[tuple] = None
        self.first_round = False
        rows = src
        if rows.k == "page" and isinstance(rows.extra, Val):
            rows = rows.extra.but(size="page")
        elif rows.k == "enum" and isinstance(rows.extra, Val):
            rows = rows.extra
        if rows.k in ("qs", "vals", "rows", "stmt") and (rows.model is not None or rows.fw == "sa"):
            self.rows = True
            self.size, self.model, self.fw, self.of = rows.size, rows.model, rows.fw, rows.of
        elif rows.k == "row" and rows.coll is not None:
            self.rows = True
            self.size, self.model, self.fw, self.of = "relation", rows.model, rows.fw, (rows.coll[0].model, rows.coll[1])


class Access:
    """A relation read on a row of ``loop`` that its query did not load eagerly.

    ``path``: the ``__`` path from the loop's row; ``root``: the query the rows come
    from (a ``Val``, for the message); ``kind``: the Django relation kind or ``"sa"``;
    ``pk``: only the related key is read (``order.customer.id``); ``lazy``: the
    SQLAlchemy ``lazy=``; ``single``: a scalar relationship; ``meth``: the related
    manager's method (``order.items.filter``). Context for the rules: ``once`` (the
    read runs at most once per loop entry or group), ``in_handler`` (in an ``except``),
    ``writing`` (in the receiver of a write such as ``.delete()``); ``loops``: every
    loop of the unit around the read, outermost first (the finding's magnitude is the
    largest of theirs); ``target``: the related model's key, when known.
    """

    __slots__ = ("node", "fw", "model", "attr", "kind", "path", "root", "pk", "trail", "lazy", "single", "meth",
                 "loop", "once", "in_handler", "writing", "loops", "target")

    def __init__(self, **kw):
        for k, v in kw.items():
            setattr(self, k, v)

    @property
    def key(self) -> Tuple[int, str]:
        """One finding per loop and relation path."""
        return (self.loop.id, self.path)


class LoopContext(NamedTuple):
    """An enclosing loop of a query, outermost first."""

    loop: Loop
    once: bool  # the query runs at most once per entry into this loop (or per group)
    in_transaction: bool  # an inner per-item ``transaction.atomic()`` / ``session.begin()`` is open


class QueryEvent:
    """A query started at ``node`` whose arguments carry the ids in ``taint`` (the loops
    whose variable reaches it); ``kind``: ``"dj"``, ``"sa"`` or ``"cursor"``."""

    __slots__ = ("node", "desc", "kind", "taint", "in_handler", "loops")

    def __init__(self, node: Any, desc: str, kind: str, taint: FrozenSet, in_handler: bool,
                 loops: List[LoopContext]):
        self.node = node
        self.desc = desc
        self.kind = kind
        self.taint = taint
        self.in_handler = in_handler
        self.loops = loops


def is_literal_loop(e: Any, it: Optional[Val] = None) -> bool:
    """A loop over a fixed, small collection written in the code (or configuration)."""
    if e[0] == IR_TUPLE:
        return all(x[0] in (IR_STR, IR_CONST, IR_NAME, IR_ATTR) or (x[0] == IR_TUPLE and is_literal_loop(x)) for x in e[2])
    if e[0] == IR_CALL and e[2][0] == IR_NAME and e[2][2] == "range" and all(a[0] == IR_CONST for a in e[3]):
        return True
    if e[0] == IR_CALL and e[2][0] == IR_ATTR and e[2][3] in ("items", "keys", "values") and not e[3]:
        return is_literal_loop(e[2][2])
    if e[0] == IR_CALL and e[2][0] == IR_NAME and e[2][2] in ("sorted", "list", "tuple", "reversed", "enumerate", "set") and e[3]:
        return is_literal_loop(e[3][0])
    if e[0] in (IR_NAME, IR_ATTR):
        last = e[2] if e[0] == IR_NAME else e[3]
        if len(last) > 1 and last.isupper():
            return True  # CHOICES, settings.DEFAULT_GROUPS
        if last[:1].isupper() and (it is None or it.k in ("class", "g", "?")):
            return True  # an enum or a choices class
    if it is not None and it.coll == "lit":
        return True
    return False


def is_batching_loop(iter_e: Any, target: Any) -> bool:
    """``for chunk in chunked(ids, 500)`` / ``for start in range(0, n, 1000)``: batches."""
    if target is not None and target[0] == IR_NAME and any(w in target[2].lower() for w in BATCH_TARGET_WORDS):
        return True
    if iter_e[0] == IR_CALL:
        name = last_name_ir(iter_e[2]).lower().rstrip("()")
        if name == "range" and len(iter_e[3]) == 3:
            return True
        if any(w in name for w in BATCH_CALL_WORDS):
            return True
    return False



SIZED = ("qs", "vals", "rows", "stmt")


def _small(e: Any) -> bool:
    if e is None or e[0] != IR_CONST:
        return False
    try:
        return int(e[1].value.replace("_", ""), 0) <= SMALL_LIMIT
    except (AttributeError, ValueError):
        return False


def slice_size(sl: Any) -> Optional[str]:
    """``qs[:10]``: bounded; ``qs[a:b]`` with an offset: a listing page."""
    lower, upper = sl[2], sl[3]
    if lower is None and _small(upper):
        return "bounded"
    if lower is not None:
        return "page"
    return None


def _key_compare(e: Any) -> bool:
    """``M.id == x`` / ``M.pk == x``."""
    return (e[0] == IR_COMPARE and len(e[3]) == 1 and e[3][0][0] == "Equal"
            and any(side[0] == IR_ATTR and side[3] in KEY_LOOKUPS for side in (e[2], e[3][0][1])))


def _key_in(e: Any) -> bool:
    """``M.id.in_(ids)``."""
    return (e[0] == IR_CALL and e[2][0] == IR_ATTR and e[2][3] == "in_" and e[2][2][0] == IR_ATTR
            and e[2][2][3] in KEY_LOOKUPS)


def size_hint(meth: str, e: Any) -> Optional[str]:
    """What a query method's arguments say of the rows left: filtered by a key
    (``filter(pk=...)``, ``pk__in=[1, 2]``, ``where(M.id == x)``) or a small
    ``limit(n)``: bounded; ``pk__in=ids``: as many as the caller's keys; ``offset``/``slice``:
    a page; another filter: filtered."""
    if meth in ("filter", "filter_by", "where", "get"):
        for kw, value in e[4]:
            if kw in KEY_LOOKUPS:
                return "bounded"
            if kw in KEY_LIST_LOOKUPS:
                return "bounded" if value[0] == IR_TUPLE and len(value[2]) <= SMALL_LIMIT else "keys"
        if any(_key_compare(a) for a in e[3]):
            return "bounded"
        for a in e[3]:
            if _key_in(a):
                values = a[3]
                small = values and values[0][0] == IR_TUPLE and len(values[0][2]) <= SMALL_LIMIT
                return "bounded" if small else "keys"
        return "filtered" if e[3] or e[4] or e[5] else None
    if meth in ("exclude", "having", "search"):
        return "filtered"
    if meth == "limit" and e[3] and _small(e[3][0]):
        return "bounded"
    if meth in ("offset", "slice"):
        return "page"
    return None
