"""Magnitude of loops (catalog, "Severity", "Magnitude"): what the iterable alone says."""

from __future__ import annotations

import libcst as cst
import pytest

from backendlint.knowledge.magnitude import (
    BOUNDED, RELATION, TABLE, UNKNOWN, exits_first_round, is_lookup_model, largest, syntactic,
)
from backendlint.syntax.walk import statements


@pytest.mark.parametrize(
    "expr, magnitude",
    [
        ("(1, 2, 3)", BOUNDED),
        ("['a', 'b']", BOUNDED),
        ("{'a': 1}.items()", BOUNDED),
        ("STATUSES", BOUNDED),
        ("settings.LANGUAGES", BOUNDED),
        ("range(5)", BOUNDED),
        ("range(1, 20)", BOUNDED),
        ("enumerate(CHOICES)", BOUNDED),
        ("sorted(('b', 'a'))", BOUNDED),
        ("line.split(',')", BOUNDED),
        ("path.parts", BOUNDED),
        ("qs[:10]", BOUNDED),
        ("select(User).limit(5)", BOUNDED),
        ("qs[20:40]", TABLE),
        ("paginator.get_page(number)", TABLE),
        ("self.paginate_queryset(queryset)", TABLE),
        ("request.POST.getlist('ids')", UNKNOWN),
        ("request.data['items']", UNKNOWN),
        ("serializer.validated_data['lines']", UNKNOWN),
        ("range(n)", None),
        ("range(100)", None),
        ("qs[:100]", None),
        ("items", None),
        ("Order.objects.all()", None),
        ("get_rows()", None),
    ],
)
def test_syntactic_magnitude(expr, magnitude):
    assert syntactic(cst.parse_expression(expr)) == magnitude


def test_largest_and_lookup_models():
    assert largest([BOUNDED, TABLE, RELATION]) == TABLE
    assert largest([BOUNDED, None, UNKNOWN]) == UNKNOWN
    assert largest([None]) is None
    assert is_lookup_model("shop.models.OrderStatus") and is_lookup_model("TaxCategory") and is_lookup_model("SiteSettings")
    assert is_lookup_model("Currency", extra=["Currency"])
    assert not is_lookup_model("Order") and not is_lookup_model("Statistic") and not is_lookup_model(None)


@pytest.mark.parametrize(
    "body, first_only",
    [
        ("for x in qs:\n    return x\n", True),
        ("for x in qs:\n    if x.ok:\n        return x\n", False),
        ("for x in qs:\n    y = x\n    break\n", True),
        ("for x in qs:\n    raise ValueError(x)\n", True),
        ("for x in qs:\n    if x:\n        continue\n    return x\n", False),
        ("for x in qs:\n    print(x)\n", False),
    ],
)
def test_loop_that_leaves_in_its_first_round(body, first_only):
    loop = cst.parse_module(body).body[0]
    assert exits_first_round(statements(loop.body)) is first_only
