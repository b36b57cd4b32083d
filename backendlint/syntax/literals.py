"""Literals and constants."""

from __future__ import annotations

from typing import Optional

import libcst as cst

from backendlint.engine.traversal import string_value

__all__ = ["string_value", "string_literal", "is_none", "is_constant", "is_falsy_constant", "is_truthy_constant"]


def string_literal(expr: Optional[cst.CSTNode], concatenated: bool = True, fstring_text: bool = False) -> Optional[str]:
    """The value of a str literal (not bytes), or None.

    ``concatenated``: ``"a" "b"`` reads as ``"ab"`` (a part that is not a str literal
    reads as empty, as long as one part is); ``fstring_text``: the literal text of an
    f-string, its replacement fields left out.
    """
    if isinstance(expr, cst.SimpleString):
        try:
            value = string_value(expr)
        except Exception:  # noqa: BLE001 - odd prefixes
            return None
        return value if isinstance(value, str) else None
    if concatenated and isinstance(expr, cst.ConcatenatedString):
        left = string_literal(expr.left, concatenated, fstring_text)
        right = string_literal(expr.right, concatenated, fstring_text)
        return (left or "") + (right or "") if left is not None or right is not None else None
    if fstring_text and isinstance(expr, cst.FormattedString):
        return "".join(p.value for p in expr.parts if isinstance(p, cst.FormattedStringText))
    return None


def is_none(expr: Optional[cst.CSTNode]) -> bool:
    return isinstance(expr, cst.Name) and expr.value == "None"


def is_constant(expr: cst.CSTNode) -> bool:
    if isinstance(expr, cst.Name):
        return expr.value in ("True", "False", "None")
    if isinstance(expr, cst.UnaryOperation) and isinstance(expr.operator, cst.Minus):
        return is_constant(expr.expression)
    return isinstance(expr, (cst.Integer, cst.Float, cst.SimpleString, cst.ConcatenatedString))


def is_falsy_constant(expr: cst.CSTNode) -> bool:
    if isinstance(expr, cst.Name):
        return expr.value in ("False", "None")
    if isinstance(expr, cst.Integer):
        try:
            return int(expr.value.replace("_", ""), 0) == 0
        except ValueError:
            return False
    if isinstance(expr, cst.SimpleString):
        try:
            return len(expr.evaluated_value) == 0
        except Exception:  # noqa: BLE001 - odd prefixes
            return False
    return False


def is_truthy_constant(expr: cst.CSTNode) -> bool:
    if isinstance(expr, cst.Name):
        return expr.value == "True"
    if isinstance(expr, cst.Integer):
        return not is_falsy_constant(expr)
    return False
