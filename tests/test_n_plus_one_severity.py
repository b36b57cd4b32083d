"""BL401/BL402 severity (catalog "Severity", rows BL401 and BL402): the magnitude of the
loops around a finding, the context of its unit, the low conditions, and SQLAlchemy's
many-to-one lazy read one step below its Django equivalent."""

from __future__ import annotations

import pytest

from helpers import lint

MODELS = """
from django.db import models


class OrderStatus(models.Model):
    name = models.CharField(max_length=20)
    owner = models.ForeignKey("shop.Customer", on_delete=models.CASCADE)


class Region(models.Model):
    name = models.CharField(max_length=20)
    manager = models.ForeignKey("shop.Customer", on_delete=models.CASCADE)


class Customer(models.Model):
    name = models.CharField(max_length=50)


class Order(models.Model):
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE)
    status = models.ForeignKey(OrderStatus, on_delete=models.CASCADE)
    paid = models.BooleanField(default=False)


class Item(models.Model):
    order = models.ForeignKey(Order, related_name="items", on_delete=models.CASCADE)
    product = models.ForeignKey("shop.Product", on_delete=models.CASCADE)


class Product(models.Model):
    name = models.CharField(max_length=50)
"""

VIEW = """
from rest_framework.decorators import api_view
from .models import Customer, Item, Order, OrderStatus, Product, Region


@api_view(["GET"])
def view(request):
{body}
"""


def run(tmp_path, body, code="BL401", files=None, **kw):
    src = VIEW.format(body="\n".join("    " + line for line in body.strip("\n").splitlines()))
    project = {"shop/__init__.py": "", "shop/models.py": MODELS, "shop/views.py": src}
    project.update(files or {})
    return [d for d in lint(tmp_path, project, select=[code], **kw) if d.code == code]


def one(diags):
    assert len(diags) == 1, [(d.path, d.line, d.message) for d in diags]
    return diags[0]


# -- magnitude: unbounded forms -----------------------------------------------------------

@pytest.mark.parametrize("source, why", [
    ("Order.objects.all()", "all rows of Order"),
    ("Order.objects.filter(paid=True)", "rows of Order"),
    ("Order.objects.filter(paid=True)[20:40]", "a listing page of Order"),
    ("Paginator(Order.objects.all(), 20).page(2)", "a listing page of Order"),
])
def test_a_request_over_a_table_is_high(tmp_path, source, why):
    body = f"""
from django.core.paginator import Paginator
for o in {source}:
    print(o.customer.name)
"""
    d = one(run(tmp_path, body))
    assert (d.severity, d.context) == ("high", "request")
    assert d.why == f"request handler; {why}"


def test_a_relation_in_a_request_is_medium(tmp_path):
    d = one(run(tmp_path, """
order = Order.objects.get(pk=request.GET["id"])
for item in order.items.all():
    print(item.product.name)
"""))
    assert (d.severity, d.why) == ("medium", "request handler; the items of one Order")


def test_a_nested_loop_takes_the_largest_magnitude(tmp_path):
    d = one([d for d in run(tmp_path, """
for order in Order.objects.all():
    for item in order.items.all():
        print(item.product.name)
""") if "Item.product" in d.message])
    assert (d.severity, d.why) == ("high", "request handler; all rows of Order")


def test_a_client_list_is_unknown_magnitude(tmp_path):
    d = one(run(tmp_path, """
for pk in request.data["ids"]:
    Order.objects.get(pk=pk)
""", code="BL402"))
    assert (d.severity, d.why) == ("medium", "request handler; a list the client sends")


# -- magnitude: bounded forms ---------------------------------------------------------------

