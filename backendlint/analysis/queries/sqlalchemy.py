"""SQLAlchemy (and DB-API cursor) semantics of the query interpreter.

``SqlAlchemySemantics`` is a mixin of ``interpreter.Interpreter``: what a relationship
read on an instance loads (``sa_rel_read``), what ``Query`` methods, ``session``
methods (``query``, ``get``, ``execute``, ``scalars`` ...) and ``cursor.execute`` start
or return, and the ``sqlalchemy`` / ``sqlmodel`` names a call can reach (``select``,
``text``, loader options). Module functions: loader option chains (``loader_segments``,
``sa_options``), whether an executed statement reads (``statement_reads``), and the receivers
that look like a session, cursor or connection by name.
"""

from __future__ import annotations

from typing import Any, FrozenSet, List, Optional, Tuple

from backendlint.analysis.queries.ir import last_name_ir
from backendlint.index.models import IR_ATTR, IR_INDEX, IR_NAME
from backendlint.analysis.queries.values import EMPTY, UNKNOWN, Val, const_text, is_loaded, sub_eager, union, unknown
from backendlint.knowledge.queries import (
    LOADERS_COLUMN,
    LOADERS_EAGER,
    LOADERS_LAZY,
    SA_LAZY,
    SA_LAZY_LOADS,
    SA_Q_ONE,
    SA_Q_ROWS,
    SA_Q_VAL,
    WRITE_STATEMENT_WORDS,
    connection_like,
    cursor_like,
    session_like,
)


def sessionish(e: Any) -> bool:
    """Does an IR receiver look like a database session by its name (``db``, ``get_session()``)?"""
    return session_like(last_name_ir(e).lower())


def cursorish(e: Any) -> bool:
    return cursor_like(last_name_ir(e).lower())


def connish(e: Any) -> bool:
    return connection_like(last_name_ir(e).lower())


class SqlAlchemySemantics:
    """Mixin: SQLAlchemy sessions, queries, statements and relationships; cursors."""

    def sa_rel_read(self, row: Val, a: str, node: Any) -> Val:
        """``row.a`` on a SQLAlchemy instance: a relationship read (an Access when lazy)."""
        info = self.facts.sa_relationship(row.model, a)
        if info is None:
            return unknown(row.taint)
        target, lazy, uselist, inverse = info.target, info.lazy, info.uselist, info.inverse
        loaded = (lazy not in SA_LAZY_LOADS) or is_loaded(row.eager, a) or a == row.backref or row.asyn
        if not loaded:
            self.access(row, a, "sa", node, lazy=lazy, single=uselist is False)
        coll = uselist is not False or lazy == "dynamic"
        trail = row.trail + ((row.model, a, uselist is False),)
        return Val("row", fw="sa", model=target, taint=row.taint, loop=row.loop, asyn=row.asyn,
                   eager=sub_eager(row.eager, a) if loaded else (frozenset({"*"}) if row.loop is not None else EMPTY),
                   trail=trail, root=self.root_of(row), desc=f"{row.desc}.{a}", backref=inverse,
                   coll=(row, a, loaded) if coll else None, node=node)

    def sa_query_method(self, recv: Val, meth: str, argv, taint, node, desc) -> Val:
        if meth == "options":
            eager, _ = sa_options(argv, recv.eager)
            return recv.but(eager=eager, taint=taint, desc=desc)
        if meth in SA_LAZY:
            return recv.but(taint=taint, desc=desc)
        if meth in SA_Q_ROWS:
            self.query(node, taint, desc, "sa")
            return self.as_rows(recv).but(taint=taint, desc=recv.desc)
        if meth in SA_Q_ONE:
            self.query(node, taint, desc, "sa")
            return self.instance(recv, taint)
        if meth in SA_Q_VAL:
            self.query(node, taint, desc, "sa")
            return unknown(taint)
        if meth == "paginate":
            self.query(node, taint, desc, "sa")
            return Val("page", extra=self.as_rows(recv).but(desc=desc, node=node), taint=taint)
        return unknown(taint)

    def session_method(self, recv: Val, meth: str, argv, at, node, desc, recv_e, sure: bool, argv_e=()) -> Val:
        asyn = recv.asyn
        first = argv[0] if argv else UNKNOWN
        if meth == "query":
            if first.k == "model" and first.fw == "sa":
                model = first.model if len(argv) == 1 else None
                return Val("qs", fw="sa", model=model, desc=desc, node=node, taint=at, asyn=asyn)
            if first.k in ("attr", "col") or sure:
                return Val("qs", fw="sa", model=None, desc=desc, node=node, taint=at, asyn=asyn)
            return unknown(at)
        if meth in ("get", "get_one"):
            if first.k == "model" and first.fw == "sa":
                self.query(node, union(v.taint for v in argv[1:]), desc, "sa")
                return Val("row", fw="sa", model=first.model, desc=desc, asyn=asyn)
            return unknown(at)
        if meth in ("scalars", "exec", "execute", "scalar"):
            reads = statement_reads(first, argv_e[0] if argv_e else None)
            if reads is False:
                return unknown(at)
            if reads or (sure and meth != "execute"):
                self.query(node, at, desc, "sa")
                if first.k == "stmt":
                    if meth in ("scalars", "exec"):
                        return Val("rows", fw="sa", model=first.model, eager=first.eager, asyn=asyn or first.asyn,
                                   desc=desc, node=node, taint=at, size=first.size)
                    if meth == "execute":
                        return Val("exec", fw="sa", model=first.model, eager=first.eager, asyn=asyn,
                                   desc=desc, node=node, taint=at, size=first.size)
                return unknown(at)
        return unknown(at)

    def cursor_method(self, meth: str, argv, at, node, desc, e: Any = None) -> Val:
        if meth == "execute" and argv:
            if not statement_reads(argv[0], e[3][0] if e is not None and e[3] else None):
                return unknown(at)  # a write, or a statement we cannot read
            taint = at
            if e is not None and e[3] and e[3][0][0] in (IR_NAME, IR_ATTR, IR_INDEX):
                # the statement itself comes from the loop: a list of statements, not a lookup
                taint = union(v.taint for v in argv[1:]) | union(self.ev(v).taint for _, v in e[4])
            self.query(node, taint, desc, "cursor")
        return unknown(at)

    def sa_call(self, last: str, argv, at, desc: str, node: Any) -> Val:
        """A call of a ``sqlalchemy`` / ``sqlmodel`` name: ``select``, ``text``, loader options, sessions."""
        if last == "select":
            first = argv[0] if argv else UNKNOWN
            model = first.model if first.k == "model" and first.fw == "sa" and len(argv) == 1 else None
            return Val("stmt", fw="sa", model=model, desc=desc, node=node, taint=at)
        if last == "text":
            return Val("sql", taint=at, extra=const_text(argv[0]) if argv else None)
        if last in ("insert", "update", "delete"):
            return Val("dml", taint=at)
        if last in LOADERS_EAGER or last in LOADERS_LAZY or last in LOADERS_COLUMN:
            if last == "Load":
                return Val("loader", extra=[])
            return Val("loader", extra=[(last, loader_segments(argv))])
        if last == "AsyncSession":
            return Val("session", asyn=True)
        if last in ("Session",):
            return Val("session")
        return unknown(at)


