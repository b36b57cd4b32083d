"""Querysets, statements and the queries they start; the loop analysis of BL401/BL402.

What this module knows:

- which expressions are query sources: Django managers (``Model.objects``, custom
  managers, ``_default_manager``), QuerySet chains including custom QuerySet / manager
  methods (read from the model index summaries), related managers (``order.items``),
  ``get_queryset()`` / ``self.queryset`` of views, project helpers returning querysets,
  ``list(qs)``, ``.iterator()``, ``Paginator``; SQLAlchemy ``select(M)`` statements run
  by ``session.scalars/execute/exec``, ``session.query(M)``, Flask-SQLAlchemy
  ``M.query``, relationship collections of an instance;
- which relations a queryset or statement loads eagerly: ``select_related`` (also
  without arguments), ``prefetch_related`` with strings and ``Prefetch(...)`` objects
  (``to_attr`` and their own querysets), ``__`` paths, Django 6.1 ``fetch_mode(...)``,
  SQLAlchemy loader options (``joinedload``, ``selectinload``, ``subqueryload``,
  ``contains_eager``, ``immediateload``, ``raiseload``, ``noload``, ``defaultload``
  chains, ``Load(M)``), relationship ``lazy=`` settings and ``AsyncSession`` results;
- which calls start a query (a QuerySet evaluated by a terminal method, iteration,
  ``len``/``list``/``bool``/``in``/indexing; ``session.get/query/execute/scalars/scalar``;
  ``Model.query...``; ``cursor.execute``), resolving receivers so that a dict's ``get``
  or a ``requests.Session`` is not a query.

Everything is computed by a small abstract interpreter over an expression/statement IR
(shared with the model index, see ``backendlint.knowledge.models``), one pass per
function that contains a loop, memoised per file so that both rules share it.
"""

from __future__ import annotations

from typing import Any, Dict, FrozenSet, Iterable, List, Optional, Sequence, Tuple

import libcst as cst

from backendlint.engine.traversal import string_value
from backendlint.knowledge.models import KIND, SINGLE, resolve_ref
from backendlint.knowledge.paths import is_test_path

EMPTY: FrozenSet = frozenset()

# -- LibCST -> IR --------------------------------------------------------------------


def cx(node: cst.CSTNode) -> tuple:
    """IR of a LibCST expression (see models.py for the kinds)."""
    tp = type(node)
    if tp is cst.Name:
        v = node.value
        if v in ("True", "False", "None"):
            return ("k", node, None)
        return ("n", node, v)
    if tp is cst.Attribute:
        return ("a", node, cx(node.value), node.attr.value)
    if tp is cst.Call:
        args, kws, star = [], [], 0
        for a in node.args:
            if a.star:
                star = 1
                continue
            if a.keyword is not None:
                kws.append((a.keyword.value, cx(a.value)))
            else:
                args.append(cx(a.value))
        return ("c", node, cx(node.func), args, kws, star)
    if tp is cst.SimpleString or tp is cst.ConcatenatedString:
        try:
            value = string_value(node) if tp is cst.SimpleString else node.evaluated_value
        except Exception:  # noqa: BLE001 - odd prefixes
            value = None
        if isinstance(value, str):
            return ("s", node, value)
        return ("k", node, None)
    if tp in (cst.Integer, cst.Float, cst.Imaginary, cst.Ellipsis):
        return ("k", node, None)
    if tp is cst.Subscript:
        if len(node.slice) == 1:
            sl = node.slice[0].slice
            if isinstance(sl, cst.Index):
                return ("i", node, cx(node.value), cx(sl.value))
            if isinstance(sl, cst.Slice):
                parts = [cx(p) if p is not None else None for p in (sl.lower, sl.upper, sl.step)]
                return ("i", node, cx(node.value), ("sl", sl, *parts))
        return ("x", node, [cx(node.value)])
    if tp is cst.Await:
        return ("w", node, cx(node.expression))
    if tp is cst.Lambda:
        return ("l", node, None)
    if tp in (cst.Tuple, cst.List, cst.Set):
        elts = []
        for el in node.elements:
            if isinstance(el, cst.StarredElement):
                elts.append(("x", el, [cx(el.value)]))
            else:
                elts.append(cx(el.value))
        return ("t", node, elts)
    if tp is cst.Dict:
        keys, values = [], []
        for el in node.elements:
            if isinstance(el, cst.DictElement):
                keys.append(cx(el.key))
                values.append(cx(el.value))
            else:
                values.append(cx(el.value))
        return ("d", node, keys, values)
    if tp in (cst.ListComp, cst.SetComp, cst.GeneratorExp, cst.DictComp):
        gens = []
        comp = node.for_in
        while comp is not None:
            gens.append((cx(comp.target), cx(comp.iter), [cx(i.test) for i in comp.ifs], comp.asynchronous is not None))
            comp = comp.inner_for_in
        if tp is cst.DictComp:
            elt = ("t", node, [cx(node.key), cx(node.value)])
        else:
            elt = cx(node.elt)
        return ("cp", node, tp.__name__, elt, gens)
    if tp is cst.Comparison:
        return ("cm", node, cx(node.left), [(type(c.operator).__name__, cx(c.comparator)) for c in node.comparisons])
    if tp is cst.UnaryOperation:
        if isinstance(node.operator, cst.Not):
            return ("nt", node, cx(node.expression))
        return ("x", node, [cx(node.expression)])
    if tp is cst.BooleanOperation or tp is cst.BinaryOperation:
        # long chains (a + b + c ...) nest to the left: flatten them without recursion
        operands = []
        cur = node
        while type(cur) is tp:
            operands.append(cur.right)
            cur = cur.left
        operands.append(cur)
        kids = [cx(o) for o in reversed(operands)]
        return ("bo" if tp is cst.BooleanOperation else "x", node, kids)
    if tp is cst.IfExp:
        return ("ie", node, cx(node.test), cx(node.body), cx(node.orelse))
    if tp is cst.NamedExpr:
        return ("nw", node, cx(node.target), cx(node.value))
    if tp is cst.FormattedString:
        kids = [cx(p.expression) for p in node.parts if isinstance(p, cst.FormattedStringExpression)]
        return ("x", node, kids)
    if tp is cst.Yield:
        value = node.value
        if isinstance(value, cst.From):
            value = value.item
        return ("x", node, [cx(value)] if value is not None else [])
    if tp is cst.StarredElement:
        return ("x", node, [cx(node.value)])
    return ("x", node, [])


def _body(block) -> list:
    if block is None:
        return []
    if isinstance(block, (cst.IndentedBlock, cst.SimpleStatementSuite)):
        return list(block.body)
    return [block]


def cs(stmts: Iterable[cst.CSTNode]) -> list:
    """IR of a list of LibCST statements."""
    out: list = []
    for st in stmts:
        tp = type(st)
        if tp is cst.SimpleStatementLine or tp is cst.SimpleStatementSuite:
            out.extend(cs(st.body))
        elif tp is cst.Assign:
            out.append(("A", st, [cx(t.target) for t in st.targets], cx(st.value), 0))
        elif tp is cst.AnnAssign:
            if st.value is not None:
                out.append(("A", st, [cx(st.target)], cx(st.value), 0))
        elif tp is cst.AugAssign:
            out.append(("A", st, [cx(st.target)], cx(st.value), 1))
        elif tp is cst.Expr:
            out.append(("E", st, cx(st.value)))
        elif tp is cst.Return:
            out.append(("R", st, cx(st.value) if st.value is not None else None))
        elif tp is cst.Raise:
            out.append(("X", st, cx(st.exc) if st.exc is not None else None))
        elif tp is cst.Break:
            out.append(("B", st))
        elif tp is cst.Continue:
            out.append(("C", st))
        elif tp is cst.Assert:
            out.append(("E", st, cx(st.test)))
        elif tp is cst.Del:
            out.append(("E", st, ("x", st, [])))
        elif tp is cst.If:
            orelse = st.orelse
            if isinstance(orelse, cst.If):
                rest = cs([orelse])
            elif isinstance(orelse, cst.Else):
                rest = cs(_body(orelse.body))
            else:
                rest = []
            out.append(("I", st, cx(st.test), cs(_body(st.body)), rest))
        elif tp is cst.For:
            orelse = cs(_body(st.orelse.body)) if st.orelse is not None else []
            out.append(("F", st, cx(st.target), cx(st.iter), cs(_body(st.body)), orelse, st.asynchronous is not None))
        elif tp is cst.While:
            orelse = cs(_body(st.orelse.body)) if st.orelse is not None else []
            out.append(("W", st, cx(st.test), cs(_body(st.body)), orelse))
        elif tp is cst.With:
            items = [(cx(i.item), cx(i.asname.name) if i.asname is not None else None) for i in st.items]
            out.append(("WI", st, items, cs(_body(st.body)), st.asynchronous is not None))
        elif tp is cst.Try or tp is cst.TryStar:
            handlers = []
            for h in st.handlers:
                name = h.name.name if h.name is not None else None
                handlers.append((cx(name) if isinstance(name, cst.Name) else None, cs(_body(h.body))))
            orelse = cs(_body(st.orelse.body)) if st.orelse is not None else []
            final = cs(_body(st.finalbody.body)) if st.finalbody is not None else []
            out.append(("T", st, cs(_body(st.body)), handlers, orelse, final))
        elif tp is cst.Match:
            out.append(("M", st, cx(st.subject), [cs(_body(c.body)) for c in st.cases]))
        elif tp in (cst.FunctionDef, cst.ClassDef):
            out.append(("D", st, st.name.value))
        # pass, import, global, nonlocal: nothing to evaluate
    return out


