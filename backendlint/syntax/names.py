"""Names: dotted names, last names, the names an expression reads or a target binds."""

from __future__ import annotations

from typing import List, Optional, Set

import libcst as cst

from backendlint.engine.imports import dotted_name  # the one definition (the engine needs it too)
from backendlint.syntax.walk import walk_local

__all__ = ["dotted_name", "last_name", "last_of", "names_in", "target_names", "param_names", "positional_params"]


def last_of(dotted: Optional[str]) -> str:
    """``c`` of ``a.b.c`` (``""`` for None)."""
    return dotted.rsplit(".", 1)[-1] if dotted else ""


def last_name(expr: cst.CSTNode) -> Optional[str]:
    """The last part of a Name/Attribute chain (``save`` of ``order.save``), or None."""
    dotted = dotted_name(expr)
    return dotted.rsplit(".", 1)[-1] if dotted else None


def names_in(expr: cst.CSTNode) -> Set[str]:
    """Dotted names (``x``, ``self.attempts``) read in an expression, with their prefixes."""
    out: Set[str] = set()
    for node in walk_local(expr):
        if isinstance(node, (cst.Name, cst.Attribute)):
            dotted = dotted_name(node)
            if dotted:
                out.add(dotted)
    return out


def target_names(target: cst.CSTNode) -> List[str]:
    """Dotted names bound by an assignment target (tuples unpacked)."""
    if isinstance(target, (cst.Tuple, cst.List)):
        out: List[str] = []
        for element in target.elements:
            out.extend(target_names(element.value))
        return out
    if isinstance(target, cst.StarredElement):
        return target_names(target.value)
    dotted = dotted_name(target)
    return [dotted] if dotted else []


def param_names(params: cst.Parameters) -> List[str]:
    """Every parameter's name, ``*args`` and ``**kwargs`` included."""
    out = [p.name.value for p in list(params.posonly_params) + list(params.params) + list(params.kwonly_params)]
    for star in (params.star_arg, params.star_kwarg):
        if isinstance(star, cst.Param):
            out.append(star.name.value)
    return out


def positional_params(fn: cst.FunctionDef) -> List[str]:
    return [p.name.value for p in list(fn.params.posonly_params) + list(fn.params.params)]
