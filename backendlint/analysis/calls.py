"""Which project function a call site calls (BL201, BL301).

The checked file's side of the effect summaries: from a LibCST call site in a function,
the descriptor the summaries' collector would have recorded for the same call
(``cst_descriptor``), resolved against the project's functions (``project_callee``).
"""

from __future__ import annotations

from typing import Optional

import libcst as cst

from backendlint.index.effects import Resolver, run_resolver
from backendlint.knowledge.side_effects import unwrap
from backendlint.syntax.names import last_of as _last


def _cst_class(ctx, expr) -> Optional[str]:
    if isinstance(expr, cst.Subscript):
        if not expr.slice:
            return None
        inner = getattr(expr.slice[0].slice, "value", None)
        return _cst_class(ctx, inner) if inner is not None else None
    if not isinstance(expr, (cst.Name, cst.Attribute)):
        return None
    q = ctx.qualified(expr)
    return q if q and _last(q)[:1].isupper() else None


def _cst_depends(ctx, value) -> Optional[str]:
    if isinstance(value, cst.Call) and value.args and _last(ctx.qualified_callee(value) or "") == "Depends":
        return _cst_class(ctx, value.args[0].value)
    return None


def local_class(ctx, name: str, bindings) -> Optional[str]:
    """The project class a local name holds, when it is certain: every assignment is a
    ``Class(...)`` call, an annotation names the class, or FastAPI injects ``Depends(Class)``."""
    for ann in bindings.annotations.get(name, []):
        if isinstance(ann, cst.Subscript) and _last(ctx.qualified(ann.value) or "") == "Annotated":
            for el in ann.slice[1:]:
                found = _cst_depends(ctx, getattr(el.slice, "value", None))
                if found:
                    return found
        found = _cst_class(ctx, ann)
        if found:
            return found
    found_set = set()
    for value in bindings.values.get(name, []):
        value = unwrap(value)
        dep = _cst_depends(ctx, value)
        if dep:
            found_set.add(dep)
            continue
        if isinstance(value, cst.Call):
            q = ctx.qualified_callee(value)
            if q and _last(q)[:1].isupper():
                found_set.add(q)
                continue
        return None
    return found_set.pop() if len(found_set) == 1 else None


def cst_descriptor(ctx, call, bindings, in_class: bool) -> Optional[list]:
    """What ``_FunctionScan._descriptor`` records for the same call, from LibCST."""
    func = call.func
    if isinstance(func, cst.Name):
        q = ctx.qualified_callee(call)
        return ["q", q] if q else None
    if not isinstance(func, cst.Attribute):
        return None
    recv = func.value
    attr = func.attr.value
    if isinstance(recv, cst.Name):
        if recv.value in ("self", "cls"):
            return ["s", attr] if in_class else None
        cls = local_class(ctx, recv.value, bindings)
        if cls:
            return ["i", cls, attr]
        if recv.value in bindings.values or recv.value in bindings.annotations:
            return None  # a local name: not the module it may shadow
    q = ctx.qualified_callee(call)
    return ["q", q] if q else None


def project_callee(ctx, call, bindings, class_key: Optional[str], self_key: Optional[str] = None, func=None) -> Optional[str]:
    """The key of the project function ``call`` calls, when it is certain and has a summary
    (None for the caller itself). ``bindings``: the caller's local bindings; ``class_key``:
    "module.Class" of a method; ``func``: the calling function (its parameters shadow
    module functions)."""
    res = run_resolver(ctx.facts, ctx.memo)
    if res is None:
        return None
    desc = cst_descriptor(ctx, call, bindings, class_key is not None)
    target = res.resolve(desc, class_key) if desc is not None else None
    if target is None:
        target = _module_function_below(ctx, call, bindings, func, res)
    if target is None or target == self_key:
        return None
    return target


def _module_function_below(ctx, call, bindings, func, res: Resolver) -> Optional[str]:
    """``helper()`` where this module defines ``helper`` below the caller: the import
    table learns module-level definitions only as the traversal reaches them."""
    target = call.func
    if not isinstance(target, cst.Name) or ctx.qualified(target):
        return None
    name = target.value
    if name in bindings.values or name in bindings.annotations:
        return None  # a local variable
    params = getattr(func, "params", None)
    if params is not None:
        every = (*params.posonly_params, *params.params, *params.kwonly_params, params.star_arg, params.star_kwarg)
        if any(isinstance(p, cst.Param) and p.name.value == name for p in every):
            return None
    local = f"{ctx.module_name}.{name}" if ctx.module_name else name
    return res.resolve(["q", local], None)