def render(e: Any, budget: int = 6) -> str:
    """Short source-like text of an IR expression, for messages."""
    if e is None or budget <= 0:
        return "..."
    k = e[0]
    if k in ("n",):
        return e[2]
    if k == "g":
        return e[2].rsplit(".", 1)[-1]
    if k == "a":
        return f"{render(e[2], budget - 1)}.{e[3]}"
    if k == "c":
        inner = "..." if (e[3] or e[4] or e[5]) else ""
        return f"{render(e[2], budget - 1)}({inner})"
    if k == "i":
        return f"{render(e[2], budget - 1)}[...]"
    if k == "w":
        return f"await {render(e[2], budget - 1)}"
    if k == "s":
        return repr(e[2]) if len(e[2]) < 20 else "'...'"
    if k == "t":
        return "(...)"
    return "..."


# -- the interpreter ---------------------------------------------------------------

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
                 "root", "desc", "node", "taint", "ta", "coll", "extra")

    def __init__(self, k: str = "?", fw: Optional[str] = None, model: Optional[str] = None,
                 eager: FrozenSet = EMPTY, allsel: bool = False, backref: Optional[str] = None,
                 asyn: bool = False, loop: Optional[int] = None, trail: tuple = (), root: Any = None,
                 desc: str = "", node: Any = None, taint: FrozenSet = EMPTY, ta: Optional[dict] = None,
                 coll: Any = None, extra: Any = None):
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


# Django QuerySet methods
DJ_LAZY = frozenset({
    "all", "filter", "exclude", "order_by", "distinct", "annotate", "alias", "only", "defer",
    "using", "select_for_update", "reverse", "none", "union", "intersection", "difference",
    "extra", "complex_filter", "iterator", "aiterator", "select_related", "prefetch_related",
    "values", "values_list", "fetch_mode", "dates", "datetimes",
})
DJ_ONE = frozenset({"get", "first", "last", "latest", "earliest", "aget", "afirst", "alast", "alatest", "aearliest"})
DJ_VAL = frozenset({"count", "exists", "aggregate", "contains", "explain", "in_bulk",
                    "acount", "aexists", "aaggregate", "acontains", "ain_bulk", "aexplain"})
DJ_WRITE = frozenset({"update", "delete", "create", "bulk_create", "bulk_update", "get_or_create",
                      "update_or_create", "add", "remove", "set", "clear", "aupdate", "adelete",
                      "acreate", "abulk_create", "abulk_update", "aget_or_create", "aupdate_or_create",
                      "aadd", "aremove", "aset", "aclear"})
# SQLAlchemy Query / Select
SA_LAZY = frozenset({
    "filter", "filter_by", "order_by", "join", "outerjoin", "limit", "offset", "group_by",
    "having", "distinct", "select_from", "where", "correlate", "execution_options",
    "populate_existing", "yield_per", "enable_eagerloads", "params", "autoflush",
    "with_for_update", "add_columns", "with_only_columns", "union", "union_all", "slice",
    "with_entities", "reset_joinpoint", "join_from", "outerjoin_from", "add_entity", "order_by",
    "with_parent", "enable_assertions", "execution_options",
})
SA_Q_ROWS = frozenset({"all"})
SA_Q_ONE = frozenset({"first", "one", "one_or_none", "get", "get_or_404", "first_or_404", "one_or_404"})
SA_Q_VAL = frozenset({"count", "scalar"})
LOADERS_EAGER = frozenset({"joinedload", "selectinload", "subqueryload", "contains_eager",
                           "immediateload", "raiseload", "noload", "selectin_polymorphic",
                           "joinedload_all", "subqueryload_all", "selectinload_all"})
LOADERS_LAZY = frozenset({"lazyload", "defaultload"})
LOADERS_COLUMN = frozenset({"load_only", "defer", "undefer", "undefer_group", "with_expression",
                            "defaultload_all", "Load", "with_loader_criteria"})
SA_LAZY_LOADS = frozenset({"select", "dynamic", "True"})

SESSION_NAMES = frozenset({"session", "sess", "db", "db_session", "dbsession", "session_",
                           "async_session", "orm_session", "sa_session", "dbs"})
CURSOR_NAMES = frozenset({"cursor", "cur", "c", "db_cursor"})
CONN_NAMES = frozenset({"conn", "connection", "con", "db_conn", "dbconn", "connection_"})
BUILTINS = frozenset({"list", "tuple", "sorted", "set", "frozenset", "reversed", "iter", "len",
                      "bool", "any", "all", "sum", "max", "min", "next", "enumerate", "zip",
                      "dict", "filter", "map", "getattr", "hasattr", "isinstance", "str",
                      "int", "print", "repr", "super", "range", "type", "id", "float"})
_HTTP = ("requests.", "httpx.", "aiohttp.", "urllib3.", "boto3", "botocore")
_LIBS = frozenset({"sqlalchemy", "sqlmodel", "django", "requests", "httpx", "aiohttp", "rest_framework",
                   "flask_sqlalchemy", "urllib3", "boto3", "botocore"})


class Loop:
    __slots__ = ("id", "node", "src", "src_e", "literal", "depth", "batch")

    def __init__(self, ident: int, node: Any, src: Val, src_e: Any, literal: bool, depth: int):
        self.id = ident
        self.node = node
        self.src = src
        self.src_e = src_e
        self.literal = literal
        self.depth = depth
        self.batch = False


class Access:
    """A BL401 finding candidate: a relation read per row of a loop."""

    __slots__ = ("node", "fw", "model", "attr", "kind", "path", "root", "pk", "trail", "lazy", "single", "meth")

    def __init__(self, **kw):
        for k, v in kw.items():
            setattr(self, k, v)


class Query:
    """A BL402 finding candidate: a query started in a loop, depending on its variable."""

    __slots__ = ("node", "desc", "loop", "kind")

    def __init__(self, node, desc, loop, kind):
        self.node = node
        self.desc = desc
        self.loop = loop
        self.kind = kind


