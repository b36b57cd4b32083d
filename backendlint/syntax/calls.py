"""What a call passes: keyword and positional arguments."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import libcst as cst


def kwarg_arg(call: cst.Call, name: str) -> Optional[cst.Arg]:
    """The ``name=`` argument of a call (the ``Arg``), or None."""
    for arg in call.args:
        if arg.keyword is not None and arg.keyword.value == name:
            return arg
    return None


def kwarg(call: cst.Call, name: str) -> Optional[cst.BaseExpression]:
    """The value passed as ``name=``, or None."""
    arg = kwarg_arg(call, name)
    return arg.value if arg is not None else None


def positional_args(call: cst.Call) -> List[cst.Arg]:
    """The positional arguments (``*args`` left out)."""
    return [a for a in call.args if a.keyword is None and not a.star]


def positional(call: cst.Call, index: int) -> Optional[cst.BaseExpression]:
    """The value of the ``index``-th positional argument (``*args`` not counted), or None."""
    i = 0
    for arg in call.args:
        if arg.keyword is None and not arg.star:
            if i == index:
                return arg.value
            i += 1
    return None


@dataclass
class CallArgs:
    """A call's arguments by position and keyword, and whether ``*``/``**`` may hide more."""

    positional: List[cst.CSTNode]
    keywords: Dict[str, cst.CSTNode]
    star_args: bool
    star_kwargs: bool

    @classmethod
    def of(cls, call: cst.Call) -> "CallArgs":
        positional: List[cst.CSTNode] = []
        keywords: Dict[str, cst.CSTNode] = {}
        star_args = star_kwargs = False
        for arg in call.args:
            if arg.star == "*":
                star_args = True
            elif arg.star == "**":
                star_kwargs = True
            elif arg.keyword is not None:
                keywords[arg.keyword.value] = arg.value
            else:
                positional.append(arg.value)
        return cls(positional, keywords, star_args, star_kwargs)

    def get(self, name: str, position: Optional[int] = None) -> Tuple[bool, Optional[cst.CSTNode]]:
        """(given?, value) of a parameter passed by keyword or at ``position``."""
        if name in self.keywords:
            return True, self.keywords[name]
        if position is not None and position < len(self.positional):
            return True, self.positional[position]
        return False, None

    def maybe_hidden(self, position: Optional[int] = None) -> bool:
        """Could ``*args`` / ``**kwargs`` be carrying the parameter?"""
        if self.star_kwargs:
            return True
        return self.star_args and position is not None and position >= len(self.positional)
