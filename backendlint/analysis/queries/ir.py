"""The LibCST front end of the query analysis: expressions and statements as a small IR.

The IR is shared with the project index: ``backendlint.index.models`` writes function
summaries in the same expression IR from the stdlib ``ast`` (its ``_Summariser`` is
the twin of ``expression_ir``; ``tests/test_twins_queries.py`` pins where they agree).
An IR node is a tuple ``(kind, origin, ...)``; origin is the LibCST node here and 0
in the index. The kinds are named in ``backendlint.index.models`` (``IR_NAME`` ...)::

    expressions                                      statements (this module only)
    n   IR_NAME       ("n", o, name)                 A   ST_ASSIGN  ("A", o, [targets], value, augmented)
    g   IR_GLOBAL     ("g", o, qualified)  (index)   E   ST_EXPR    ("E", o, value)  (also assert / del)
    a   IR_ATTR       ("a", o, value, attr)          R   ST_RETURN  ("R", o, value or None)
    c   IR_CALL       ("c", o, func, [args], [(kw, value)], star)
    s   IR_STR        ("s", o, text)                 X   ST_RAISE   ("X", o, exc or None)
    k   IR_CONST      ("k", o, value)                B   ST_BREAK   ("B", o)
    i   IR_INDEX      ("i", o, value, index)         C   ST_CONTINUE ("C", o)
    sl  IR_SLICE      ("sl", o, lower, upper, step)  I   ST_IF      ("I", o, test, body, orelse)
    w   IR_AWAIT      ("w", o, value)                F   ST_FOR     ("F", o, target, iter, body, orelse, async)
    l   IR_LAMBDA     ("l", o, body)                 W   ST_WHILE   ("W", o, test, body, orelse)
    t   IR_TUPLE      ("t", o, [elements])           WI  ST_WITH    ("WI", o, [(item, target)], body, async)
    d   IR_DICT       ("d", o, [keys], [values])     T   ST_TRY     ("T", o, body, [(name, body)], orelse, final)
    cp  IR_COMP       ("cp", o, kind, elt, [(target, iter, [ifs], async)])
    cm  IR_COMPARE    ("cm", o, left, [(op, right)]) M   ST_MATCH   ("M", o, subject, [case bodies])
    nt  IR_NOT        ("nt", o, operand)             D   ST_DEF     ("D", o, name)  (def / class)
    bo  IR_BOOLOP     ("bo", o, [operands])
    ie  IR_IFEXP      ("ie", o, test, body, orelse)
    nw  IR_WALRUS     ("nw", o, target, value)
    alt IR_ALT        ("alt", o, [alternatives])  (index summaries only)
    x   IR_OTHER      ("x", o, [children])  anything else (children still evaluated)

The tags stay short strings: summaries are cached as JSON in the index, and the cache's
shape (and so the corpus output) does not change with this layout.
"""

from __future__ import annotations

from typing import Any, Iterable, Optional

import libcst as cst

from backendlint.index.models import (
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
    IR_LAMBDA,
    IR_NAME,
    IR_NOT,
    IR_OTHER,
    IR_SLICE,
    IR_STR,
    IR_TUPLE,
    IR_WALRUS,
)
from backendlint.syntax.literals import string_value
from backendlint.syntax.names import last_of
from backendlint.syntax.walk import statements

# Statement kinds (built here only; the index summarises expressions).
ST_ASSIGN = "A"
ST_EXPR = "E"
ST_RETURN = "R"
ST_RAISE = "X"
ST_BREAK = "B"
ST_CONTINUE = "C"
ST_IF = "I"
ST_FOR = "F"
ST_WHILE = "W"
ST_WITH = "WI"
ST_TRY = "T"
ST_MATCH = "M"
ST_DEF = "D"