class FactsView:
    """Lookups over the merged ``orm_models`` fact, memoised per process."""

    _cache: Dict[int, "FactsView"] = {}

    @classmethod
    def of(cls, data: Optional[dict]) -> "FactsView":
        data = data or {}
        view = cls._cache.get(id(data))
        if view is None or view.data is not data:
            view = cls(data)
            cls._cache = {id(data): view}
        return view

    def __init__(self, data: dict):
        self.data = data
        self.dj = data.get("dj", {})
        self.sa = data.get("sa", {})
        self.cls = data.get("cls", {})
        self.fn = data.get("fn", {})
        self.names = data.get("names", {})
        self.qsm = frozenset(data.get("qsm", ()))
        self.user = data.get("user")
        self.heads = frozenset(data.get("heads", ()))
        self.alias = data.get("alias", {})
        self._refs: Dict[Tuple[str, str], Any] = {}
        self._fn_names: Optional[Dict[str, List[str]]] = None
        self._methods: Dict[Tuple[str, str, bool], Any] = {}

    def model(self, q: str, module: str) -> Optional[Tuple[str, str]]:
        key = (q, module)
        if key in self._refs:
            return self._refs[key]
        out = None
        k = q if q in self.dj or q in self.sa else self.alias.get(q)
        if k is None:
            name = q.lstrip("?").rsplit(".", 1)[-1]
            if name in self.names and name[:1].isupper():
                pool = {c: 1 for c in self.names[name] if c in self.dj or c in self.sa}
                if pool:
                    k = resolve_ref(q, pool, self.names, module, self.heads)
        if k is not None:
            out = ("dj", k) if k in self.dj else ("sa", k)
        self._refs[key] = out
        return out

    def class_key(self, q: str, module: str) -> Optional[str]:
        if q in self.cls:
            return q
        name = q.lstrip("?").rsplit(".", 1)[-1]
        pool = {c: 1 for c in self.names.get(name, ()) if c in self.cls}
        return resolve_ref(q, pool, self.names, module, self.heads) if pool else None

    def function_key(self, q: str, module: str) -> Optional[str]:
        if q in self.fn:
            return q
        if self._fn_names is None:
            self._fn_names = {}
            for k in self.fn:
                self._fn_names.setdefault(k.rsplit(".", 1)[-1], []).append(k)
        name = q.rsplit(".", 1)[-1]
        if name not in self._fn_names:
            return None
        return resolve_ref(q, self.fn, self._fn_names, module, self.heads)

    def function(self, q: str) -> Optional[list]:
        return self.fn.get(q)

    def dj_rel(self, model: Optional[str], attr: str) -> Optional[list]:
        m = self.dj.get(model) if model else None
        return m["r"].get(attr) if m else None

    def sa_rel(self, model: Optional[str], attr: str) -> Optional[list]:
        m = self.sa.get(model) if model else None
        return m["r"].get(attr) if m else None

    def model_name(self, fw: str, key: Optional[str]) -> str:
        if not key:
            return "?"
        table = self.dj if fw == "dj" else self.sa
        m = table.get(key)
        return m["n"] if m else key.rsplit(".", 1)[-1]

    def managers(self, model: Optional[str]) -> Dict[str, str]:
        m = self.dj.get(model) if model else None
        return m.get("m", {}) if m else {}

    def lookup(self, class_key: Optional[str], method: str, skip_self: bool = False) -> Optional[Tuple[list, str]]:
        """(summary, defining class) of ``method`` on a class or its bases (and linked QS)."""
        if not class_key:
            return None
        ck = (class_key, method, skip_self)
        if ck in self._methods:
            return self._methods[ck]
        out = None
        seen = set()
        work = [class_key]
        first = True
        while work and out is None:
            k = work.pop(0)
            if k in seen:
                continue
            seen.add(k)
            entry = self.cls.get(k)
            if entry is None:
                continue
            if not (first and skip_self):
                s = entry.get("f", {}).get(method)
                if s is not None:
                    out = (s, k)  # s == 0: defined but not understood
                    break
            first = False
            work.extend(entry.get("b", ()))
            if entry.get("qs"):
                work.append(entry["qs"])
        self._methods[ck] = out
        return out

    def class_attr(self, class_key: Optional[str], attr: str) -> Optional[Tuple[Any, str]]:
        seen = set()
        work = [class_key] if class_key else []
        while work:
            k = work.pop(0)
            if k in seen:
                continue
            seen.add(k)
            entry = self.cls.get(k)
            if entry is None:
                continue
            if attr in entry:
                return entry[attr], k
            work.extend(entry.get("b", ()))
        return None


class FileAnalysis:
    """The BL401/BL402 analysis of one file (shared by both rules through the context)."""

    def __init__(self, ctx, functions: Sequence[Tuple[Any, Optional[str], Optional[Any]]]):
        self.ctx = ctx
        self.facts = FactsView.of(ctx.facts.get(KIND) if ctx.facts is not None else None)
        self.module = ctx.module_name
        self.star = "import *" in ctx.source
        self.accesses: Dict[Tuple[int, str], Access] = {}
        self.access_order: List[Tuple[int, str]] = []
        self.queries: Dict[int, Query] = {}
        self.loops: Dict[int, Loop] = {}
        self.next_id = 0
        self.consts: Dict[str, str] = {}
        self.globals: Dict[str, Val] = {}
        if functions:
            self.consts = _module_strings(ctx.module)
            self.globals = _module_values(self)
        for fn_node, class_key, class_kind in functions:
            try:
                Fn(self, fn_node, class_key, class_kind).run()
            except RecursionError:
                continue

    def new_loop(self, node, src: Val, src_e, literal: bool, depth: int) -> Loop:
        self.next_id += 1
        loop = Loop(self.next_id, node, src, src_e, literal, depth)
        self.loops[loop.id] = loop
        return loop

    def resolve(self, name: str) -> Optional[str]:
        return self.ctx.imports.resolve_dotted(name)


def _module_values(fa: "FileAnalysis") -> Dict[str, Val]:
    """Values of module-level ``Name = ...`` (``User = get_user_model()``, querysets)."""
    stmts = []
    for st in fa.ctx.module.body:
        if isinstance(st, cst.SimpleStatementLine):
            for small in st.body:
                if isinstance(small, (cst.Assign, cst.AnnAssign)) and small.value is not None:
                    stmts.append(small)
    if not stmts:
        return {}
    fn = Fn(fa, None, None, None)
    fn.silent = True
    try:
        for small in stmts:
            for st in cs([small]):
                fn.stmt(st)
    except RecursionError:
        return {}
    return {k: v for k, v in fn.env.items() if v.k in ("model", "qs", "session", "cursor", "http", "conn", "func")}


def _module_strings(module: cst.Module) -> Dict[str, str]:
    """``QUERY = "SELECT ..."`` / ``QUERY = text("...")`` at module level."""
    out: Dict[str, str] = {}
    for st in module.body:
        if not isinstance(st, cst.SimpleStatementLine):
            continue
        for small in st.body:
            if isinstance(small, cst.Assign) and len(small.targets) == 1 and isinstance(small.targets[0].target, cst.Name):
                value = small.value
                if isinstance(value, cst.Call) and value.args and _dotted_last(value.func) == "text":
                    value = value.args[0].value
                if isinstance(value, (cst.SimpleString, cst.ConcatenatedString)):
                    try:
                        text = value.evaluated_value
                    except Exception:  # noqa: BLE001
                        continue
                    if isinstance(text, str):
                        out[small.targets[0].target.value] = text
    return out


def _dotted_last(node: cst.CSTNode) -> str:
    if isinstance(node, cst.Attribute):
        return node.attr.value
    if isinstance(node, cst.Name):
        return node.value
    return ""


def _qual_last(q: str) -> str:
    return q.rsplit(".", 1)[-1]


def _const_str(v: Val) -> Optional[str]:
    return v.extra if v.k == "const" and isinstance(v.extra, str) else None


def _dotted_ir(e: Any) -> Optional[str]:
    parts = []
    while e is not None and e[0] == "a":
        parts.append(e[3])
        e = e[2]
    if e is not None and e[0] in ("n", "g"):
        parts.append(e[2])
        return ".".join(reversed(parts))
    if e is not None and e[0] == "c" and e[2][0] == "a":
        # self.get_session().query(...) -> "get_session()"
        return None
    return None


def _last_name(e: Any) -> str:
    if e is None:
        return ""
    if e[0] == "a":
        return e[3]
    if e[0] in ("n", "g"):
        return _qual_last(e[2])
    if e[0] == "c":
        return _last_name(e[2]) + "()"
    return ""


def _sessionish(e: Any) -> bool:
    name = _last_name(e).lower()
    if not name:
        return False
    if name.endswith("()"):
        name = name[:-2]
        return name in ("session", "get_session", "get_db", "db_session", "session_factory", "sessionlocal", "scoped_session") or name.endswith("session")
    if any(h in name for h in ("http", "client", "request", "browser", "web", "boto", "redis", "cache")):
        return False
    return name in SESSION_NAMES or name.endswith("_session") or name.endswith("session") or name.endswith("_db")


def _cursorish(e: Any) -> bool:
    name = _last_name(e).lower()
    return name in CURSOR_NAMES or name.endswith("cursor") or name == "cursor()"


def _connish(e: Any) -> bool:
    name = _last_name(e).lower()
    return name in CONN_NAMES or name.endswith("_conn") or name.endswith("_connection")


