"""BL201 non-idempotent-post, and the knowledge it uses (handlers, creates, side effects)."""

from __future__ import annotations

import textwrap

import libcst as cst
import pytest

from backendlint.engine.context import FileContext, ProjectFacts
from backendlint.engine.traversal import Dispatcher
from backendlint.knowledge import handlers


def _context(source: str, relpath: str = "shop/views.py"):
    source = textwrap.dedent(source)
    module = cst.parse_module(source)
    module_name = relpath[:-3].replace("/", ".")
    ctx = FileContext(
        path=relpath, relpath=relpath, module_name=module_name, is_package=False,
        source=source, module=module, facts=ProjectFacts(),
    )
    Dispatcher(ctx, []).run(module)  # fills the import table
    return ctx, module


def _functions(module):
    """{name: (FunctionDef, enclosing classes)} for every def in the module."""
    out = {}

    def visit(node, classes):
        body = getattr(node, "body", None)
        stmts = body.body if isinstance(body, cst.IndentedBlock) else (body if isinstance(body, (list, tuple)) else [])
        for stmt in stmts:
            if isinstance(stmt, cst.FunctionDef):
                out[stmt.name.value] = (stmt, list(classes))
                visit(stmt, classes)
            elif isinstance(stmt, cst.ClassDef):
                visit(stmt, classes + [stmt])

    visit(module, [])
    return out


def _views(source: str, relpath: str = "shop/views.py"):
    ctx, module = _context(source, relpath)
    return sorted(name for name, (func, classes) in _functions(module).items() if handlers.is_view(ctx, func, classes))


# -- knowledge: handlers.is_view (catalog "View (Django)") ----------------------------

def test_is_view_function_views_and_class_methods():
    source = """
        from django.views import View
        from django.views.generic import CreateView as CV
        from django.views.decorators.http import require_POST
        from rest_framework import viewsets
        from rest_framework.views import APIView
        from rest_framework.decorators import action, api_view

        def index(request):
            return None

        def _helper(request):
            return None

        def not_a_view(order):
            return None

        class OrderView(View):
            def post(self, request):
                def inner(request):
                    return None
                return None
            def get_context(self, request):
                return None

        class Create(CV):
            def get(self, request):
                return None

        class Orders(APIView):
            def put(self, request, pk):
                return None

        class OrderViewSet(viewsets.ModelViewSet):
            def create(self, request):
                return None
            @action(detail=True, methods=["post"])
            def refund(self, request, pk=None):
                return None
            def helper(self):
                return None

        class Order:
            def save(self, request):
                return None
    """
    assert _views(source) == ["create", "get", "index", "post", "put", "refund"]


def test_is_view_function_outside_views_module_needs_a_view_decorator():
    source = """
        from django.views.decorators.http import require_POST
        from rest_framework.decorators import api_view
        from django.contrib.auth.decorators import login_required as lr

        @require_POST
        def checkout(request):
            return None

        @api_view(["POST"])
        def pay(request):
            return None

        @lr
        def profile(request):
            return None

        def send_receipt(request):
            return None
    """
    assert _views(source, "shop/services.py") == ["checkout", "pay", "profile"]
    assert _views("def send(request):\n    pass\n", "shop/tasks.py") == []
    assert _views("def send(request):\n    pass\n", "shop/api/orders.py") == ["send"]


def test_is_view_excludes_flask_method_views_and_plain_classes():
    source = """
        from flask.views import MethodView
        from flask_restx import Resource

        class Orders(MethodView):
            def post(self):
                return None

        class Items(Resource):
            def post(self):
                return None

        class OrderService:
            def create(self, request):
                return None
    """
    assert _views(source) == []


# -- the rule ----------------------------------------------------------------------------

from helpers import lint  # noqa: E402


def _lines(tmp_path, files, **kw):
    tmp_path.mkdir(parents=True, exist_ok=True)
    diags = lint(tmp_path, files, select=["BL201"], **kw)
    return [(d.path, d.line) for d in diags]


