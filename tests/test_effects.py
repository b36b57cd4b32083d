"""Effect summaries (backendlint.index.effects): multi-file projects, resolution, cycles,
and their use by BL201 (and BL301)."""

from __future__ import annotations

import ast
import textwrap

from backendlint.index.effects import EffectSummaries, merge_summaries
from tests.helpers import lint


def _summaries(files):
    """Merged summaries of {relpath: source}, without running the engine."""
    collector = EffectSummaries()
    parts = {}
    for relpath, source in files.items():
        source = textwrap.dedent(source)
        module = relpath[:-3].replace("/", ".")
        if module.endswith(".__init__"):
            module = module[: -len(".__init__")]
        part = collector.collect(ast.parse(source), relpath, module, source)
        if part is not None:
            parts[relpath] = part
    return merge_summaries(parts)


LAYERED = {
    "shop/__init__.py": "",
    "shop/models.py": """
        from django.db import models
        class Order(models.Model):
            ref = models.CharField(max_length=20, unique=True)
    """,
    "shop/repository.py": """
        from shop.models import Order

        def save_order(data):
            return Order.objects.create(**data)

        def find_order(ref):
            return Order.objects.filter(ref=ref).first()
    """,
    "shop/services.py": """
        from shop.repository import save_order, find_order

        def create_order(data):
            order = save_order(data)
            return order

        def create_order_once(data):
            existing = find_order(data["ref"])
            if existing is not None:
                return existing
            return save_order(data)

        def read_order(ref):
            return find_order(ref)
    """,
}


# -- the summaries ----------------------------------------------------------------------
def test_summary_handler_service_repository_chain():
    s = _summaries(LAYERED)
    chain = s["creates"]["shop.services.create_order"]["creates Order"]
    assert chain[0] == "shop.repository.save_order"
    assert chain[-1] == 5  # the create line in repository.py
    assert "shop.services.read_order" not in s["creates"]
    # a duplicate check in the service keeps the repository's create to itself
    assert "shop.services.create_order_once" not in s["creates"]


def test_summary_cycle_terminates_and_propagates():
    s = _summaries({
        "app/__init__.py": "",
        "app/models.py": "class Ticket: pass\n",
        "app/a.py": """
            from app import b
            from app.models import Ticket

            def ping(n):
                if n:
                    return b.pong(n - 1)
                Ticket(n=n).save()
        """,
        "app/b.py": """
            from app.a import ping

            def pong(n):
                return ping(n)
        """,
    })
    assert "creates Ticket" in s["creates"]["app.a.ping"]
    assert "creates Ticket" in s["creates"]["app.b.pong"]


def test_summary_unresolved_and_third_party_calls_stay_opaque():
    s = _summaries({
        "svc.py": """
            import stripe_helpers
            from thirdparty import make_order

            def create(data, repo):
                make_order(data)          # third party
                repo.save_order(data)     # unknown receiver
                stripe_helpers.charge()   # not a project module
        """,
    })
    assert "svc.create" not in s["creates"]


def test_summary_re_export_through_package_init():
    s = _summaries({
        "shop/__init__.py": "from shop.repository import save_order\n",
        "shop/models.py": "",
        "shop/repository.py": LAYERED["shop/repository.py"],
        "api.py": """
            import shop

            def add(data):
                return shop.save_order(data)
        """,
    })
    assert "creates Order" in s["creates"]["api.add"]


def test_summary_covered_by_callers():
    s = _summaries({
        "svc.py": """
            from django.db import transaction
            from shop.models import Order

            def write_both(a, b):
                Order.objects.filter(id=a).update(x=1)
                Order.objects.filter(id=b).update(x=2)

            def caller():
                with transaction.atomic():
                    write_both(1, 2)

            @transaction.atomic
            def other_caller():
                write_both(3, 4)

            def write_alone(a, b):
                Order.objects.filter(id=a).update(x=1)
                Order.objects.filter(id=b).update(x=2)

            def careless():
                write_alone(1, 2)

            def careful():
                with transaction.atomic():
                    write_alone(1, 2)
        """,
    })
    assert "svc.write_both" in s["covered"]
    assert "svc.write_alone" not in s["covered"]  # one caller holds no transaction


