"""The project's ORM model index: Django models and SQLAlchemy mapped classes.

One fact collector (kind ``orm_models``) reads every file with the stdlib ``ast`` and
records, per file, the classes that can matter: their bases, Django relation fields
(ForeignKey / OneToOneField / ManyToManyField / GenericForeignKey / GenericRelation and
well-known third-party subclasses), managers, ``Meta`` flags, SQLAlchemy
``relationship()`` attributes (target, ``lazy=``, ``backref``, ``back_populates``), and
"summaries" of project functions and methods that return a queryset or a statement
(``get_queryset()``, custom manager / QuerySet methods, helpers), as a small expression
IR with local variables already substituted (see ``ir_*`` below).

``merge`` resolves the parts project-wide: inheritance across files (abstract bases,
multi-table inheritance, mixins), relation targets given as classes, ``"app.Model"``
strings, ``"self"`` or ``settings.AUTH_USER_MODEL``, reverse accessors (``related_name``,
``Meta.default_related_name`` or the default ``<model>_set`` / ``<model>``), SQLAlchemy
backrefs (which do not inherit the declaring side's ``lazy``).

The merged fact (what rules read through ``ctx.facts.get("orm_models")``)::

    {"dj": {key: {"n": name, "a": app_label, "ab": 0/1,
                  "r": {attr: [kind, target_key, extra]},     # see SINGLE / MANY
                  "m": {manager_attr: manager_class_key}}},
     "sa": {key: {"n": name, "r": {attr: [target_key, lazy, uselist, inverse]}}},
     # both: "fa": {field: NULL|UNIQUE|PK bits}, "ut": [[unique set]]; sa: "sfk": {column:
     # FK table}, "tn": table name (read through ModelIndex.field / required_fk / unique_fields)
     "cls": {key: {"b": [base keys], "f": {method: summary}, "q": summary,
                   "mo": model ref, "qs": queryset class key}},
     "fn": {qualified function name: summary},
     "names": {ClassName: [keys]},
     "qsm": [method names of project Manager/QuerySet classes]}

Keys are ``module.ClassName`` (the module name the engine gives the defining file).

Nothing outside this module reads that dict by its short keys: ``ModelIndex`` (the
READER, one per merged fact and process) answers ``model(ref, module)``,
``django_relation(model, attr)`` / ``sa_relationship(model, attr)`` (NamedTuples),
``managers(model)``, ``method(class, name)``, ``view_queryset(class)`` ...
"""

from __future__ import annotations

import ast
from typing import Any, Dict, List, NamedTuple, Optional, Tuple

from backendlint.engine.facts import FactCollector, register
from backendlint.engine.pyast import AstImports, ast_dotted, nodes_of
from backendlint.knowledge.models import (
    CONTRIB_LABELS,
    DJANGO_MANAGER_BASES,
    DJANGO_MODEL_BASES,
    FK,
    M2M,
    O2O,
    QUERY_MARKERS,
    REFINING_METHODS,
    RELATION_FIELDS,
    RELATION_LIBS,
    REVERSE_KIND,
    RO2O,
    SA_BASE_FACTORIES,
    SA_BASES,
    _returns_value,
    const_str,
    dj_target_ref,
    keyword_value,
    sa_relationship,
    dj_field_kind,
    is_relationship_call,
    is_sa_column,
    last_part,
    norm_lazy,
)

KIND = "orm_models"

_MAX_IR = 400  # nodes; bigger summaries are dropped (keeps the index compact)


# -- the expression IR ---------------------------------------------------------------
# Expressions are tuples (lists once cached as JSON) ``(kind, origin, ...)``; origin is
# the LibCST node on the rule side (``analysis/queries/ir.py``, the twin front end) and 0
# in the index. The kinds stay short strings (the summaries are cached as JSON); their
# names:
IR_NAME = "n"  # ("n", o, name): a parameter, local or builtin
IR_GLOBAL = "g"  # ("g", o, qualified): a name resolved through the file's imports (index only)
IR_ATTR = "a"  # ("a", o, value, attr)
IR_CALL = "c"  # ("c", o, func, [args], [[kw, value]], star): star = *args / **kwargs passed
IR_STR = "s"  # ("s", o, text)
IR_CONST = "k"  # ("k", o, constant): numbers, True/False/None (the rule side keeps no value)
IR_INDEX = "i"  # ("i", o, value, index): subscript; the index may be a slice:
IR_SLICE = "sl"  # ("sl", o, lower, upper, step)
IR_AWAIT = "w"  # ("w", o, value)
IR_LAMBDA = "l"  # ("l", o, body)
IR_TUPLE = "t"  # ("t", o, [elements]): tuple / list / set display
IR_DICT = "d"  # ("d", o, [keys], [values]): dict display
IR_COMP = "cp"  # ("cp", o, kind, elt, [[target, iter, [ifs], async]]): comprehension
IR_COMPARE = "cm"  # ("cm", o, left, [[op, right]])
IR_NOT = "nt"  # ("nt", o, operand)
IR_BOOLOP = "bo"  # ("bo", o, [operands])
IR_IFEXP = "ie"  # ("ie", o, test, body, orelse)
IR_WALRUS = "nw"  # ("nw", o, target, value)
IR_ALT = "alt"  # ("alt", o, [alternatives]): one of several values (index summaries only)
IR_OTHER = "x"  # ("x", o, [children]): anything else


def ir_size(node: Any, limit: int = _MAX_IR) -> int:
    count = 0
    work = [node]
    while work and count <= limit:
        cur = work.pop()
        if isinstance(cur, (list, tuple)):
            count += 1
            work.extend(x for x in cur if isinstance(x, (list, tuple)))
    return count