class Fn:
    """Interprets one function body (or a summary) over abstract values."""

    def __init__(self, fa: FileAnalysis, fn_node: Any, class_key: Optional[str], class_kind: Optional[str],
                 foreign: bool = False, depth: int = 0):
        self.fa = fa
        self.facts = fa.facts
        self.fn_node = fn_node
        self.class_key = class_key
        self.class_kind = class_kind
        self.foreign = foreign
        self.silent = foreign
        self.depth = depth
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
            body = cs(node.body)
        else:
            self.bind_params(node)
            body = cs(_body(node.body))
        self.block(body)

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
        last = _qual_last(q)
        if q.startswith(_HTTP):
            return Val("http")
        if last == "AsyncSession" and q.startswith(("sqlalchemy", "sqlmodel")):
            return Val("session", asyn=True)
        if last in ("Session", "scoped_session") and q.startswith(("sqlalchemy", "sqlmodel", "flask_sqlalchemy")):
            return Val("session")
        m = self.facts.model(q, self.fa.module)
        if m:
            return Val("row", fw=m[0], model=m[1], eager=frozenset({"*"}))
        return UNKNOWN

    # -- events ------------------------------------------------------------------------
    def _once(self, loop: Loop) -> bool:
        """Is the current point run at most once per entry into ``loop`` (or per group)?"""
        for end, inner in self.blocks[loop.depth:]:
            if end in ("R", "X") or (end == "B" and inner == loop.id):
                return True
        for guarded in self.guards:
            if loop.id in guarded:
                return True
        return False

    def guard_of(self, test: Any, body: list) -> FrozenSet:
        """Loops whose rows a change-detection test reads.

        ``if last != row.event_id: last = row.event_id; ...`` and ``if row.event_id not
        in cache: cache[row.event_id] = ...`` run their body once per distinct value,
        not once per row.
        """
        if test[0] == "bo":
            return _union(self.guard_of(sub, body) for sub in test[2])
        memo = None  # ``if x is None: x = query(); cache[k] = x`` (a cache miss)
        if test[0] == "nt" and test[2][0] == "n":
            memo = test[2][2]
        elif test[0] == "cm" and len(test[3]) == 1 and test[3][0][0] == "Is" and test[3][0][1][0] == "k" and test[2][0] == "n":
            memo = test[2][2]
        if memo is not None:
            if _stores(body, memo):
                v = self.env.get(memo)
                return frozenset(l.id for l in self.loops) if v is not None else EMPTY
            return EMPTY
        if test[0] != "cm" or len(test[3]) != 1:
            return EMPTY
        op, right = test[3][0]
        left = test[2]
        if op not in ("NotEqual", "NotIn", "IsNot"):
            return EMPTY
        sides = [(left, right), (right, left)] if op != "NotIn" else [(left, right)]
        for row_side, var_side in sides:
            var = _dotted_ir(var_side)
            if not var:
                continue
            loops = frozenset(l for l in self._row_loops(row_side) | set(self.ev(row_side).taint)
                              if self._active(l) is not None)
            if loops and _assigns(body, var, op == "NotIn"):
                return loops
        return EMPTY

    def _row_loops(self, e: Any) -> set:
        out = set()
        work = [e]
        while work:
            cur = work.pop()
            if not isinstance(cur, tuple) or not cur:
                continue
            if cur[0] == "n":
                v = self.env.get(cur[2])
                if v is not None and v.k == "row" and v.loop is not None:
                    out.add(v.loop)
            elif cur[0] in ("a", "i"):
                work.append(cur[2])
            elif cur[0] in ("t", "x"):
                work.extend(cur[2])
            elif cur[0] == "c":
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
        if self.silent or self.rare or self.writing:
            return
        loop = self._active(row.loop)
        if loop is None or self._once(loop):
            return
        path = "__".join([t[1] for t in row.trail] + [attr])
        key = (loop.id, path)
        if key in self.fa.accesses:
            return
        root = row.root if row.root is not None else loop.src
        self.fa.accesses[key] = Access(node=node, fw=row.fw, model=row.model, attr=attr, kind=kind, path=path,
                                       root=root, pk=pk, trail=row.trail, lazy=lazy, single=single, meth=meth)
        self.fa.access_order.append(key)

    def is_transaction(self, item: Any) -> bool:
        """``transaction.atomic()`` / ``session.begin()``: a unit of work per loop item."""
        if item[0] != "c":
            return False
        func = item[2]
        if func[0] == "a" and func[3] in ("begin", "begin_nested"):
            return True
        dotted = _dotted_ir(func)
        if not dotted or self.foreign:
            return False
        q = self.fa.resolve(dotted) or ""
        return q.startswith("django.db.transaction.") and q.endswith("atomic")

    def query(self, node: Any, taint: FrozenSet, desc: str, kind: str) -> None:
        if self.silent or not self.loops or not taint or node is None or self.rare:
            return
        for i, loop in enumerate(self.loops):
            if any(depth > i for depth in self.atomics):
                return  # each item in its own transaction: deliberate per-item work
            if loop.id in taint and not loop.literal and not loop.batch and not self._once(loop):
                if id(node) not in self.fa.queries:
                    self.fa.queries[id(node)] = Query(node, desc, loop, kind)
                return

    # -- statements ----------------------------------------------------------------------
    def block(self, stmts: list) -> Optional[str]:
        end = stmts[-1][0] if stmts else None
        if end not in ("R", "X", "B", "C"):
            end = None
        self.blocks.append((end, self.loops[-1].id if self.loops else None))
        try:
            for st in stmts:
                self.stmt(st)
        finally:
            self.blocks.pop()
        return end

    def branches(self, bodies: List[list]) -> None:
        env0 = self.env
        outs = []
        for body in bodies:
            self.env = dict(env0)
            end = self.block(body)
            if end is None:
                outs.append(self.env)
        if not outs:
            self.env = env0
            return
        merged = outs[0]
        for other in outs[1:]:
            merged = merge_env(merged, other)
        self.env = merged

    def stmt(self, st: tuple) -> None:
        k = st[0]
        if k == "A":
            value = self.ev(st[3])
            for target in st[2]:
                if st[4]:
                    old = self.ev(target) if target[0] == "n" else UNKNOWN
                    self.bind(target, unknown(old.taint | value.taint))
                else:
                    self.bind(target, value)
        elif k == "E":
            self.ev(st[2])
        elif k in ("R", "X"):
            if st[2] is not None:
                self.ev(st[2])
        elif k == "I":
            self.test(st[2])
            guard = self.guard_of(st[2], st[3]) if self.loops else EMPTY
            if guard:
                self.guards.append(guard)
                try:
                    self.branches([st[3], st[4]])
                finally:
                    self.guards.pop()
            else:
                self.branches([st[3], st[4]])
        elif k == "F":
            self.for_stmt(st)
        elif k == "W":
            self.test(st[2])
            self.branches([st[3], []])
            if st[4]:
                self.block(st[4])
        elif k == "WI":
            atomic = False
            for item, target in st[2]:
                v = self.ev(item)
                atomic = atomic or self.is_transaction(item)
                if target is not None:
                    if v.k == "session" or (v.k == "?" and _sessionish(item) and item[0] == "c"):
                        v = Val("session", asyn=st[4] or v.asyn)
                    self.bind(target, v)
            if atomic and self.loops:
                self.atomics.append(len(self.loops))
                try:
                    self.block(st[3])
                finally:
                    self.atomics.pop()
            else:
                self.block(st[3])
        elif k == "T":
            self.block(st[2])
            bodies = [h[1] for h in st[3]]
            if bodies or st[4]:
                # error handlers are fallbacks, not the per-row path
                self.rare += 1
                try:
                    self.branches(bodies + [st[4]])
                finally:
                    self.rare -= 1
            if st[5]:
                self.block(st[5])
        elif k == "M":
            self.ev(st[2])
            self.branches(st[3] + [[]])

    def for_stmt(self, st: tuple) -> None:
        _, node, target, iter_e, body, orelse, is_async = st
        it = self.ev(iter_e)
        loop = self.fa.new_loop(node, it, iter_e, _is_literal(iter_e, it), len(self.blocks))
        loop.batch = _is_batching(iter_e, target)
        elem = self.iterate(it, iter_e, loop)
        env0 = self.env
        self.env = dict(env0)
        self.bind(target, elem)
        self.loops.append(loop)
        try:
            self.block(body)
        finally:
            self.loops.pop()
        self.env = merge_env(env0, self.env)
        if orelse:
            self.block(orelse)

    def test(self, e: Any) -> Val:
        if e[0] == "bo":
            for sub in e[2]:
                self.test(sub)
            return UNKNOWN
        if e[0] == "nt":
            self.test(e[2])
            return UNKNOWN
        v = self.ev(e)
        self.evaluate(v, e[1], "bool")
        return v

    def bind(self, target: Any, v: Val) -> None:
        k = target[0]
        if k == "n":
            if v.k == "row" and v.desc != target[2]:
                v = v.but(desc=target[2])
            self.env[target[2]] = v
        elif k == "t":
            elts = target[2]
            if v.k == "tuple" and isinstance(v.extra, list) and len(v.extra) == len(elts):
                for t, sub in zip(elts, v.extra):
                    self.bind(t, sub)
            else:
                for t in elts:
                    self.bind(t, unknown(v.taint))
        elif k == "a":
            base = target[2]
            if base[0] == "n":
                cur = self.env.get(base[2])
                if cur is not None and cur.k == "row":
                    self.env[base[2]] = cur.but(eager=cur.eager | {target[3]})
        elif k == "x":
            for sub in target[2]:
                self.bind(sub, unknown(v.taint))

    # -- expressions ---------------------------------------------------------------------
    def ev(self, e: Any) -> Val:
        if e is None:
            return UNKNOWN
        k = e[0]
        if k == "n":
            return self.name(e)
        if k == "g":
            return self.glob(e[2], _qual_last(e[2]), e)
        if k == "a":
            return self.attr(e)
        if k == "c":
            return self.call(e)
        if k == "s":
            return Val("const", extra=e[2])
        if k == "k":
            return Val("const")
        if k == "i":
            return self.subscript(e)
        if k == "w":
            v = self.ev(e[2])
            if v.fw == "sa" and v.k in ("rows", "exec", "row", "qs"):
                return v.but(asyn=True)
            return v
        if k == "t":
            vals = [self.ev(x) for x in e[2]]
            lit = "lit" if all(x[0] in ("s", "k") for x in e[2]) else None
            return Val("tuple", extra=vals, taint=_union(v.taint for v in vals), coll=lit)
        if k == "d":
            vals = [self.ev(x) for x in e[2]] + [self.ev(x) for x in e[3]]
            taint = _union(v.taint for v in vals)
            if len(e[2]) == len(e[3]) and all(x[0] in ("s", "k") for x in e[2]):
                return Val("tuple", coll="lit", taint=taint)
            return unknown(taint)
        if k == "cp":
            return self.comp(e)
        if k == "cm":
            left = self.ev(e[2])
            taint = left.taint
            for op, right_e in e[3]:
                right = self.ev(right_e)
                taint = taint | right.taint
                if op in ("In", "NotIn"):
                    self.evaluate(right, right_e[1], "in")
            return unknown(taint)
        if k == "nt":
            v = self.ev(e[2])
            self.evaluate(v, e[1], "bool")
            return unknown(v.taint)
        if k == "bo":
            vals = [self.ev(x) for x in e[2]]
            return unknown(_union(v.taint for v in vals))
        if k == "ie":
            self.test(e[2])
            return merge(self.ev(e[3]), self.ev(e[4]))
        if k == "nw":
            v = self.ev(e[3])
            self.bind(e[2], v)
            return v
        if k == "alt":
            out = None
            for x in e[2]:
                out = merge(out, self.ev(x))
            return out or UNKNOWN
        if k == "x":
            vals = [self.ev(x) for x in e[2]]
            return unknown(_union(v.taint for v in vals))
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
            q = f"{self.fa.module}.{n}" if f"{self.fa.module}.{n}" in self.facts.alias else None
        if q is not None:
            return self.glob(q, n, e)
        if n in BUILTINS:
            return Val("b", extra=n)
        if self.fa.star and n[:1].isupper():
            m = self.facts.model("?" + n, self.fa.module)
            if m:
                return Val("model", fw=m[0], model=m[1], desc=n, node=e[1])
        return UNKNOWN

    def glob(self, q: str, written: str, e: Any) -> Val:
        m = self.facts.model(q, self.fa.module) if _qual_last(q)[:1].isupper() else None
        if m:
            return Val("model", fw=m[0], model=m[1], desc=written, node=e[1])
        if q.startswith("django.contrib.") and ".models." in q and _qual_last(q)[:1].isupper():
            return Val("model", fw="dj", model=q, desc=written, node=e[1])
        if q in ("django.db.connection",) or q.endswith("django.db.connection"):
            return Val("conn")
        fk = self.facts.function_key(q, self.fa.module)
        if fk is not None:
            return Val("func", extra=fk, desc=written, node=e[1])
        ck = self.facts.class_key(q, self.fa.module) if _qual_last(q)[:1].isupper() else None
        if ck is not None:
            return Val("class", model=ck, desc=written)
        return Val("g", extra=q, desc=written, node=e[1])

    def attr(self, e: Any) -> Val:
        base_e, a, node = e[2], e[3], e[1]
        if a in ("pk", "id") and base_e[0] == "a":
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
                found = self.facts.class_attr(base.model, "q")
                if found is not None:
                    v = self.summary([found[0]], Val("self", model=found[1]), found[1])
                    return v.but(desc="self.queryset", node=node)
                return UNKNOWN
            if a == "model":
                found = self.facts.class_attr(base.model, "mo")
                if found is not None and found[0] in self.facts.dj:
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

    def model_attr(self, model: Val, a: str, e: Any) -> Val:
        if model.fw == "dj":
            mgrs = self.facts.managers(model.model)
            if a in ("objects", "_default_manager", "_base_manager") or a in mgrs:
                qs = Val("qs", fw="dj", model=model.model, desc=f"{model.desc}.{a}", node=e[1], taint=model.taint)
                mk = mgrs.get(a) if a in mgrs else mgrs.get("objects", "")
                if mk:
                    found = self.facts.lookup(mk, "get_queryset")
                    if found is not None:
                        got = self.summary(found[0], qs, found[1])
                        if got.k == "qs":
                            qs = qs.but(eager=got.eager, allsel=got.allsel, ta=got.ta)
                        else:
                            qs = qs.but(eager=frozenset({"*"}))
                return qs
            return unknown(model.taint)
        if a == "query":
            return Val("qs", fw="sa", model=model.model, desc=f"{model.desc}.query", node=e[1], taint=model.taint)
        if self.facts.sa_rel(model.model, a) is not None:
            return Val("attr", fw="sa", model=model.model, extra=a)
        return Val("col", fw="sa", model=model.model, taint=model.taint)

    def rel_read(self, row: Val, a: str, node: Any, pk: bool = False) -> Val:
        """``row.a``: a relation read (BL401 event when not loaded) or something else."""
        if row.fw == "dj":
            info = self.facts.dj_rel(row.model, a)
            if info is None:
                if row.ta and a in row.ta:
                    model, eager, backref = row.ta[a]
                    return Val("rows", fw="dj", model=model, eager=eager, taint=row.taint, desc=f"{row.desc}.{a}",
                               backref=backref,
                               trail=row.trail + ((row.model, a, False),), root=self.root_of(row))
                return unknown(row.taint)
            kind, target, extra = info
            loaded = is_loaded(row.eager, a) or a == row.backref or (row.allsel and kind in ("fk", "o2o"))
            root = self.root_of(row)
            trail = row.trail + ((row.model, a, kind in SINGLE and kind != "gfk"),)
            if kind in SINGLE:
                if not loaded:
                    self.access(row, a, kind, node, pk=pk)
                return Val("row", fw="dj", model=target, taint=row.taint, loop=row.loop,
                           eager=sub_eager(row.eager, a) if loaded else (frozenset({"*"}) if row.loop is not None else EMPTY),
                           allsel=row.allsel, trail=trail, root=root, desc=f"{row.desc}.{a}")
            backref = extra if kind == "rfk" else None
            return Val("rel", fw="dj", model=target, taint=row.taint, loop=row.loop, backref=backref,
                       eager=sub_eager(row.eager, a) if loaded else EMPTY, trail=trail, root=root,
                       desc=f"{row.desc}.{a}", extra=(row, a, kind, loaded), node=node)
        if row.fw == "sa":
            info = self.facts.sa_rel(row.model, a)
            if info is None:
                return unknown(row.taint)
            target, lazy, uselist, inverse = info
            loaded = (lazy not in SA_LAZY_LOADS) or is_loaded(row.eager, a) or a == row.backref or row.asyn
            if not loaded:
                self.access(row, a, "sa", node, lazy=lazy, single=uselist is False)
            coll = uselist is not False or lazy == "dynamic"
            trail = row.trail + ((row.model, a, uselist is False),)
            return Val("row", fw="sa", model=target, taint=row.taint, loop=row.loop, asyn=row.asyn,
                       eager=sub_eager(row.eager, a) if loaded else (frozenset({"*"}) if row.loop is not None else EMPTY),
                       trail=trail, root=self.root_of(row), desc=f"{row.desc}.{a}", backref=inverse,
                       coll=(row, a, loaded) if coll else None, node=node)
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
        taint = _union(v.taint for v in argv)
        for k, v in kwv:
            if not k.endswith("__in"):
                taint = taint | v.taint
        return argv, kwv, taint

    def call(self, e: Any) -> Val:
        func = e[2]
        if func[0] == "a":
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
                if q.split(".", 1)[0] in _LIBS:
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
                       asyn=v.asyn, trail=v.trail, root=v.root, desc=v.desc, node=v.node, taint=v.taint)
        if v.k == "row" and v.coll is not None:
            return Val("rows", fw=v.fw, model=v.model, eager=v.eager, backref=v.backref, asyn=v.asyn,
                       trail=v.trail, root=v.root, desc=v.desc, node=v.node, taint=v.taint)
        return unknown(v.taint)

    def instance(self, v: Val, taint: FrozenSet) -> Val:
        return Val("row", fw=v.fw, model=v.model, eager=v.eager, allsel=v.allsel, ta=v.ta, backref=v.backref,
                   asyn=v.asyn, desc=v.desc, taint=taint)

    def method(self, recv: Val, meth: str, e: Any, recv_e: Any) -> Val:
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
                eager, allsel = _sa_options(argv, recv.eager)
                return recv.but(eager=eager, taint=taint, desc=desc)
            if meth in SA_LAZY:
                return recv.but(taint=taint, desc=desc)
            return unknown(taint)
        if k == "exec":
            if meth == "scalars":
                return Val("rows", fw="sa", model=recv.model, eager=recv.eager, asyn=recv.asyn, desc=desc,
                           node=recv.node, taint=taint)
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
                found = self.facts.lookup(self.class_key, meth, skip_self=True)
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
        if k == "g" and recv.extra and str(recv.extra).startswith(_HTTP):
            if meth in ("Session", "session", "Client", "AsyncClient", "ClientSession"):
                return Val("http")
            return unknown(taint)
        if k == "loader":
            if meth in LOADERS_EAGER or meth in LOADERS_LAZY or meth in LOADERS_COLUMN:
                segs = _loader_segments(argv)
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
        if meth in ("get", "query", "scalars", "scalar", "execute", "exec", "get_one") and k in ("?", "g", "b") and _sessionish(recv_e):
            return self.session_method(recv, meth, argv, at, node, desc, recv_e, False, e[3])
        if meth == "execute" and k in ("?", "g") and (_cursorish(recv_e) or _connish(recv_e)):
            return self.cursor_method(meth, argv, at, node, desc, e)
        if k in ("?", "g") and meth in ("paginate", "get_or_404", "first_or_404", "one_or_404") and argv:
            # Flask-SQLAlchemy db.paginate(select(M)) / db.get_or_404(M, id)
            first = argv[0]
            if first.k == "stmt" or (first.k == "model" and first.fw == "sa"):
                self.query(node, _union(v.taint for v in argv[1:]) | (first.taint if first.k == "stmt" else EMPTY), desc, "sa")
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

    def dj_method(self, recv: Val, meth: str, argv, kwv, taint, node, desc) -> Val:
        if meth in DJ_LAZY:
            if meth == "select_related":
                if not argv:
                    return recv.but(allsel=True, taint=taint, desc=desc)
                eager = set(recv.eager)
                for v in argv:
                    s = _const_str(v)
                    if s is not None:
                        eager.add(s)
                    elif v.k == "const":
                        continue  # select_related(None) clears; keep it simple
                    else:
                        eager.add("*")
                return recv.but(eager=frozenset(eager), taint=taint, desc=desc)
            if meth == "prefetch_related":
                eager, ta = _prefetches(argv, recv.eager, recv.ta, self.facts, recv.model)
                return recv.but(eager=eager, ta=ta, taint=taint, desc=desc)
            if meth == "select_for_update":
                # rows locked one at a time, usually each in its own transaction: deliberate
                return recv.but(taint=taint, desc=desc, extra=recv.extra or "lock")
            if meth == "fetch_mode":
                return recv.but(eager=frozenset({"*"}), taint=taint, desc=desc)
            if meth in ("values", "values_list"):
                return recv.but(k="vals", taint=taint, desc=desc)
            return recv.but(taint=taint, desc=desc)
        if meth in DJ_ONE:
            if not recv.extra:
                self.query(node, taint, desc, "dj")
            if recv.k == "qs":
                return self.instance(recv, taint).but(desc=desc)
            return unknown(taint)
        if meth in DJ_VAL:
            if not recv.extra:
                self.query(node, taint, desc, "dj")
            return unknown(taint)
        if meth in DJ_WRITE:
            return unknown(taint)
        # a custom manager / QuerySet method
        for mk in self._manager_classes(recv.model):
            found = self.facts.lookup(mk, meth)
            if found is not None:
                got = self.summary(found[0], recv, found[1])
                if got.k in ("qs", "vals", "rows", "row"):
                    return got.but(taint=got.taint | taint, desc=desc if got.k != "row" else got.desc)
                return unknown(taint)
        if meth == "get_queryset":
            return recv.but(taint=taint)
        if meth in self.facts.qsm and recv.k == "qs":
            return recv.but(eager=frozenset({"*"}), taint=taint, desc=desc)
        return unknown(taint)

    def _manager_classes(self, model: Optional[str]) -> List[str]:
        out = []
        for mk in self.facts.managers(model).values():
            if mk and mk not in out:
                out.append(mk)
        return out

    def rel_method(self, recv: Val, meth: str, argv, kwv, taint, node, desc) -> Val:
        owner, attr, kind, loaded = recv.extra
        reading = meth in DJ_LAZY or meth in DJ_ONE or meth in DJ_VAL
        if not reading:
            return unknown(taint)
        if not loaded:
            self.access(owner, attr, kind, recv.node, meth=meth)
        if owner.loop is None and not owner.opaque and (meth in DJ_ONE or meth in DJ_VAL):
            self.query(node, taint - owner.taint, desc, "dj")
        elif owner.loop is None and owner.opaque and (meth in DJ_ONE or meth in DJ_VAL) and meth not in ("count", "exists"):
            self.query(node, taint - owner.taint, desc, "dj")
        base = Val("qs", fw="dj", model=recv.model, backref=recv.backref, desc=desc, node=recv.node, taint=taint,
                   trail=recv.trail if loaded and owner.loop is not None and meth == "all" else (),
                   root=recv.root if loaded and owner.loop is not None and meth == "all" else None,
                   extra="viarel" if owner.loop is not None else None)
        if meth == "all" and loaded:
            base = base.but(eager=recv.eager)
        elif owner.opaque and meth == "all":
            base = base.but(eager=frozenset({"*"}))
        if meth in DJ_LAZY:
            if meth == "all":
                return base
            return self.dj_method(base, meth, argv, kwv, taint, None, desc)
        if meth in DJ_ONE:
            return self.instance(base, taint)
        return unknown(taint)

    def sa_query_method(self, recv: Val, meth: str, argv, taint, node, desc) -> Val:
        if meth == "options":
            eager, _ = _sa_options(argv, recv.eager)
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
                self.query(node, _union(v.taint for v in argv[1:]), desc, "sa")
                return Val("row", fw="sa", model=first.model, desc=desc, asyn=asyn)
            return unknown(at)
        if meth in ("scalars", "exec", "execute", "scalar"):
            reads = _reads(first, argv_e[0] if argv_e else None)
            if reads is False:
                return unknown(at)
            if reads or (sure and meth != "execute"):
                self.query(node, at, desc, "sa")
                if first.k == "stmt":
                    if meth in ("scalars", "exec"):
                        return Val("rows", fw="sa", model=first.model, eager=first.eager, asyn=asyn or first.asyn,
                                   desc=desc, node=node, taint=at)
                    if meth == "execute":
                        return Val("exec", fw="sa", model=first.model, eager=first.eager, asyn=asyn,
                                   desc=desc, node=node, taint=at)
                return unknown(at)
        return unknown(at)

    def cursor_method(self, meth: str, argv, at, node, desc, e: Any = None) -> Val:
        if meth == "execute" and argv:
            if not _reads(argv[0], e[3][0] if e is not None and e[3] else None):
                return unknown(at)  # a write, or a statement we cannot read
            taint = at
            if e is not None and e[3] and e[3][0][0] in ("n", "a", "i"):
                # the statement itself comes from the loop: a list of statements, not a lookup
                taint = _union(v.taint for v in argv[1:]) | _union(self.ev(v).taint for _, v in e[4])
            self.query(node, taint, desc, "cursor")
        return unknown(at)

    def self_method(self, recv: Val, meth: str, argv, taint, node, desc) -> Val:
        ck = recv.model
        if meth in ("filter_queryset",) and argv:
            return argv[0]
        if meth == "paginate_queryset" and argv:
            return self.as_rows(argv[0])
        found = self.facts.lookup(ck, meth) if ck else None
        if found is not None:
            got = self.summary(found[0], recv, found[1])
            return got.but(taint=got.taint | taint, desc=f"self.{meth}()", node=node)
        if meth == "get_queryset":
            return self.default_get_queryset(ck).but(desc="self.get_queryset()", node=node)
        if meth == "get_object":
            qs = self.facts.lookup(ck, "get_queryset") if ck else None
            base = self.summary(qs[0], recv, qs[1]) if qs else self.default_get_queryset(ck)
            if base.k == "qs":
                return self.instance(base, taint)
        return unknown(taint)

    def default_get_queryset(self, ck: Optional[str], skip_self: bool = False) -> Val:
        if not ck:
            return UNKNOWN
        found = self.facts.class_attr(ck, "q")
        if found is not None:
            return self.summary([found[0]], Val("self", model=found[1]), found[1])
        found = self.facts.class_attr(ck, "mo")
        if found is not None and found[0] in self.facts.dj:
            model = found[0]
            return Val("qs", fw="dj", model=model, desc=f"{self.facts.model_name('dj', model)}.objects")
        return UNKNOWN

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
            if summary and self.depth < 4:
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
        last = _qual_last(q)
        head = q.split(".", 1)[0]
        desc = f"{render(e[2])}({'...' if e[3] or e[4] or e[5] else ''})"
        if head in ("sqlalchemy", "sqlmodel"):
            if last == "select":
                first = argv[0] if argv else UNKNOWN
                model = first.model if first.k == "model" and first.fw == "sa" and len(argv) == 1 else None
                return Val("stmt", fw="sa", model=model, desc=desc, node=node, taint=at)
            if last == "text":
                return Val("sql", taint=at, extra=_const_str(argv[0]) if argv else None)
            if last in ("insert", "update", "delete"):
                return Val("dml", taint=at)
            if last in LOADERS_EAGER or last in LOADERS_LAZY or last in LOADERS_COLUMN:
                if last == "Load":
                    return Val("loader", extra=[])
                return Val("loader", extra=[(last, _loader_segments(argv))])
            if last == "AsyncSession":
                return Val("session", asyn=True)
            if last in ("Session",):
                return Val("session")
            return unknown(at)
        if q.startswith(_HTTP):
            if last in ("Session", "session", "Client", "AsyncClient", "ClientSession"):
                return Val("http")
            return unknown(at)
        if last == "Prefetch" and head == "django":
            lookup = _const_str(argv[0]) if argv else None
            qs = argv[1] if len(argv) > 1 else None
            to_attr = None
            for k, v in kwv:
                if k == "lookup":
                    lookup = _const_str(v)
                elif k == "queryset":
                    qs = v
                elif k == "to_attr":
                    to_attr = _const_str(v)
            return Val("prefetch", extra=(lookup, qs, to_attr), taint=at)
        if last in ("get_object_or_404", "aget_object_or_404") and argv:
            first = argv[0]
            qs = first if first.k == "qs" else self.model_attr(first, "_default_manager", e) if first.k == "model" and first.fw == "dj" else None
            if qs is not None and qs.k == "qs":
                self.query(node, _union(v.taint for v in argv[1:]) | _union(v.taint for _, v in kwv if True), desc, "dj")
                return self.instance(qs, at)
            return unknown(at)
        if last == "get_list_or_404" and argv:
            first = argv[0]
            qs = first if first.k == "qs" else self.model_attr(first, "_default_manager", e) if first.k == "model" else None
            if qs is not None and qs.k == "qs":
                self.query(node, at, desc, "dj")
                return self.as_rows(qs)
            return unknown(at)
        if last == "get_user_model" and head == "django":
            key = self.facts.user or "django.contrib.auth.models.User"
            return Val("model", fw="dj", model=key, desc="User")
        if last == "get_model" and head == "django" and argv:
            name = _const_str(argv[-1]) or ""
            name = name.rsplit(".", 1)[-1]
            m = self.facts.model("?" + name, self.fa.module) if name else None
            if m and m[0] == "dj":
                return Val("model", fw="dj", model=m[1], desc=name)
            if name:
                return Val("model", fw="dj", model="?" + name, desc=name)
            return unknown(at)
        if last == "Paginator" and head == "django" and argv:
            return Val("page", extra=argv[0], taint=at, desc=argv[0].desc, node=argv[0].node)
        if last == "prefetch_related_objects" and head == "django" and e[3]:
            target = e[3][0]
            if target[0] == "n" and target[2] in self.env:
                cur = self.env[target[2]]
                if cur.k in ("rows", "qs", "row"):
                    eager, ta = _prefetches(argv[1:], cur.eager, cur.ta, self.facts, cur.model)
                    self.env[target[2]] = cur.but(eager=eager, ta=ta)
            return unknown(at)
        if last == "get_object_or_404" or last == "get_list_or_404":
            return unknown(at)
        return unknown(at)

    def subscript(self, e: Any) -> Val:
        base = self.ev(e[2])
        index = e[3]
        if index[0] == "sl":
            parts = [self.ev(p) for p in index[2:] if p is not None]
            taint = base.taint | _union(v.taint for v in parts)
            if base.k in ("qs", "vals", "rows"):
                return base.but(taint=taint, desc=f"{base.desc}[...]")
            return unknown(taint)
        iv = self.ev(index)
        taint = base.taint | iv.taint
        if base.k == "qs":
            self.query(e[1], taint, f"{base.desc}[...]", base.fw or "dj")
            return self.instance(base, taint)
        if base.k == "rows":
            return self.instance(base, taint)
        if base.k == "tuple" and isinstance(base.extra, list) and index[0] == "k":
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
                   root=it.root, ta=it.ta, desc=_row_desc(loop), taint=taint)

    def comp(self, e: Any) -> Val:
        _, node, kind, elt, gens = e
        saved_env = self.env
        self.env = dict(saved_env)
        pushed = 0
        last_elem = None
        try:
            for target, iter_e, ifs, is_async in gens:
                it = self.ev(iter_e)
                loop = self.fa.new_loop(node, it, iter_e, _is_literal(iter_e, it), len(self.blocks))
                loop.batch = _is_batching(iter_e, target)
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
        if last_elem is not None and len(gens) == 1 and elt[0] == "n" and last_elem[0][0] == "n" and elt[2] == last_elem[0][2]:
            it = last_elem[2]
            if last_elem[1].k == "row":
                src = self.as_rows(it) if it.k != "page" else UNKNOWN
                if src.k == "rows":
                    return src
        return unknown(out.taint)

    def summary(self, summary: list, self_val: Optional[Val], class_key: Optional[str]) -> Val:
        """The value returned by a project function/method (from its index summary)."""
        if self.depth >= 4 or not summary:
            return UNKNOWN
        kind = None
        if class_key is not None:
            entry = self.facts.cls.get(class_key, {})
            kind = "mgr" if entry.get("mgr") else None
        sub = Fn(self.fa, None, class_key, kind, foreign=True, depth=self.depth + 1)
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