# -- BL201 through calls -------------------------------------------------------------------
def _bl201(tmp_path, files):
    return [(d.path, d.line, d.message) for d in lint(tmp_path, files, select=["BL201"])]


def test_bl201_fastapi_handler_service_repository(tmp_path):
    files = dict(LAYERED)
    files["shop/api.py"] = """
        from fastapi import APIRouter
        from shop import services

        router = APIRouter()

        @router.post("/orders")
        def post_order(payload: dict):
            return services.create_order(payload)

        @router.post("/orders/once")
        def post_order_once(payload: dict):
            return services.create_order_once(payload)

        @router.post("/orders/search")
        def search(payload: dict):
            return services.read_order(payload["ref"])
    """
    found = _bl201(tmp_path, files)
    assert [(p, line) for p, line, _ in found] == [("shop/api.py", 8)]
    message = found[0][2]
    assert "calls create_order() (shop/services.py:4), which calls save_order() (shop/repository.py:4)" in message
    assert "which creates Order (shop/repository.py:5)" in message


def test_bl201_call_through_alias_and_method_on_known_instance(tmp_path):
    files = dict(LAYERED)
    files["shop/orders.py"] = """
        from shop.services import create_order as make

        class OrderService:
            def place(self, data):
                return make(data)

        class Unrelated:
            def place(self, data):
                return None
    """
    files["shop/api.py"] = """
        from typing import Annotated
        from fastapi import APIRouter, Depends
        import shop.services as svc
        from shop.orders import OrderService, Unrelated

        router = APIRouter()

        @router.post("/a")
        def via_module_alias(payload: dict):
            return svc.create_order(payload)

        @router.post("/b")
        def via_depends(payload: dict, service: OrderService = Depends(OrderService)):
            return service.place(payload)

        @router.post("/c")
        def via_annotated(payload: dict, service: Annotated[OrderService, Depends()]):
            return service.place(payload)

        @router.post("/d")
        def via_constructor(payload: dict):
            service = OrderService()
            return service.place(payload)

        @router.post("/e")
        def other_class(payload: dict):
            service = Unrelated()
            return service.place(payload)

        @router.post("/f")
        def unknown_receiver(payload: dict, service):
            return service.place(payload)
    """
    lines = sorted(line for p, line, _ in _bl201(tmp_path, files) if p == "shop/api.py")
    assert lines == [10, 14, 18, 22]


def test_bl201_self_method_in_class_based_view(tmp_path):
    files = dict(LAYERED)
    files["shop/views.py"] = """
        from django.views import View
        from django.http import HttpResponse
        from shop.services import create_order

        class OrderView(View):
            def post(self, request):
                self.place(request.POST)
                return HttpResponse(status=201)

            def place(self, data):
                return create_order(data)
    """
    found = _bl201(tmp_path, files)
    assert [(p, line) for p, line, _ in found] == [("shop/views.py", 7)]
    assert "calls place() (shop/views.py:11), which calls create_order()" in found[0][2]


def test_bl201_guard_in_handler_covers_callee_create(tmp_path):
    files = dict(LAYERED)
    files["shop/api.py"] = """
        from flask import Blueprint, request
        from shop.models import Order
        from shop.services import create_order

        bp = Blueprint("orders", __name__)

        @bp.post("/orders")
        def post_order():
            data = request.get_json()
            if Order.objects.filter(ref=data["ref"]).exists():
                return {"status": "exists"}, 200
            create_order(data)
            return {"status": "created"}, 201
    """
    assert _bl201(tmp_path, files) == []


