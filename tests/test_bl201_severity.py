"""BL201's severity (catalog "Severity", row BL201): the effect of what a finding reports
(external, also through an enqueued task's body; log rows; rows), and the handlers whose
repetition is harmless (low unless external)."""

from __future__ import annotations

import textwrap

from tests.helpers import lint

MODELS = {
    "shop/__init__.py": "",
    "shop/models.py": """
        from django.db import models

        class Order(models.Model):
            note = models.TextField()

        class LoginToken(models.Model):
            code = models.CharField(max_length=8)

        class Visit(models.Model):
            path = models.TextField()
    """,
    "shop/tasks.py": """
        import subprocess

        from celery import shared_task
        from django.core.mail import EmailMultiAlternatives

        from shop.models import Order


        def _mail(address):
            message = EmailMultiAlternatives("Your order", "Thanks", "shop@example.com", [address])
            message.send()


        @shared_task
        def send_confirmation(address):
            _mail(address)


        @shared_task
        def record_order(note):
            Order.objects.create(note=note)


        @shared_task
        def deploy_site(name):
            subprocess.run(["ansible-playbook", "deploy.yml", "-e", name], check=True)
    """,
}


def _ranked(tmp_path, views, rule_options=None, relpath="shop/views.py"):
    """{handler name: (severity, why)} of the findings in ``views``."""
    return _ranked_files(tmp_path, {relpath: views}, rule_options)


def _ranked_files(tmp_path, extra, rule_options=None):
    files = dict(MODELS)
    files.update(extra)
    diags = lint(tmp_path, files, select=["BL201"], rule_options=rule_options)
    out = {}
    for d in diags:
        lines = textwrap.dedent(files[d.path]).splitlines()
        line = lines[d.line - 1]
        name = line.split("def ", 1)[1].split("(", 1)[0]
        owner = next((text for text in reversed(lines[: d.line - 1]) if not text.startswith((" ", "#")) and text), "")
        if line.startswith(" ") and owner.startswith("class "):  # a method: "Class.method"
            name = owner[len("class "):].split("(", 1)[0].split(":", 1)[0] + "." + name
        out[name] = (d.severity, d.why)
    return out


HEADER = """
    import requests
    import stripe
    from django.core.mail import send_mail
    from django.views.decorators.http import require_POST

    from shop.models import LoginToken, Order, Visit
    from shop import tasks
    from shop.tasks import deploy_site, record_order, send_confirmation
"""


# -- the effect of what a finding reports -------------------------------------------------

def test_each_external_effect_in_the_handler_is_high(tmp_path):
    found = _ranked(tmp_path, HEADER + """

    @require_POST
    def pay(request):
        stripe.Charge.create(amount=100, currency="eur")


    @require_POST
    def invite(request):
        send_mail("Join us", "body", "noreply@example.com", [request.POST["email"]])


    @require_POST
    def notify(request):
        requests.post("https://hooks.example.com/orders", json={"id": 1}, timeout=5)
    """)
    assert found["pay"] == ("high", "request handler; charges a card (stripe.Charge.create)")
    assert found["invite"] == ("high", "request handler; sends an email (send_mail)")
    assert found["notify"] == ("high", "request handler; an outbound POST (requests.post)")


def test_a_row_is_medium_and_a_log_row_is_low(tmp_path):
    found = _ranked(tmp_path, HEADER + """

    @require_POST
    def place(request):
        Order.objects.create(note=request.POST["note"])


    @require_POST
    def issue_token(request):
        LoginToken.objects.create(code="123456")
    """)
    assert found["place"] == ("medium", "request handler; a row (Order)")
    assert found["issue_token"] == ("low", "request handler; a log row (LoginToken)")


def test_log_models_option(tmp_path):
    views = HEADER + """

    @require_POST
    def track(request):
        Visit.objects.create(path=request.path)
    """
    assert _ranked(tmp_path, views)["track"][0] == "medium"
    found = _ranked(tmp_path, views, {"non-idempotent-post": {"log-models": ["Visit"]}})
    assert found["track"] == ("low", "request handler; a log row (Visit)")