# -- ast -> IR, with local variables substituted -------------------------------------
class _Summariser:
    """Turns a function's return expressions into IR with locals substituted.

    Names bound by parameters stay ``(IR_NAME, 0, name)``; module-level and imported names
    become ``(IR_GLOBAL, 0, qualified)``; locals are replaced by the expression(s) assigned to
    them before the return (several alternatives after branches).
    """

    def __init__(self, imports: AstImports, params: List[str]):
        self.imports = imports
        self.params = set(params)
        self.env: Dict[str, List[Any]] = {}
        self.returns: List[Any] = []
        self.budget = 4000

    def expr(self, node: ast.AST) -> Any:
        self.budget -= 1
        if self.budget < 0:
            return (IR_OTHER, 0, [])
        if isinstance(node, ast.Name):
            if node.id in self.env:
                alts = self.env[node.id]
                return alts[0] if len(alts) == 1 else (IR_ALT, 0, list(alts))
            if node.id in self.params or node.id in ("self", "cls"):
                return (IR_NAME, 0, node.id)
            q = self.imports.resolve(node.id)
            return (IR_GLOBAL, 0, q) if q else (IR_NAME, 0, node.id)
        if isinstance(node, ast.Attribute):
            return (IR_ATTR, 0, self.expr(node.value), node.attr)
        if isinstance(node, ast.Call):
            args, star = [], 0
            for a in node.args:
                if isinstance(a, ast.Starred):
                    star = 1
                else:
                    args.append(self.expr(a))
            kws = []
            for k in node.keywords:
                if k.arg is None:
                    star = 1
                else:
                    kws.append([k.arg, self.expr(k.value)])
            return (IR_CALL, 0, self.expr(node.func), args, kws, star)
        if isinstance(node, ast.Constant):
            if isinstance(node.value, str):
                return (IR_STR, 0, node.value)
            if isinstance(node.value, (bool, int, float)) or node.value is None:
                return (IR_CONST, 0, node.value)
            return (IR_OTHER, 0, [])
        if isinstance(node, ast.Subscript):
            sl = node.slice
            if isinstance(sl, ast.Slice):
                index = (IR_SLICE, 0, *(self.expr(p) if p is not None else None for p in (sl.lower, sl.upper, sl.step)))
            else:
                index = self.expr(sl)
            return (IR_INDEX, 0, self.expr(node.value), index)
        if isinstance(node, ast.Await):
            return (IR_AWAIT, 0, self.expr(node.value))
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            return (IR_TUPLE, 0, [self.expr(e) for e in node.elts if not isinstance(e, ast.Starred)])
        if isinstance(node, ast.Lambda):
            return (IR_LAMBDA, 0, self.expr(node.body))
        if isinstance(node, ast.IfExp):
            return (IR_ALT, 0, [self.expr(node.body), self.expr(node.orelse)])
        return (IR_OTHER, 0, [])

    def assign(self, target: ast.AST, value: Any, conditional: bool) -> None:
        if isinstance(target, ast.Name):
            alts = [value]
            if conditional and target.id in self.env:
                alts = self.env[target.id] + alts
            self.env[target.id] = alts[-3:]
        elif isinstance(target, (ast.Tuple, ast.List)):
            for elt in target.elts:
                self.assign(elt.value if isinstance(elt, ast.Starred) else elt, (IR_OTHER, 0, []), conditional)

    def block(self, body: List[ast.stmt], conditional: bool) -> None:
        for stmt in body:
            if self.budget < 0:
                return
            if isinstance(stmt, ast.Assign):
                if (len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name)
                        and stmt.targets[0].id in self.env and _refines(stmt.value, stmt.targets[0].id)):
                    continue  # qs = qs.filter(...): loads nothing more; keeps summaries small
                value = self.expr(stmt.value)
                for target in stmt.targets:
                    self.assign(target, value, conditional)
            elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
                self.assign(stmt.target, self.expr(stmt.value), conditional)
            elif isinstance(stmt, ast.AugAssign):
                self.assign(stmt.target, (IR_OTHER, 0, []), conditional)
            elif isinstance(stmt, ast.Return):
                if stmt.value is not None and not (isinstance(stmt.value, ast.Constant) and stmt.value.value is None):
                    self.returns.append(self.expr(stmt.value))
            elif isinstance(stmt, (ast.If, ast.For, ast.AsyncFor, ast.While)):
                if isinstance(stmt, (ast.For, ast.AsyncFor)):
                    self.assign(stmt.target, (IR_OTHER, 0, []), True)
                self.block(stmt.body, True)
                self.block(stmt.orelse, True)
            elif isinstance(stmt, (ast.With, ast.AsyncWith)):
                for item in stmt.items:
                    if item.optional_vars is not None:
                        self.assign(item.optional_vars, self.expr(item.context_expr), conditional)
                self.block(stmt.body, conditional)
            elif isinstance(stmt, ast.Try) or type(stmt).__name__ == "TryStar":
                self.block(stmt.body, True)
                for handler in stmt.handlers:
                    self.block(handler.body, True)
                self.block(stmt.orelse, True)
                self.block(stmt.finalbody, conditional)
            elif type(stmt).__name__ == "Match":
                for case in stmt.cases:
                    self.block(case.body, True)


def _refines(value: ast.AST, name: str) -> bool:
    """Is ``value`` ``name.filter(...).order_by(...)`` (a chain that loads nothing new)?"""
    cur = value
    steps = 0
    while isinstance(cur, ast.Call) and isinstance(cur.func, ast.Attribute) and cur.func.attr in REFINING_METHODS:
        cur = cur.func.value
        steps += 1
    return steps > 0 and isinstance(cur, ast.Name) and cur.id == name


def _looks_query(node: Any, in_manager: bool) -> bool:
    """Does this IR expression build a queryset / statement (worth keeping)?"""
    work = [node]
    seen = 0
    while work and seen < 200:
        cur = work.pop()
        seen += 1
        if not isinstance(cur, (list, tuple)) or not cur:
            continue
        kind = cur[0]
        if kind == IR_ATTR:
            if cur[3] in QUERY_MARKERS:
                return True
            work.append(cur[2])
        elif kind == IR_CALL:
            func = cur[2]
            if func[0] == IR_GLOBAL and last_part(func[2]) in QUERY_MARKERS:
                return True
            if func[0] == IR_NAME and func[2] == "list" and cur[3]:
                work.append(cur[3][0])
            work.append(func)
        elif kind == IR_NAME and in_manager and cur[2] == "self":
            return True
        elif kind == IR_ALT:
            work.extend(cur[2])
        elif kind in (IR_INDEX, IR_AWAIT):
            work.append(cur[2])
    return False


def _summary(fn: ast.AST, imports: AstImports, in_manager: bool) -> Optional[List[Any]]:
    """Return-expression IR of a function, if one of them builds a query."""
    if not _returns_value(fn):
        return None
    args = fn.args
    params = [a.arg for a in args.posonlyargs + args.args + args.kwonlyargs]
    if args.vararg:
        params.append(args.vararg.arg)
    if args.kwarg:
        params.append(args.kwarg.arg)
    s = _Summariser(imports, params)
    s.block(fn.body, False)
    rets = [r for r in s.returns if _looks_query(r, in_manager)]
    if not rets or len(rets) != len(s.returns):
        # Some return gives something else: not a queryset helper we understand.
        if not rets:
            return None
    if ir_size(rets) > _MAX_IR:
        return None
    return rets


