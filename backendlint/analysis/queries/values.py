"""The value lattice of the query analysis: what an expression may stand for.

``Val`` is an abstract value (a model class, a lazy QuerySet, a loop row, a session ...);
``merge`` joins two values where paths meet (a value known on one side only becomes
unknown), ``merge_env`` joins two environments. ``eager`` is the set of relation paths
(``customer``, ``items__product``) a queryset or row has loaded; ``"*"`` in it means
"we cannot tell: assume loaded".
"""

from __future__ import annotations

from typing import Any, Dict, FrozenSet, Iterable, Optional

EMPTY: FrozenSet = frozenset()


class Val:
    """An abstract value. ``k`` says what it is:

    model (a model class), qs (a lazy Django QuerySet or SQLAlchemy Query), vals
    (``.values()`` rows), rows (an iterable of model rows), stmt (an SQLAlchemy
    select), exec (a Result of ``session.execute``), row (one model object: a loop row,
    a loaded instance, or an SQLAlchemy relationship value), rel (a Django related
    manager), page, session, cursor, conn, http, attr (``Model.relation``), loader,
    prefetch, tuple, func, g (another qualified name), b (a builtin), self, super,
    const, ? (unknown).
    """

    __slots__ = ("k", "fw", "model", "eager", "allsel", "backref", "asyn", "loop", "trail",
                 "root", "desc", "node", "taint", "ta", "coll", "extra", "size", "of")

    def __init__(self, k: str = "?", fw: Optional[str] = None, model: Optional[str] = None,
                 eager: FrozenSet = EMPTY, allsel: bool = False, backref: Optional[str] = None,
                 asyn: bool = False, loop: Optional[int] = None, trail: tuple = (), root: Any = None,
                 desc: str = "", node: Any = None, taint: FrozenSet = EMPTY, ta: Optional[dict] = None,
                 coll: Any = None, extra: Any = None, size: Optional[str] = None,
                 of: Optional[tuple] = None):
        self.k = k
        self.fw = fw
        self.model = model
        self.eager = eager
        self.allsel = allsel
        self.backref = backref
        self.asyn = asyn
        self.loop = loop
        self.trail = trail
        self.root = root
        self.desc = desc
        self.node = node
        self.taint = taint
        self.ta = ta
        self.coll = coll
        self.extra = extra
        # How many rows a query or collection holds, as far as its methods say (read by
        # the loops' magnitude): None (all rows), "filtered" (by something but a key),
        # "page" (an offset slice or a listing page), "relation" (one parent's related
        # rows), "keys" (filtered by a list of keys the caller gives: ``pk__in=ids``),
        # "bounded" (filtered by key, or a small ``[:n]`` / ``.limit(n)``).
        self.size = size
        self.of = of  # for size "relation": (the parent's model key, the relation's name)

    def but(self, **kw) -> "Val":
        v = Val.__new__(Val)
        for s in Val.__slots__:
            setattr(v, s, kw[s] if s in kw else getattr(self, s))
        return v

    @property
    def opaque(self) -> bool:
        return "*" in self.eager


UNKNOWN = Val()


def unknown(taint: FrozenSet = EMPTY) -> Val:
    return Val("?", taint=taint) if taint else UNKNOWN


def _meet(a: FrozenSet, b: FrozenSet) -> FrozenSet:
    if "*" in a:
        return b
    if "*" in b:
        return a
    return a & b


def merge(a: Optional[Val], b: Optional[Val]) -> Val:
    if a is None:
        return b if b is not None else UNKNOWN
    if b is None or a is b:
        return a
    taint = a.taint | b.taint
    if a.k == b.k and a.k != "?" and a.model == b.model and a.fw == b.fw and a.k not in ("tuple", "const"):
        return a.but(
            eager=_meet(a.eager, b.eager),
            allsel=a.allsel and b.allsel,
            taint=taint,
            asyn=a.asyn or b.asyn,
            backref=a.backref if a.backref == b.backref else None,
            ta=a.ta if a.ta == b.ta else None,
            loop=a.loop if a.loop == b.loop else None,
            size=a.size if a.size == b.size else narrowest_of_larger(a.size, b.size),
        )
    return unknown(taint)


def sub_eager(eager: FrozenSet, attr: str) -> FrozenSet:
    if "*" in eager:
        return frozenset({"*"})
    prefix = attr + "__"
    return frozenset(p[len(prefix):] for p in eager if p.startswith(prefix))


def is_loaded(eager: FrozenSet, attr: str) -> bool:
    if "*" in eager or attr in eager:
        return True
    prefix = attr + "__"
    return any(p.startswith(prefix) for p in eager)



def union(sets: Iterable[FrozenSet]) -> FrozenSet:
    out = EMPTY
    for s in sets:
        if s:
            out = out | s
    return out


def merge_env(a: Dict[str, Val], b: Dict[str, Val]) -> Dict[str, Val]:
    if a is b:
        return a
    out = dict(a)
    for k, v in b.items():
        cur = out.get(k)
        if cur is None:
            out[k] = v
        elif cur is not v:
            out[k] = merge(cur, v)
    return out


def const_text(v: Val) -> Optional[str]:
    return v.extra if v.k == "const" and isinstance(v.extra, str) else None



# Sizes from the smallest: a join of two values takes the larger.
SIZE_ORDER = {"bounded": 0, "keys": 1, "relation": 2, "filtered": 3, "page": 3, None: 4}


def narrowest_of_larger(a: Optional[str], b: Optional[str]) -> Optional[str]:
    """Where two values meet, the larger of their sizes."""
    return a if SIZE_ORDER[a] >= SIZE_ORDER[b] else b


def narrow(old: Optional[str], hint: Optional[str]) -> Optional[str]:
    """The size after a method whose arguments say ``hint`` (the smaller wins)."""
    if hint is None:
        return old
    return hint if SIZE_ORDER[hint] < SIZE_ORDER[old] else old