def test_the_strongest_effect_wins(tmp_path):
    found = _ranked(tmp_path, HEADER + """

    @require_POST
    def checkout(request):
        LoginToken.objects.create(code="1")
        Order.objects.create(note="x")
        stripe.Charge.create(amount=100, currency="eur")
    """)
    assert found["checkout"] == ("high", "request handler; charges a card (stripe.Charge.create)")


def test_enqueued_task_takes_the_effect_of_its_body(tmp_path):
    found = _ranked(tmp_path, HEADER + """

    @require_POST
    def checkout(request):
        Order.objects.create(note="x")
        send_confirmation.delay(request.user.email)


    @require_POST
    def checkout_later(request):
        tasks.record_order.delay("x")


    @require_POST
    def publish(request):
        deploy_site.apply_async(args=[request.POST["site"]])
    """)
    # the task's body calls a helper that sends mail: external through the summaries
    assert found["checkout"] == ("high", "request handler; enqueues send_confirmation(), which sends an email (EmailMultiAlternatives.send)")
    # the task's body writes a row: the enqueue is a row
    assert found["checkout_later"] == ("medium", "request handler; enqueues a task (tasks.record_order.delay)")
    # a remote deployment (a subprocess) is external
    assert found["publish"] == ("high", "request handler; enqueues deploy_site(), which runs a command (subprocess.run)")


def test_enqueue_that_does_not_resolve_is_a_row(tmp_path):
    found = _ranked(tmp_path, HEADER + """
    from celery import current_app


    @require_POST
    def checkout(request):
        current_app.send_task("shop.tasks.send_confirmation", args=[request.user.email])
    """)
    assert found["checkout"] == ("medium", "request handler; enqueues a task (current_app.send_task)")


def test_callee_that_enqueues_a_mailing_task_is_high(tmp_path):
    files = dict(MODELS)
    files["shop/services.py"] = """
        from shop.models import Order
        from shop.tasks import send_confirmation

        def place_order(note, address):
            Order.objects.create(note=note)
            send_confirmation.delay(address)
    """
    files["shop/views.py"] = """
        from django.views.decorators.http import require_POST

        from shop.services import place_order


        @require_POST
        def checkout(request):
            place_order(request.POST["note"], request.user.email)
    """
    diags = lint(tmp_path, files, select=["BL201"])
    assert [(d.line, d.severity) for d in diags] == [(8, "high")]
    assert diags[0].why == (
        "request handler; calls place_order(), which enqueues send_confirmation(), which sends an email "
        "(EmailMultiAlternatives.send)"
    )


# -- handlers whose repetition is harmless: low unless external ---------------------------

def test_repetition_is_the_point_is_low_unless_external(tmp_path):
    found = _ranked(tmp_path, HEADER + """

    @require_POST
    def send_test_notification(request):
        Order.objects.create(note="test")


    @require_POST
    def verify_address(request):
        Order.objects.create(note="verified")


    @require_POST
    def resend_invite(request):
        tasks.record_order.delay("again")


    @require_POST
    def send_test_email(request):
        send_mail("Test", "body", "noreply@example.com", [request.user.email])


    @require_POST
    def resend_confirmation(request):
        send_confirmation.delay(request.user.email)
    """)
    assert found["send_test_notification"] == ("low", "request handler; repeating it is the point (send_test_notification)")
    assert found["verify_address"] == ("low", "request handler; repeating it is the point (verify_address)")
    assert found["resend_invite"] == ("low", "request handler; repeating it is the point (resend_invite)")
    assert found["send_test_email"][0] == "high"  # unless external: the mail goes out twice
    assert found["resend_confirmation"][0] == "high"  # through the task's body