def _class_record(node: ast.ClassDef, imports: AstImports, module: str) -> Dict[str, Any]:
    rec: Dict[str, Any] = {}
    bases = []
    qs_link = None
    for b in node.bases:
        if isinstance(b, ast.Subscript):
            b = b.value
        if isinstance(b, ast.Call) and isinstance(b.func, ast.Attribute) and b.func.attr == "from_queryset":
            base = imports.ref(ast_dotted(b.func.value))
            if base:
                bases.append(base)
            if b.args:
                qs_link = imports.ref(ast_dotted(b.args[0]))
            continue
        dotted = ast_dotted(b)
        if dotted and dotted != "object":
            bases.append(imports.ref(dotted))
    if bases:
        rec["b"] = bases
    if qs_link:
        rec["qs"] = qs_link
    for kw in node.keywords:
        if kw.arg == "table" and isinstance(kw.value, ast.Constant) and kw.value.value is True:
            rec["sam"] = 1
    in_manager = any(any(t in last_part(b) for t in ("Manager", "QuerySet")) for b in bases)
    rels: Dict[str, list] = {}
    sarels: Dict[str, list] = {}
    managers: Dict[str, list] = {}
    methods: Dict[str, Any] = {}
    for stmt in node.body:
        targets: List[ast.AST] = []
        value = None
        ann = None
        if isinstance(stmt, ast.Assign):
            targets, value = stmt.targets, stmt.value
        elif isinstance(stmt, ast.AnnAssign):
            targets, value, ann = [stmt.target], stmt.value, stmt.annotation
            if value is None and isinstance(stmt.target, ast.Name):
                head = last_part(ast_dotted(ann.value)) if isinstance(ann, ast.Subscript) else ""
                if head in ("Mapped",):
                    rec["sam"] = 1
        elif isinstance(stmt, ast.ClassDef) and stmt.name == "Meta":
            for m in stmt.body:
                if isinstance(m, ast.Assign) and len(m.targets) == 1 and isinstance(m.targets[0], ast.Name):
                    key = m.targets[0].id
                    if key == "abstract" and isinstance(m.value, ast.Constant) and m.value.value is True:
                        rec["ab"] = 1
                    elif key == "proxy" and isinstance(m.value, ast.Constant) and m.value.value is True:
                        rec["px"] = 1
                    elif key == "default_related_name" and const_str(m.value):
                        rec["drn"] = const_str(m.value)
                    elif key == "app_label" and const_str(m.value):
                        rec["app"] = const_str(m.value)
                    elif key in ("unique_together", "constraints"):
                        rec.setdefault("ut", []).extend(_unique_sets(m.value, key == "constraints"))
            rec["meta"] = 1
            continue
        elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            declared = any(last_part(ast_dotted(d.func if isinstance(d, ast.Call) else d)) == "declared_attr" for d in stmt.decorator_list)
            if declared:
                for sub in ast.walk(stmt):
                    if isinstance(sub, ast.Return) and isinstance(sub.value, ast.Call) and is_relationship_call(sub.value, imports):
                        sarels[stmt.name] = sa_relationship(sub.value, stmt.returns, imports)
                        break
                continue
            if any(last_part(ast_dotted(d)) in ("property", "cached_property", "staticmethod") for d in stmt.decorator_list):
                continue
            summary = _summary(stmt, imports, in_manager or stmt.name == "get_queryset")
            if summary:
                methods[stmt.name] = summary
            elif in_manager or stmt.name in ("get_queryset", "get_object"):
                methods[stmt.name] = 0  # defined, but not understood: hides the default
            continue
        else:
            continue
        names = [t.id for t in targets if isinstance(t, ast.Name)]
        if not names:
            continue
        name = names[0]
        if name in ("__tablename__", "__table__"):
            rec["sam"] = 1
            if const_str(value):
                rec["tn"] = const_str(value)
            continue
        if name == "__table_args__" and value is not None:
            rec.setdefault("ut", []).extend(_unique_sets(value, True))
            continue
        if name == "__abstract__":
            rec["saab"] = 1
            continue
        if name == "queryset" and value is not None:
            s = _Summariser(imports, [])
            ir = s.expr(value)
            if _looks_query(ir, False) and ir_size(ir) <= _MAX_IR:
                rec["q"] = ir
            continue
        if name == "model" and value is not None and ast_dotted(value):
            rec["mo"] = imports.ref(ast_dotted(value))
            continue
        if not isinstance(value, ast.Call):
            continue
        callee = ast_dotted(value.func)
        if is_relationship_call(value, imports):
            sarels[name] = sa_relationship(value, ann, imports)
            continue
        if is_sa_column(value, imports):
            rec["sam"] = 1
            rec.setdefault("fa", {})[name] = _field_bits(value, ann)
            for arg in value.args:  # Column(ForeignKey("parent.id"), nullable=False)
                if isinstance(arg, ast.Call) and last_part(ast_dotted(arg.func)) == "ForeignKey" and arg.args:
                    table = (const_str(arg.args[0]) or ast_dotted(arg.args[0]) or "").split(".")[0]
                    rec.setdefault("sfk", {})[name] = table
            continue
        q = imports.ref(callee) if callee else None
        # managers: objects = X(), X.as_manager(), X.from_queryset(Y)()
        func = value.func
        if isinstance(func, ast.Attribute) and func.attr == "as_manager":
            managers[name] = ["as", imports.ref(ast_dotted(func.value))]
            continue
        if isinstance(func, ast.Call) and isinstance(func.func, ast.Attribute) and func.func.attr == "from_queryset":
            qs = imports.ref(ast_dotted(func.args[0])) if func.args else None
            managers[name] = ["fq", imports.ref(ast_dotted(func.func.value)), qs]
            continue
        if q and (name == "objects" or last_part(q).endswith("Manager")) and not last_part(q) in RELATION_FIELDS:
            managers[name] = ["c", q]
            continue
        kind = dj_field_kind(q)
        if kind:
            if last_part(q) in ("GenericForeignKey",):
                target = None
            elif last_part(q) in ("TaggableManager", "ClusterTaggableManager"):
                target = dj_target_ref(keyword_value(value, "through"), imports) or "q:taggit.models.Tag"
            else:
                target = dj_target_ref(value.args[0] if value.args else keyword_value(value, "to"), imports)
            related = const_str(keyword_value(value, "related_name"))
            entry = [kind, target, related]
            sym = keyword_value(value, "symmetrical")
            if isinstance(sym, ast.Constant) and sym.value is False:
                entry.append(0)
            rels[name] = entry
            if q.startswith("django.db.models") or last_part(q) in RELATION_FIELDS:
                rec["djf"] = 1
        elif q and (q.startswith("django.db.models.") or q.startswith("?models.")):
            rec["djf"] = 1
        if kind or q and (q.startswith("django.db.models.") or q.startswith("?models.")):
            bits = _field_bits(value, None)
            if bits:
                rec.setdefault("fa", {})[name] = bits
    if rels:
        rec["r"] = rels
    if sarels:
        rec["sa"] = sarels
    if managers:
        rec["mg"] = managers
    if methods:
        rec["f"] = methods
    return rec


