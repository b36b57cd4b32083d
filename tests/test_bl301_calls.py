"""BL301 through calls: the writes of a unit include those of the project functions it calls
outside a transaction (effect summaries), with every exemption of the direct rule."""

from __future__ import annotations

import pytest

from helpers import lint

MODELS = """
from django.db import models

class Order(models.Model):
    status = models.CharField(max_length=20)

class Line(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE)

class Invoice(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE)

class Payment(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE)
"""

REPOSITORY = """
from shop.models import Invoice, Line, Order


def save_order(data):
    return Order.objects.create(**data)


def add_line(order, sku):
    return Line.objects.create(order=order, sku=sku)


def find_order(pk):
    return Order.objects.filter(pk=pk).first()
"""


def run(tmp_path, files, prefilter=True, **kw):
    project = {"shop/__init__.py": "", "shop/models.py": MODELS, "shop/repository.py": REPOSITORY}
    project.update(files)
    return lint(tmp_path, project, select=["BL301"], prefilter=prefilter, **kw)


def where(diags):
    return sorted((d.path, d.line) for d in diags)


def both(tmp_path, files, **kw):
    """Findings with and without the prefilter (they must agree)."""
    with_prefilter = run(tmp_path / "a", files, **kw)
    without = run(tmp_path / "b", files, prefilter=False, **kw)
    assert where(with_prefilter) == where(without)
    return with_prefilter