def test_repetition_by_route_and_class_name(tmp_path):
    files = {}
    files["shop/api.py"] = """
        from flask import Blueprint
        from rest_framework.response import Response
        from rest_framework.views import APIView

        from shop.models import Order

        bp = Blueprint("shop", __name__)


        @bp.post("/orders/<int:pk>/resend-receipt")
        def receipt(pk):
            Order.objects.create(note="receipt")
            return {}


        class SendTestWebhookView(APIView):
            def post(self, request):
                Order.objects.create(note="webhook test")
                return Response(status=201)
    """
    found = _ranked_files(tmp_path, files)
    assert found["receipt"] == ("low", "request handler; repeating it is the point (resend_receipt)")
    assert found["SendTestWebhookView.post"] == ("low", "request handler; repeating it is the point (send_test_webhook_view)")


def test_throttled_login_code_is_low(tmp_path):
    files = {}
    files["shop/api.py"] = """
        from rest_framework.response import Response
        from rest_framework.throttling import AnonRateThrottle
        from rest_framework.views import APIView

        from shop.models import Order


        class RequestLoginCode(APIView):
            throttle_classes = [AnonRateThrottle]

            def post(self, request):
                Order.objects.create(note="code")
                return Response(status=201)


        class RequestOrder(APIView):
            throttle_classes = [AnonRateThrottle]

            def post(self, request):
                Order.objects.create(note="order")
                return Response(status=201)


        class LoginCodeUnthrottled(APIView):
            def post(self, request):
                Order.objects.create(note="code")
                return Response(status=201)
    """
    found = _ranked_files(tmp_path, files)
    assert found["RequestLoginCode.post"] == ("low", "request handler; a throttled login code (request_login_code)")
    assert found["RequestOrder.post"][0] == "medium"  # throttled, but not a login code
    assert found["LoginCodeUnthrottled.post"][0] == "medium"  # a login code, not throttled


def test_admin_only_is_low_unless_external(tmp_path):
    files = {}
    files["shop/admin_views.py"] = """
        import stripe
        from django.contrib.admin.views.decorators import staff_member_required
        from django.contrib.auth.decorators import user_passes_test
        from django.views.decorators.http import require_POST
        from fastapi import APIRouter, Depends
        from rest_framework.permissions import IsAdminUser
        from rest_framework.response import Response
        from rest_framework.views import APIView

        from shop.auth import get_admin_user
        from shop.models import Order

        router = APIRouter()


        @staff_member_required
        @require_POST
        def staff_create(request):
            Order.objects.create(note="staff")


        @user_passes_test(lambda u: u.is_superuser)
        @require_POST
        def superuser_create(request):
            Order.objects.create(note="superuser")


        class AdminOrders(APIView):
            permission_classes = [IsAdminUser]

            def post(self, request):
                Order.objects.create(note="admin")
                return Response(status=201)


        @router.post("/admin/orders")
        def admin_order(user=Depends(get_admin_user)):
            Order.objects.create(note="admin")


        @staff_member_required
        @require_POST
        def staff_refund(request):
            stripe.Refund.create(charge=request.POST["charge"])
    """
    found = _ranked_files(tmp_path, files)
    assert found["staff_create"] == ("low", "request handler; admin only (staff_member_required)")
    assert found["superuser_create"] == ("low", "request handler; admin only (is_superuser)")
    assert found["AdminOrders.post"] == ("low", "request handler; admin only (IsAdminUser)")
    assert found["admin_order"] == ("low", "request handler; admin only (get_admin_user)")
    assert found["staff_refund"][0] == "high"  # unless external: a second refund


def test_owner_or_admin_permission_is_not_admin_only(tmp_path):
    files = {}
    files["shop/api.py"] = """
        from rest_framework.response import Response
        from rest_framework.views import APIView

        from shop.models import Order
        from shop.permissions import IsOwnerOrAdmin


        class Orders(APIView):
            permission_classes = [IsOwnerOrAdmin]

            def post(self, request):
                Order.objects.create(note="x")
                return Response(status=201)
    """
    found = _ranked_files(tmp_path, files)
    assert found["Orders.post"][0] == "medium"


