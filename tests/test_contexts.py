"""Where a unit of work runs (catalog, "Severity", "Context"): roles by decorator, base
class and registration; path words; contexts inherited from callers; library code."""

from __future__ import annotations

from pathlib import Path

import libcst as cst
import pytest

from backendlint.analysis.contexts import FACTS, Context, ContextMap, context_map, unit_key
from backendlint.engine.cache import Store
from backendlint.engine.config import Config
from backendlint.engine.discovery import discover, module_name
from backendlint.engine.project import build_index
from backendlint.engine.run import _relpath
from backendlint.knowledge.contexts import base_role, decorator_role, is_operator_path, path_context
from helpers import write_project


def contexts(tmp_path: Path, files) -> ContextMap:
    write_project(tmp_path, files)
    found = discover([tmp_path], Config(base=tmp_path)).files
    triples = [(str(p), _relpath(p, tmp_path), module_name(p, tmp_path)[0]) for p in found]
    facts, _ = build_index(triples, list(FACTS), Store(None, "index.json", []), None)
    return context_map(facts)


def name(cmap: ContextMap, key: str) -> str:
    found = cmap.of(key)
    assert found is not None, f"{key} not in {sorted(cmap.contexts)}"
    return found.name


@pytest.mark.parametrize(
    "qualified, role",
    [
        ("rest_framework.decorators.api_view", "request"),
        ("django.views.decorators.http.require_POST", "request"),
        ("django.contrib.auth.decorators.login_required", "request"),
        ("shop.app.post", "request"),  # @app.post on a project FastAPI app
        ("router.get", "request"),
        ("orders_bp.route", "request"),
        ("celery.shared_task", "task"),
        ("shop.celery.app.task", "task"),
        ("celery_app.task", "task"),
        ("dramatiq.actor", "task"),
        ("huey.task", "task"),
        ("click.command", "operator"),
        ("app.cli.command", "operator"),
        ("pytest.fixture", "test"),
        ("django.dispatch.receiver", "request"),
        ("functools.lru_cache", None),
        ("requests.get", None),
        ("cache.get", None),
        ("shop.utils.timed", None),
    ],
)
def test_decorator_roles(qualified, role):
    assert decorator_role(qualified) == role


@pytest.mark.parametrize(
    "qualified, role",
    [
        ("django.views.generic.ListView", "request"),
        ("rest_framework.viewsets.ModelViewSet", "request"),
        ("rest_framework.serializers.ModelSerializer", "request"),
        ("django.forms.ModelForm", "request"),
        ("django.contrib.admin.ModelAdmin", "request"),
        ("flask.views.MethodView", "request"),
        ("celery.Task", "task"),
        ("django.core.management.base.BaseCommand", "operator"),
        ("django.test.TestCase", "test"),
        ("unittest.TestCase", "test"),
        ("django.db.models.Model", None),
        ("shop.base.Thing", None),
        ("i18nfield.rest_framework.I18nAwareModelSerializer", "request"),  # a library on top of DRF
        ("shop.api.serializers.i18n.I18nAwareModelSerializer", "request"),  # re-exported
        ("shop.views.BaseListView", "request"),
        ("shop.forms.OrderForm", "request"),
        ("shop.base.TestView", None),
        ("shop.models.Order", None),
    ],
)
def test_base_roles(qualified, role):
    assert base_role(qualified) == role


@pytest.mark.parametrize(
    "relpath, context",
    [
        ("shop/management/commands/import_orders.py", "operator"),
        ("scripts/backfill.py", "operator"),
        ("tools/release.py", "operator"),
        ("setup.py", "operator"),
        ("shop/migrations/0003_data.py", "operator"),
        ("saleor/core/utils/random_data.py", "operator"),
        ("app/populatedb.py", "operator"),
        ("docker/wait_for_db.py", "operator"),
        ("tests/test_orders.py", "test"),
        ("shop/tests.py", "test"),
        ("shop/conftest.py", "test"),
        ("shop/views.py", None),
        ("shop/services/orders.py", None),
        ("shop/seedling.py", None),  # a word inside another word is not a path word
    ],
)
def test_path_contexts(relpath, context):
    assert path_context(relpath) == context


def test_roots_by_decorator_base_class_and_registration(tmp_path):
    cmap = contexts(tmp_path, {
        "shop/__init__.py": "",
        "shop/views.py": """
            from django.views.generic import ListView
            from rest_framework.decorators import api_view

            class OrderList(ListView):
                def get_queryset(self):
                    return []

            @api_view(["POST"])
            def checkout(request):
                return None

            def plain_view(request):
                return None
        """,
        "shop/urls.py": """
            from django.urls import path
            from shop import views

            urlpatterns = [path("plain/", views.plain_view)]
        """,
        "shop/tasks.py": """
            from celery import shared_task

            @shared_task
            def send_receipts():
                pass
        """,
        "shop/management/__init__.py": "",
        "shop/management/commands/__init__.py": "",
        "shop/management/commands/reindex.py": """
            from django.core.management.base import BaseCommand

            class Command(BaseCommand):
                def handle(self, *args, **options):
                    pass
        """,
    })
    assert name(cmap, "shop.views.OrderList.get_queryset") == "request"  # a helper of a class-based view
    assert name(cmap, "shop.views.checkout") == "request"
    assert name(cmap, "shop.views.plain_view") == "request"  # registered in urls.py
    assert name(cmap, "shop.tasks.send_receipts") == "task"
    assert name(cmap, "shop.management.commands.reindex.Command.handle") == "operator"