@pytest.mark.parametrize("source, why", [
    ("Order.objects.filter(pk=request.GET['id'])", "rows of Order by key or a small slice"),
    ("Order.objects.filter(id__in=[1, 2, 3])", "rows of Order by key or a small slice"),
    ("Order.objects.order_by('-id')[:10]", "a fixed or small collection"),
    ("Order.objects.all()[:5]", "a fixed or small collection"),
    ("OrderStatus.objects.all()", "rows of a lookup table (OrderStatus)"),
])
def test_bounded_loops_are_low(tmp_path, source, why):
    model = "OrderStatus" if "OrderStatus" in source else "Order"
    attr = "owner" if model == "OrderStatus" else "customer"
    d = one(run(tmp_path, f"""
for o in {source}:
    print(o.{attr}.name)
"""))
    assert (d.severity, d.why) == ("low", f"request handler; {why}")


def test_a_loop_that_leaves_in_its_first_round_is_bounded(tmp_path):
    """The read in such a loop is not reported (it runs once); an enclosing loop that
    leaves in its first round does not make the loop inside it smaller."""
    from backendlint.analysis.queries import Loop
    from backendlint.analysis.queries.values import Val
    from backendlint.index.models import ModelIndex
    from backendlint.rules._n_plus_one_messages import loop_magnitude, magnitude

    rows = Loop(1, None, Val("qs", fw="dj", model="shop.models.Order"), ("n", None, "qs"), False, 0)
    first = Loop(2, None, Val("qs", fw="dj", model="shop.models.Order"), ("n", None, "qs"), False, 0)
    first.first_round = True
    index = ModelIndex.of(None)
    assert loop_magnitude(first, index, ())[0] == "bounded"
    assert loop_magnitude(rows, index, ())[0] == "table"
    assert magnitude([first, rows], index, ())[0] == "table"


def test_a_literal_collection_is_bounded_for_bl402(tmp_path):
    assert run(tmp_path, """
for name in ("a", "b"):
    Order.objects.filter(customer__name=name).count()
""", code="BL402") == []  # not reported at all (the rule's letter)


def test_sqlalchemy_small_limit_is_bounded(tmp_path):
    diags = lint(tmp_path, {"app/__init__.py": "", "app/models.py": SA_MODELS, "app/views.py": """
from flask import Flask
from sqlalchemy import select
from app.models import Author, Book, session

app = Flask(__name__)

@app.get("/books")
def first_books():
    for book in session.scalars(select(Book).limit(5)):
        print(book.tags)
"""}, select=["BL401"])
    assert (one(diags).severity, one(diags).why) == ("low", "request handler; rows of Book by key or a small slice")


def test_the_lookup_models_option(tmp_path):
    body = """
for r in Region.objects.all():
    print(r.manager.name)
"""
    assert one(run(tmp_path, body)).severity == "high"
    d = one(run(tmp_path, body, rule_options={"n-plus-one": {"lookup-models": ["Region"]}}))
    assert (d.severity, d.why) == ("low", "request handler; rows of a lookup table (Region)")


# -- context ------------------------------------------------------------------------------------

LOOP = """
from .models import Order

def {name}():
    for o in Order.objects.all():
        print(o.customer.name)
"""


def test_a_task_over_a_table_is_medium(tmp_path):
    d = one(run(tmp_path, "pass", files={"shop/tasks.py": """
from celery import shared_task
from .models import Order

@shared_task
def nightly():
    for o in Order.objects.all():
        print(o.customer.name)
"""}))
    assert (d.severity, d.context, d.why) == ("medium", "task", "background task; all rows of Order")


def test_a_management_command_is_low(tmp_path):
    d = one(run(tmp_path, "pass", files={
        "shop/management/__init__.py": "", "shop/management/commands/__init__.py": "",
        "shop/management/commands/report.py": """
from django.core.management.base import BaseCommand
from shop.models import Order

class Command(BaseCommand):
    def handle(self, *args, **options):
        for o in Order.objects.all():
            print(o.customer.name)
"""}))
    assert (d.severity, d.context) == ("low", "operator")