def _assigns(body: list, var: str, container: bool) -> bool:
    """Does ``body`` (re)assign ``var``, or (``container``) store into it?"""
    work = list(body)
    while work:
        st = work.pop()
        k = st[0]
        if k == "A":
            for t in st[2]:
                if not container and _dotted_ir(t) == var:
                    return True
                if container and t[0] == "i" and _dotted_ir(t[2]) == var:
                    return True
        elif k == "E" and container:
            e = st[2]
            if e[0] == "c" and e[2][0] == "a" and e[2][3] in ("add", "append", "setdefault", "update") and _dotted_ir(e[2][2]) == var:
                return True
        elif k == "I":
            work.extend(st[3])
            work.extend(st[4])
        elif k in ("WI",):
            work.extend(st[3])
        elif k == "T":
            work.extend(st[2])
    return False


def _stores(body: list, var: str) -> bool:
    """Does ``body`` store ``var`` into a container (``cache[key] = var``)?"""
    for st in body:
        if st[0] == "A" and any(t[0] == "i" for t in st[2]) and st[3][0] == "n" and st[3][2] == var:
            return True
        if st[0] == "I" and (_stores(st[3], var) or _stores(st[4], var)):
            return True
    return False


def _row_desc(loop: Loop) -> str:
    return "row"