def test_bl201_callee_task_enqueue_and_idempotent_task(tmp_path):
    files = {
        "app/__init__.py": "",
        "app/tasks.py": """
            from celery import shared_task

            @shared_task
            def send_receipt(order_id): ...

            @shared_task
            def invalidate_cache(order_id): ...
        """,
        "app/notify.py": """
            from app.tasks import send_receipt, invalidate_cache

            def notify(order_id):
                send_receipt.delay(order_id)

            def refresh(order_id):
                invalidate_cache.delay(order_id)
        """,
        "app/api.py": """
            from fastapi import FastAPI
            from app.notify import notify, refresh

            app = FastAPI()

            @app.post("/receipts")
            def receipt(order_id: int):
                notify(order_id)

            @app.post("/refresh")
            def do_refresh(order_id: int):
                refresh(order_id)
        """,
    }
    found = _bl201(tmp_path, files)
    assert [(p, line) for p, line, _ in found] == [("app/api.py", 8)]
    assert "enqueues a task (send_receipt.delay)" in found[0][2]


def test_bl201_local_name_shadowing_module_is_opaque(tmp_path):
    files = dict(LAYERED)
    files["shop/api.py"] = """
        from fastapi import APIRouter
        from shop import services

        router = APIRouter()

        @router.post("/x")
        def handler(payload: dict, services=None):
            return services.create_order(payload)
    """
    assert _bl201(tmp_path, files) == []


def test_bl201_follows_a_helper_defined_below_the_handler(tmp_path):
    files = dict(LAYERED)
    files["shop/api.py"] = """
        from fastapi import APIRouter
        from shop.models import Order

        router = APIRouter()

        @router.post("/orders")
        def post_order(payload: dict):
            return place(payload)

        @router.post("/orders/shadowed")
        def post_shadowed(payload: dict, place=None):
            return place(payload)

        @router.post("/orders/local")
        def post_local(payload: dict):
            place = dict
            return place(payload)

        def place(payload):
            order = Order(ref=payload["ref"])
            order.save()
            return order
    """
    found = _bl201(tmp_path, files)
    assert [(p, line) for p, line, _ in found] == [("shop/api.py", 8)]
    assert "calls place() (shop/api.py:20), which creates Order (shop/api.py:22)" in found[0][2]


def test_bl201_callee_effects_named_once_and_ping_is_not_a_create(tmp_path):
    files = {
        "hooks/__init__.py": "",
        "hooks/send.py": """
            import httpx

            def notify_event(url, body):
                httpx.post(url, json=body)

            def notify_ping_event(url):
                notify_event(url, {"ping": True})

            def notify_created(url, body):
                notify_event(url, body)
        """,
        "hooks/api.py": """
            from fastapi import APIRouter
            from hooks.send import notify_ping_event, notify_created, notify_event

            router = APIRouter()

            @router.post("/ping")
            def ping(url: str):
                notify_ping_event(url)

            @router.post("/things")
            def create_thing(url: str, body: dict):
                notify_created(url, body)
                notify_event(url, body)
        """,
    }
    found = _bl201(tmp_path, files)
    assert [(p, line) for p, line, _ in found] == [("hooks/api.py", 12)]
    assert found[0][2].count("sends an outbound POST") == 1


def test_bl201_state_check_on_annotated_row_guards_callee(tmp_path):
    files = {
        "app/__init__.py": "",
        "app/queue.py": """
            from app.tasks import run_request

            def queue_request(request_id):
                run_request.apply_async(args=[request_id])
        """,
        "app/tasks.py": "",
        "app/api.py": """
            from fastapi import APIRouter, HTTPException
            from app.models import PrivacyRequest
            from app.queue import queue_request

            router = APIRouter()

            @router.post("/callback")
            def callback(task):
                request: PrivacyRequest = task.privacy_request
                if request.status != "processing":
                    raise HTTPException(400)
                queue_request(request.id)

            @router.post("/submit")
            def submit(task):
                request = task.privacy_request
                queue_request(request.id)
        """,
    }
    assert [(p, line) for p, line, _ in _bl201(tmp_path, files)] == [("app/api.py", 16)]