def _messages(tmp_path, files, **kw):
    return [d.message for d in lint(tmp_path, files, select=["BL201"], **kw)]


DJANGO_HEAD = """
from django.db import IntegrityError, transaction
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST, require_http_methods
from shop.models import Cart, Order, OrderLine, Product
from shop.tasks import send_receipt, invalidate_cache
"""


def test_message_names_what_is_created(tmp_path):
    src = DJANGO_HEAD + """
@require_POST
def checkout(request):
    order = Order.objects.create(user=request.user)
    send_receipt.delay(order.pk)
    return redirect("done")
"""
    msgs = _messages(tmp_path, {"shop/views.py": src})
    assert msgs == [
        "POST handler creates Order and enqueues a task (send_receipt.delay) without an idempotency "
        "guard (Idempotency-Key header, get_or_create, or upsert)"
    ]


def test_reported_at_def_line_of_decorated_handler(tmp_path):
    src = "from django.views.decorators.http import require_POST\nfrom shop.models import Order\n\n\n@require_POST\ndef checkout(request):\n    Order.objects.create()\n"
    assert _lines(tmp_path, {"shop/views.py": src}) == [("shop/views.py", 6)]


@pytest.mark.parametrize(
    "body",
    [
        # read-only POST: a search
        "    return render(request, 'r.html', {'p': Product.objects.filter(name=request.POST['q'])})\n",
        # update of a row addressed by id
        "    o = Order.objects.get(pk=pk)\n    o.paid = True\n    o.save()\n    return redirect('x')\n",
        "    o = get_object_or_404(Order, pk=pk)\n    o.note = request.POST['n']\n    o.save(update_fields=['note'])\n",
        "    Order.objects.filter(pk=pk).update(paid=True)\n",
        # delete
        "    Order.objects.filter(pk=pk).delete()\n    return redirect('x')\n",
        "    get_object_or_404(Order, pk=pk).delete()\n",
        # get_or_create / update_or_create are guarded creates
        "    Cart.objects.get_or_create(user=request.user)\n",
        "    Cart.objects.update_or_create(user=request.user, defaults={'n': 1})\n",
        # upsert
        "    OrderLine.objects.bulk_create([OrderLine(order_id=pk)], ignore_conflicts=True)\n",
        "    OrderLine.objects.bulk_create([OrderLine(order_id=pk)], update_conflicts=True, unique_fields=['order'])\n",
        # duplicate check that returns early
        "    if Order.objects.filter(ref=request.POST['ref']).exists():\n        return redirect('x')\n    Order.objects.create(ref=request.POST['ref'])\n",
        "    existing = Order.objects.filter(ref=request.POST['ref']).first()\n    if existing:\n        return redirect('x')\n    Order.objects.create(ref=request.POST['ref'])\n",
        "    existing = Order.objects.filter(ref=request.POST['ref']).first()\n    if existing is None:\n        existing = Order.objects.create(ref=request.POST['ref'])\n    return redirect('x')\n",
        "    if not Order.objects.filter(ref=request.POST['ref']).exists():\n        Order.objects.create(ref=request.POST['ref'])\n",
        # lookup and create in the except DoesNotExist branch
        "    try:\n        o = Order.objects.get(ref=request.POST['ref'])\n    except Order.DoesNotExist:\n        o = Order.objects.create(ref=request.POST['ref'])\n",
        # IntegrityError handled
        "    try:\n        with transaction.atomic():\n            Order.objects.create(ref=request.POST['ref'])\n    except IntegrityError:\n        return JsonResponse({}, status=409)\n",
        # work done only for a new row
        "    cart, created = Cart.objects.get_or_create(user=request.user)\n    if created:\n        send_receipt.delay(cart.pk)\n",
        "    cart, created = Cart.objects.get_or_create(user=request.user)\n    if not created:\n        return redirect('x')\n    OrderLine.objects.create(cart=cart)\n",
        # idempotent tasks (by name), audit log rows
        "    invalidate_cache.delay(pk)\n",
        "    OrderLog.objects.create(order_id=pk, action='viewed')\n",
        # a state check on the row the handler acts on
        "    order = get_object_or_404(Order, pk=pk)\n    if order.status != 'pending':\n        return redirect('x')\n    order.payments.create(amount=order.total)\n",
        # a one-time row consumed by the handler
        "    invite = get_object_or_404(Invite, token=pk)\n    Member.objects.create(user=request.user, team=invite.team)\n    invite.delete()\n",
        # delete-then-create replaces
        "    Order.objects.filter(user=request.user, draft=True).delete()\n    Order.objects.create(user=request.user, draft=True)\n",
        # a lookup counted with len(), a one-to-one link checked with hasattr / an attribute
        "    carts = request.user.carts.all()\n    if len(carts) == 0:\n        request.user.carts.create()\n",
        "    if not hasattr(request.user, 'profile'):\n        Profile(user=request.user).save()\n",
        "    if request.user.profile is not None:\n        return redirect('x')\n    Profile.objects.create(user=request.user)\n",
        # a duplicate check on a marker row the handler creates covers the rest
        "    if Order.objects.filter(ref=request.POST['ref']).exists():\n        return redirect('x')\n    Order.objects.create(ref=request.POST['ref'])\n    OrderLine.objects.create(order_ref=request.POST['ref'])\n    send_receipt.delay(request.POST['ref'])\n",
        # a row loaded by a project getter that already links to the created row
        "    cart = get_cart(request)\n    if cart.order_id:\n        return redirect('x')\n    Order.objects.create(cart=cart)\n",
        # temporary cache rows, cache/render tasks
        "    CachedFile.objects.create(file=request.FILES['f'])\n",
        "    cache_dashboard_screenshot.delay(pk)\n",
        # delete-then-create through a related manager of another name
        "    StaticToken.objects.filter(device__user=request.user).delete()\n    device = StaticDevice.objects.filter(user=request.user).first()\n    for i in range(3):\n        device.token_set.create(token=str(i))\n",
        # membership test against a manager lookup
        "    current = Setting.objects.get_settings_dict()\n    for name in request.POST:\n        if name not in current:\n            Setting.objects.create(name=name)\n",
    ],
)
def test_not_findings(tmp_path, body):
    src = DJANGO_HEAD + "from shop.models import CachedFile, Invite, Member, Profile, Setting, StaticDevice, StaticToken\nfrom shop.services import get_cart\nfrom shop.tasks import cache_dashboard_screenshot\n\n\n@require_POST\ndef handler(request, pk=None):\n" + body
    assert _lines(tmp_path, {"shop/views.py": src}) == []