def _union(sets: Iterable[FrozenSet]) -> FrozenSet:
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


def _is_literal(e: Any, it: Optional[Val] = None) -> bool:
    """A loop over a fixed, small collection written in the code (or configuration)."""
    if e[0] == "t":
        return all(x[0] in ("s", "k", "n", "a") or (x[0] == "t" and _is_literal(x)) for x in e[2])
    if e[0] == "c" and e[2][0] == "n" and e[2][2] == "range" and all(a[0] == "k" for a in e[3]):
        return True
    if e[0] == "c" and e[2][0] == "a" and e[2][3] in ("items", "keys", "values") and not e[3]:
        return _is_literal(e[2][2])
    if e[0] == "c" and e[2][0] == "n" and e[2][2] in ("sorted", "list", "tuple", "reversed", "enumerate", "set") and e[3]:
        return _is_literal(e[3][0])
    if e[0] in ("n", "a"):
        last = e[2] if e[0] == "n" else e[3]
        if len(last) > 1 and last.isupper():
            return True  # CHOICES, settings.DEFAULT_GROUPS
        if last[:1].isupper() and (it is None or it.k in ("class", "g", "?")):
            return True  # an enum or a choices class
    if it is not None and it.coll == "lit":
        return True
    return False


def _is_batching(iter_e: Any, target: Any) -> bool:
    """``for chunk in chunked(ids, 500)`` / ``for start in range(0, n, 1000)``: batches."""
    if target is not None and target[0] == "n" and any(w in target[2].lower() for w in ("chunk", "batch", "page", "offset", "slice")):
        return True
    if iter_e[0] == "c":
        name = _last_name(iter_e[2]).lower().rstrip("()")
        if name == "range" and len(iter_e[3]) == 3:
            return True
        if any(w in name for w in ("chunk", "batch", "grouper", "paginat", "slices", "partition")):
            return True
    return False