def test_development_only_is_low_unless_external(tmp_path):
    files = {}
    files["shop/api.py"] = """
        import requests
        from flask import Flask

        from shop.models import Order

        app = Flask(__name__)


        @app.post("/dev/seed")
        def seed():
            Order.objects.create(note="seed")
            return {}


        @app.post("/orders/fake")
        def debug_order():
            Order.objects.create(note="debug")
            return {}


        if app.debug:
            @app.post("/orders/sample")
            def sample():
                Order.objects.create(note="sample")
                return {}


        @app.post("/dev/hook")
        def hook():
            requests.post("https://hooks.example.com/x", json={}, timeout=5)
            return {}
    """
    found = _ranked_files(tmp_path, files)
    assert found["seed"] == ("low", "request handler; development only (dev)")
    assert found["debug_order"] == ("low", "request handler; development only (debug_order)")
    # (a function under a module-level ``if`` has no summary: its context is not known)
    assert found["sample"][0] == "low" and found["sample"][1].endswith("; development only (under a DEBUG test)")
    assert found["hook"][0] == "high"  # unless external


def test_device_is_not_dev(tmp_path):
    files = {}
    files["shop/api.py"] = """
        from flask import Flask

        from shop.models import Order

        app = Flask(__name__)


        @app.post("/devices")
        def register_device():
            Order.objects.create(note="device")
            return {}
    """
    found = _ranked_files(tmp_path, files)
    assert found["register_device"] == ("medium", "request handler; a row (Order)")


def test_messages_do_not_change(tmp_path):
    files = dict(MODELS)
    files["shop/views.py"] = HEADER + """

    @require_POST
    def checkout(request):
        Order.objects.create(note="x")
        send_confirmation.delay(request.user.email)
    """
    diags = lint(tmp_path, files, select=["BL201"])
    assert [d.message for d in diags] == [
        "POST handler creates Order and enqueues a task (send_confirmation.delay) without an idempotency guard "
        "(Idempotency-Key header, get_or_create, or upsert)"
    ]


def test_bare_token_model_is_a_log_row(tmp_path):
    found = _ranked_files(tmp_path, {"api/views.py": """
        from rest_framework.authtoken.models import Token
        from django.views.decorators.http import require_POST


        @require_POST
        def regenerate(request):
            Token.objects.create(user=request.user)
    """})
    assert found["regenerate"] == ("low", "request handler; a log row (Token)")


def test_admin_word_outside_a_permission_is_no_guard(tmp_path):
    found = _ranked_files(tmp_path, {"shop/api.py": """
        from drf_spectacular.utils import extend_schema
        from flask import Blueprint
        from rest_framework.response import Response
        from rest_framework.views import APIView

        from shop.models import Order
        from shop.serializers import AdminOrderSerializer

        admin_bp = Blueprint("admin", __name__)


        @admin_bp.post("/orders")
        def create_order():
            Order.objects.create(note="x")
            return {}


        class Orders(APIView):
            @extend_schema(responses=AdminOrderSerializer)
            def post(self, request):
                Order.objects.create(note="x")
                return Response(status=201)
    """})
    assert found["create_order"][0] == "medium"
    assert found["Orders.post"][0] == "medium"


def test_admin_only_through_method_decorator_and_action_permissions(tmp_path):
    found = _ranked_files(tmp_path, {"shop/api.py": """
        from django.contrib.admin.views.decorators import staff_member_required
        from django.utils.decorators import method_decorator
        from django.views import View
        from rest_framework.decorators import action
        from rest_framework.permissions import IsAdminUser
        from rest_framework.response import Response
        from rest_framework.viewsets import ViewSet

        from shop.models import Order


        @method_decorator(staff_member_required, name="dispatch")
        class CopyOrder(View):
            def post(self, request):
                Order.objects.create(note="copy")


        class Orders(ViewSet):
            @action(detail=True, methods=["post"], permission_classes=[IsAdminUser])
            def duplicate(self, request, pk=None):
                Order.objects.create(note="copy")
                return Response(status=201)
    """})
    assert found["CopyOrder.post"] == ("low", "request handler; admin only (staff_member_required)")
    assert found["Orders.duplicate"] == ("low", "request handler; admin only (IsAdminUser)")