@pytest.mark.parametrize(
    "body",
    [
        "    Order.objects.create(user=request.user)\n",
        "    o = Order(user=request.user)\n    o.save()\n",
        "    Order(user=request.user).save()\n",
        "    Order.objects.bulk_create([Order(user=request.user)])\n",
        "    Order.objects.bulk_create([Order(user=request.user)], ignore_conflicts=False)\n",
        "    request.user.orders.create(total=1)\n",
        "    send_receipt.apply_async(args=[pk])\n",
        # a unique constraint alone (no IntegrityError handling) is not a guard
        "    with transaction.atomic():\n        Order.objects.create(ref=request.POST['ref'])\n",
        # a duplicate check on one model does not clear another's create
        "    if Cart.objects.filter(user=request.user).exists():\n        return redirect('x')\n    Order.objects.create(user=request.user)\n",
        "    if not Product.objects.filter(pk=pk).exists():\n        return redirect('x')\n    OrderLine.objects.create(product_id=pk)\n",
        # a guarded create does not clear another create
        "    cart, _ = Cart.objects.get_or_create(user=request.user)\n    OrderLine.objects.create(cart=cart, product_id=pk)\n",
        # except clauses other than IntegrityError
        "    try:\n        Order.objects.create(ref=request.POST['ref'])\n    except ValueError:\n        pass\n",
        # the idempotency key is read but never used
        "    key = request.headers.get('Idempotency-Key')\n    Order.objects.create(user=request.user)\n",
        "    if 'Idempotency-Key' not in request.headers:\n        return JsonResponse({}, status=400)\n    Order.objects.create(user=request.user)\n",
    ],
)
def test_findings(tmp_path, body):
    src = DJANGO_HEAD + "from shop.models import Invite, Member\n\n\n@require_POST\ndef handler(request, pk=None):\n" + body
    assert len(_lines(tmp_path, {"shop/views.py": src})) == 1, body