def test_a_helper_called_from_a_view_through_two_calls_is_high(tmp_path):
    d = one(run(tmp_path, """
from .services import summary
return summary()
""", files={
        "shop/services.py": "from .repo import listing\n\ndef summary():\n    return listing()\n",
        "shop/repo.py": LOOP.format(name="listing"),
    }))
    assert (d.path, d.severity, d.context) == ("shop/repo.py", "high", "request")
    assert d.why == "request: called from summary() in shop/services.py:4; all rows of Order"


def test_a_helper_with_no_caller_is_library_and_medium(tmp_path):
    d = one(run(tmp_path, "pass", files={"shop/repo.py": LOOP.format(name="listing")}))
    assert (d.severity, d.context) == ("medium", "library")


# -- the low conditions -----------------------------------------------------------------------

@pytest.mark.parametrize("work, why", [
    ("send_mail('hi', o.customer.name, 'a@b.c', ['d@e.f'])", "sends mail per item"),
    ("requests.post('https://example.com/hook', json={'n': o.customer.name}, timeout=5)", "an outbound call per item"),
    ("render_to_string('invoice.html', {'o': o.customer})", "renders a file per item"),
    ("transaction.commit()", "commits per item"),
])
def test_costlier_work_per_item_is_low(tmp_path, work, why):
    d = one(run(tmp_path, f"""
import requests
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
for o in Order.objects.all():
    print(o.customer.name)
    {work}
"""))
    assert (d.severity, d.why) == ("low", f"request handler; all rows of Order; {why}")


def test_bl402_low_for_mail_but_not_for_a_commit(tmp_path):
    mail = one(run(tmp_path, """
from django.core.mail import send_mail
for c in Customer.objects.all():
    n = Order.objects.filter(customer=c).count()
    send_mail("n", str(n), "a@b.c", ["d@e.f"])
""", code="BL402"))
    assert (mail.severity, mail.why) == ("low", "request handler; all rows of Customer; sends mail per item")
    commit = one(run(tmp_path, """
from django.db import transaction
for c in Customer.objects.all():
    n = Order.objects.filter(customer=c).count()
    transaction.commit()
""", code="BL402"))
    assert commit.severity == "high"  # the catalog's BL402 row has no commit condition


def test_bl402_rows(tmp_path):
    high = one(run(tmp_path, """
for c in Customer.objects.all():
    Order.objects.filter(customer=c).count()
""", code="BL402"))
    assert (high.severity, high.why) == ("high", "request handler; all rows of Customer")
    low = one(run(tmp_path, """
for c in Customer.objects.filter(pk__in=[1, 2]):
    Order.objects.filter(customer=c).count()
""", code="BL402"))
    assert low.severity == "low"


# -- SQLAlchemy: a many-to-one lazy read is one step below ---------------------------------------

SA_MODELS = """
from typing import List
from sqlalchemy import ForeignKey, create_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship

session = Session(create_engine("sqlite://"))


class Base(DeclarativeBase):
    pass


class BookType(Base):
    __tablename__ = "book_type"
    id: Mapped[int] = mapped_column(primary_key=True)


class Author(Base):
    __tablename__ = "author"
    id: Mapped[int] = mapped_column(primary_key=True)


class Tag(Base):
    __tablename__ = "tag"
    id: Mapped[int] = mapped_column(primary_key=True)
    book_id: Mapped[int] = mapped_column(ForeignKey("book.id"))


class Book(Base):
    __tablename__ = "book"
    id: Mapped[int] = mapped_column(primary_key=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("author.id"))
    author = relationship("Author")
    kind = relationship("BookType")
    tags = relationship("Tag")
"""


def sa(tmp_path, attr):
    return one(lint(tmp_path, {"app/__init__.py": "", "app/models.py": SA_MODELS, "app/views.py": f"""
from flask import Flask
from sqlalchemy import select
from app.models import Book, session

app = Flask(__name__)

@app.get("/books")
def books():
    for book in session.scalars(select(Book)):
        print(book.{attr})
"""}, select=["BL401"]))