def _reads(v: Val, ir: Any) -> Optional[bool]:
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
    if ir is not None and ir[0] in ("n", "a"):
        name = (ir[2] if ir[0] == "n" else ir[3]).lower()
        if any(w in name for w in ("update", "insert", "delete", "upsert", "merge", "create", "drop", "alter", "truncate")):
            return False
    return None


def _is_write_sql(text: Any) -> bool:
    if not isinstance(text, str):
        return False
    head = text.lstrip().split(None, 1)[0].lower() if text.strip() else ""
    return head in ("insert", "update", "delete", "create", "drop", "alter", "truncate", "set", "lock", "grant")


def _prefetches(argv: List[Val], eager: FrozenSet, ta: Optional[dict], facts: FactsView, model: Optional[str]):
    out = set(eager)
    ta = dict(ta or {})
    for v in argv:
        s = _const_str(v)
        if s is not None:
            out.add(s)
            continue
        if v.k == "const":
            continue  # prefetch_related(None)
        if v.k == "prefetch":
            lookup, qs, to_attr = v.extra
            if not lookup:
                out.add("*")
                continue
            nested = frozenset()
            if isinstance(qs, Val):
                if qs.k == "qs":
                    nested = qs.eager
                    if qs.allsel:
                        nested = nested | {"*"}
                else:
                    nested = frozenset({"*"})
            if to_attr:
                target, backref = _path_target(facts, model, lookup)
                ta[to_attr] = (target, nested, backref)
                # the lookup's parents are prefetched too
                if "__" in lookup:
                    out.add(lookup.rsplit("__", 1)[0])
            else:
                out.add(lookup)
                for p in nested:
                    out.add(f"{lookup}__{p}")
            continue
        out.add("*")
    return frozenset(out), (ta or None)


