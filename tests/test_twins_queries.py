"""The two front ends of the query IR agree where they are twins.

The model index writes function summaries from the stdlib ``ast``
(``backendlint.index.models._Summariser``); the rules' interpreter reads the same IR
built from LibCST (``backendlint.analysis.queries.ir.expression_ir``) and evaluates
both with one interpreter. Fed the same expression, they must give the same IR (origins
aside: the LibCST node on one side, 0 on the other; constants other than strings are
not kept by the LibCST side, and the interpreter reads none of them).

Where they are deliberately not twins (kept out of the list below):
- names bound by an import become ``("g", 0, qualified)`` in the index, ``("n", ...)``
  here (the rule side resolves names through the file's imports as it evaluates);
- ``a if c else b`` is ``("alt", ...)`` in the index (either value), ``("ie", ...)`` here
  (the test is evaluated too);
- comparisons, boolean operations, ``not``, dict displays, comprehensions and walrus
  are ``("x", 0, [])`` in the index (a summary never needs them);
- a lambda keeps its body in the index, not here; ``*rest`` in a display is dropped in
  the index, kept as ``("x", ...)`` here; bytes are ``("x", ...)`` there, ``("k", ...)`` here.
"""

from __future__ import annotations

import ast

import libcst as cst
import pytest

from backendlint.analysis.queries.ir import expression_ir
from backendlint.engine.pyast import AstImports
from backendlint.index.models import _looks_query, _Summariser

TWINS = [
    "qs",
    "self.queryset",
    "Order.objects.filter(paid=True).select_related('customer')",
    "Order.objects.all()[0:10]",
    "Order.objects.all()[::2]",
    "qs[0]",
    "rows[i]",
    "session.scalars(select(Post).options(joinedload(Post.author)))",
    "f(*args, **kwargs)",
    "f(a, *rest)",
    "f(x, key=value, other='text')",
    "await session.execute(stmt)",
    "(a, b, 'c')",
    "[a, b]",
    "{a, b}",
    "'single' 'concatenated'",
    "None",
    "True",
    "3",
    "2.5",
    "get_queryset().prefetch_related(Prefetch('items', queryset=Item.objects.all(), to_attr='lines'))",
    "super().get_queryset().filter(owner=self.request.user)",
    "self.model.objects.using(alias).none()",
]


def normal(ir):
    """Origins dropped, lists as tuples, non-string constants as None."""
    if isinstance(ir, (list, tuple)):
        items = [normal(x) for x in ir]
        if items and isinstance(items[0], str) and len(ir) >= 2 and not isinstance(ir[1], (list, tuple, str)):
            kind = items[0]
            rest = items[2:]
            if kind == "k":
                rest = [None]
            return (kind, *rest)
        return tuple(items)
    return ir


def from_ast(source: str):
    node = ast.parse(source, mode="eval").body
    return _Summariser(AstImports("app.views", False), []).expr(node)


def from_libcst(source: str):
    return expression_ir(cst.parse_expression(source))


@pytest.mark.parametrize("source", TWINS)
def test_summariser_and_libcst_front_end_build_the_same_ir(source):
    assert normal(from_ast(source)) == normal(from_libcst(source))


@pytest.mark.parametrize("source,query", [
    ("Order.objects.filter(paid=True)", True),
    ("self.get_queryset().select_related('x')", True),
    ("session.scalars(select(Post))", True),
    ("[a, b]", False),
    ("compute(a, b)", False),
])
def test_looks_query_gives_the_same_answer_on_either_ir(source, query):
    assert _looks_query(from_ast(source), False) is query
    assert _looks_query(from_libcst(source), False) is query


@pytest.mark.parametrize("source", ["a if c else b", "x == 1", "not x", "{k: v}", "[x for x in y]", "lambda: qs"])
def test_the_known_differences_are_still_differences(source):
    # If one of these becomes a twin, move it to TWINS (and the docstring).
    assert normal(from_ast(source)) != normal(from_libcst(source))