def expression_ir(node: cst.CSTNode) -> tuple:
    """IR of a LibCST expression (the kinds: see the module docstring)."""
    tp = type(node)
    if tp is cst.Name:
        v = node.value
        if v in ("True", "False", "None"):
            return (IR_CONST, node, None)
        return (IR_NAME, node, v)
    if tp is cst.Attribute:
        return (IR_ATTR, node, expression_ir(node.value), node.attr.value)
    if tp is cst.Call:
        args, kws, star = [], [], 0
        for a in node.args:
            if a.star:
                star = 1
                continue
            if a.keyword is not None:
                kws.append((a.keyword.value, expression_ir(a.value)))
            else:
                args.append(expression_ir(a.value))
        return (IR_CALL, node, expression_ir(node.func), args, kws, star)
    if tp is cst.SimpleString or tp is cst.ConcatenatedString:
        try:
            value = string_value(node) if tp is cst.SimpleString else node.evaluated_value
        except Exception:  # noqa: BLE001 - odd prefixes
            value = None
        if isinstance(value, str):
            return (IR_STR, node, value)
        return (IR_CONST, node, None)
    if tp in (cst.Integer, cst.Float, cst.Imaginary, cst.Ellipsis):
        return (IR_CONST, node, None)
    if tp is cst.Subscript:
        if len(node.slice) == 1:
            sl = node.slice[0].slice
            if isinstance(sl, cst.Index):
                return (IR_INDEX, node, expression_ir(node.value), expression_ir(sl.value))
            if isinstance(sl, cst.Slice):
                parts = [expression_ir(p) if p is not None else None for p in (sl.lower, sl.upper, sl.step)]
                return (IR_INDEX, node, expression_ir(node.value), (IR_SLICE, sl, *parts))
        return (IR_OTHER, node, [expression_ir(node.value)])
    if tp is cst.Await:
        return (IR_AWAIT, node, expression_ir(node.expression))
    if tp is cst.Lambda:
        return (IR_LAMBDA, node, None)
    if tp in (cst.Tuple, cst.List, cst.Set):
        elts = []
        for el in node.elements:
            if isinstance(el, cst.StarredElement):
                elts.append((IR_OTHER, el, [expression_ir(el.value)]))
            else:
                elts.append(expression_ir(el.value))
        return (IR_TUPLE, node, elts)
    if tp is cst.Dict:
        keys, values = [], []
        for el in node.elements:
            if isinstance(el, cst.DictElement):
                keys.append(expression_ir(el.key))
                values.append(expression_ir(el.value))
            else:
                values.append(expression_ir(el.value))
        return (IR_DICT, node, keys, values)
    if tp in (cst.ListComp, cst.SetComp, cst.GeneratorExp, cst.DictComp):
        gens = []
        comp = node.for_in
        while comp is not None:
            gens.append((expression_ir(comp.target), expression_ir(comp.iter), [expression_ir(i.test) for i in comp.ifs], comp.asynchronous is not None))
            comp = comp.inner_for_in
        if tp is cst.DictComp:
            elt = (IR_TUPLE, node, [expression_ir(node.key), expression_ir(node.value)])
        else:
            elt = expression_ir(node.elt)
        return (IR_COMP, node, tp.__name__, elt, gens)
    if tp is cst.Comparison:
        return (IR_COMPARE, node, expression_ir(node.left), [(type(c.operator).__name__, expression_ir(c.comparator)) for c in node.comparisons])
    if tp is cst.UnaryOperation:
        if isinstance(node.operator, cst.Not):
            return (IR_NOT, node, expression_ir(node.expression))
        return (IR_OTHER, node, [expression_ir(node.expression)])
    if tp is cst.BooleanOperation or tp is cst.BinaryOperation:
        # long chains (a + b + c ...) nest to the left: flatten them without recursion
        operands = []
        cur = node
        while type(cur) is tp:
            operands.append(cur.right)
            cur = cur.left
        operands.append(cur)
        kids = [expression_ir(o) for o in reversed(operands)]
        return (IR_BOOLOP if tp is cst.BooleanOperation else IR_OTHER, node, kids)
    if tp is cst.IfExp:
        return (IR_IFEXP, node, expression_ir(node.test), expression_ir(node.body), expression_ir(node.orelse))
    if tp is cst.NamedExpr:
        return (IR_WALRUS, node, expression_ir(node.target), expression_ir(node.value))
    if tp is cst.FormattedString:
        kids = [expression_ir(p.expression) for p in node.parts if isinstance(p, cst.FormattedStringExpression)]
        return (IR_OTHER, node, kids)
    if tp is cst.Yield:
        value = node.value
        if isinstance(value, cst.From):
            value = value.item
        return (IR_OTHER, node, [expression_ir(value)] if value is not None else [])
    if tp is cst.StarredElement:
        return (IR_OTHER, node, [expression_ir(node.value)])
    return (IR_OTHER, node, [])