# -- BL301: a caller-held transaction ------------------------------------------------------
HELPERS = """
    from shop.models import Order, Line

    def move_lines(src, dst):
        Line.objects.filter(order=src).update(order=dst)
        Order.objects.filter(id=src).delete()
"""


def _bl301(tmp_path, files):
    return [(d.path, d.line) for d in lint(tmp_path, files, select=["BL301"])]


def test_bl301_helper_covered_when_every_caller_holds_the_transaction(tmp_path):
    files = {
        "shop/__init__.py": "",
        "shop/models.py": "",
        "shop/helpers.py": HELPERS,
        "shop/services.py": """
            from django.db import transaction
            from shop import helpers
            from shop.helpers import move_lines as move

            def merge(a, b):
                with transaction.atomic():
                    helpers.move_lines(a, b)

            @transaction.atomic
            def merge_again(a, b):
                move(a, b)
        """,
    }
    assert _bl301(tmp_path, files) == []


def test_bl301_helper_reported_when_one_caller_holds_no_transaction(tmp_path):
    files = {
        "shop/__init__.py": "",
        "shop/models.py": "",
        "shop/helpers.py": HELPERS,
        "shop/services.py": """
            from django.db import transaction
            from shop.helpers import move_lines

            def merge(a, b):
                with transaction.atomic():
                    move_lines(a, b)

            def careless_merge(a, b):
                move_lines(a, b)
        """,
    }
    assert _bl301(tmp_path, files) == [("shop/helpers.py", 5)]


def test_bl301_helper_not_covered_when_used_as_a_callback_or_decorated(tmp_path):
    files = {
        "shop/__init__.py": "",
        "shop/models.py": "",
        "shop/helpers.py": HELPERS + """
    from celery import shared_task

    @shared_task
    def move_task(src, dst):
        Line.objects.filter(order=src).update(order=dst)
        Order.objects.filter(id=src).delete()
""",
        "shop/services.py": """
            from django.db import transaction
            from shop.helpers import move_lines, move_task

            HOOKS = [move_lines]

            def merge(a, b):
                with transaction.atomic():
                    move_lines(a, b)
                    move_task(a, b)
        """,
    }
    assert sorted(_bl301(tmp_path, files)) == [("shop/helpers.py", 5), ("shop/helpers.py", 12)]


def test_bl301_cycle_does_not_cover_itself(tmp_path):
    files = {
        "shop/__init__.py": "",
        "shop/models.py": "",
        "shop/tree.py": """
            from shop.models import Node

            def prune(node):
                Node.objects.filter(parent=node).update(dead=True)
                node.delete()
                for child in node.children():
                    prune_child(child)

            def prune_child(node):
                prune(node)
        """,
    }
    assert _bl301(tmp_path, files) == [("shop/tree.py", 5)]


def test_bl201_state_flag_on_loaded_row_guards_callee(tmp_path):
    files = {
        "talks/__init__.py": "",
        "talks/mail.py": """
            from talks.tasks import send_mail_task

            def notify_orga(text):
                send_mail_task.apply_async(args=[text])
        """,
        "talks/tasks.py": "",
        "talks/views.py": """
            from django.views import View
            from talks.mail import notify_orga

            class Withdraw(View):
                def post(self, request, *args, **kwargs):
                    obj = self.get_object()
                    was_accepted = obj.state == "accepted"
                    obj.withdraw()
                    if was_accepted:
                        notify_orga("withdrawn")

            class Remind(View):
                def post(self, request, *args, **kwargs):
                    count = len(request.POST)
                    if count:
                        notify_orga("reminder")
        """,
    }
    assert [(p, line) for p, line, _ in _bl201(tmp_path, files)] == [("talks/views.py", 14)]


