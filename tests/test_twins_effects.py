"""The stdlib-ast predicates of the effect summaries and their LibCST twins (BL201) give the
same answer on the same snippets; where they knowingly differ, the difference is pinned."""

from __future__ import annotations

import ast
import textwrap

import libcst as cst
import pytest

from backendlint.engine.context import FileContext, ProjectFacts
from backendlint.engine.pyast import AstImports, ast_dotted
from backendlint.engine.traversal import Dispatcher
from backendlint.knowledge import creates, guards, side_effects

RELPATH = "shop/views.py"
MODULE = "shop.views"


def _both(source: str):
    """(ctx, LibCST node, ast imports, ast node) of the last statement of ``source``."""
    source = textwrap.dedent(source)
    module = cst.parse_module(source)
    ctx = FileContext(
        path=RELPATH, relpath=RELPATH, module_name=MODULE, is_package=False,
        source=source, module=module, facts=ProjectFacts(),
    )
    Dispatcher(ctx, []).run(module)  # fills the import table
    tree = ast.parse(source)
    imports = AstImports(MODULE, False)
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            imports.add(node)
    return ctx, module.body[-1], imports, tree.body[-1]


def _exprs(source: str):
    ctx, cst_stmt, imports, ast_stmt = _both(source)
    return ctx, cst_stmt.body[0].value, imports, ast_stmt.value


# -- integrity errors ----------------------------------------------------------------


@pytest.mark.parametrize(
    "caught, expected",
    [
        ("IntegrityError", True),
        ("(ValueError, db.IntegrityError)", True),
        ("psycopg2.errors.UniqueViolation", True),
        ("DuplicateKeyError", True),
        ("ValueError", False),
        ("Order.DoesNotExist", False),
    ],
)
def test_integrity_error_handlers(caught, expected):
    _, cst_try, _, ast_try = _both(f"try:\n    pass\nexcept {caught}:\n    pass\n")
    assert guards.catches_integrity_error(cst_try.handlers[0]) is expected
    assert guards.ast_catches_integrity(ast_try.handlers[0].type) is expected


@pytest.mark.parametrize(
    "item, expected",
    [("suppress(IntegrityError)", True), ("suppress(ValueError)", False)],
)
def test_integrity_error_suppressed(item, expected):
    ctx, cst_with, _, ast_with = _both(f"with {item}:\n    pass\n")
    assert guards.suppresses_integrity_error(ctx, cst_with.items[0]) is expected
    assert guards.ast_catches_integrity(ast_with.items[0].context_expr) is expected


# -- loaders -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call, expected",
    [
        ("get_object_or_404(Order, pk=1)", True),
        ("self.get_object()", True),
        ("Chats.get_chat_by_id(chat_id)", True),
        ("find_order(1)", True),
        ("first_or_404(query)", True),
        ("compute_total(order)", False),
        ("order.save()", False),
    ],
)
def test_loaders(call, expected):
    _, cst_call, _, ast_call = _exprs(call)
    assert guards.is_loader(cst_call) is expected
    assert guards.ast_is_loader(ast_call) is expected


@pytest.mark.parametrize("call", ["self.get_form()", "Order.objects.first()", "qs.get(pk=1)"])
def test_loaders_known_difference(call):
    # The summaries count ORM terminals and generic-view getters as loads; BL201 does not
    # (its own lookups see the ORM terminals). Kept: changing either changes findings.
    _, cst_call, _, ast_call = _exprs(call)
    assert guards.is_loader(cst_call) is False
    assert guards.ast_is_loader(ast_call) is True


# -- models and managers ---------------------------------------------------------------


@pytest.mark.parametrize(
    "source, expected",
    [
        ("from shop.models import Order\nOrder(total=1)", "Order"),
        ("from shop import models\nmodels.Order(total=1)", "Order"),
        ("from django.http import JsonResponse\nJsonResponse({})", None),
        ("OrderForm(data)", None),
        ("import datetime\ndatetime.datetime(2020, 1, 1)", None),
        ("import stripe\nstripe.Charge(amount=1)", None),
        ("Outer.Inner()", None),
        ("make_order()", None),
        ("MAX_SIZE()", None),
    ],
)
def test_model_names(source, expected):
    ctx, cst_call, imports, ast_call = _exprs(source)
    assert creates.is_model_name(ctx, cst_call.func) == expected
    dotted = ast_dotted(ast_call.func)
    assert creates.ast_model_name(dotted, imports.resolve(dotted)) == expected


@pytest.mark.parametrize(
    "expr, expected",
    [
        ("Order.objects", "Order"),
        ("models.Order.objects", "Order"),
        ("Order._default_manager", "Order"),
        ("order.objects", None),
        ("request.session", None),
    ],
)
def test_manager_roots(expr, expected):
    _, cst_expr, _, ast_expr = _exprs(expr)
    root = creates.manager_root(cst_expr)
    assert (root[0] if root else None) == expected
    assert creates.ast_manager_model(ast_expr) == expected


@pytest.mark.parametrize(
    "expr, expected",
    [("session", True), ("db.session", True), ("self.db_session", True), ("db", True), ("order", False)],
)
def test_sessions(expr, expected):
    ctx, cst_expr, _, ast_expr = _exprs(expr)
    assert creates.is_session(ctx, cst_expr, side_effects.Bindings()) is expected
    assert creates.ast_is_session(ast_expr) is expected


# -- side effects ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call, expected",
    [
        ('requests.post("https://idp/oauth/token", data=d)', True),
        ('requests.post(f"{BASE}/search", json=q)', True),
        ("requests.post(url=TOKEN_URL)", True),
        ('requests.post("https://api.example.com/orders", json=o)', False),
        ("requests.post(url)", False),
    ],
)
def test_idempotent_urls(call, expected):
    _, cst_call, _, ast_call = _exprs(call)
    assert side_effects.idempotent_url(cst_call) is expected
    assert side_effects.ast_idempotent_url(ast_call) is expected


@pytest.mark.parametrize(
    "source, expected",
    [
        ("from django.core.mail import send_mail\nsend_mail(s, b, f, [t])", "sends an email (send_mail)"),
        ("import stripe\nstripe.Charge.create(amount=1)", "charges a payment (stripe.Charge.create)"),
        ('import requests\nrequests.post("https://api.example.com/orders")', "sends an outbound POST (requests.post)"),
        ("from shop.tasks import send_receipt\nsend_receipt.delay(1)", "enqueues a task (send_receipt.delay)"),
        ("import requests\nrequests.get(url)", None),
        ("order.save()", None),
    ],
)
def test_side_effect_labels(source, expected):
    ctx, cst_call, imports, ast_call = _exprs(source)
    effect = side_effects.classify_call(ctx, cst_call)
    counted = effect is not None and effect.kind in side_effects.EFFECT_VERB and effect.method in ("", "POST")
    assert (f"{side_effects.EFFECT_VERB[effect.kind]} ({effect.label})" if counted else None) == expected
    assert side_effects.ast_side_effect(ast_call, imports.resolve(ast_dotted(ast_call.func))) == expected