def test_state_check_on_a_related_lookup_of_the_view_object(tmp_path):
    src = DJANGO_HEAD + """
from django.views import View
from shop.tasks import transmit_invoice


class Retransmit(View):
    def post(self, request, pk):
        invoice = self.order.invoices.get(pk=pk)
        if invoice.transmission_status == "inflight":
            return redirect("x")
        transmit_invoice.delay(invoice.pk)
        return redirect("x")


class Transmit(View):
    def post(self, request, pk):
        invoice = self.order.invoices.get(pk=pk)
        transmit_invoice.delay(invoice.pk)
        return redirect("x")
"""
    expected = src.splitlines().index("class Transmit(View):") + 2
    assert _lines(tmp_path, {"shop/views.py": src}) == [("shop/views.py", expected)]


def test_fastapi_classmethod_create_and_lookup(tmp_path):
    src = """
from fastapi import APIRouter, Depends, HTTPException
from sqlalchemy.orm import Session
from app.deps import get_db
from app.models import Permission, User

router = APIRouter()


@router.post("/users")
def create_user(name: str, db: Session = Depends(get_db)):
    if User.get_by(db, field="name", value=name):
        raise HTTPException(400)
    user = User.create(db=db, data={"name": name})
    Permission.create(db=db, data={"user_id": user.id})
    return user


@router.post("/users2")
def create_user2(name: str, db: Session = Depends(get_db)):
    user = User.create(db=db, data={"name": name})
    return user


@router.post("/users3")
def create_user3(name: str):
    return User.create(name=name)
"""
    assert _lines(tmp_path, {"app/api.py": src}) == [("app/api.py", 20)]


def test_handlers_in_test_code_are_skipped(tmp_path):
    src = DJANGO_HEAD + "\n\n@require_POST\ndef a(request):\n    Order.objects.create()\n"
    files = {"shop/tests/dummy/views.py": src, "shop/test_views.py": src, "shop/views.py": src}
    assert _lines(tmp_path, files) == [("shop/views.py", src.count("\n") - 1)]


def test_idempotency_key_read_and_used(tmp_path):
    used = DJANGO_HEAD + """
@require_POST
def a(request):
    key = request.headers.get("Idempotency-Key")
    Order.objects.create(user=request.user, idempotency_key=key)


@require_POST
def b(request):
    Order.objects.create(user=request.user, idem=request.META["HTTP_X_IDEMPOTENCY_KEY"])


@require_POST
def c(request):
    key = request.data.get("idempotency_key")
    if cache.get(key):
        return JsonResponse({})
    Order.objects.create(user=request.user)
"""
    assert _lines(tmp_path, {"shop/views.py": used}) == []


def test_fastapi_idempotency_header_parameter_and_dependency(tmp_path):
    src = """
from fastapi import APIRouter, Depends, Header
from sqlalchemy.orm import Session
from app.db import get_db
from app.deps import verify_idempotency
from app.models import Order

router = APIRouter()


@router.post("/a")
def a(db: Session = Depends(get_db), idempotency_key: str = Header(...)):
    db.add(Order(key=idempotency_key))
    db.commit()


@router.post("/b")
def b(db: Session = Depends(get_db), _=Depends(verify_idempotency)):
    db.add(Order())
    db.commit()


@router.post("/c")
def c(db: Session = Depends(get_db), idempotency_key: str = Header(None)):
    db.add(Order())
    db.commit()
"""
    assert _lines(tmp_path, {"app/api.py": src}) == [("app/api.py", 24)]