def test_summary_records_where_writes_sit_for_bl301():
    s = _summaries({
        "svc.py": """
            from django.db import transaction
            from shop.db import traced_atomic
            from shop.models import Line, Order

            def work(rows, order, batch_size=100):
                for start in range(0, len(rows), batch_size):
                    Line.objects.filter(pk__in=rows[start:start + batch_size]).delete()
                for row in rows:
                    try:
                        Line.objects.create(**row)
                    except ValueError:
                        pass
                for row in rows:
                    Line.objects.create(**row)
                with traced_atomic("x"):
                    Order.objects.filter(pk=1).update(x=1)
                with transaction.atomic() if order else nullcontext():
                    Order.objects.filter(pk=2).update(x=2)
                order.save()
        """,
    })
    writes = {w[1]: w for w in s["writes"]["svc.work"]}
    assert writes[8][3] & 2  # batching loop: a deliberate series
    assert writes[11][3] & 2  # per-item error isolation
    assert writes[15][3] == 1  # in a loop
    assert writes[17][5] == ["shop.db.traced_atomic"] and not writes[17][2]
    assert writes[19][2]  # atomic() if ... else nullcontext()
    assert 20 not in writes  # a parameter's save(): not counted (mostly derived fields, on the corpus)
    assert s["flavour"] == {"svc.py": "dj"}


# -- severity: external effects and enqueued tasks -------------------------------------------

def test_summary_external_effect_through_calls_and_enqueued_tasks():
    merged = _summaries({
        "app/__init__.py": "",
        "app/mail.py": """
            from django.core.mail import EmailMessage

            def notify(address):
                message = EmailMessage("Hi", "body", "a@example.com", [address])
                message.send()
        """,
        "app/tasks.py": """
            import boto3
            from celery import shared_task
            from app.mail import notify
            from app.models import Order

            @shared_task
            def welcome(address):
                if Order.objects.filter(email=address).exists():  # a guard: still sends
                    return
                notify(address)

            @shared_task
            def record(pk):
                Order.objects.create(pk=pk)

            @shared_task
            def start_job(name):
                batch = boto3.client("batch")
                batch.submit_job(jobName=name)

            @shared_task
            def read_job(name):
                batch = boto3.client("batch")
                return batch.describe_jobs(jobs=[name])
        """,
        "app/services.py": """
            from app import tasks

            def signup(address):
                tasks.welcome.delay(address)

            def later(pk):
                tasks.record.delay(pk)
        """,
    })
    external = merged["external"]
    assert external["app.mail.notify"] == "sends an email (EmailMessage.send)"
    assert external["app.tasks.welcome"] == "sends an email (EmailMessage.send)"
    assert external["app.services.signup"] == "sends an email (EmailMessage.send)"  # through the task
    assert external["app.tasks.start_job"] == "calls a remote service (boto3 submit_job)"
    assert "app.tasks.record" not in external and "app.services.later" not in external
    assert "app.tasks.read_job" not in external  # describe_* reads
    assert merged["tasks"]["app.services.signup"] == {"enqueues a task (tasks.welcome.delay)": "app.tasks.welcome"}


def test_summary_external_effect_of_a_project_subclass_of_a_mail_class():
    merged = _summaries({
        "app/__init__.py": "",
        "app/email.py": """
            from django.core.mail import EmailMultiAlternatives

            class BrandedEmail(EmailMultiAlternatives):
                pass
        """,
        "app/tasks.py": """
            from app.email import BrandedEmail

            def send_all(mails):
                for mail in mails:
                    message = BrandedEmail(mail["subject"], mail["body"], to=[mail["to"]])
                    message.send()
        """,
    })
    assert merged["external"]["app.tasks.send_all"] == "sends an email (EmailMultiAlternatives.send)"


def test_summary_send_messages_of_any_backend_is_an_email():
    merged = _summaries({
        "app/__init__.py": "",
        "app/smtp.py": """
            from app.config import pick_backend

            def deliver(email, event):
                sender, backend = pick_backend(event)
                backend.send_messages([email])
        """,
    })
    assert merged["external"]["app.smtp.deliver"] == "sends an email (send_messages)"
