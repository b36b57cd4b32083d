"""How much data a loop touches (catalog, "Severity", "Magnitude").

- *table*: the rows of a query over a table, listing pages (Paginator,
  ``paginate_queryset``, offset slices ``[a:b]``), exports, rows filtered by anything but
  a key;
- *relation*: one parent's related collection (``order.items.all()``, reverse FK, M2M);
- *bounded*: literals and constants, ``range(n)``/``[:n]``/``.limit(n)`` with a literal
  n <= 20, ``str.split()`` parts and path components, rows filtered by primary or unique
  key, a loop that leaves in its first round, all rows of a lookup table;
- *unknown*: parameters, helper results, lists the client sends (their size is the
  client's choice), anything else.

A finding's magnitude is the largest of all loops around it in its unit. This module is
the syntax-level part (what the iterable expression alone says) and the lookup-table
vocabulary; the query analyses add what they know of querysets.
"""

from __future__ import annotations

import re
from typing import Iterable, Optional, Sequence

import libcst as cst

from backendlint.syntax.calls import positional
from backendlint.syntax.flow import CONTINUE, NEXT, outcomes
from backendlint.syntax.names import dotted_name, last_name

TABLE = "table"
RELATION = "relation"
UNKNOWN = "unknown"
BOUNDED = "bounded"

# Largest first: a finding takes the largest of its loops.
ORDER = {BOUNDED: 0, UNKNOWN: 1, RELATION: 2, TABLE: 3}
SMALL_LIMIT = 20

# Models whose rows are a short list an operator maintains (types, categories, statuses,
# settings): a loop over all of them is bounded in practice.
_LOOKUP_MODEL = re.compile(r"(Type|Types|Category|Categories|Status|Statuses|Choice|Choices|Config|Configuration|Setting|Settings|Kind|Kinds)$")

# Wrappers that keep the size of what they wrap.
_SAME_SIZE = frozenset({"list", "tuple", "sorted", "reversed", "set", "frozenset", "enumerate", "iter"})
# Request data the client sizes.
_REQUEST_LISTS = re.compile(r"(^|\.)(request\.(POST|GET|data|query_params|FILES|json|form|args|files)|validated_data|cleaned_data)(\.|\[|$)")


def largest(magnitudes: Iterable[Optional[str]]) -> Optional[str]:
    best = None
    for m in magnitudes:
        if m is not None and (best is None or ORDER[m] > ORDER[best]):
            best = m
    return best


def is_lookup_model(name: Optional[str], extra: Sequence[str] = ()) -> bool:
    """A model named like a lookup table (``OrderStatus``, ``TaxCategory``,
    ``SiteSettings``) or listed in the ``lookup-models`` option."""
    if not name:
        return False
    last = name.rsplit(".", 1)[-1]
    return last in extra or name in extra or bool(_LOOKUP_MODEL.search(last))


def _small_int(expr: Optional[cst.BaseExpression]) -> bool:
    if isinstance(expr, cst.Integer):
        try:
            return int(expr.value.replace("_", ""), 0) <= SMALL_LIMIT
        except ValueError:
            return False
    return False


def _is_constant_name(expr: cst.BaseExpression) -> bool:
    """``STATUSES``, ``settings.LANGUAGES``, ``OrderStatus`` (an enum class): module-level
    constants by convention."""
    dotted = dotted_name(expr)
    if not dotted:
        return False
    last = dotted.rsplit(".", 1)[-1]
    if last.isupper() and len(last) > 1:
        return True
    return dotted.startswith("settings.")


def syntactic(expr: cst.BaseExpression) -> Optional[str]:
    """What the iterable expression alone says: BOUNDED, UNKNOWN (client-sized request
    data), TABLE (a listing page or an offset slice), or None (the query analyses decide,
    else unknown)."""
    if isinstance(expr, (cst.Tuple, cst.List, cst.Set, cst.Dict, cst.SimpleString, cst.ConcatenatedString)):
        return BOUNDED
    if _is_constant_name(expr):
        return BOUNDED
    if isinstance(expr, cst.Subscript):
        inner = syntactic(expr.value)
        if len(expr.slice) == 1 and isinstance(expr.slice[0].slice, cst.Slice):
            sl = expr.slice[0].slice
            if sl.lower is None and _small_int(sl.upper):
                return BOUNDED  # [:10]
            if sl.lower is not None and sl.upper is not None:
                return TABLE  # an offset slice is a listing page
        text = _text(expr)
        if text is not None and _REQUEST_LISTS.search(text):
            return UNKNOWN
        return inner
    if isinstance(expr, cst.Call):
        func = expr.func
        name = func.attr.value if isinstance(func, cst.Attribute) else (last_name(func) or "")
        if name == "range":
            args = [a for a in expr.args if a.keyword is None]
            return BOUNDED if args and all(_small_int(a.value) for a in args[:2][-1:]) else None
        if name in _SAME_SIZE and expr.args:
            return syntactic(expr.args[0].value)
        if name in ("items", "keys", "values") and isinstance(func, cst.Attribute):
            return syntactic(func.value)
        if name in ("split", "rsplit", "splitlines", "partition", "rpartition") and isinstance(func, cst.Attribute):
            return BOUNDED
        if name in ("limit",) and _small_int(positional(expr, 0)):
            return BOUNDED
        if name in ("getlist", "getall"):
            return UNKNOWN
        if name in ("page", "get_page", "paginate_queryset", "paginate"):
            return TABLE
        if name == "zip" and expr.args:
            return largest(syntactic(a.value) for a in expr.args) if all(syntactic(a.value) for a in expr.args) else None
    if isinstance(expr, cst.Attribute):
        if expr.attr.value in ("parts", "parents"):
            return BOUNDED
        text = _text(expr)
        if text is not None and _REQUEST_LISTS.search(text):
            return UNKNOWN
    return None


def _text(expr: cst.BaseExpression) -> Optional[str]:
    parts = []
    node = expr
    while True:
        if isinstance(node, cst.Subscript):
            parts.append("[")
            node = node.value
        elif isinstance(node, cst.Attribute):
            parts.append("." + node.attr.value)
            node = node.value
        elif isinstance(node, cst.Name):
            parts.append(node.value)
            break
        else:
            return None
    return "".join(reversed(parts))


def exits_first_round(body: Sequence[cst.CSTNode]) -> bool:
    """A loop whose body always leaves in its first round (``for x in qs: return x``):
    it touches one row."""
    ends = outcomes(body)
    return bool(ends) and not ends & {NEXT, CONTINUE}