def test_django_post_branches(tmp_path):
    src = DJANGO_HEAD + """
def only_get_branch_creates(request):
    if request.method == "GET":
        Order.objects.create(user=request.user)
    return render(request, "x.html")


def post_branch(request):
    if request.method == "POST":
        Order.objects.create(user=request.user)
    return render(request, "x.html")


def after_guard(request):
    if request.method != "POST":
        return render(request, "x.html")
    Order.objects.create(user=request.user)


def elif_branch(request):
    if request.method == "GET":
        return render(request, "x.html")
    elif request.method == "POST" and request.POST.get("go"):
        Order.objects.create(user=request.user)


def no_method_check(request):
    Order.objects.create(user=request.user)


@require_http_methods(["GET", "POST"])
def mixed_without_branch(request):
    Order.objects.create(user=request.user)


@require_http_methods(["GET", "POST"])
def mixed_get_returns(request):
    if request.method == "GET":
        return render(request, "x.html")
    Order.objects.create(user=request.user)
"""
    lines = [line for _, line in _lines(tmp_path, {"shop/views.py": src})]
    text = src.splitlines()
    names = [text[line - 1].split("def ")[1].split("(")[0] for line in lines]
    assert names == ["post_branch", "after_guard", "elif_branch", "mixed_without_branch", "mixed_get_returns"]


def test_post_branch_outside_a_view_is_not_a_handler(tmp_path):
    src = DJANGO_HEAD + """
def helper(request):
    if request.method == "POST":
        Order.objects.create(user=request.user)
"""
    assert _lines(tmp_path, {"shop/services.py": src}) == []
    assert _lines(tmp_path / "v", {"shop/views.py": src}) != []


def test_class_based_views_and_drf(tmp_path):
    src = """
from django.views import View
from django.views.generic import TemplateView
from rest_framework import generics, viewsets
from rest_framework.decorators import action, api_view
from rest_framework.views import APIView
from shop.models import Order


class A(View):
    def post(self, request):
        Order.objects.create()

    def get(self, request):
        Order.objects.create()


class B(TemplateView):
    def post(self, request, *args, **kwargs):
        Order.objects.create()


class C(APIView):
    def post(self, request):
        Order.objects.create()

    def put(self, request):
        Order.objects.create()


class D(viewsets.ModelViewSet):
    def create(self, request):
        Order.objects.create()

    @action(detail=True, methods=["post"])
    def pay(self, request, pk=None):
        Order.objects.create()

    @action(detail=True)
    def summary(self, request, pk=None):
        Order.objects.create()

    def perform_create(self, serializer):
        Order.objects.create()


@api_view(["POST"])
def e(request):
    Order.objects.create()


@api_view(["GET"])
def f(request):
    Order.objects.create()


class G(generics.ListCreateAPIView):
    def create(self, request):
        Order.objects.create()


class NotAView:
    def post(self, request):
        Order.objects.create()
"""
    got = [line for _, line in _lines(tmp_path, {"shop/api.py": src})]
    text = src.splitlines()
    names = [text[line - 1].strip().split("def ")[1].split("(")[0] for line in got]
    assert names == ["post", "post", "post", "create", "pay", "e", "create"]