NULL, UNIQUE, PK = 1, 2, 4  # field attribute bits ("fa")


def _field_bits(call: ast.Call, ann: Optional[ast.AST]) -> int:
    """Bits of a Django field or SQLAlchemy column (a ``Column`` is nullable unless a key,
    a ``mapped_column`` when its ``Mapped[...]`` annotation says ``Optional``/``None``)."""
    flags = {k.arg: k.value.value for k in call.keywords if isinstance(k.value, ast.Constant)}
    pk, func = flags.get("primary_key") is True, last_part(ast_dotted(call.func))
    if func not in ("Column", "mapped_column"):
        null = flags.get("null") is True
    elif "nullable" in flags:
        null = bool(flags["nullable"])
    else:
        null = not pk if func == "Column" or ann is None else any(
            t in ast.dump(ann) for t in ("'Optional'", "value=None", "BitOr"))
    return NULL * null | UNIQUE * (flags.get("unique") is True) | PK * pk


def _unique_sets(value: ast.AST, constraints: bool) -> List[List[str]]:
    """Field sets of ``unique_together`` or of ``UniqueConstraint``s (Django, SQLAlchemy)."""
    if not constraints:
        groups = [e for e in getattr(value, "elts", []) if hasattr(e, "elts")] or [value]
        named = ([const_str(e) for e in getattr(g, "elts", [])] for g in groups)
    else:
        named = ([const_str(e) for e in (getattr(keyword_value(c, "fields"), "elts", None) or c.args)]
                 for c in ast.walk(value) if isinstance(c, ast.Call) and last_part(ast_dotted(c.func)) == "UniqueConstraint")
    return [n for n in named if n and all(n)]


def _interesting(rec: Dict[str, Any]) -> bool:
    if len(rec) > 1 or "b" not in rec:
        return bool(rec)
    for base in rec["b"]:
        head = base.lstrip("?").split(".", 1)[0]
        if head not in ("enum", "typing", "abc", "Exception", "ValueError", "TypeError", "KeyError",
                        "RuntimeError", "unittest", "pytest", "dataclasses", "NamedTuple",
                        "TypedDict", "str", "int", "dict", "list", "collections", "argparse",
                        "logging", "json", "threading", "pydantic", "marshmallow", "graphene",
                        "strawberry", "rest_framework", "django_filters", "django", "flask",
                        "wtforms", "flask_wtf", "celery", "click", "jinja2", "werkzeug"):
            return True
        if head == "django" and ("models" in base or "Manager" in base or "QuerySet" in base or "contrib" in base):
            return True
    return False


