"""The N+1 analysis of one file, shared by BL401 and BL402 through the context.

``LoopOwners`` (a mixin of both rules) notes, during the single traversal, which
functions directly hold a loop; ``analysis(ctx)`` then runs the ``Interpreter`` once per
such function (memoised per file, so the second rule reuses it) and returns the
``FileAnalysis``: the loops, the relation reads per row (``accesses``) and the queries
per item (``queries``), in the order met. Data only: the rules decide and word.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple

import libcst as cst

from backendlint.analysis.contexts import Context, context_of
from backendlint.analysis.queries.interpreter import Interpreter
from backendlint.analysis.queries.ir import statements_ir
from backendlint.analysis.queries.loops import Access, Loop, QueryEvent
from backendlint.analysis.queries.values import Val
from backendlint.index.models import KIND, ModelIndex
from backendlint.knowledge.side_effects import EMAIL, HTTP, PAYMENT, classify_call, local_bindings
from backendlint.syntax.names import dotted_name

_MEMO_OWNERS = "queries.loop_owners"
_MEMO_ANALYSIS = "queries.analysis"
_MEMO_CONTEXTS = "queries.loop_contexts"


class FileAnalysis:
    """The BL401/BL402 analysis of one file (shared by both rules through the context)."""

    def __init__(self, ctx, functions: Sequence[Tuple[Any, Optional[str], Optional[Any]]]):
        self.ctx = ctx
        self.facts = ModelIndex.of(ctx.facts.get(KIND) if ctx.facts is not None else None)
        self.module = ctx.module_name
        self.star = "import *" in ctx.source
        self.accesses: List[Access] = []  # every unloaded relation read on a loop row, in order
        self.queries: List[QueryEvent] = []  # every query a loop variable reaches, in order
        self.loops: Dict[int, Loop] = {}
        self.next_id = 0
        self.consts: Dict[str, str] = {}
        self.globals: Dict[str, Val] = {}
        if functions:
            self.consts = _module_strings(ctx.module)
            self.globals = _module_values(self)
        for fn_node, class_key, class_kind in functions:
            try:
                Interpreter(self, fn_node, class_key, class_kind).run()
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
    fn = Interpreter(fa, None, None, None)
    fn.silent = True
    try:
        for small in stmts:
            for st in statements_ir([small]):
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


class LoopOwners:
    """Mixin for the rules that read ``analysis(ctx)``: remember which functions hold a
    loop (for statements, comprehensions and generator expressions)."""

    def visit_For(self, node: cst.For) -> None:
        self._note_loop(node)

    def visit_ListComp(self, node: cst.ListComp) -> None:
        self._note_loop(node)

    def visit_SetComp(self, node: cst.SetComp) -> None:
        self._note_loop(node)

    def visit_DictComp(self, node: cst.DictComp) -> None:
        self._note_loop(node)

    def visit_GeneratorExp(self, node: cst.GeneratorExp) -> None:
        self._note_loop(node)

    def _note_loop(self, node: cst.CSTNode) -> None:
        owner, cls_name, _ = loop_owner(self.ctx.stack)
        if owner is None:
            return
        # The context of the unit around the loop, while the traversal's stack is valid.
        contexts = self.ctx.memo.setdefault(_MEMO_CONTEXTS, {})
        if id(node) not in contexts:
            contexts[id(node)] = (node, context_of(self.ctx), owner)
        seen = self.ctx.memo.setdefault(_MEMO_OWNERS, {})
        if id(owner) not in seen:
            seen[id(owner)] = (owner, cls_name)


def analysis(ctx) -> FileAnalysis:
    """The shared analysis of this file (computed once, after the traversal; the rules
    leave skipped paths alone before asking)."""
    fa = ctx.memo.get(_MEMO_ANALYSIS)
    if fa is None:
        owners = ctx.memo.get(_MEMO_OWNERS, {})
        facts = ModelIndex.of(ctx.facts.get(KIND) if ctx.facts is not None else None)
        functions = []
        for owner, cls_name in owners.values():
            key = kind = None
            if cls_name:
                key = f"{ctx.module_name}.{cls_name}" if ctx.module_name else cls_name
                if facts.is_django_model(key):
                    kind = "dj"
                elif facts.is_sa_model(key):
                    kind = "sa"
                elif facts.is_manager(key):
                    kind = "mgr"
            functions.append((owner, key, kind))
        fa = FileAnalysis(ctx, functions)
        ctx.memo[_MEMO_ANALYSIS] = fa
    return fa


def loop_context(ctx, loop: Loop) -> Optional[Context]:
    """The context of the unit of work around ``loop`` (noted during the traversal)."""
    found = ctx.memo.get(_MEMO_CONTEXTS, {}).get(id(loop.node))
    return found[1] if found is not None and found[0] is loop.node else None


# Per-item work that costs more than a query (BL401/BL402 rank such loops low).
COMMIT = "commit"
OUTBOUND = "outbound"
MAIL = "mail"
RENDER = "render"
_RENDER_CALLS = frozenset({"render_to_string", "render_to_response", "write_pdf", "CreatePDF", "from_string",
                           "render_template", "generate_pdf", "to_pdf", "make_pdf"})


def per_item_work(ctx, loop: Loop) -> frozenset:
    """What the body of ``loop`` does per item besides its queries: commits
    (``session.commit()``, ``transaction.commit()``), outbound calls, mail, rendering a
    file (``render_to_string``, PDFs). Data: the rules decide what it means."""
    node = loop.node
    body = node.body if isinstance(node, cst.For) else getattr(node, "elt", None)
    if body is None:
        return frozenset()
    noted = ctx.memo.get(_MEMO_CONTEXTS, {}).get(id(node))
    owner = noted[2] if noted is not None and noted[0] is node else None
    bindings = local_bindings(owner) if isinstance(owner, cst.FunctionDef) else None
    found = set()
    for call in _calls(body):
        func = call.func
        last = func.attr.value if isinstance(func, cst.Attribute) else (func.value if isinstance(func, cst.Name) else "")
        if last == "commit":
            found.add(COMMIT)
            continue
        if last in _RENDER_CALLS or (last == "render" and isinstance(func, cst.Attribute)
                                      and "template" in (dotted_name(func.value) or "").lower()):
            found.add(RENDER)
            continue
        effect = classify_call(ctx, call, bindings)
        if effect is not None:
            if effect.kind == EMAIL:
                found.add(MAIL)
            elif effect.kind in (HTTP, PAYMENT):
                found.add(OUTBOUND)
    return frozenset(found)


def _calls(root: cst.CSTNode):
    todo = [root]
    while todo:
        cur = todo.pop()
        if isinstance(cur, (cst.FunctionDef, cst.ClassDef, cst.Lambda)):
            continue
        if isinstance(cur, cst.Call):
            yield cur
        todo.extend(cur.children)
