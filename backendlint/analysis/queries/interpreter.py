"""The query-flow interpreter: one function body over abstract values.

``Interpreter`` walks a function's statements (``ir.statements_ir``) and evaluates its
expressions to ``values.Val``, recording in the file's ``FileAnalysis`` each loop it
enters (``loops.Loop``), each relation read on a loop row that its query did not load
(``loops.Access``) and each query a loop variable reaches (``loops.QueryEvent``). What
Django's managers, querysets and related managers do is in ``django.py``; SQLAlchemy
sessions, statements, loader options and DB-API cursors in ``sqlalchemy.py``. Project
functions and methods are followed through the model index's summaries
(``index.models.ModelIndex``), to a depth of four.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, FrozenSet, List, Optional, Sequence, Tuple

import libcst as cst

from backendlint.analysis.queries.django import DjangoSemantics
from backendlint.analysis.queries.ir import (
    ST_ASSIGN,
    ST_BREAK,
    ST_CONTINUE,
    ST_EXPR,
    ST_RAISE,
    ST_RETURN,
    assigns,
    dotted_ir,
    expression_ir,
    render,
    statements_ir,
    stores,
)
from backendlint.analysis.queries.loops import (
    SIZED,
    Access,
    Loop,
    LoopContext,
    QueryEvent,
    is_batching_loop,
    is_literal_loop,
    size_hint,
    slice_size,
)
from backendlint.analysis.queries.sqlalchemy import (
    SqlAlchemySemantics,
    connish,
    cursorish,
    loader_segments,
    sa_options,
    sessionish,
)
from backendlint.analysis.queries.values import EMPTY, UNKNOWN, Val, merge, merge_env, narrow, union, unknown
from backendlint.index.models import (
    IR_ALT,
    IR_ATTR,
    IR_AWAIT,
    IR_BOOLOP,
    IR_CALL,
    IR_COMP,
    IR_COMPARE,
    IR_CONST,
    IR_DICT,
    IR_GLOBAL,
    IR_IFEXP,
    IR_INDEX,
    IR_NAME,
    IR_NOT,
    IR_OTHER,
    IR_SLICE,
    IR_STR,
    IR_TUPLE,
    IR_WALRUS,
)
from backendlint.knowledge.magnitude import exits_first_round
from backendlint.knowledge.models import FK, O2O
from backendlint.knowledge.queries import (
    BUILTINS,
    DJ_WRITE,
    HTTP_PREFIXES,
    KNOWN_LIBRARIES,
    LOADERS_COLUMN,
    LOADERS_EAGER,
    LOADERS_LAZY,
    SA_LAZY,
)
from backendlint.syntax.flow import Flow, Outcome
from backendlint.syntax.names import last_of
from backendlint.syntax.walk import statements


class Interpreter(Flow, DjangoSemantics, SqlAlchemySemantics):
    """Interprets one function body (or a summary) over abstract values.

    The statements ride on ``syntax.flow.Flow``: it dispatches each statement and runs a
    block's statements one after the other. The interpreter's semantics are its own, so
    it overrides the compound statements and the exits (see "statements" below): the
    environment lives in ``self.env`` (the walk's state is a token).
    """

    max_depth = 1 << 30  # no cut-off: a RecursionError ends the function's analysis, as before

    def __init__(self, fa: Any, fn_node: Any, class_key: Optional[str], class_kind: Optional[str],
                 foreign: bool = False, summary_depth: int = 0):
        self.fa = fa
        self.facts = fa.facts
        self.fn_node = fn_node
        self.class_key = class_key
        self.class_kind = class_kind
        self.foreign = foreign
        self.silent = foreign
        Flow.__init__(self)
        self.summary_depth = summary_depth  # 0: the function itself; summaries followed to 4
        self.env: Dict[str, Val] = {}
        self.loops: List[Loop] = []
        self.blocks: List[Tuple[Optional[str], Optional[int]]] = []
        self.guards: List[FrozenSet] = []  # loops whose rows a change-detection ``if`` tests
        self.atomics: List[int] = []  # loop depths at which a per-item transaction was opened
        self.rare = 0  # inside an except handler
        self.writing = 0  # evaluating the receiver of a write (``.delete()``)

    # -- entry points ----------------------------------------------------------------
    def run(self) -> None:
        node = self.fn_node
        if isinstance(node, cst.Module):
            body = [small for line in node.body
                    for small in (line.body if isinstance(line, cst.SimpleStatementLine) else (line,))]
        else:
            self.bind_params(node)
            body = statements(node.body)
        self.block(body, _WALK)

    def bind_params(self, node: cst.FunctionDef) -> None:
        params = node.params
        all_params = list(params.posonly_params) + list(params.params) + list(params.kwonly_params)
        is_method = self.class_key is not None and not any(
            isinstance(d.decorator, cst.Name) and d.decorator.value == "staticmethod" for d in node.decorators
        )
        classmethod = any(isinstance(d.decorator, cst.Name) and d.decorator.value == "classmethod" for d in node.decorators)
        for i, p in enumerate(all_params):
            name = p.name.value
            if i == 0 and is_method:
                self.env[name] = self.self_value(classmethod)
                continue
            ann = p.annotation.annotation if p.annotation is not None else None
            self.env[name] = self.annotated(ann)
        for p in (params.star_arg, params.star_kwarg):
            if isinstance(p, cst.Param):
                self.env[p.name.value] = UNKNOWN

    def self_value(self, classmethod: bool) -> Val:
        key, kind = self.class_key, self.class_kind
        if kind in ("dj", "sa"):
            if classmethod:
                return Val("model", fw=kind, model=key, desc=self.facts.model_name(kind, key))
            # an instance of unknown provenance: its relations may have been prefetched
            return Val("row", fw=kind, model=key, eager=frozenset({"*"}), desc="self")
        if kind == "mgr":
            return Val("qs", fw="dj", model=None, eager=frozenset({"*"}), desc="self")
        return Val("self", model=key, desc="self")

    def annotated(self, ann: Any) -> Val:
        if ann is None:
            return UNKNOWN
        if isinstance(ann, cst.Subscript):
            ann = ann.value
        q = self.fa.ctx.qualified(ann) if isinstance(ann, (cst.Name, cst.Attribute)) else None
        if not q:
            return UNKNOWN
        last = last_of(q)
        if q.startswith(HTTP_PREFIXES):
            return Val("http")
        if last == "AsyncSession" and q.startswith(("sqlalchemy", "sqlmodel")):
            return Val("session", asyn=True)
        if last in ("Session", "scoped_session") and q.startswith(("sqlalchemy", "sqlmodel", "flask_sqlalchemy")):
            return Val("session")
        m = self.facts.model(q, self.fa.module)
        if m:
            return Val("row", fw=m.framework, model=m.key, eager=frozenset({"*"}))
        return UNKNOWN

    # -- events ------------------------------------------------------------------------
    def _once(self, loop: Loop) -> bool:
        """Is the current point run at most once per entry into ``loop`` (or per group)?"""
        for end, inner in self.blocks[loop.depth:]:
            if end in (ST_RETURN, ST_RAISE) or (end == ST_BREAK and inner == loop.id):
                return True
        for guarded in self.guards:
            if loop.id in guarded:
                return True
        return False

    def guard_of(self, test: Any, body: Callable[[], list]) -> FrozenSet:
        """Loops whose rows a change-detection test reads.

        ``if last != row.event_id: last = row.event_id; ...`` and ``if row.event_id not
        in cache: cache[row.event_id] = ...`` run their body once per distinct value,
        not once per row.
        """
        if test[0] == IR_BOOLOP:
            return union(self.guard_of(sub, body) for sub in test[2])
        memo = None  # ``if x is None: x = query(); cache[k] = x`` (a cache miss)
        if test[0] == IR_NOT and test[2][0] == IR_NAME:
            memo = test[2][2]
        elif test[0] == IR_COMPARE and len(test[3]) == 1 and test[3][0][0] == "Is" and test[3][0][1][0] == IR_CONST and test[2][0] == IR_NAME:
            memo = test[2][2]
        if memo is not None:
            if stores(body(), memo):
                v = self.env.get(memo)
                return frozenset(l.id for l in self.loops) if v is not None else EMPTY
            return EMPTY
        if test[0] != IR_COMPARE or len(test[3]) != 1:
            return EMPTY
        op, right = test[3][0]
        left = test[2]
        if op not in ("NotEqual", "NotIn", "IsNot"):
            return EMPTY
        sides = [(left, right), (right, left)] if op != "NotIn" else [(left, right)]
        for row_side, var_side in sides:
            var = dotted_ir(var_side)
            if not var:
                continue
            loops = frozenset(l for l in self._row_loops(row_side) | set(self.ev(row_side).taint)
                              if self._active(l) is not None)
            if loops and assigns(body(), var, op == "NotIn"):
                return loops
        return EMPTY

    def _row_loops(self, e: Any) -> set:
        out = set()
        work = [e]
        while work:
            cur = work.pop()
            if not isinstance(cur, tuple) or not cur:
                continue
            if cur[0] == IR_NAME:
                v = self.env.get(cur[2])
                if v is not None and v.k == "row" and v.loop is not None:
                    out.add(v.loop)
            elif cur[0] in (IR_ATTR, IR_INDEX):
                work.append(cur[2])
            elif cur[0] in (IR_TUPLE, IR_OTHER):
                work.extend(cur[2])
            elif cur[0] == IR_CALL:
                work.extend(cur[3])
        return out

    def _active(self, loop_id: Optional[int]) -> Optional[Loop]:
        if loop_id is None:
            return None
        for loop in self.loops:
            if loop.id == loop_id:
                return loop
        return None

    def access(self, row: Val, attr: str, kind: str, node: Any, pk: bool = False, lazy: Optional[str] = None,
               single: bool = True, meth: Optional[str] = None) -> None:
        """A relation of ``row`` read without being loaded: an ``Access`` if the row is a
        loop's (the rule decides on ``once`` / ``in_handler`` / ``writing``)."""
        if self.silent:
            return
        loop = self._active(row.loop)
        if loop is None:
            return
        path = "__".join([t[1] for t in row.trail] + [attr])
        root = row.root if row.root is not None else loop.src
        info = (self.facts.sa_relationship(row.model, attr) if row.fw == "sa"
                else self.facts.django_relation(row.model, attr))
        self.fa.accesses.append(Access(node=node, fw=row.fw, model=row.model, attr=attr, kind=kind, path=path,
                                       root=root, pk=pk, trail=row.trail, lazy=lazy, single=single, meth=meth,
                                       loop=loop, once=self._once(loop), in_handler=self.rare > 0,
                                       writing=self.writing > 0, loops=tuple(self.loops),
                                       target=getattr(info, "target", None)))

    def is_transaction(self, item: Any) -> bool:
        """``transaction.atomic()`` / ``session.begin()``: a unit of work per loop item."""
        if item[0] != IR_CALL:
            return False
        func = item[2]
        if func[0] == IR_ATTR and func[3] in ("begin", "begin_nested"):
            return True
        dotted = dotted_ir(func)
        if not dotted or self.foreign:
            return False
        q = self.fa.resolve(dotted) or ""
        return q.startswith("django.db.transaction.") and q.endswith("atomic")

    def query(self, node: Any, taint: FrozenSet, desc: str, kind: str) -> None:
        """A query starts at ``node``: a ``QueryEvent`` when a loop variable reaches it
        (``taint``), with each enclosing loop's context (the rule decides)."""
        if self.silent or not self.loops or not taint or node is None:
            return
        atomics = self.atomics
        loops = [LoopContext(loop, self._once(loop), any(depth > i for depth in atomics))
                 for i, loop in enumerate(self.loops)]
        self.fa.queries.append(QueryEvent(node, desc, kind, taint, self.rare > 0, loops))

    # -- statements (on syntax.flow.Flow) ---------------------------------------------------
    # The interpreter's flow, which Flow's own answers would change (so these override):
    # - a block is interpreted to its end, also after return/raise/break/continue (those
    #   "fall through" here: the walk's state never becomes None);
    # - of the branches of an if / while / try / match, the environments that join are
    #   those of the blocks whose last statement is not an exit (``block_exit``), not of
    #   every path that may fall through (an ``if`` ending in two returns still joins);
    # - a loop body runs once (no fixpoint), its environment joined with the one before;
    # - ``self.blocks`` keeps, for each block being walked, its exit and innermost loop:
    #   ``_once`` reads it ("after this point the loop is left").
    def join(self, a: bool, b: bool) -> bool:
        return _WALK

    def simple(self, stmt: cst.CSTNode, state: bool) -> bool:
        for st in statements_ir((stmt,)):
            self.stmt(st)
        return state

    def block(self, stmts: Sequence[cst.CSTNode], state: Optional[bool]) -> Outcome:
        self.blocks.append((block_exit(stmts), self.loops[-1].id if self.loops else None))
        try:
            return Flow.block(self, stmts, state)
        finally:
            self.blocks.pop()

    def branches(self, bodies: List[Sequence[cst.CSTNode]]) -> None:
        env0 = self.env
        outs = []
        for body in bodies:
            self.env = dict(env0)
            self.block(body, _WALK)
            if block_exit(body) is None:
                outs.append(self.env)
        if not outs:
            self.env = env0
            return
        merged = outs[0]
        for other in outs[1:]:
            merged = merge_env(merged, other)
        self.env = merged

    def visit_Return(self, stmt: cst.Return, state: bool) -> Outcome:
        return Outcome(self.simple(stmt, state))

    visit_Raise = visit_Return

    def visit_Break(self, stmt: cst.CSTNode, state: bool) -> Outcome:
        return Outcome(state)

    visit_Continue = visit_Break

    def visit_If(self, stmt: cst.If, state: bool) -> Outcome:
        test = expression_ir(stmt.test)
        body = statements(stmt.body)
        orelse = stmt.orelse
        rest = [orelse] if isinstance(orelse, cst.If) else statements(orelse) if orelse is not None else []
        self.test(test)
        guard = self.guard_of(test, _lazy_ir(body)) if self.loops else EMPTY
        if guard:
            self.guards.append(guard)
            try:
                self.branches([body, rest])
            finally:
                self.guards.pop()
        else:
            self.branches([body, rest])
        return Outcome(state)

    def visit_For(self, stmt: cst.For, state: bool) -> Outcome:
        target, iter_e = expression_ir(stmt.target), expression_ir(stmt.iter)
        it = self.ev(iter_e)
        loop = self.fa.new_loop(stmt, it, iter_e, is_literal_loop(iter_e, it), len(self.blocks))
        loop.batch = is_batching_loop(iter_e, target)
        loop.first_round = exits_first_round(statements(stmt.body))
        elem = self.iterate(it, iter_e, loop)
        env0 = self.env
        self.env = dict(env0)
        self.bind(target, elem)
        self.loops.append(loop)
        try:
            self.suite(stmt.body, state)
        finally:
            self.loops.pop()
        self.env = merge_env(env0, self.env)
        if stmt.orelse is not None:
            self.suite(stmt.orelse, state)
        return Outcome(state)

    def visit_While(self, stmt: cst.While, state: bool) -> Outcome:
        self.test(expression_ir(stmt.test))
        self.branches([statements(stmt.body), []])
        if stmt.orelse is not None:
            self.suite(stmt.orelse, state)
        return Outcome(state)

    def visit_With(self, stmt: cst.With, state: bool) -> Outcome:
        is_async = stmt.asynchronous is not None
        atomic = False
        for with_item in stmt.items:
            item = expression_ir(with_item.item)
            target = expression_ir(with_item.asname.name) if with_item.asname is not None else None
            v = self.ev(item)
            atomic = atomic or self.is_transaction(item)
            if target is not None:
                if v.k == "session" or (v.k == "?" and sessionish(item) and item[0] == IR_CALL):
                    v = Val("session", asyn=is_async or v.asyn)
                self.bind(target, v)
        if atomic and self.loops:
            self.atomics.append(len(self.loops))
            try:
                self.suite(stmt.body, state)
            finally:
                self.atomics.pop()
        else:
            self.suite(stmt.body, state)
        return Outcome(state)

    def visit_Try(self, stmt: cst.CSTNode, state: bool) -> Outcome:
        self.suite(stmt.body, state)
        bodies = [statements(handler) for handler in stmt.handlers]
        if bodies:
            # error handlers are fallbacks, not the per-row path
            self.rare += 1
            try:
                self.branches(bodies + [statements(stmt.orelse) if stmt.orelse is not None else []])
            finally:
                self.rare -= 1
        if stmt.finalbody is not None:
            self.suite(stmt.finalbody, state)
        return Outcome(state)

    visit_TryStar = visit_Try

    def visit_Match(self, stmt: cst.CSTNode, state: bool) -> Outcome:
        self.ev(expression_ir(stmt.subject))
        self.branches([statements(case) for case in stmt.cases] + [[]])
        return Outcome(state)

    def stmt(self, st: tuple) -> None:
        """A small statement's IR (assignment, expression, return, raise)."""
        k = st[0]
        if k == ST_ASSIGN:
            value = self.ev(st[3])
            for target in st[2]:
                if st[4]:
                    old = self.ev(target) if target[0] == IR_NAME else UNKNOWN
                    self.bind(target, unknown(old.taint | value.taint))
                else:
                    self.bind(target, value)
        elif k == ST_EXPR:
            self.ev(st[2])
        elif k in (ST_RETURN, ST_RAISE):
            if st[2] is not None:
                self.ev(st[2])

    def test(self, e: Any) -> Val:
        if e[0] == IR_BOOLOP:
            for sub in e[2]:
                self.test(sub)
            return UNKNOWN
        if e[0] == IR_NOT:
            self.test(e[2])
            return UNKNOWN
        v = self.ev(e)
        self.evaluate(v, e[1], "bool")
        return v

    def bind(self, target: Any, v: Val) -> None:
        k = target[0]
        if k == IR_NAME:
            if v.k == "row" and v.desc != target[2]:
                v = v.but(desc=target[2])
            self.env[target[2]] = v
        elif k == IR_TUPLE:
            elts = target[2]
            if v.k == "tuple" and isinstance(v.extra, list) and len(v.extra) == len(elts):
                for t, sub in zip(elts, v.extra):
                    self.bind(t, sub)
            else:
                for t in elts:
                    self.bind(t, unknown(v.taint))
        elif k == IR_ATTR:
            base = target[2]
            if base[0] == IR_NAME:
                cur = self.env.get(base[2])
                if cur is not None and cur.k == "row":
                    self.env[base[2]] = cur.but(eager=cur.eager | {target[3]})
        elif k == IR_OTHER:
            for sub in target[2]:
                self.bind(sub, unknown(v.taint))

    # -- expressions ---------------------------------------------------------------------
    def ev(self, e: Any) -> Val:
        if e is None:
            return UNKNOWN
        k = e[0]
        if k == IR_NAME:
            return self.name(e)
        if k == IR_GLOBAL:
            return self.glob(e[2], last_of(e[2]), e)
        if k == IR_ATTR:
            return self.attr(e)
        if k == IR_CALL:
            return self.call(e)
        if k == IR_STR:
            return Val("const", extra=e[2])
        if k == IR_CONST:
            return Val("const")
        if k == IR_INDEX:
            return self.subscript(e)
        if k == IR_AWAIT:
            v = self.ev(e[2])
            if v.fw == "sa" and v.k in ("rows", "exec", "row", "qs"):
                return v.but(asyn=True)
            return v
        if k == IR_TUPLE:
            vals = [self.ev(x) for x in e[2]]
            lit = "lit" if all(x[0] in (IR_STR, IR_CONST) for x in e[2]) else None
            return Val("tuple", extra=vals, taint=union(v.taint for v in vals), coll=lit)
        if k == IR_DICT:
            vals = [self.ev(x) for x in e[2]] + [self.ev(x) for x in e[3]]
            taint = union(v.taint for v in vals)
            if len(e[2]) == len(e[3]) and all(x[0] in (IR_STR, IR_CONST) for x in e[2]):
                return Val("tuple", coll="lit", taint=taint)
            return unknown(taint)
        if k == IR_COMP:
            return self.comp(e)
        if k == IR_COMPARE:
            left = self.ev(e[2])
            taint = left.taint
            for op, right_e in e[3]:
                right = self.ev(right_e)
                taint = taint | right.taint
                if op in ("In", "NotIn"):
                    self.evaluate(right, right_e[1], "in")
            return unknown(taint)
        if k == IR_NOT:
            v = self.ev(e[2])
            self.evaluate(v, e[1], "bool")
            return unknown(v.taint)
        if k == IR_BOOLOP:
            vals = [self.ev(x) for x in e[2]]
            return unknown(union(v.taint for v in vals))
        if k == IR_IFEXP:
            self.test(e[2])
            return merge(self.ev(e[3]), self.ev(e[4]))
        if k == IR_WALRUS:
            v = self.ev(e[3])
            self.bind(e[2], v)
            return v
        if k == IR_ALT:
            out = None
            for x in e[2]:
                out = merge(out, self.ev(x))
            return out or UNKNOWN
        if k == IR_OTHER:
            vals = [self.ev(x) for x in e[2]]
            return unknown(union(v.taint for v in vals))
        return UNKNOWN

    def name(self, e: Any) -> Val:
        n = e[2]
        v = self.env.get(n)
        if v is not None:
            return v
        if self.foreign:
            return Val("b", extra=n) if n in BUILTINS else UNKNOWN
        if n in self.fa.consts:
            return Val("const", extra=self.fa.consts[n])
        g = self.fa.globals.get(n)
        if g is not None:
            return g
        q = self.fa.resolve(n)
        if q is None and n[:1].isupper():
            q = f"{self.fa.module}.{n}" if self.facts.is_alias(f"{self.fa.module}.{n}") else None
        if q is not None:
            return self.glob(q, n, e)
        if n in BUILTINS:
            return Val("b", extra=n)
        if self.fa.star and n[:1].isupper():
            m = self.facts.model("?" + n, self.fa.module)
            if m:
                return Val("model", fw=m.framework, model=m.key, desc=n, node=e[1])
        return UNKNOWN

    def glob(self, q: str, written: str, e: Any) -> Val:
        m = self.facts.model(q, self.fa.module) if last_of(q)[:1].isupper() else None
        if m:
            return Val("model", fw=m.framework, model=m.key, desc=written, node=e[1])
        if q.startswith("django.contrib.") and ".models." in q and last_of(q)[:1].isupper():
            return Val("model", fw="dj", model=q, desc=written, node=e[1])
        if q in ("django.db.connection",) or q.endswith("django.db.connection"):
            return Val("conn")
        fk = self.facts.function_key(q, self.fa.module)
        if fk is not None:
            return Val("func", extra=fk, desc=written, node=e[1])
        ck = self.facts.class_key(q, self.fa.module) if last_of(q)[:1].isupper() else None
        if ck is not None:
            return Val("class", model=ck, desc=written)
        return Val("g", extra=q, desc=written, node=e[1])

    def attr(self, e: Any) -> Val:
        base_e, a, node = e[2], e[3], e[1]
        if a in ("pk", "id") and base_e[0] == IR_ATTR:
            inner = self.ev(base_e[2])
            if inner.k == "row":
                child = self.rel_read(inner, base_e[3], base_e[1], pk=True)
                return unknown(child.taint)
        base = self.ev(base_e)
        bk = base.k
        if bk == "row":
            v = self.rel_read(base, a, node)
            if v.k in ("row", "rel", "rows") and v.model is not None:
                v = v.but(desc=render(e))
            return v
        if bk == "model":
            return self.model_attr(base, a, e)
        if bk == "self":
            if a == "queryset":
                found = self.facts.view_queryset(base.model)
                if found is not None:
                    v = self.summary([found[0]], Val("self", model=found[1]), found[1])
                    return v.but(desc="self.queryset", node=node)
                return UNKNOWN
            if a == "model":
                found = self.facts.view_model(base.model)
                if found is not None and self.facts.is_django_model(found[0]):
                    return Val("model", fw="dj", model=found[0], desc="self.model")
            return unknown(base.taint)
        if bk == "page" and a in ("object_list", "items"):
            inner = base.extra
            if isinstance(inner, Val):
                return self.as_rows(inner).but(taint=base.taint | inner.taint)
            return UNKNOWN
        if bk == "g":
            return self.glob(f"{base.extra}.{a}", f"{base.desc}.{a}", e).but(taint=base.taint)
        if bk == "conn" and a == "cursor":
            return Val("connmeth")
        return unknown(base.taint)

    def rel_read(self, row: Val, a: str, node: Any, pk: bool = False) -> Val:
        """``row.a``: a relation read (BL401 event when not loaded) or something else."""
        if row.fw == "dj":
            return self.dj_rel_read(row, a, node, pk)
        if row.fw == "sa":
            return self.sa_rel_read(row, a, node)
        return unknown(row.taint)

    def root_of(self, row: Val) -> Any:
        """The query a row's relations are loaded by (for messages), if it is a loop row."""
        if row.root is not None:
            return row.root
        loop = self._active(row.loop)
        return loop.src if loop is not None else None

    # -- calls ------------------------------------------------------------------------------
    def args(self, e: Any) -> Tuple[List[Val], List[Tuple[str, Val]], FrozenSet]:
        argv = [self.ev(a) for a in e[3]]
        kwv = [(k, self.ev(v)) for k, v in e[4]]
        taint = union(v.taint for v in argv)
        for k, v in kwv:
            if not k.endswith("__in"):
                taint = taint | v.taint
        return argv, kwv, taint

    def call(self, e: Any) -> Val:
        func = e[2]
        if func[0] == IR_ATTR:
            if func[3] in DJ_WRITE:
                # o.tags.all().delete(): a write through the relation, not a read
                self.writing += 1
                try:
                    recv = self.ev(func[2])
                finally:
                    self.writing -= 1
            else:
                recv = self.ev(func[2])
            if recv.k == "g":
                q = f"{recv.extra}.{func[3]}"
                if q.split(".", 1)[0] in KNOWN_LIBRARIES:
                    return self.call_value(self.glob(q, func[3], func), e)
                f = self.glob(q, func[3], func)
                if f.k in ("model", "func", "class"):
                    return self.call_value(f, e)
            return self.method(recv, func[3], e, func[2])
        f = self.ev(func)
        return self.call_value(f, e)

    def evaluate(self, v: Val, node: Any, how: str) -> None:
        """A lazy queryset is evaluated here (iteration, bool, len, list, ``in``, index)."""
        if v.k in ("qs", "vals") and (v.model is not None or v.fw == "sa") and not v.extra:
            self.query(node, v.taint, v.desc, v.fw or "dj")

    def as_rows(self, v: Val) -> Val:
        if v.k in ("qs", "rows"):
            return Val("rows", fw=v.fw, model=v.model, eager=v.eager, allsel=v.allsel, ta=v.ta, backref=v.backref,
                       asyn=v.asyn, trail=v.trail, root=v.root, desc=v.desc, node=v.node, taint=v.taint,
                       size=v.size)
        if v.k == "row" and v.coll is not None:
            return Val("rows", fw=v.fw, model=v.model, eager=v.eager, backref=v.backref, asyn=v.asyn,
                       trail=v.trail, root=v.root, desc=v.desc, node=v.node, taint=v.taint,
                       size=narrow("relation", v.size), of=(v.coll[0].model, v.coll[1]))
        return unknown(v.taint)

    def instance(self, v: Val, taint: FrozenSet) -> Val:
        return Val("row", fw=v.fw, model=v.model, eager=v.eager, allsel=v.allsel, ta=v.ta, backref=v.backref,
                   asyn=v.asyn, desc=v.desc, taint=taint)

    def method(self, recv: Val, meth: str, e: Any, recv_e: Any) -> Val:
        out = self._method(recv, meth, e, recv_e)
        if out.k in SIZED and recv.k in SIZED + ("rel",):
            size = narrow(narrow(recv.size, out.size), size_hint(meth, e))
            of = out.of if size == out.size else recv.of
            parent = self.parent_filter(recv, meth, e)
            if parent is not None and narrow(size, "relation") != size:
                size, of = "relation", parent
            if size != out.size or of != out.of:
                out = out.but(size=size, of=of)
        return out

    def parent_filter(self, recv: Val, meth: str, e: Any) -> Optional[tuple]:
        """``Item.objects.filter(order=order)`` / ``order_id=...``: the rows of one parent,
        as ``order.items.all()`` (the parent's model key, None)."""
        if meth != "filter" or recv.fw != "dj" or not recv.model:
            return None
        for kw, _value in e[4]:
            name = kw
            for suffix in ("__pk", "__id", "__exact", "_id"):
                if name.endswith(suffix):
                    name = name[: -len(suffix)]
                    break
            if "__" in name:
                continue
            info = self.facts.django_relation(recv.model, name)
            if info is not None and info.kind in (FK, O2O) and info.target:
                return (info.target, None)
        return None

    def _method(self, recv: Val, meth: str, e: Any, recv_e: Any) -> Val:
        node = e[1]
        argv, kwv, at = self.args(e)
        if meth in ("in_", "in_bulk", "ain_bulk"):
            at = EMPTY
        taint = recv.taint | at
        k = recv.k
        if e[5] and meth in ("select_related", "prefetch_related", "options"):
            argv = argv + [Val("?")]  # *fields: we cannot tell what is loaded
        desc = f"{recv.desc or render(recv_e)}.{meth}({'...' if e[3] or e[4] or e[5] else ''})"
        if k in ("qs", "vals") and recv.fw == "dj":
            return self.dj_method(recv, meth, argv, kwv, taint, node, desc)
        if k == "rel":
            return self.rel_method(recv, meth, argv, kwv, taint, node, desc)
        if k == "qs" and recv.fw == "sa":
            return self.sa_query_method(recv, meth, argv, taint, node, desc)
        if k == "stmt":
            if meth == "options":
                eager, allsel = sa_options(argv, recv.eager)
                return recv.but(eager=eager, taint=taint, desc=desc)
            if meth in SA_LAZY:
                return recv.but(taint=taint, desc=desc)
            return unknown(taint)
        if k == "exec":
            if meth == "scalars":
                return Val("rows", fw="sa", model=recv.model, eager=recv.eager, asyn=recv.asyn, desc=desc,
                           node=recv.node, taint=taint, size=recv.size)
            if meth in ("scalar_one", "scalar_one_or_none"):
                return self.instance(recv, taint) if recv.model else unknown(taint)
            if meth == "unique":
                return recv.but(taint=taint)
            return unknown(taint)
        if k == "rows":
            if meth in ("all", "unique", "fetchall", "scalars"):
                return recv.but(taint=taint)
            if meth in ("first", "one", "one_or_none", "scalar_one", "scalar_one_or_none", "scalar"):
                return self.instance(recv, taint)
            return unknown(taint)
        if k == "row" and recv.coll is not None:
            owner, attr, loaded = recv.coll
            if meth in ("all", "filter", "filter_by", "order_by", "count", "first", "limit", "one"):
                # a lazy="dynamic" relationship (AppenderQuery)
                return self.as_rows(recv).but(taint=taint) if meth in ("all", "filter", "filter_by", "order_by", "limit") else unknown(taint)
            return unknown(taint)
        if k == "self":
            return self.self_method(recv, meth, argv, taint, node, desc)
        if k == "super":
            selfv = self.env.get("self")
            if self.class_key:
                found = self.facts.method(self.class_key, meth, skip_self=True)
                if found is not None:
                    return self.summary(found[0], selfv or Val("self", model=self.class_key), found[1]).but(taint=taint)
            if meth == "get_queryset":
                if selfv is not None and selfv.k == "qs":
                    return selfv
                if self.class_key:
                    return self.default_get_queryset(self.class_key)
            return unknown(taint)
        if k == "page":
            if meth in ("page", "get_page"):
                return recv.but(taint=taint)
            return unknown(taint)
        if k == "model":
            if recv.fw == "sa" and meth in ("get",):
                return unknown(taint)
            return unknown(taint)
        if k == "session":
            return self.session_method(recv, meth, argv, at, node, desc, recv_e, True, e[3])
        if k == "cursor":
            return self.cursor_method(meth, argv, at, node, desc, e)
        if k in ("conn", "connmeth") and meth == "cursor":
            return Val("cursor")
        if k == "http":
            return unknown(taint)
        if k == "tuple" and recv.coll == "lit" and meth in ("items", "keys", "values", "copy"):
            return Val("tuple", coll="lit", taint=taint)
        if k == "g" and recv.extra and str(recv.extra).startswith(HTTP_PREFIXES):
            if meth in ("Session", "session", "Client", "AsyncClient", "ClientSession"):
                return Val("http")
            return unknown(taint)
        if k == "loader":
            if meth in LOADERS_EAGER or meth in LOADERS_LAZY or meth in LOADERS_COLUMN:
                segs = loader_segments(argv)
                steps = list(recv.extra) + [(meth, segs)]
                return Val("loader", extra=steps)
            return Val("loader", extra=list(recv.extra) + [("?", None)])
        if k == "func" and meth in ("delay", "apply_async"):
            return unknown(taint)
        # receivers we do not know: session / cursor by name
        if meth == "cursor":
            return Val("cursor")
        if k in ("?", "g") and meth in ("update", "insert", "delete") and not e[3] and not e[4]:
            return Val("dml", taint=taint)  # table.update().where(...)
        if k == "dml":
            return recv.but(taint=taint)
        if meth in ("get", "query", "scalars", "scalar", "execute", "exec", "get_one") and k in ("?", "g", "b") and sessionish(recv_e):
            return self.session_method(recv, meth, argv, at, node, desc, recv_e, False, e[3])
        if meth == "execute" and k in ("?", "g") and (cursorish(recv_e) or connish(recv_e)):
            return self.cursor_method(meth, argv, at, node, desc, e)
        if k in ("?", "g") and meth in ("paginate", "get_or_404", "first_or_404", "one_or_404") and argv:
            # Flask-SQLAlchemy db.paginate(select(M)) / db.get_or_404(M, id)
            first = argv[0]
            if first.k == "stmt" or (first.k == "model" and first.fw == "sa"):
                self.query(node, union(v.taint for v in argv[1:]) | (first.taint if first.k == "stmt" else EMPTY), desc, "sa")
                if meth == "paginate" and first.k == "stmt":
                    return Val("page", extra=Val("rows", fw="sa", model=first.model, eager=first.eager, desc=desc, node=node))
                if first.k == "model":
                    return Val("row", fw="sa", model=first.model, desc=desc)
                return Val("row", fw="sa", model=first.model, eager=first.eager, desc=desc)
        if k in ("?", "g") and meth == "select" and argv and argv[0].k == "model" and argv[0].fw == "sa":
            return Val("stmt", fw="sa", model=argv[0].model if len(argv) == 1 else None, desc=desc, node=node, taint=at)
        if k == "func" or k == "class":
            return unknown(taint)
        return unknown(taint)

    def call_value(self, f: Val, e: Any) -> Val:
        node = e[1]
        fk = f.k
        if fk == "b":
            return self.builtin(f.extra, e)
        argv, kwv, at = self.args(e)
        taint = f.taint | at
        if fk == "g":
            return self.known_call(f.extra, argv, kwv, at, e)
        if fk == "func":
            summary = self.facts.function(f.extra)
            if summary and self.summary_depth < 4:
                got = self.summary(summary, None, None)
                if got.k in ("qs", "rows", "vals", "stmt"):
                    return got.but(taint=got.taint | taint, desc=f"{f.desc}({'...' if e[3] or e[4] or e[5] else ''})", node=node)
            return unknown(taint)
        if fk == "model":
            return Val("row", fw=f.fw, model=f.model, eager=frozenset({"*"}), taint=taint)
        if fk == "super":
            return Val("super")
        if fk == "connmeth":
            return Val("cursor")
        if fk == "class":
            return unknown(taint)
        return unknown(taint)

    def builtin(self, name: str, e: Any) -> Val:
        node = e[1]
        if name == "super":
            return Val("super", extra=self.class_kind)
        if name == "enumerate" and e[3]:
            inner = self.ev(e[3][0])
            for a in e[3][1:]:
                self.ev(a)
            return Val("enum", extra=inner, taint=inner.taint)
        argv, kwv, at = self.args(e)
        first = argv[0] if argv else UNKNOWN
        if name in ("list", "tuple", "sorted", "set", "frozenset", "reversed", "iter"):
            if first.k == "tuple" and first.coll == "lit":
                return first
            self.evaluate(first, node, name)
            if first.k in ("qs", "rows") or (first.k == "row" and first.coll is not None):
                return self.as_rows(first).but(taint=at)
            if first.k == "page" and isinstance(first.extra, Val):
                return self.as_rows(first.extra)
            return unknown(at)
        if name in ("len", "bool", "any", "all", "sum", "max", "min", "next", "dict"):
            self.evaluate(first, node, name)
            return unknown(at)
        if name == "filter" and len(argv) == 2:
            return self.as_rows(argv[1]) if argv[1].k in ("qs", "rows") else unknown(at)
        return unknown(at)

    def known_call(self, q: str, argv, kwv, at, e) -> Val:
        node = e[1]
        last = last_of(q)
        head = q.split(".", 1)[0]
        desc = f"{render(e[2])}({'...' if e[3] or e[4] or e[5] else ''})"
        if head in ("sqlalchemy", "sqlmodel"):
            return self.sa_call(last, argv, at, desc, node)
        if q.startswith(HTTP_PREFIXES):
            if last in ("Session", "session", "Client", "AsyncClient", "ClientSession"):
                return Val("http")
            return unknown(at)
        return self.django_call(q, last, head, argv, kwv, at, e, desc, node)

    def subscript(self, e: Any) -> Val:
        base = self.ev(e[2])
        index = e[3]
        if index[0] == IR_SLICE:
            parts = [self.ev(p) for p in index[2:] if p is not None]
            taint = base.taint | union(v.taint for v in parts)
            if base.k in ("qs", "vals", "rows"):
                return base.but(taint=taint, desc=f"{base.desc}[...]", size=narrow(base.size, slice_size(index)))
            return unknown(taint)
        iv = self.ev(index)
        taint = base.taint | iv.taint
        if base.k == "qs":
            self.query(e[1], taint, f"{base.desc}[...]", base.fw or "dj")
            return self.instance(base, taint)
        if base.k == "rows":
            return self.instance(base, taint)
        if base.k == "tuple" and isinstance(base.extra, list) and index[0] == IR_CONST:
            return unknown(taint)
        return unknown(taint)

    def iterate(self, it: Val, iter_e: Any, loop: Loop) -> Val:
        """The value of one element of ``it`` as the row of ``loop``."""
        k = it.k
        taint = it.taint | {loop.id}
        if k in ("qs", "vals"):
            self.evaluate(it, iter_e[1], "for")
            if k == "vals" or it.model is None:
                return unknown(taint)
            return self._row(it, loop, taint)
        if k == "rows":
            if it.model is None:
                return unknown(taint)
            return self._row(it, loop, taint)
        if k == "row" and it.coll is not None:
            return self._row(it, loop, taint)
        if k == "page" and isinstance(it.extra, Val):
            return self.iterate(it.extra, iter_e, loop)
        if k == "enum" and isinstance(it.extra, Val):
            inner = self.iterate(it.extra, iter_e, loop)
            return Val("tuple", extra=[Val("const", taint=taint), inner], taint=taint)
        return unknown(taint)

    def _row(self, it: Val, loop: Loop, taint: FrozenSet) -> Val:
        return Val("row", fw=it.fw, model=it.model, eager=it.eager, allsel=it.allsel, backref=it.backref,
                   asyn=it.asyn, loop=loop.id, trail=it.trail if it.root is not None else (),
                   root=it.root, ta=it.ta, desc="row", taint=taint)

    def comp(self, e: Any) -> Val:
        _, node, kind, elt, gens = e
        saved_env = self.env
        self.env = dict(saved_env)
        pushed = 0
        last_elem = None
        try:
            for target, iter_e, ifs, is_async in gens:
                it = self.ev(iter_e)
                loop = self.fa.new_loop(node, it, iter_e, is_literal_loop(iter_e, it), len(self.blocks))
                loop.batch = is_batching_loop(iter_e, target)
                elem = self.iterate(it, iter_e, loop)
                self.bind(target, elem)
                self.loops.append(loop)
                pushed += 1
                last_elem = (target, elem, it)
            out = self.ev(elt)
            for _, _, ifs, _ in gens:
                for cond in ifs:
                    self.test(cond)
        finally:
            for _ in range(pushed):
                self.loops.pop()
            self.env = saved_env
        if last_elem is not None and len(gens) == 1 and elt[0] == IR_NAME and last_elem[0][0] == IR_NAME and elt[2] == last_elem[0][2]:
            it = last_elem[2]
            if last_elem[1].k == "row":
                src = self.as_rows(it) if it.k != "page" else UNKNOWN
                if src.k == "rows":
                    return src
        return unknown(out.taint)

    def summary(self, summary: list, self_val: Optional[Val], class_key: Optional[str]) -> Val:
        """The value returned by a project function/method (from its index summary)."""
        if self.summary_depth >= 4 or not summary:
            return UNKNOWN
        kind = None
        if class_key is not None:
            kind = "mgr" if self.facts.is_manager(class_key) else None
        sub = Interpreter(self.fa, None, class_key, kind, foreign=True, summary_depth=self.summary_depth + 1)
        if self_val is not None:
            sub.env["self"] = self_val
            sub.env["cls"] = self_val
        out = None
        for ret in summary:
            try:
                out = merge(out, sub.ev(ret)) if out is not None else sub.ev(ret)
            except (TypeError, IndexError, AttributeError, KeyError):
                return UNKNOWN
        return out or UNKNOWN


_WALK = True  # the state Flow carries; the interpreter's own lives in ``self.env``

# What statements_ir makes of a statement: the kind its IR list ends with.
_EXITS = {cst.Return: ST_RETURN, cst.Raise: ST_RAISE, cst.Break: ST_BREAK, cst.Continue: ST_CONTINUE}
_KEPT = (cst.Assign, cst.AugAssign, cst.Expr, cst.Assert, cst.Del, cst.If, cst.For, cst.While, cst.With,
         cst.Try, cst.TryStar, cst.Match, cst.FunctionDef, cst.ClassDef)


def block_exit(stmts: Sequence[cst.CSTNode]) -> Optional[str]:
    """How a block ENDS: ``ST_RETURN`` / ``ST_RAISE`` / ``ST_BREAK`` / ``ST_CONTINUE`` when its
    last interpreted statement (``pass``, imports, ``global`` and bare annotations are not
    interpreted) is that exit, else None."""
    for stmt in reversed(stmts):
        tp = type(stmt)
        if tp in _EXITS:
            return _EXITS[tp]
        if tp in _KEPT or (tp is cst.AnnAssign and stmt.value is not None):
            return None
    return None


def _lazy_ir(body: Sequence[cst.CSTNode]) -> Callable[[], list]:
    """The IR of a block, built on first use (``guard_of`` needs it for a few tests only)."""
    memo: List[list] = []

    def get() -> list:
        if not memo:
            memo.append(statements_ir(body))
        return memo[0]

    return get