SERVICES = {
    "shop/__init__.py": "",
    "shop/views.py": """
        from rest_framework.decorators import api_view
        from shop.services import place_order

        @api_view(["POST"])
        def checkout(request):
            return place_order(request.user)
    """,
    "shop/services.py": """
        from shop.repo import save_order

        def place_order(user):
            return save_order(user)

        def unused_helper():
            return save_order(None)
    """,
    "shop/repo.py": """
        def save_order(user):
            return user
    """,
    "shop/tasks.py": """
        from celery import shared_task
        from shop.repo import save_order

        @shared_task
        def nightly():
            save_order(None)
    """,
    "tests/__init__.py": "",
    "tests/test_repo.py": """
        from shop.repo import save_order
        from shop.services import unused_helper

        def test_save():
            save_order(None)
            unused_helper()
    """,
    "scripts/backfill.py": """
        from shop.repo import save_order

        def main():
            save_order(None)

        if __name__ == "__main__":
            main()
    """,
}


def test_a_helper_inherits_the_hottest_caller_context_through_two_calls(tmp_path):
    cmap = contexts(tmp_path, SERVICES)
    found = cmap.of("shop.repo.save_order")
    assert found.name == "request"  # checkout -> place_order -> save_order beats the task and the script
    assert found.via == "shop.services.place_order" and found.via_path == "shop/services.py" and found.via_line == 5
    assert found.describe() == "request: called from place_order() in shop/services.py:5"
    assert name(cmap, "shop.services.place_order") == "request"


def test_a_helper_with_no_caller_but_tests_is_library(tmp_path):
    cmap = contexts(tmp_path, SERVICES)
    assert name(cmap, "shop.services.unused_helper") == "library"  # the test caller is ignored
    assert name(cmap, "tests.test_repo.test_save") == "test"
    assert name(cmap, "scripts.backfill.main") == "operator"  # path, and called from __main__
    assert cmap.of("shop.services.unused_helper").describe() == "library code with no known caller"


def test_a_task_only_helper_is_task_and_library_callers_pass_library_on(tmp_path):
    files = dict(SERVICES)
    files["shop/views.py"] = "def not_a_view():\n    pass\n"
    cmap = contexts(tmp_path, files)
    assert name(cmap, "shop.repo.save_order") == "task"
    assert name(cmap, "shop.services.place_order") == "library"


def test_a_role_is_kept_wherever_it_lives(tmp_path):
    cmap = contexts(tmp_path, {
        "scripts/__init__.py": "",
        "scripts/api.py": """
            from fastapi import APIRouter
            router = APIRouter()

            @router.post("/orders")
            def create_order():
                pass
        """,
    })
    assert name(cmap, "scripts.api.create_order") == "request"


def test_model_save_override_with_no_caller_is_request(tmp_path):
    cmap = contexts(tmp_path, {
        "shop/__init__.py": "",
        "shop/models.py": """
            from django.db import models

            class Order(models.Model):
                def save(self, *args, **kwargs):
                    super().save(*args, **kwargs)

                def total(self):
                    return 0
        """,
    })
    assert name(cmap, "shop.models.Order.save") == "request"
    assert name(cmap, "shop.models.Order.total") == "library"


def test_unit_key_of_nested_functions_and_methods():
    module = cst.parse_module("class A:\n    def m(self):\n        def inner():\n            pass\n\ndef f():\n    pass\n")
    cls = module.body[0]
    method = cls.body.body[0]
    inner = method.body.body[0]
    assert unit_key("shop.x", [cls, cls.body, method, method.body, inner]) == "shop.x.A.m"
    assert unit_key("shop.x", [module.body[1]]) == "shop.x.f"
    assert unit_key("shop.x", [cls, cls.body]) is None  # a class body runs at import
    assert unit_key("", [module.body[1]]) == "f"


def test_is_operator_path_words():
    assert is_operator_path("deploy/run.py") and is_operator_path("bin/tool.py")
    assert not is_operator_path("shop/api/orders.py")


def test_context_describe_without_caller():
    assert Context("task").describe() == "background task"


SIGNALS = {
    "shop/__init__.py": "",
    "shop/signals.py": """
        from django.dispatch import Signal

        periodic = Signal()
        order_paid = Signal()
        never_sent = Signal()
    """,
    "shop/tasks.py": """
        from celery import shared_task
        from shop.signals import periodic

        @shared_task
        def beat():
            periodic.send(sender=None)
    """,
    "shop/views.py": """
        from rest_framework.decorators import api_view
        from shop import signals

        @api_view(["POST"])
        def pay(request):
            signals.order_paid.send_robust(sender=None, order=None)
    """,
    "shop/receivers.py": """
        from django.dispatch import receiver
        from shop.signals import never_sent, order_paid, periodic

        @receiver(periodic)
        def cleanup(sender, **kwargs):
            purge()

        def purge():
            pass

        @receiver([order_paid])
        def receipt(sender, **kwargs):
            pass

        @receiver(never_sent)
        def orphan(sender, **kwargs):
            pass

        def connected(sender, **kwargs):
            pass

        periodic.connect(connected)
    """,
}


def test_a_signal_receiver_runs_where_the_signal_is_sent(tmp_path):
    cmap = contexts(tmp_path, SIGNALS)
    cleanup = cmap.of("shop.receivers.cleanup")
    assert cleanup.name == "task" and cleanup.via == "shop.tasks.beat" and cleanup.via_path == "shop/tasks.py"
    assert name(cmap, "shop.receivers.purge") == "task"  # and what the receiver calls
    assert name(cmap, "shop.receivers.connected") == "task"  # connected with .connect()
    assert name(cmap, "shop.receivers.receipt") == "request"  # sent from a view
    assert name(cmap, "shop.receivers.orphan") == "request"  # no sender known: request (catalog)