@pytest.fixture(autouse=True)
def _dirs(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()


# -- handler -> service -> repository ----------------------------------------------------------
def test_handler_service_repository_writes_at_two_levels(tmp_path):
    diags = both(tmp_path, {
        "shop/services.py": """
            from shop.repository import add_line, save_order


            def place_order(data):
                order = save_order(data)
                add_line(order, data["sku"])
                return order
        """,
        "shop/views.py": """
            from shop.models import Payment
            from shop.services import place_order


            def checkout(request):
                order = place_order(request.POST)
                Payment.objects.create(order=order)
                return order


            def checkout_only(request):
                return place_order(request.POST)
        """,
    })
    assert where(diags) == [("shop/services.py", 6), ("shop/views.py", 7)]
    service = next(d for d in diags if d.path == "shop/services.py").message
    assert service.startswith("2 writes outside a transaction: save_order() line 6 (writes Order in shop/repository.py:6), ")
    assert "add_line() line 7 (writes Line in shop/repository.py:10)" in service
    view = next(d for d in diags if d.path == "shop/views.py").message
    # the chain is named: the service writes through the repository
    assert "place_order() line 7 (through save_order(), writes Order in shop/repository.py:6)" in view
    assert "Payment.objects.create() line 8" in view


def test_caller_with_no_write_verb_needs_the_fact_driven_prefilter(tmp_path):
    # views.py contains none of BL301's text tokens: only prefilter_names admits it.
    files = {
        "shop/views.py": """
            from shop.repository import add_line as line_for, save_order as store


            def checkout(request):
                order = store(request.POST)
                line_for(order, "sku-1")
        """,
    }
    diags = both(tmp_path, files)
    assert where(diags) == [("shop/views.py", 6)]
    assert "store() line 6 (save_order() writes Order in shop/repository.py:6)" in diags[0].message


def test_own_write_then_a_helper_that_writes(tmp_path):
    diags = both(tmp_path, {
        "shop/views.py": """
            from shop import repository


            def pay(request, order):
                order.status = "paid"
                order.save()
                repository.add_line(order, "fee")
        """,
    })
    assert where(diags) == [("shop/views.py", 7)]
    assert diags[0].message.startswith(
        "2 writes outside a transaction: order.save() line 7, repository.add_line() line 8 (writes Line in"
    )


def test_the_report_stays_at_the_first_own_write(tmp_path):
    # A call that writes before the unit's own writes does not move the finding.
    diags = both(tmp_path, {
        "shop/views.py": """
            from shop.models import Payment
            from shop.repository import save_order


            def pay(request, order):
                save_order({"status": "new"})
                order.status = "paid"
                order.save()
                Payment.objects.create(order=order)
        """,
    })
    assert where(diags) == [("shop/views.py", 9)]
    assert "3 writes outside a transaction: save_order() line 7" in diags[0].message


def test_a_helper_called_in_a_loop_is_one_write(tmp_path):
    # One unit of work per item, by design more often than not; with a write of its own
    # the unit is reported, and the message says the call is in a loop.
    diags = both(tmp_path, {
        "shop/views.py": """
            from shop.repository import add_line


            def fill(request, order, skus):
                for sku in skus:
                    add_line(order, sku)


            def fill_and_close(request, order, skus):
                for sku in skus:
                    add_line(order, sku)
                order.status = "filled"
                order.save()
        """,
    })
    assert where(diags) == [("shop/views.py", 12)]
    assert "add_line() line 12 (writes Line in shop/repository.py:10, in a loop), order.save() line 14" in diags[0].message


def test_one_call_of_a_writing_function_is_one_write(tmp_path):
    # The callee's own writes are its own finding; calling it once adds nothing.
    diags = both(tmp_path, {
        "shop/services.py": """
            from shop.models import Invoice, Order


            def close(order):
                Invoice.objects.create(order=order)
                Order.objects.filter(pk=order.pk).update(status="closed")
        """,
        "shop/views.py": """
            from shop.services import close


            def close_view(request, order):
                close(order)
                return None
        """,
    })
    assert where(diags) == [("shop/services.py", 6)]


# -- what a callee's write is --------------------------------------------------------------------
def test_callee_with_its_own_atomic_is_not_counted(tmp_path):
    assert both(tmp_path, {
        "shop/services.py": """
            from django.db import transaction
            from django.db.transaction import atomic

            from shop.models import Invoice, Line


            def invoice(order):
                with transaction.atomic():
                    Invoice.objects.create(order=order)


            @atomic
            def lines(order):
                Line.objects.create(order=order)


            def both_inside(order):
                with transaction.atomic(using="default"):
                    Line.objects.create(order=order)
                    Invoice.objects.create(order=order)
        """,
        "shop/views.py": """
            from shop.services import both_inside, invoice, lines


            def pay(request, order):
                order.save()
                invoice(order)
                lines(order)
                both_inside(order)
        """,
    }) == []


def test_callee_inside_a_project_wrapper_of_atomic_is_not_counted(tmp_path):
    assert both(tmp_path, {
        "shop/db.py": """
            from contextlib import contextmanager

            from django.db import transaction


            @contextmanager
            def traced_atomic(name):
                with transaction.atomic():
                    yield


            def atomic_step(func):
                def inner(*args, **kwargs):
                    with transaction.atomic():
                        return func(*args, **kwargs)
                return inner
        """,
        "shop/services.py": """
            from shop.db import atomic_step, traced_atomic
            from shop.models import Invoice, Line


            def invoice(order):
                with traced_atomic("invoice"):
                    Invoice.objects.create(order=order)


            @atomic_step
            def lines(order):
                Line.objects.create(order=order)
        """,
        "shop/views.py": """
            from shop.services import invoice, lines


            def pay(request, order):
                order.save()
                invoice(order)
                lines(order)
        """,
    }) == []


def test_callee_that_batches_or_isolates_each_item_is_not_counted(tmp_path):
    assert both(tmp_path, {
        "shop/services.py": """
            import logging

            from shop.models import Line, Order


            def purge(ids, batch_size=500):
                for start in range(0, len(ids), batch_size):
                    Line.objects.filter(pk__in=ids[start:start + batch_size]).delete()


            def refresh_each(orders):
                for order in orders:
                    try:
                        Order.objects.filter(pk=order.pk).update(status="fresh")
                    except Exception:
                        logging.exception("refresh failed")


            def flush_lines(rows):
                buf = []
                for row in rows:
                    buf.append(Line(**row))
                    if len(buf) >= 1000:
                        Line.objects.bulk_create(buf)
                        buf = []
                Line.objects.bulk_create(buf)
        """,
        "shop/views.py": """
            from shop.services import flush_lines, purge, refresh_each


            def maintenance(request, order, ids, orders, rows):
                order.save()
                purge(ids)
                refresh_each(orders)
                flush_lines(rows)
        """,
    }) == []


def test_read_only_callees_and_unknown_receivers_are_not_writes(tmp_path):
    assert both(tmp_path, {
        "shop/views.py": """
            from shop.repository import find_order


            def show(request, pk, repo):
                order = find_order(pk)
                order.save()
                repo.save_order({})       # unknown receiver: opaque
                return find_order(pk + 1)
        """,
    }) == []


def test_writes_of_callees_on_exclusive_paths_do_not_add_up(tmp_path):
    assert both(tmp_path, {
        "shop/views.py": """
            from shop.repository import add_line, save_order


            def submit(request, order):
                if order is None:
                    return save_order(request.POST)
                try:
                    add_line(order, "x")
                except ValueError:
                    order.delete()
        """,
    }) == []


def test_callees_in_tests_and_migrations_are_not_followed(tmp_path):
    assert both(tmp_path, {
        "shop/tests/__init__.py": "",
        "shop/tests/factories.py": """
            from shop.models import Order

            def make_order():
                return Order.objects.create(status="new")
        """,
        "shop/views.py": """
            from shop.tests.factories import make_order


            def demo(request):
                order = make_order()
                order.status = "demo"
                order.save()
        """,
    }) == []


# -- transactions held by the caller ----------------------------------------------------------
def test_caller_held_transaction_covers_the_calls(tmp_path):
    assert both(tmp_path, {
        "shop/views.py": """
            from django.db import transaction

            from shop.repository import add_line, save_order


            def checkout(request):
                with transaction.atomic():
                    order = save_order(request.POST)
                    add_line(order, "sku")


            @transaction.atomic
            def checkout_again(request):
                order = save_order(request.POST)
                add_line(order, "sku")
        """,
    }) == []


def test_one_call_inside_the_transaction_and_one_outside(tmp_path):
    diags = both(tmp_path, {
        "shop/views.py": """
            from django.db import transaction

            from shop.repository import add_line, save_order


            def checkout(request):
                with transaction.atomic():
                    order = save_order(request.POST)
                add_line(order, "sku")
        """,
    })
    assert where(diags) == [("shop/views.py", 10)]
    assert "2 writes not in one transaction (1 outside it)" in diags[0].message


def test_atomic_requests_views_are_covered(tmp_path):
    assert both(tmp_path, {
        "config/__init__.py": "",
        "config/settings.py": 'DATABASES = {"default": {"ENGINE": "x", "ATOMIC_REQUESTS": True}}\n',
        "shop/views.py": """
            from shop.repository import add_line, save_order


            def checkout(request):
                order = save_order(request.POST)
                add_line(order, "sku")
        """,
    }) == []


# -- resolution ------------------------------------------------------------------------------------
def test_method_on_an_instance_whose_class_is_known(tmp_path):
    diags = both(tmp_path, {
        "shop/services.py": """
            from shop.models import Invoice, Order


            class Billing:
                def invoice(self, order):
                    return Invoice.objects.create(order=order)

                def settle(self, order):
                    self.invoice(order)
                    Order.objects.filter(pk=order.pk).update(status="settled")
        """,
        "shop/views.py": """
            from shop.services import Billing


            def pay(request, order):
                billing = Billing()
                billing.invoice(order)
                order.save()


            def pay_annotated(request, order, billing: Billing):
                billing.invoice(order)
                order.save()
        """,
    })
    assert where(diags) == [("shop/services.py", 10), ("shop/views.py", 7), ("shop/views.py", 12)]
    assert "billing.invoice() line 7 (writes Invoice in shop/services.py:7)" in diags[1].message
    assert "self.invoice() line 10" in diags[0].message


def test_a_local_class_with_the_same_method_name_is_not_the_writer(tmp_path):
    assert both(tmp_path, {
        "shop/services.py": """
            from shop.models import Invoice


            class Billing:
                def invoice(self, order):
                    return Invoice.objects.create(order=order)
        """,
        "shop/views.py": """
            class Printer:
                def invoice(self, order):
                    return str(order)


            def pay(request, order):
                printer = Printer()
                printer.invoice(order)
                order.save()
        """,
    }) == []


def test_a_recursive_cycle_terminates_and_counts_once(tmp_path):
    diags = both(tmp_path, {
        "shop/tree.py": """
            from shop.models import Line, Order


            def close_order(order):
                Order.objects.filter(pk=order.pk).update(status="closed")
                for child in order.children():
                    close_child(child)


            def close_child(order):
                close_order(order)


            def close_pair(a, b):
                close_child(a)
                close_child(b)


            def ping(n):
                return pong(n)


            def pong(n):
                return ping(n)


            def loop_only(request):
                ping(1)
                Line.objects.create(order=None)
        """,
    })
    # close_order: its update and the calls of close_child (itself, through the cycle) in a loop
    assert where(diags) == [("shop/tree.py", 6), ("shop/tree.py", 16)]
    assert "through close_order(), writes Order" in diags[1].message


def test_sqlalchemy_project_callees_are_not_followed(tmp_path):
    files = {
        "app/__init__.py": "",
        "app/repo.py": """
            from sqlalchemy.orm import Session


            def save_user(session: Session, user):
                session.add(user)
                session.commit()


            def delete_user(user):
                user = User.query.get(user)
                user.delete()
        """,
        "app/api.py": """
            from app.repo import delete_user, save_user


            def signup(session, user):
                save_user(session, user)
                delete_user(user)
        """,
    }
    assert lint(tmp_path / "a", files, select=["BL301"]) == []


def test_bookkeeping_helpers_and_lazy_getters_are_not_counted(tmp_path):
    # Audit rows, an outbox of mails, a thumbnail made on first use, a session store:
    # written on the side of nearly every write, and harmless when left alone.
    assert both(tmp_path, {
        "shop/helpers.py": """
            from django.contrib.sessions.backends.db import SessionStore

            from shop.models import Order
            from shop.logs import ActionLog, OutgoingMail, Thumbnail


            def log_action(obj, action):
                ActionLog.objects.create(obj=obj, action=action)


            def mail(to, subject):
                OutgoingMail.objects.create(to=to, subject=subject)


            def get_thumbnail(source):
                thumb = Thumbnail.objects.filter(source=source).first()
                if thumb is None:
                    thumb = Thumbnail.objects.create(source=source)
                return thumb


            def login_token():
                store = SessionStore()
                store.save(must_create=True)
                return store.session_key
        """,
        "shop/views.py": """
            from shop.helpers import get_thumbnail, log_action, login_token, mail


            def pay(request, order):
                order.status = "paid"
                order.save()
                log_action(order, "paid")
                mail(order.email, "Paid")
                get_thumbnail(order.picture)
                return login_token()
        """,
    }) == []


def test_a_real_write_next_to_bookkeeping_in_the_callee_counts(tmp_path):
    diags = both(tmp_path, {
        "shop/helpers.py": """
            from shop.models import Invoice
            from shop.logs import ActionLog


            def invoice_and_log(order):
                ActionLog.objects.create(obj=order, action="invoiced")
                Invoice.objects.create(order=order)
        """,
        "shop/views.py": """
            from shop.helpers import invoice_and_log


            def pay(request, order):
                order.save()
                invoice_and_log(order)
        """,
    })
    assert where(diags) == [("shop/helpers.py", 7), ("shop/views.py", 6)]
    assert "invoice_and_log() line 7 (writes Invoice in shop/helpers.py:8)" in diags[1].message


def test_calls_are_followed_two_levels_deep(tmp_path):
    # pay -> settle -> book -> Invoice: the write is three calls away, beyond the bound.
    diags = both(tmp_path, {
        "shop/services.py": """
            from shop.models import Invoice


            def book(order):
                Invoice.objects.create(order=order)


            def settle(order):
                book(order)


            def close(order):
                settle(order)
        """,
        "shop/views.py": """
            from shop.services import close, settle


            def pay(request, order):
                order.save()
                settle(order)


            def pay_and_close(request, order):
                order.save()
                close(order)
        """,
    })
    assert where(diags) == [("shop/views.py", 6)]
    assert "settle() line 7 (through book(), writes Invoice in shop/services.py:6)" in diags[0].message


def test_units_whose_calls_are_not_followed(tmp_path):
    # Signal receivers and save()/delete() overrides run inside whatever saves the row;
    # management commands drive long jobs step by step. Their own writes still count.
    diags = both(tmp_path, {
        "shop/management/__init__.py": "",
        "shop/management/commands/__init__.py": "",
        "shop/management/commands/seed.py": """
            from django.core.management.base import BaseCommand

            from shop.repository import add_line, save_order


            class Command(BaseCommand):
                def handle(self, *args, **options):
                    order = save_order({"status": "new"})
                    add_line(order, "sku")
        """,
        "shop/signals.py": """
            from django.db.models.signals import post_save
            from django.dispatch import receiver

            from shop.models import Order
            from shop.repository import add_line, save_order


            @receiver(post_save, sender=Order)
            def on_order_saved(sender, instance, created, **kwargs):
                add_line(instance, "fee")
                add_line(instance, "tax")


            def on_line_saved(sender, instance, **kwargs):
                save_order({"status": "copy"})
                instance.order.save()
        """,
        "shop/documents.py": """
            from django.db import models

            from shop.repository import add_line


            class Document(models.Model):
                def save(self, *args, **kwargs):
                    super().save(*args, **kwargs)
                    add_line(self.order, "doc")

                def delete(self, *args, **kwargs):
                    add_line(self.order, "refund")
                    self.order.delete()
                    return super().delete(*args, **kwargs)
        """,
    })
    # only the delete() override's own two writes
    assert where(diags) == [("shop/documents.py", 14)]
    assert "add_line" not in diags[0].message


def test_audit_event_helpers_are_not_counted(tmp_path):
    assert both(tmp_path, {
        "shop/events.py": """
            from shop.models import Order


            def order_paid_event(order, user):
                return OrderEvent.objects.create(order=order, user=user, type="paid")
        """,
        "shop/views.py": """
            from shop import events


            def pay(request, order):
                order.save()
                events.order_paid_event(order, request.user)
        """,
    }) == []


def test_methods_of_models_do_not_follow_calls_but_services_do(tmp_path):
    diags = both(tmp_path, {
        "shop/base.py": """
            from django.db import models


            class TimeStamped(models.Model):
                class Meta:
                    abstract = True
        """,
        "shop/billing.py": """
            from shop.base import TimeStamped
            from shop.repository import add_line


            class Bill(TimeStamped):
                def settle(self):
                    add_line(self.order, "fee")
                    add_line(self.order, "tax")


            class BillService:
                def settle(self, bill):
                    add_line(bill.order, "fee")
                    add_line(bill.order, "tax")
        """,
    })
    assert where(diags) == [("shop/billing.py", 14)]


def test_signal_handlers_connected_by_hand_and_fake_data_generators(tmp_path):
    assert both(tmp_path, {
        "shop/hooks.py": """
            from shop.repository import add_line


            def on_order_deleted(instance, using, **kwargs):
                add_line(instance, "refund")
                add_line(instance, "credit")
        """,
        "shop/utils/random_data.py": """
            from shop.repository import add_line, save_order


            def create_orders(count):
                for _ in range(count):
                    order = save_order({"status": "new"})
                    add_line(order, "sku")
        """,
        "shop/demo.py": """
            from shop.repository import add_line, save_order


            def create_fake_order():
                order = save_order({"status": "new"})
                add_line(order, "sku")
        """,
    }) == []


def test_a_buffer_flushed_through_a_project_function_is_a_deliberate_series(tmp_path):
    assert both(tmp_path, {
        "shop/services.py": """
            from shop.models import Line


            def store_lines(batch):
                Line.objects.bulk_create(batch)


            def import_lines(rows, limit):
                pending = []
                for row in rows:
                    pending.append(Line(**row))
                    if len(pending) >= limit:
                        store_lines(pending)
                        pending = []
                store_lines(pending)
        """,
    }) == []


def test_fake_data_callees_are_not_followed(tmp_path):
    assert both(tmp_path, {
        "shop/anonymize.py": """
            from shop.models import Order


            def create_fake_order(save=True):
                order = Order(status="fake")
                if save:
                    order.save()
                return order


            def anonymized_copy(order):
                copy = create_fake_order(save=False)
                copy.status = order.status
                order.save()
                return copy
        """,
    }) == []


def test_a_helper_that_saves_the_row_it_is_given_is_not_counted(tmp_path):
    # On the corpus such helpers mostly recompute derived fields (totals, scores, a
    # schedule slot) or save a mail draft; rows built or loaded in the callee count.
    diags = both(tmp_path, {
        "shop/services.py": """
            from shop.models import Order


            def recalculate(order):
                order.total = sum(line.price for line in order.lines.all())
                order.save(update_fields=["total"])


            def reopen(order_id):
                order = Order.objects.get(pk=order_id)
                order.status = "open"
                order.save()
        """,
        "shop/views.py": """
            from shop.models import Payment
            from shop.services import recalculate, reopen


            def pay(request, order):
                recalculate(order)
                Payment.objects.create(order=order)


            def reopen_view(request, order):
                reopen(order.pk)
                Payment.objects.create(order=order)
        """,
    })
    assert where(diags) == [("shop/views.py", 12)]
    assert "reopen() line 12 (order.save() in shop/services.py:13)" in diags[0].message