def _path_target(facts: FactsView, model: Optional[str], path: str) -> Tuple[Optional[str], Optional[str]]:
    """The model a ``__`` path leads to, and the FK back to the parent (reverse FKs)."""
    backref = None
    for seg in path.split("__"):
        info = facts.dj_rel(model, seg)
        if info is None:
            return None, None
        model = info[1]
        backref = info[2] if info[0] == "rfk" else None
    return model, backref


def _loader_segments(argv: List[Val]) -> Optional[List[str]]:
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


def _sa_options(argv: List[Val], eager: FrozenSet) -> Tuple[FrozenSet, bool]:
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


# -- per-file entry point for the rules ---------------------------------------------

_LOOP_TYPES = (cst.For, cst.ListComp, cst.SetComp, cst.DictComp, cst.GeneratorExp)


def loop_owner(stack: Sequence[cst.CSTNode]) -> Tuple[Any, Optional[str], Optional[cst.ClassDef]]:
    """(function or module, class name, class node) that directly holds a loop."""
    for i in range(len(stack) - 1, -1, -1):
        node = stack[i]
        if isinstance(node, cst.FunctionDef):
            cls = None
            for j in range(i - 1, max(-1, i - 3), -1):
                if isinstance(stack[j], cst.ClassDef):
                    cls = stack[j]
                    break
                if not isinstance(stack[j], (cst.IndentedBlock, cst.SimpleStatementSuite)):
                    break
            top_level_class = cls is not None and j >= 1 and isinstance(stack[j - 1], cst.Module)
            return node, (cls.name.value if cls is not None and top_level_class else None), cls
        if isinstance(node, cst.Lambda):
            return None, None, None
        if isinstance(node, cst.ClassDef):
            return None, None, None
    return (stack[0] if stack else None), None, None


class LoopCollector:
    """Mixin for the two rules: remember which functions hold a loop (for statements,
    comprehensions and generator expressions)."""

    # Every loop the analysis follows has the "for" keyword, as a word ("format" does
    # not count; "1for x in y" does). The lookbehind follows the literal so that the
    # regex engine can scan for the literal.
    requires_re = r"for(?<![A-Za-z_]for)\b"

    @classmethod
    def skips_path(cls, relpath: str) -> bool:
        return skipped_path(relpath)

    @classmethod
    def prepare(cls, facts, options=None) -> None:
        FactsView.of(facts.get(KIND))

    def visit_For(self, node: cst.For) -> None:
        self._note_loop()

    def visit_ListComp(self, node: cst.ListComp) -> None:
        self._note_loop()

    def visit_SetComp(self, node: cst.SetComp) -> None:
        self._note_loop()

    def visit_DictComp(self, node: cst.DictComp) -> None:
        self._note_loop()

    def visit_GeneratorExp(self, node: cst.GeneratorExp) -> None:
        self._note_loop()

    def _note_loop(self) -> None:
        owner, cls_name, _ = loop_owner(self.ctx.stack)
        if owner is None:
            return
        seen = self.ctx.memo.setdefault("queries.loop_owners", {})
        if id(owner) not in seen:
            seen[id(owner)] = (owner, cls_name)


def is_migration(relpath: str) -> bool:
    parts = relpath.split("/")
    return "migrations" in parts[:-1] or ("versions" in parts[:-1] and ("alembic" in parts or "migrations" in parts))


def skipped_path(relpath: str) -> bool:
    """Migrations run once and tests on a handful of rows: neither rule reports there."""
    return is_migration(relpath) or is_test_path(relpath)


def analysis(ctx) -> FileAnalysis:
    """The shared analysis of this file (computed once, after the traversal)."""
    fa = ctx.memo.get("queries.analysis")
    if fa is None:
        owners = ctx.memo.get("queries.loop_owners", {})
        facts = FactsView.of(ctx.facts.get(KIND) if ctx.facts is not None else None)
        functions = []
        for owner, cls_name in owners.values():
            key = kind = None
            if cls_name:
                key = f"{ctx.module_name}.{cls_name}" if ctx.module_name else cls_name
                if key in facts.dj:
                    kind = "dj"
                elif key in facts.sa:
                    kind = "sa"
                elif facts.cls.get(key, {}).get("mgr"):
                    kind = "mgr"
            functions.append((owner, key, kind))
        if skipped_path(ctx.relpath):
            functions = []
        fa = FileAnalysis(ctx, functions)
        ctx.memo["queries.analysis"] = fa
    return fa


# -- messages ---------------------------------------------------------------------------

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


def _where(root: Any, lines: Dict[int, int]) -> str:
    desc = short(getattr(root, "desc", "") or "the query")
    line = lines.get(id(getattr(root, "node", None)))
    return f"{desc} (line {line})" if line else desc


def access_message(fa: FileAnalysis, a: Access, lines: Dict[int, int]) -> str:
    facts = fa.facts
    model = facts.model_name(a.fw, a.model)
    where = _where(a.root, lines)
    if a.fw == "sa":
        if a.lazy == "dynamic":
            return (f'{model}.{a.attr} (lazy="dynamic") runs a query for each row of {where}; '
                    "load the related rows for all of them in one query")
        chain = []
        for owner, attr, single in list(a.trail) + [(a.model, a.attr, a.single)]:
            loader = "joinedload" if single else "selectinload"
            text = f"{loader}({facts.model_name('sa', owner)}.{attr})"
            chain.append(text if not chain else "." + text)
        return f"{model}.{a.attr} is lazy-loaded for each row of {where}; add .options({''.join(chain)})"
    if a.kind in SINGLE and a.kind != "gfk":
        single_path = all(t[2] for t in a.trail)
        method = "select_related" if single_path else "prefetch_related"
        if a.pk:
            return (f"{model}.{a.attr} is fetched for each row of {where} just to read its key; "
                    f'read {a.attr}_id instead, or add {method}("{a.path}")')
        return f'{model}.{a.attr} is read for each row of {where}; add {method}("{a.path}")'
    if a.kind == "gfk":
        return f'{model}.{a.attr} is read for each row of {where}; add prefetch_related("{a.path}")'
    if a.meth and a.meth not in ("all", "count", "exists"):
        return (f"{model}.{a.attr}.{a.meth}() runs a query for each row of {where}; prefetch the rows with "
                f'prefetch_related(Prefetch("{a.path}", ...)) and select them in Python')
    return f'{model}.{a.attr} is queried for each row of {where}; add prefetch_related("{a.path}")'


def query_message(q: Query, lines: Dict[int, int]) -> str:
    loop_src = render(q.loop.src_e)
    line = lines.get(id(q.loop.src_e[1]))
    over = f"{loop_src} (line {line})" if line else loop_src
    if q.kind == "cursor":
        fix = "run one query with IN (...) before the loop, or executemany() for writes"
    elif q.kind == "sa":
        fix = "load the rows in one statement before the loop (e.g. .where(Model.id.in_(...)))"
    else:
        fix = "fetch the rows in one query before the loop (e.g. filter(<field>__in=...) or in_bulk())"
    return f"{short(q.desc)} runs a query for each item of {over}; {fix}"