def statement_reads(v: Val, ir: Any) -> Optional[bool]:
    """Does this executed statement read (True), write (False), or cannot we tell (None)?"""
    if v.k == "stmt":
        return v.extra != "lock"
    if v.k == "dml":
        return False
    text = v.extra if v.k in ("sql", "const") and isinstance(v.extra, str) else None
    if text is not None:
        head = text.lstrip().lstrip("(").split(None, 1)[0].lower() if text.strip() else ""
        if head in ("select", "with"):
            low = text.lower()
            # "SELECT my_function(...)" calls a procedure; it looks nothing up
            return " for update" not in low and (" from " in low or "\nfrom " in low)
        return False
    if ir is not None and ir[0] in (IR_NAME, IR_ATTR):
        name = (ir[2] if ir[0] == IR_NAME else ir[3]).lower()
        if any(w in name for w in WRITE_STATEMENT_WORDS):
            return False
    return None


def loader_segments(argv: List[Val]) -> Optional[List[str]]:
    segs = []
    for v in argv:
        if v.k == "attr":
            segs.append(v.extra)
        elif v.k == "const" and isinstance(v.extra, str):
            if v.extra == "*":
                segs.append("*")
            else:
                segs.extend(v.extra.split("."))
        elif v.k == "model":
            continue  # selectin_polymorphic(Model, [...]) / Load(Model)
        else:
            return None
    return segs


def sa_options(argv: List[Val], eager: FrozenSet) -> Tuple[FrozenSet, bool]:
    out = set(eager)
    for v in argv:
        if v.k != "loader":
            out.add("*")
            continue
        path: List[str] = []
        for name, segs in v.extra:
            if segs is None or name == "?":
                out.add("__".join(path + ["*"]) if path else "*")
                break
            if name in LOADERS_COLUMN:
                continue
            for seg in segs:
                path.append(seg)
                if name in LOADERS_EAGER:
                    out.add("__".join(path))
    return frozenset(out), False