def test_sqlalchemy_many_to_one_is_one_step_below(tmp_path):
    d = sa(tmp_path, "author")
    assert (d.severity, d.why) == ("medium", "request handler; all rows of Book; up to one query per distinct target")


def test_sqlalchemy_collection_is_not_stepped_down(tmp_path):
    assert sa(tmp_path, "tags").severity == "high"


def test_sqlalchemy_many_to_one_to_a_lookup_table_is_low(tmp_path):
    d = sa(tmp_path, "kind")
    assert (d.severity, d.why) == ("low", "request handler; rows of a lookup table (BookType)")


# -- corpus lessons ------------------------------------------------------------------------------

def test_unknown_or_relation_off_the_request_path_is_low(tmp_path):
    """A caller's list or one parent's rows in a task or library function: on the corpus
    these were a few items (dict items, a form's fields, the lines of one fulfilment)."""
    task = one(run(tmp_path, "pass", code="BL402", files={"shop/tasks.py": """
from celery import shared_task
from .models import Order

@shared_task
def sync(ids):
    for pk in ids:
        Order.objects.get(pk=pk)
"""}))
    assert (task.severity, task.why) == ("low", "background task; a collection of unknown size, off the request path")
    rel = one(run(tmp_path, "pass", files={"shop/tasks.py": """
from celery import shared_task
from .models import Order

@shared_task
def notify(order_id):
    order = Order.objects.get(pk=order_id)
    for item in order.items.all():
        print(item.product.name)
"""}))
    assert (rel.severity, rel.why) == ("low", "background task; the items of one Order, off the request path")
    view = one(run(tmp_path, """
for pk in request.data["ids"]:
    Order.objects.get(pk=pk)
""", code="BL402"))
    assert view.severity == "medium"


@pytest.mark.parametrize("lookup", ["order=order", "order_id=order.pk", "order__pk=order.pk"])
def test_rows_filtered_by_their_parent_are_a_relation(tmp_path, lookup):
    """``Item.objects.filter(order=order)`` walks one order's items, like
    ``order.items.all()``: on the corpus, a cable's two terminations, an annotation's
    storage links."""
    d = one(run(tmp_path, f"""
order = Order.objects.get(pk=request.GET["id"])
for item in Item.objects.filter({lookup}):
    print(item.product.name)
"""))
    assert (d.severity, d.why) == ("medium", "request handler; the Item rows of one Order")


def test_a_filter_through_a_parent_field_is_still_a_table(tmp_path):
    d = one(run(tmp_path, """
for item in Item.objects.filter(order__paid=True):
    print(item.product.name)
"""))
    assert (d.severity, d.why) == ("high", "request handler; rows of Item")


def test_rows_by_a_list_of_keys_the_caller_gives_are_unknown(tmp_path):
    """``filter(pk__in=ids)``: as many rows as the caller's keys, not a table."""
    d = one(run(tmp_path, """
ids = request.GET.getlist("id")
for o in Order.objects.filter(pk__in=ids):
    print(o.customer.name)
"""))
    assert (d.severity, d.why) == ("medium", "request handler; rows of Order by a list of keys")


def test_sqlalchemy_rows_by_a_list_of_keys_are_unknown(tmp_path):
    """``where(Book.id.in_(ids))``: as many rows as the caller's keys (on the corpus, the
    dashboards of a list of ids in a cache-warming task)."""
    diags = lint(tmp_path, {"app/__init__.py": "", "app/models.py": SA_MODELS, "app/views.py": """
from flask import Flask, request
from sqlalchemy import select
from app.models import Book, session

app = Flask(__name__)

@app.get("/books")
def some_books():
    ids = request.args.getlist("id")
    for book in session.scalars(select(Book).where(Book.id.in_(ids))):
        print(book.tags)
"""}, select=["BL401"])
    assert (one(diags).severity, one(diags).why) == ("medium", "request handler; rows of Book by a list of keys")