@register
class OrmModels(FactCollector):
    kind = KIND
    requires = ("class ", "def ", "declarative_base", "SQLAlchemy")
    version = 7

    def collect(self, tree: ast.Module, relpath: str, module_name: str, source: str) -> Any:
        imports = AstImports(module_name, relpath.endswith("__init__.py") or relpath.endswith("__init__.pyi"))
        top: List[ast.stmt] = []
        work = list(tree.body)
        while work:  # module level, including under if/try (TYPE_CHECKING, fallbacks)
            stmt = work.pop(0)
            top.append(stmt)
            if isinstance(stmt, ast.If):
                work[0:0] = stmt.body + stmt.orelse
            elif isinstance(stmt, ast.Try):
                work[0:0] = stmt.body + [s for h in stmt.handlers for s in h.body] + stmt.orelse
        for node in nodes_of(tree, (ast.Import, ast.ImportFrom)):
            imports.add(node)
        db_vars: List[str] = []
        fq_vars: Dict[str, list] = {}
        aliases: Dict[str, str] = {}
        for stmt in top:
            if isinstance(stmt, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                imports.local(stmt.name)
            elif isinstance(stmt, (ast.Assign, ast.AnnAssign)):
                targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
                for t in targets:
                    if isinstance(t, ast.Name):
                        imports.local(t.id)
                        value = stmt.value
                        if isinstance(value, ast.Call):
                            last = last_part(ast_dotted(value.func) or (ast_dotted(value.func.func) if isinstance(value.func, ast.Call) else None))
                            if last in SA_BASE_FACTORIES:
                                db_vars.append(t.id)
                            func = value.func
                            if isinstance(func, ast.Attribute) and func.attr == "from_queryset":
                                fq_vars[t.id] = [ast_dotted(func.value), ast_dotted(value.args[0]) if value.args else None]
                            if last == "get_model":
                                # Product = get_model("catalogue", "Product") (apps.get_model, oscar)
                                strs = [const_str(a) for a in value.args]
                                if strs and all(strs) and len(strs) <= 2:
                                    aliases[t.id] = ".".join(strs)
        classes: Dict[str, Any] = {}
        functions: Dict[str, Any] = {}
        for stmt in top:
            if isinstance(stmt, ast.ClassDef):
                if any(last_part(ast_dotted(d.func if isinstance(d, ast.Call) else d)) in ("as_declarative", "mapped_as_dataclass") for d in stmt.decorator_list):
                    db_vars.append(stmt.name)
                rec = _class_record(stmt, imports, module_name)
                if _interesting(rec):
                    classes[stmt.name] = rec
            elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
                summary = _summary(stmt, imports, False)
                if summary:
                    functions[stmt.name] = summary
        for var, (base, qs) in fq_vars.items():
            rec = {"b": [imports.ref(base)] if base else [], "qs": imports.ref(qs)} if qs else None
            if rec:
                classes.setdefault(var, rec)
        part: Dict[str, Any] = {"m": module_name}
        if classes:
            part["c"] = classes
        if functions:
            part["f"] = functions
        if db_vars:
            part["db"] = db_vars
        if aliases:
            part["al"] = aliases
        return part if len(part) > 1 else None

    def merge(self, parts: Dict[str, Any]) -> Any:
        return _merge(parts)


# -- merge ---------------------------------------------------------------------------
def app_label(module: str) -> str:
    parts = module.split(".")
    if "models" in parts:
        i = parts.index("models")
        if i > 0:
            return parts[i - 1]
    return parts[-2] if len(parts) > 1 else parts[0]


class _Resolver:
    def __init__(self, classes: Dict[str, Dict[str, Any]], heads: Any):
        self.classes = classes
        self.heads = heads
        self.names: Dict[str, List[str]] = {}
        for key in classes:
            self.names.setdefault(key.rsplit(".", 1)[-1], []).append(key)
        self.cache: Dict[Tuple[str, str], Optional[str]] = {}

    def ref(self, q: Optional[str], from_module: str = "", pool: Optional[Dict[str, Any]] = None) -> Optional[str]:
        """The class key for a qualified (or ``?name``) reference, else None."""
        if not q:
            return None
        pool = self.classes if pool is None else pool
        ck = (q, from_module)
        if ck in self.cache and pool is self.classes:
            return self.cache[ck]
        out = resolve_ref(q, pool, self.names, from_module, self.heads)
        if pool is self.classes:
            self.cache[ck] = out
        return out


def resolve_ref(q: str, pool: Dict[str, Any], names: Dict[str, List[str]], from_module: str = "",
                heads: Optional[Any] = None) -> Optional[str]:
    """The key in ``pool`` that a reference means, or None.

    ``q`` is a qualified name (``shop.models.Order``, possibly a re-export of
    ``shop.models.orders.Order``) or ``?Name`` for a name no import binds. A qualified
    name outside the project's packages (``heads``) is never matched by class name.
    """
    loose = q.startswith("?")
    q = q.lstrip("?")
    if not loose and q in pool:
        return q
    if not loose and heads is not None and q.split(".", 1)[0] not in heads:
        return None
    if loose and from_module and f"{from_module}.{q}" in pool:
        return f"{from_module}.{q}"
    name = q.rsplit(".", 1)[-1]
    cands = [k for k in names.get(name, ()) if k in pool]
    if not cands:
        return None
    if len(cands) == 1:
        return cands[0]
    prefix = q.rsplit(".", 1)[0] if "." in q else ""
    if prefix and not loose:
        # ``pkg.models.Order`` re-exported from ``pkg.models.orders``
        under = [k for k in cands if k.startswith(prefix + ".")]
        if len(under) == 1:
            return under[0]
    if from_module:
        # the closest one to the referring module
        def shared(k: str) -> int:
            a, b = k.split("."), from_module.split(".")
            n = 0
            while n < min(len(a), len(b)) and a[n] == b[n]:
                n += 1
            return n

        best = max(shared(k) for k in cands)
        top = [k for k in cands if shared(k) == best]
        if len(top) == 1 and best > 0:
            return top[0]
    return None


def _merge(parts: Dict[str, Any]) -> Dict[str, Any]:
    classes: Dict[str, Dict[str, Any]] = {}
    modules: Dict[str, str] = {}
    functions: Dict[str, Any] = {}
    db_vars = set()
    alias_refs: Dict[str, Tuple[str, str]] = {}
    for relpath, part in parts.items():
        if not isinstance(part, dict):
            continue
        module = part.get("m", "")
        for name, rec in part.get("c", {}).items():
            key = f"{module}.{name}" if module else name
            classes[key] = rec
            modules[key] = module
        for name, summary in part.get("f", {}).items():
            functions[f"{module}.{name}" if module else name] = summary
        for var in part.get("db", ()):
            db_vars.add(f"{module}.{var}" if module else var)
        for var, ref in part.get("al", {}).items():
            alias_refs[f"{module}.{var}" if module else var] = (ref, module)
    # the project's top-level names: packages, and directories (namespace packages)
    heads = frozenset(m.split(".", 1)[0] for m in modules.values() if m) | frozenset(
        k.split(".", 1)[0] for k in functions) | frozenset(
        r.split("/", 1)[0].rsplit(".", 1)[0] for r in parts)
    res = _Resolver(classes, heads)
    bases: Dict[str, List[str]] = {}
    raw_bases: Dict[str, List[str]] = {}
    for key, rec in classes.items():
        raw_bases[key] = list(rec.get("b", ()))
        bases[key] = [k for k in (res.ref(b, modules[key]) for b in rec.get("b", ())) if k and k != key]

    def ancestors(key: str) -> List[str]:
        """key's bases, transitively, nearest first (a simple linearisation)."""
        out, seen, work = [], {key}, list(bases.get(key, ()))
        while work:
            k = work.pop(0)
            if k in seen:
                continue
            seen.add(k)
            out.append(k)
            work.extend(bases.get(k, ()))
        return out

    anc = {key: ancestors(key) for key in classes}

    def ext_bases(key: str) -> List[str]:
        out = []
        for k in [key] + anc[key]:
            out.extend(b.lstrip("?") for b in raw_bases.get(k, ()) if res.ref(b, modules[k]) is None)
        return out

    # -- Django models --------------------------------------------------------------
    def is_dj(key: str) -> bool:
        for k in [key] + anc[key]:
            rec = classes[k]
            if rec.get("djf") or rec.get("meta") and rec.get("r"):
                return True
        ext = ext_bases(key)
        return any(b in DJANGO_MODEL_BASES or b.endswith("models.Model") for b in ext)

    def is_sa(key: str) -> bool:
        for k in [key] + anc[key]:
            rec = classes[k]
            if rec.get("sam") or rec.get("sa"):
                return True
        for b in ext_bases(key):
            if b in SA_BASES:
                return True
            head = b.rsplit(".", 1)[0]
            if b in db_vars or (b.endswith(".Model") and head in db_vars):
                return True
        return False

    field_classes: Dict[str, str] = {}  # project subclasses of relation fields -> kind

    def field_kind(callee: str, module: str) -> Optional[str]:
        last = last_part(callee)
        key = res.ref(callee, module)
        if key is not None:
            if key in field_classes:
                return field_classes[key]
            for k in [key] + anc.get(key, []):
                for b in raw_bases.get(k, ()):
                    if res.ref(b, modules[k]) is None and last_part(b) in RELATION_FIELDS:
                        field_classes[key] = RELATION_FIELDS[last_part(b)]
                        return field_classes[key]
            field_classes[key] = None
            return None
        if last in RELATION_FIELDS and (callee.startswith(RELATION_LIBS) or callee.startswith("?")):
            return RELATION_FIELDS[last]
        return None

    dj_keys = [k for k in classes if not _is_field_class(k, classes, raw_bases) and is_dj(k)]
    dj_set = set(dj_keys)
    dj_pool = {k: 1 for k in dj_keys}
    names = res.names
    labels = {k: (classes[k].get("app") or app_label(modules[k])) for k in dj_keys}

    known_labels = set(labels.values())
    user_model = None
    for k in dj_keys:
        if k.rsplit(".", 1)[-1] == "User" and not classes[k].get("ab"):
            user_model = k if user_model is None else user_model

    def dj_target(target: Optional[str], owner: str) -> Optional[str]:
        if not target:
            return None
        kind, _, rest = target.partition(":")
        if kind == "u":
            return user_model
        if kind == "q":
            return resolve_ref(rest, dj_pool, names, modules[owner], heads)
        if rest == "self":
            return owner
        if "." in rest or owner is None:
            app, _, name = rest.rpartition(".")
            cands = [k for k in names.get(name, ()) if k in dj_set and labels[k] == app]
            if len(cands) == 1:
                return cands[0]
            if app in known_labels or app in CONTRIB_LABELS:
                return None  # "auth.User": Django's, not a project model of the same name
            cands = [k for k in names.get(name, ()) if k in dj_set]  # a custom AppConfig.label
            return cands[0] if len(cands) == 1 else None
        cands = [k for k in names.get(rest, ()) if k in dj_set]
        same = [k for k in cands if labels[k] == labels[owner]]
        if len(same) == 1:
            return same[0]
        return cands[0] if len(cands) == 1 else None

    dj: Dict[str, Dict[str, Any]] = {}
    own_fields: Dict[str, Dict[str, list]] = {}
    for key in dj_keys:
        fields: Dict[str, list] = {}
        for k in reversed([key] + anc[key]):
            for attr, (callee, target, related, *rest) in classes[k].get("r", {}).items():
                kind = field_kind(callee, modules[k])
                if kind is None:
                    continue
                tkey = dj_target(target, key if target == "s:self" else k)
                if target == "s:self":
                    tkey = key
                fields[attr] = [kind, tkey, related, bool(rest) and rest[0] == 0]
        own_fields[key] = fields
        abstract = bool(classes[key].get("ab"))
        mgrs: Dict[str, str] = {}
        for k in reversed([key] + anc[key]):
            for attr, desc in classes[k].get("mg", {}).items():
                mgrs[attr] = _manager_key(desc, res, modules[k], classes)
        dj[key] = {"n": key.rsplit(".", 1)[-1], "a": labels[key], "r": {a: [f[0], f[1], None] for a, f in fields.items()}, "m": mgrs}
        _attributes(dj[key], [classes[k] for k in reversed([key] + anc[key])], ("fa", "ut"))
        if abstract:
            dj[key]["ab"] = 1
    # reverse accessors
    reverse: Dict[str, Dict[str, list]] = {}
    for key in dj_keys:
        if classes[key].get("ab"):
            continue
        name = key.rsplit(".", 1)[-1]
        drn = None
        for k in [key] + anc[key]:
            drn = classes[k].get("drn")
            if drn:
                break
        for attr, (kind, tkey, related, asym) in own_fields[key].items():
            if tkey is None or kind not in (FK, O2O, M2M):
                continue
            if kind == M2M and tkey == key and not asym:
                continue  # symmetrical m2m to self: no reverse accessor
            rn = related or drn
            if rn:
                rn = rn.replace("%(class)s", name.lower()).replace("%(app_label)s", labels[key].lower()).replace("%(model_name)s", name.lower())
                if rn.endswith("+"):
                    continue
            else:
                rn = name.lower() if kind == O2O else f"{name.lower()}_set"
            rkind = REVERSE_KIND[kind]
            reverse.setdefault(tkey, {})[rn] = [rkind, key, attr]
        # multi-table inheritance: the parent gets a reverse one-to-one to the child
        if not classes[key].get("px"):
            for b in bases.get(key, ()):
                if b in dj_set and not classes[b].get("ab"):
                    reverse.setdefault(b, {})[name.lower()] = [RO2O, key, f"{b.rsplit('.', 1)[-1].lower()}_ptr"]
    for key in dj_keys:
        rels = dj[key]["r"]
        for k in reversed([key] + [a for a in anc[key] if a in dj_set]):
            for attr, entry in reverse.get(k, {}).items():
                rels.setdefault(attr, entry)
    # -- SQLAlchemy -------------------------------------------------------------------
    sa_keys = [k for k in classes if k not in dj_set and is_sa(k)]
    sa_set = set(sa_keys)
    sa_pool = {k: 1 for k in sa_keys}

    def sa_target(target: Optional[str], owner: str) -> Optional[str]:
        if not target:
            return None
        kind, _, rest = target.partition(":")
        if kind == "q":
            return resolve_ref(rest, sa_pool, names, modules[owner], heads)
        rest = rest.strip()
        if "." in rest and rest in sa_pool:
            return rest
        return resolve_ref("?" + rest.rsplit(".", 1)[-1] if "." not in rest else rest, sa_pool, names, modules[owner])

    sa: Dict[str, Dict[str, Any]] = {}
    backrefs: Dict[str, Dict[str, list]] = {}
    for key in sa_keys:
        rels: Dict[str, list] = {}
        for k in reversed([key] + anc[key]):
            for attr, (target, lazy, uselist, backref, backref_lazy, back_pop) in classes[k].get("sa", {}).items():
                tkey = sa_target(target, k)
                rels[attr] = [tkey, norm_lazy(lazy), uselist, back_pop or backref]
                if backref and tkey:
                    back_uselist = None if uselist is None else not uselist
                    backrefs.setdefault(tkey, {})[backref] = [key, norm_lazy(backref_lazy), back_uselist, attr]
        sa[key] = {"n": key.rsplit(".", 1)[-1], "r": rels}
        _attributes(sa[key], [classes[k] for k in reversed([key] + anc[key])], ("fa", "ut", "sfk", "tn"))
    for key in sa_keys:
        rels = sa[key]["r"]
        for k in [key] + [a for a in anc[key] if a in sa_set]:
            for attr, entry in backrefs.get(k, {}).items():
                rels.setdefault(attr, entry)
    # -- classes with summaries (views, managers, querysets) ----------------------------
    cls_out: Dict[str, Dict[str, Any]] = {}
    qs_methods = set()
    manager_like = set()
    for key, rec in classes.items():
        if _is_manager(key, anc, raw_bases, classes, res, modules):
            manager_like.add(key)
    for key, rec in classes.items():
        entry: Dict[str, Any] = {}
        if bases.get(key):
            entry["b"] = bases[key]
        if rec.get("f"):
            entry["f"] = {m: s for m, s in rec["f"].items()
                          if s or m in ("get_queryset", "get_object") or key in manager_like}
            if key in manager_like:
                qs_methods.update(rec["f"])
        if rec.get("q"):
            entry["q"] = rec["q"]
        if rec.get("mo"):
            mo = res.ref(rec["mo"], modules[key])
            if mo:
                entry["mo"] = mo
        if rec.get("qs"):
            qk = res.ref(rec["qs"], modules[key])
            if qk:
                entry["qs"] = qk
        if key in manager_like:
            entry["mgr"] = 1
        if entry.get("f") or entry.get("q") or entry.get("mo") or entry.get("qs") or key in manager_like:
            cls_out[key] = entry
    # keep the classes that inherit from one we keep (views inherit get_queryset), and
    # the base chains in between
    kept = set(cls_out)
    for key in classes:
        if key in kept or not any(a in kept for a in anc[key]):
            continue
        for k in [key] + anc[key]:
            if k not in cls_out:
                cls_out[k] = {"b": bases[k]} if bases.get(k) else {}
    aliases: Dict[str, str] = {}
    for var, (ref, module) in alias_refs.items():
        key = dj_target("s:" + ref, None) if "." in ref else None
        if key:
            aliases[var] = key
    out_names: Dict[str, List[str]] = {}
    for key in list(dj) + list(sa) + list(cls_out):
        out_names.setdefault(key.rsplit(".", 1)[-1], [])
        if key not in out_names[key.rsplit(".", 1)[-1]]:
            out_names[key.rsplit(".", 1)[-1]].append(key)
    return {
        "dj": dj,
        "sa": sa,
        "cls": cls_out,
        "fn": functions,
        "names": out_names,
        "qsm": sorted(qs_methods - {"get_queryset", "__init__"}),
        "user": user_model,
        "heads": sorted(heads),
        "alias": aliases,
    }


def _attributes(out: Dict[str, Any], recs: List[Dict[str, Any]], keys: Tuple[str, ...]) -> None:
    """Field attributes, unique sets, FK columns and table name, bases first."""
    for k, value in ((k, rec[k]) for rec in recs for k in keys if k in rec):
        out[k] = {**out.get(k, {}), **value} if isinstance(value, dict) else out.get(k, []) + value if isinstance(value, list) else value


def _is_field_class(key: str, classes: Dict[str, Any], raw_bases: Dict[str, List[str]]) -> bool:
    return any(last_part(b) in RELATION_FIELDS or last_part(b).endswith("Field") for b in raw_bases.get(key, ()))


def _is_manager(key, anc, raw_bases, classes, res, modules) -> bool:
    for k in [key] + anc[key]:
        if classes[k].get("qs"):
            return True
        for b in raw_bases.get(k, ()):
            last = last_part(b)
            if b.lstrip("?") in DJANGO_MANAGER_BASES or last in ("Manager", "QuerySet", "BaseManager"):
                return True
            if res.ref(b, modules[k]) is None and (last.endswith("Manager") or last.endswith("QuerySet")):
                return True
    return False


def _manager_key(desc: list, res: _Resolver, module: str, classes: Dict[str, Any]) -> str:
    """A manager attribute's class key ('' for a plain manager); as_manager() -> the QS class."""
    kind = desc[0]
    if kind == "as":
        k = res.ref(desc[1], module)
        return k or ""
    if kind == "fq":
        k = res.ref(desc[2], module) if desc[2] else None
        return k or ""
    k = res.ref(desc[1], module)
    return k or ""


# -- the reader --------------------------------------------------------------------------
class ModelRef(NamedTuple):
    """A model the index knows: its framework (``"dj"`` or ``"sa"``) and key."""

    framework: str
    key: str


class DjangoRelation(NamedTuple):
    """A Django relation attribute of a model."""

    kind: str  # knowledge.models FK, O2O, M2M, GFK, GREL, RFK, RO2O, RM2M
    target: Optional[str]  # the related model's key (None: not resolved)
    field: Optional[str]  # reverse relations: the field on the target that points back


class SaRelationship(NamedTuple):
    """A SQLAlchemy ``relationship()`` (or backref) of a mapped class."""

    target: Optional[str]
    lazy: str  # normalised ``lazy=`` ("select", "joined", "dynamic", ...)
    uselist: Optional[bool]  # None: not said (a collection unless the other side says so)
    inverse: Optional[str]  # back_populates / backref name on the target


# A field's ``null=`` / ``nullable``, ``unique=`` and ``primary_key=``.
FieldInfo = NamedTuple("FieldInfo", [("null", bool), ("unique", bool), ("primary_key", bool)])


class ModelIndex:
    """Lookups over the merged ``orm_models`` fact, memoised; one per fact and process
    (``ModelIndex.of(facts.get(KIND))``: ``prepare`` builds it before workers fork)."""

    _cache: Dict[int, "ModelIndex"] = {}

    @classmethod
    def of(cls, data: Optional[dict]) -> "ModelIndex":
        data = data or {}
        view = cls._cache.get(id(data))
        if view is None or view.data is not data:
            view = cls(data)
            cls._cache = {id(data): view}
        return view

    def __init__(self, data: dict):
        self.data = data
        self._dj = data.get("dj", {})
        self._sa = data.get("sa", {})
        self._cls = data.get("cls", {})
        self._fn = data.get("fn", {})
        self._names = data.get("names", {})
        self.queryset_methods = frozenset(data.get("qsm", ()))  # methods of project managers/querysets
        self.user_model = data.get("user")  # the project's User model key, if any
        self._heads = frozenset(data.get("heads", ()))
        self._alias = data.get("alias", {})
        self._refs: Dict[Tuple[str, str], Optional[ModelRef]] = {}
        self._fn_names: Optional[Dict[str, List[str]]] = None
        self._methods: Dict[Tuple[str, str, bool], Any] = {}

    # -- models -------------------------------------------------------------------
    def is_django_model(self, key: Optional[str]) -> bool:
        return key in self._dj

    def is_sa_model(self, key: Optional[str]) -> bool:
        return key in self._sa

    def is_alias(self, qualified: str) -> bool:
        """``Product = get_model("catalogue", "Product")`` at module level."""
        return qualified in self._alias

    def model(self, q: str, module: str) -> Optional[ModelRef]:
        """The model a qualified (or ``?Name``) reference from ``module`` means."""
        key = (q, module)
        if key in self._refs:
            return self._refs[key]
        out = None
        k = q if q in self._dj or q in self._sa else self._alias.get(q)
        if k is None:
            name = q.lstrip("?").rsplit(".", 1)[-1]
            if name in self._names and name[:1].isupper():
                pool = {c: 1 for c in self._names[name] if c in self._dj or c in self._sa}
                if pool:
                    k = resolve_ref(q, pool, self._names, module, self._heads)
        if k is not None:
            out = ModelRef("dj", k) if k in self._dj else ModelRef("sa", k)
        self._refs[key] = out
        return out

    def model_name(self, fw: str, key: Optional[str]) -> str:
        if not key:
            return "?"
        table = self._dj if fw == "dj" else self._sa
        m = table.get(key)
        return m["n"] if m else key.rsplit(".", 1)[-1]

    def django_relation(self, model: Optional[str], attr: str) -> Optional[DjangoRelation]:
        m = self._dj.get(model) if model else None
        entry = m["r"].get(attr) if m else None
        return DjangoRelation(entry[0], entry[1], entry[2]) if entry is not None else None

    def sa_relationship(self, model: Optional[str], attr: str) -> Optional[SaRelationship]:
        m = self._sa.get(model) if model else None
        entry = m["r"].get(attr) if m else None
        return SaRelationship(entry[0], entry[1], entry[2], entry[3]) if entry is not None else None

    def django_relations(self, model: Optional[str]) -> Dict[str, DjangoRelation]:
        """Every relation attribute of a Django model (reverse accessors included)."""
        m = self._dj.get(model) if model else None
        return {attr: DjangoRelation(e[0], e[1], e[2]) for attr, e in (m["r"] if m else {}).items()}

    def sa_relationships(self, model: Optional[str]) -> Dict[str, SaRelationship]:
        """Every relationship of a mapped class (backrefs from other classes included)."""
        m = self._sa.get(model) if model else None
        return {attr: SaRelationship(e[0], e[1], e[2], e[3]) for attr, e in (m["r"] if m else {}).items()}

    def managers(self, model: Optional[str]) -> Dict[str, str]:
        """Manager attribute -> manager (or QuerySet) class key ('' for a plain one)."""
        m = self._dj.get(model) if model else None
        return m.get("m", {}) if m else {}

    # -- field attributes (Django fields, SQLAlchemy columns) ------------------------
    def field(self, model: Optional[str], name: str) -> Optional[FieldInfo]:
        """None: unknown model or SQLAlchemy non-column; unrecorded Django fields: defaults."""
        m = self._dj.get(model) or self._sa.get(model) if model else None
        if m is None or model in self._sa and name not in m.get("fa", {}):
            return None
        bits = m.get("fa", {}).get(name, 0)
        return FieldInfo(bool(bits & NULL), bool(bits & UNIQUE), bool(bits & PK))

    def required_fk(self, child: Optional[str], parent: Optional[str]) -> bool:
        """Does ``child`` hold a non-null foreign key (or one-to-one) to ``parent``?"""
        if child in self._dj and parent:
            return any(r[0] in (FK, O2O) and r[1] == parent and not self.field(child, a).null
                       for a, r in self._dj[child]["r"].items())
        table = self._sa.get(parent, {}).get("tn") if child in self._sa else None
        return bool(table) and any(t == table and not self.field(child, c).null for c, t in self._sa[child].get("sfk", {}).items())

    def unique_fields(self, model: Optional[str]) -> List[Tuple[str, ...]]:
        """Unique field sets: ``("email",)`` (unique or key), ``("org", "slug")`` (together)."""
        m = (self._dj.get(model) or self._sa.get(model) or {}) if model else {}
        singles = [(f,) for f, bits in m.get("fa", {}).items() if bits & (UNIQUE | PK)]
        return singles + [tuple(g) for g in m.get("ut", [])]

    # -- classes and functions with summaries ----------------------------------------
    def class_key(self, q: str, module: str) -> Optional[str]:
        if q in self._cls:
            return q
        name = q.lstrip("?").rsplit(".", 1)[-1]
        pool = {c: 1 for c in self._names.get(name, ()) if c in self._cls}
        return resolve_ref(q, pool, self._names, module, self._heads) if pool else None

    def is_manager(self, class_key: Optional[str]) -> bool:
        """A project Manager / QuerySet class (or one derived from one)."""
        return bool(self._cls.get(class_key, {}).get("mgr"))

    def function_key(self, q: str, module: str) -> Optional[str]:
        if q in self._fn:
            return q
        if self._fn_names is None:
            self._fn_names = {}
            for k in self._fn:
                self._fn_names.setdefault(k.rsplit(".", 1)[-1], []).append(k)
        name = q.rsplit(".", 1)[-1]
        if name not in self._fn_names:
            return None
        return resolve_ref(q, self._fn, self._fn_names, module, self._heads)

    def function(self, q: str) -> Optional[list]:
        """The summary (return-expression IR list) of a project function."""
        return self._fn.get(q)

    def method(self, class_key: Optional[str], method: str, skip_self: bool = False) -> Optional[Tuple[Any, str]]:
        """(summary, defining class) of ``method`` on a class or its bases (and linked
        QuerySet class); the summary is 0 for a method defined but not understood."""
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
            entry = self._cls.get(k)
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

    def view_queryset(self, class_key: Optional[str]) -> Optional[Tuple[Any, str]]:
        """(IR, defining class) of a ``queryset = ...`` class attribute, inherited too."""
        return self._class_attr(class_key, "q")

    def view_model(self, class_key: Optional[str]) -> Optional[Tuple[Any, str]]:
        """(model key, defining class) of a ``model = ...`` class attribute, inherited too."""
        return self._class_attr(class_key, "mo")

    def _class_attr(self, class_key: Optional[str], attr: str) -> Optional[Tuple[Any, str]]:
        seen = set()
        work = [class_key] if class_key else []
        while work:
            k = work.pop(0)
            if k in seen:
                continue
            seen.add(k)
            entry = self._cls.get(k)
            if entry is None:
                continue
            if attr in entry:
                return entry[attr], k
            work.extend(entry.get("b", ()))
        return None


# TODO(merge): the old name; tests/test_workers.py patches ``FactsView`` (import lines only there).
FactsView = ModelIndex