def test_flask_handlers(tmp_path):
    src = """
from flask import Blueprint, Flask, request
from flask.views import MethodView
from flask_restful import Resource
from app.extensions import db
from app.models import Post

app = Flask(__name__)
bp = Blueprint("b", __name__)


@app.route("/a", methods=["POST"])
def a():
    db.session.add(Post())
    db.session.commit()


@app.route("/b")
def b():
    db.session.add(Post())


@bp.post("/c")
def c():
    p = Post(title=request.form["t"])
    db.session.add(p)


@bp.route("/d", methods=("GET", "POST"))
def d():
    if request.method == "POST":
        db.session.add(Post())
    return ""


class E(MethodView):
    def post(self):
        db.session.add(Post())

    def get(self):
        db.session.add(Post())


class F(Resource):
    def post(self):
        db.session.add_all([Post(), Post()])


@bp.post("/g/<int:pid>")
def g(pid):
    post = Post.query.get_or_404(pid)
    post.title = request.form["t"]
    db.session.add(post)
    db.session.commit()


@bp.post("/h")
def h():
    seen = set()
    seen.add(Post())
"""
    got = [line for _, line in _lines(tmp_path, {"app/views.py": src})]
    text = src.splitlines()
    names = [text[line - 1].strip().split("def ")[1].split("(")[0] for line in got]
    assert names == ["a", "c", "d", "post", "post"]


def test_sqlalchemy_guards(tmp_path):
    src = """
from fastapi import APIRouter, Depends
from sqlalchemy import insert, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from app.db import get_session
from app.models import Like, Tag, User

router = APIRouter()


@router.post("/a")
async def a(session: AsyncSession = Depends(get_session)):
    session.add(Tag(name="x"))
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()


@router.post("/b")
async def b(email: str, session: AsyncSession = Depends(get_session)):
    existing = await session.scalar(select(User).where(User.email == email))
    if existing is not None:
        return existing
    session.add(User(email=email))
    await session.commit()


@router.post("/c")
async def c(session: AsyncSession = Depends(get_session)):
    await session.execute(pg_insert(Like).values(a=1).on_conflict_do_nothing())


@router.post("/d")
async def d(session: AsyncSession = Depends(get_session)):
    await session.execute(text("INSERT INTO likes (a) VALUES (1) ON CONFLICT DO NOTHING"))


@router.post("/e")
async def e(session: AsyncSession = Depends(get_session)):
    await session.execute(text("INSERT INTO likes (a) VALUES (1)"))


@router.post("/f")
async def f(session: AsyncSession = Depends(get_session)):
    stmt = insert(Like).values(a=1)
    await session.execute(stmt)


@router.post("/g")
async def g(uid: int, session: AsyncSession = Depends(get_session)):
    user = await session.get(User, uid)
    user.name = "x"
    session.add(user)
    await session.commit()
"""
    got = [line for _, line in _lines(tmp_path, {"app/api.py": src})]
    text = src.splitlines()
    names = [text[line - 1].strip().split("def ")[1].split("(")[0] for line in got]
    assert names == ["e", "f"]


def test_side_effects(tmp_path):
    src = """
import smtplib
import requests as rq
import stripe
from django.core.mail import EmailMessage, send_mail as sm
from fastapi import APIRouter
import httpx

router = APIRouter()


@router.post("/pay")
def pay(amount: int):
    stripe.Charge.create(amount=amount, currency="eur")


@router.post("/pay-keyed")
def pay_keyed(amount: int, order_id: int):
    stripe.Charge.create(amount=amount, currency="eur", idempotency_key=f"order-{order_id}")


@router.post("/notify")
def notify():
    rq.post("https://hooks.example.com/x", json={}, timeout=5)


@router.post("/fetch")
def fetch():
    rq.get("https://example.com/x", timeout=5)


@router.post("/client")
async def client():
    async with httpx.AsyncClient() as c:
        await c.post("https://hooks.example.com/x", json={})


@router.post("/mail")
def mail():
    sm("s", "b", "f@x", ["t@x"])


@router.post("/mail2")
def mail2():
    EmailMessage("s", "b", to=["t@x"]).send()


@router.post("/smtp")
def smtp():
    with smtplib.SMTP("localhost", timeout=5) as s:
        s.sendmail("a", ["b"], "m")


@router.post("/oauth")
def oauth():
    rq.post("https://accounts.example.com/oauth2/token", data={}, timeout=5)
"""
    got = [line for _, line in _lines(tmp_path, {"app/api.py": src})]
    text = src.splitlines()
    names = [text[line - 1].strip().split("def ")[1].split("(")[0] for line in got]
    assert names == ["pay", "notify", "client", "mail", "mail2", "smtp"]