def statements_ir(stmts: Iterable[cst.CSTNode]) -> list:
    """IR of a list of LibCST statements (the kinds: see the module docstring)."""
    out: list = []
    for st in stmts:
        tp = type(st)
        if tp is cst.SimpleStatementLine or tp is cst.SimpleStatementSuite:
            out.extend(statements_ir(st.body))
        elif tp is cst.Assign:
            out.append((ST_ASSIGN, st, [expression_ir(t.target) for t in st.targets], expression_ir(st.value), 0))
        elif tp is cst.AnnAssign:
            if st.value is not None:
                out.append((ST_ASSIGN, st, [expression_ir(st.target)], expression_ir(st.value), 0))
        elif tp is cst.AugAssign:
            out.append((ST_ASSIGN, st, [expression_ir(st.target)], expression_ir(st.value), 1))
        elif tp is cst.Expr:
            out.append((ST_EXPR, st, expression_ir(st.value)))
        elif tp is cst.Return:
            out.append((ST_RETURN, st, expression_ir(st.value) if st.value is not None else None))
        elif tp is cst.Raise:
            out.append((ST_RAISE, st, expression_ir(st.exc) if st.exc is not None else None))
        elif tp is cst.Break:
            out.append((ST_BREAK, st))
        elif tp is cst.Continue:
            out.append((ST_CONTINUE, st))
        elif tp is cst.Assert:
            out.append((ST_EXPR, st, expression_ir(st.test)))
        elif tp is cst.Del:
            out.append((ST_EXPR, st, (IR_OTHER, st, [])))
        elif tp is cst.If:
            orelse = st.orelse
            if isinstance(orelse, cst.If):
                rest = statements_ir([orelse])
            elif isinstance(orelse, cst.Else):
                rest = statements_ir(statements(orelse.body))
            else:
                rest = []
            out.append((ST_IF, st, expression_ir(st.test), statements_ir(statements(st.body)), rest))
        elif tp is cst.For:
            orelse = statements_ir(statements(st.orelse.body)) if st.orelse is not None else []
            out.append((ST_FOR, st, expression_ir(st.target), expression_ir(st.iter), statements_ir(statements(st.body)), orelse, st.asynchronous is not None))
        elif tp is cst.While:
            orelse = statements_ir(statements(st.orelse.body)) if st.orelse is not None else []
            out.append((ST_WHILE, st, expression_ir(st.test), statements_ir(statements(st.body)), orelse))
        elif tp is cst.With:
            items = [(expression_ir(i.item), expression_ir(i.asname.name) if i.asname is not None else None) for i in st.items]
            out.append((ST_WITH, st, items, statements_ir(statements(st.body)), st.asynchronous is not None))
        elif tp is cst.Try or tp is cst.TryStar:
            handlers = []
            for h in st.handlers:
                name = h.name.name if h.name is not None else None
                handlers.append((expression_ir(name) if isinstance(name, cst.Name) else None, statements_ir(statements(h.body))))
            orelse = statements_ir(statements(st.orelse.body)) if st.orelse is not None else []
            final = statements_ir(statements(st.finalbody.body)) if st.finalbody is not None else []
            out.append((ST_TRY, st, statements_ir(statements(st.body)), handlers, orelse, final))
        elif tp is cst.Match:
            out.append((ST_MATCH, st, expression_ir(st.subject), [statements_ir(statements(c.body)) for c in st.cases]))
        elif tp in (cst.FunctionDef, cst.ClassDef):
            out.append((ST_DEF, st, st.name.value))
        # pass, import, global, nonlocal: nothing to evaluate
    return out


def render(e: Any, budget: int = 6) -> str:
    """Short source-like text of an IR expression, for messages."""
    if e is None or budget <= 0:
        return "..."
    k = e[0]
    if k in (IR_NAME,):
        return e[2]
    if k == IR_GLOBAL:
        return e[2].rsplit(".", 1)[-1]
    if k == IR_ATTR:
        return f"{render(e[2], budget - 1)}.{e[3]}"
    if k == IR_CALL:
        inner = "..." if (e[3] or e[4] or e[5]) else ""
        return f"{render(e[2], budget - 1)}({inner})"
    if k == IR_INDEX:
        return f"{render(e[2], budget - 1)}[...]"
    if k == IR_AWAIT:
        return f"await {render(e[2], budget - 1)}"
    if k == IR_STR:
        return repr(e[2]) if len(e[2]) < 20 else "'...'"
    if k == IR_TUPLE:
        return "(...)"
    return "..."



def dotted_ir(e: Any) -> Optional[str]:
    parts = []
    while e is not None and e[0] == IR_ATTR:
        parts.append(e[3])
        e = e[2]
    if e is not None and e[0] in (IR_NAME, IR_GLOBAL):
        parts.append(e[2])
        return ".".join(reversed(parts))
    if e is not None and e[0] == IR_CALL and e[2][0] == IR_ATTR:
        # self.get_session().query(...) -> "get_session()"
        return None
    return None


def last_name_ir(e: Any) -> str:
    if e is None:
        return ""
    if e[0] == IR_ATTR:
        return e[3]
    if e[0] in (IR_NAME, IR_GLOBAL):
        return last_of(e[2])
    if e[0] == IR_CALL:
        return last_name_ir(e[2]) + "()"
    return ""



def assigns(body: list, var: str, container: bool) -> bool:
    """Does ``body`` (re)assign ``var``, or (``container``) store into it?"""
    work = list(body)
    while work:
        st = work.pop()
        k = st[0]
        if k == ST_ASSIGN:
            for t in st[2]:
                if not container and dotted_ir(t) == var:
                    return True
                if container and t[0] == IR_INDEX and dotted_ir(t[2]) == var:
                    return True
        elif k == ST_EXPR and container:
            e = st[2]
            if e[0] == IR_CALL and e[2][0] == IR_ATTR and e[2][3] in ("add", "append", "setdefault", "update") and dotted_ir(e[2][2]) == var:
                return True
        elif k == ST_IF:
            work.extend(st[3])
            work.extend(st[4])
        elif k in (ST_WITH,):
            work.extend(st[3])
        elif k == ST_TRY:
            work.extend(st[2])
    return False


def stores(body: list, var: str) -> bool:
    """Does ``body`` store ``var`` into a container (``cache[key] = var``)?"""
    for st in body:
        if st[0] == ST_ASSIGN and any(t[0] == IR_INDEX for t in st[2]) and st[3][0] == IR_NAME and st[3][2] == var:
            return True
        if st[0] == ST_IF and (stores(st[3], var) or stores(st[4], var)):
            return True
    return False