def test_guard_option_reaches_the_rule(tmp_path):
    src = DJANGO_HEAD + """
from shop.dedupe import my_dedupe


@require_POST
@my_dedupe
def a(request):
    Order.objects.create(user=request.user)


@require_POST
def b(request):
    my_dedupe(request)
    Order.objects.create(user=request.user)
"""
    assert len(_lines(tmp_path / "off", {"shop/views.py": src})) == 2
    assert _lines(tmp_path / "on", {"shop/views.py": src}, rule_options={"non-idempotent-post": {"guards": ["my_dedupe"]}}) == []


def test_guard_option_through_pyproject(tmp_path):
    import os

    from backendlint.engine.config import find_config, load_config
    from backendlint.engine.run import RunOptions, run
    from helpers import write_project

    src = DJANGO_HEAD + "\n\n@require_POST\n@dedupe_request\ndef a(request):\n    Order.objects.create()\n"
    write_project(tmp_path, {"shop/views.py": src})
    with open(tmp_path / "pyproject.toml", "a", encoding="utf-8") as fh:
        fh.write('\n[tool.backendlint.rules.non-idempotent-post]\nguards = ["app.http.dedupe_request"]\n')
    config = load_config(find_config(tmp_path))
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        result = run([tmp_path], config, RunOptions(select=["BL201"], jobs=1, use_cache=False))
    finally:
        os.chdir(cwd)
    assert result.diagnostics == []


def test_idempotency_middleware_guards_the_project(tmp_path):
    files = {
        "shop/views.py": DJANGO_HEAD + "\n\n@require_POST\ndef a(request):\n    Order.objects.create()\n",
        "shop/settings.py": "MIDDLEWARE = ['django.middleware.common.CommonMiddleware', 'shop.mw.IdempotencyKeyMiddleware']\n",
    }
    assert _lines(tmp_path, files) == []
    files["shop/settings.py"] = "MIDDLEWARE = ['django.middleware.common.CommonMiddleware']\n"
    assert len(_lines(tmp_path / "x", files)) == 1


def test_starlette_add_middleware(tmp_path):
    files = {
        "app/main.py": "from fastapi import FastAPI\nfrom app.mw import IdempotencyMiddleware\napp = FastAPI()\napp.add_middleware(IdempotencyMiddleware)\n",
        "app/api.py": "from fastapi import APIRouter\nimport requests\nrouter = APIRouter()\n\n@router.post('/x')\ndef x():\n    requests.post('https://h.example.com/notify', timeout=3)\n",
    }
    assert _lines(tmp_path, files) == []


def test_local_name_is_not_the_api(tmp_path):
    src = """
from fastapi import APIRouter

router = APIRouter()


def send_mail(*a):
    return None


class Charge:
    @staticmethod
    def create(**kw):
        return None


@router.post("/x")
def x():
    send_mail("a")
    Charge.create(amount=1)
"""
    assert _lines(tmp_path, {"app/api.py": src}) == []


def test_nested_and_async_code(tmp_path):
    src = """
from aiohttp import web
from app.models import Event
from app.db import Session

routes = web.RouteTableDef()


@routes.post("/events")
async def create_event(request):
    async with Session() as session:
        async with session.begin():
            session.add(Event(name=(await request.json())["name"]))
    return web.json_response({})
"""
    assert _lines(tmp_path, {"app/handlers.py": src}) == [("app/handlers.py", 10)]


def test_deeply_nested_handler_does_not_crash(tmp_path):
    body = "    x = 1\n"
    indent = "    "
    for i in range(60):
        body += indent * (i + 1) + "if x:\n"
    body += indent * 61 + "Order.objects.create()\n"
    src = DJANGO_HEAD + "\n\n@require_POST\ndef deep(request):\n" + body
    diags = lint(tmp_path, {"shop/views.py": src}, select=["BL201"])
    assert [d.code for d in diags] == ["BL201"], [d.message for d in diags]
