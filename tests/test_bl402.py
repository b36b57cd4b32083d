"""BL402 query-in-loop: every bullet of the catalog entry, covering forms and tricky negatives."""

from __future__ import annotations

import pytest

from fixtures import DJANGO_SHOP, SQLALCHEMY_APP
from helpers import lint


def dj(tmp_path, source, extra=None, **kw):
    files = {"shop/__init__.py": "", "shop/models.py": DJANGO_SHOP, "shop/services.py": source}
    files.update(extra or {})
    return lint(tmp_path, files, select=["BL402"], **kw)


def lines(diags, path="shop/services.py"):
    return [d.line for d in diags if d.path == path]


# -- Django managers ------------------------------------------------------------------------

@pytest.mark.parametrize("query", [
    "Customer.objects.get(pk=cid)",
    "Customer.objects.filter(pk=cid).first()",
    "Customer.objects.filter(pk=cid).exists()",
    "Customer.objects.filter(pk=cid).count()",
    "list(Customer.objects.filter(pk=cid))",
    "len(Customer.objects.filter(pk=cid))",
    "Customer.objects.filter(pk=cid)[0]",
    "Order.objects.filter(customer_id=cid).aggregate(n=Count('id'))",
])
def test_evaluated_manager_queries(tmp_path, query):
    diags = dj(tmp_path, f"""
from django.db.models import Count
from .models import Customer, Order

def names(customer_ids):
    out = []
    for cid in customer_ids:
        out.append({query})
    return out
""")
    assert lines(diags) == [8], query


def test_message(tmp_path):
    diags = dj(tmp_path, """
from .models import Customer

def names(customer_ids):
    for cid in customer_ids:
        print(Customer.objects.get(pk=cid).name)
""")
    assert diags[0].message == (
        "Customer.objects.get(...) runs a query for each item of customer_ids (line 5); fetch the rows in one "
        "query before the loop (e.g. filter(<field>__in=...) or in_bulk())"
    )


def test_lazy_queryset_evaluated_later_in_the_body(tmp_path):
    diags = dj(tmp_path, """
from .models import Order

def check(customer_ids):
    for cid in customer_ids:
        orders = Order.objects.filter(customer_id=cid)
        if orders:
            print("has orders")
        for order in orders:
            print(order)
""")
    assert lines(diags) == [7, 9]


def test_dependence_follows_derived_variables(tmp_path):
    diags = dj(tmp_path, """
from .models import Customer

def names(rows):
    for row in rows:
        cid = row["customer"]
        key = int(cid)
        yield Customer.objects.get(pk=key).name
""")
    assert lines(diags) == [8]


def test_comprehensions_and_async(tmp_path):
    diags = dj(tmp_path, """
from .models import Customer

async def names(ids):
    a = [Customer.objects.get(pk=i) for i in ids]
    b = {i: Customer.objects.filter(pk=i).exists() for i in ids}
    async for c in Customer.objects.all():
        await Customer.objects.filter(name=c.name).acount()
""")
    assert lines(diags) == [5, 6, 8]


def test_nested_loops_depend_on_the_outer_variable(tmp_path):
    diags = dj(tmp_path, """
from .models import Customer

def names(groups):
    for group in groups:
        for _ in range(3):
            Customer.objects.get(pk=group.customer_id)
""")
    assert lines(diags) == [7]


def test_related_manager_of_a_fixed_instance(tmp_path):
    diags = dj(tmp_path, """
from .models import Order

def tagged(order_id, names):
    order = Order.objects.get(pk=order_id)
    return [name for name in names if order.tags.filter(name=name).exists()]
""")
    assert lines(diags) == [6]


def test_aliased_imports_and_user_model(tmp_path):
    diags = dj(tmp_path, """
from django.contrib.auth import get_user_model
from shop import models as m

User = get_user_model()

def sync(ids):
    for i in ids:
        m.Customer.objects.get(pk=i)
        User.objects.filter(pk=i).exists()
""")
    assert lines(diags) == [9, 10]


# -- SQLAlchemy, Flask-SQLAlchemy, SQLModel, cursors -----------------------------------------


def sa(tmp_path, source):
    return lint(tmp_path, {"app/__init__.py": "", "app/models.py": SQLALCHEMY_APP, "app/services.py": source},
                select=["BL402"])


def test_session_queries(tmp_path):
    diags = sa(tmp_path, """
from sqlalchemy import select, text
from sqlalchemy.orm import Session
from .models import Post, User

def load(session: Session, ids):
    for uid in ids:
        session.get(User, uid)
        session.scalars(select(Post).where(Post.author_id == uid)).all()
        session.execute(select(User).where(User.id == uid))
        session.scalar(select(User.id).where(User.id == uid))
        session.query(User).filter(User.id == uid).first()
        session.execute(text("SELECT 1 FROM users WHERE id = :id"), {"id": uid})
""")
    assert [d.line for d in diags] == [8, 9, 10, 11, 12, 13]
    assert "session.get(...) runs a query for each item of ids" in diags[0].message


def test_statement_built_from_the_loop_variable_then_executed(tmp_path):
    diags = sa(tmp_path, """
from sqlalchemy import select
from .models import User

def load(db, ids):
    for uid in ids:
        stmt = select(User).where(User.id == uid)
        user = db.session.execute(stmt).scalar_one()
""")
    assert [d.line for d in diags] == [8]


def test_flask_sqlalchemy_and_sqlmodel(tmp_path):
    diags = lint(tmp_path, {
        "blog/__init__.py": "",
        "blog/ext.py": "from flask_sqlalchemy import SQLAlchemy\ndb = SQLAlchemy()\n",
        "blog/models.py": """
from typing import Optional
from sqlmodel import Field, SQLModel
from .ext import db

class Author(db.Model):
    id = db.Column(db.Integer, primary_key=True)

class Hero(SQLModel, table=True):
    id: Optional[int] = Field(default=None, primary_key=True)
""",
        "blog/views.py": """
from sqlmodel import Session, select
from .ext import db
from .models import Author, Hero

def index(session: Session, ids):
    a = [Author.query.get(i) for i in ids]
    b = [Author.query.filter_by(id=i).first() for i in ids]
    c = [db.session.get(Author, i) for i in ids]
    d = [session.exec(select(Hero).where(Hero.id == i)).first() for i in ids]
""",
    }, select=["BL402"])
    assert [(d.path, d.line) for d in diags] == [("blog/views.py", n) for n in (7, 8, 9, 10)]


def test_cursor_execute(tmp_path):
    diags = dj(tmp_path, """
from django.db import connection

def totals(ids):
    with connection.cursor() as cursor:
        for i in ids:
            cursor.execute("SELECT SUM(total) FROM shop_order WHERE customer_id = %s", [i])
            cursor.execute("UPDATE shop_order SET paid = true WHERE customer_id = %s", [i])
""")
    assert lines(diags) == [7]
    assert "cursor.execute(...)" in diags[0].message


# -- not findings -------------------------------------------------------------------------------

def test_query_through_a_relation_of_the_loop_variable_is_bl401(tmp_path):
    assert dj(tmp_path, """
from .models import Order

def report():
    for order in Order.objects.all():
        order.tags.count()
        order.tags.filter(name="x").exists()
        order.customer.name
""") == []


def test_building_a_lazy_queryset_runs_no_query(tmp_path):
    assert dj(tmp_path, """
from .models import Order

def search(terms):
    qs = Order.objects.all()
    for term in terms:
        qs = qs.filter(customer__name__icontains=term)
    return list(qs)
""") == []


@pytest.mark.parametrize("loop", [
    "for chunk in chunks:",
    "for batch in batched(ids, 500):",
    "for start in range(0, len(ids), 500):",
])
def test_chunked_in_batches(tmp_path, loop):
    assert dj(tmp_path, f"""
from itertools import batched
from .models import Order

def mark(ids, chunks):
    {loop}
        Order.objects.filter(id__in=list(chunk if "{loop}".startswith("for chunk") else ids)).count()
""") == []


def test_in_lookup_with_the_loop_variable_is_a_batch(tmp_path):
    assert dj(tmp_path, """
from .models import Order

def mark(groups):
    for group in groups:
        list(Order.objects.filter(id__in=group))
""") == []


def test_dict_and_requests_session_get(tmp_path):
    assert dj(tmp_path, """
import requests

def fetch(urls, cache, session):
    http = requests.Session()
    for url in urls:
        cache.get(url)
        http.get(url, timeout=5)
        session.get(url)
    with requests.Session() as s:
        for url in urls:
            s.get(url, timeout=5)
""") == []


def test_sqlalchemy_in_batches_and_writes(tmp_path):
    assert sa(tmp_path, """
from sqlalchemy import select, update
from .models import User

def load(session, chunks):
    for chunk in chunks:
        session.scalars(select(User).where(User.id.in_(chunk))).all()
    for uid in chunk:
        session.execute(update(User).where(User.id == uid).values(active=False))
""") == []


def test_queries_not_depending_on_the_loop_variable(tmp_path):
    assert dj(tmp_path, """
from .models import Customer

def poll(items):
    for item in items:
        total = Customer.objects.count()
        print(item, total)
""") == []


def test_fixed_small_loops_and_one_shot_bodies(tmp_path):
    assert dj(tmp_path, """
from .models import Customer

STATUSES = ["new", "paid"]

def summary(ids, wanted):
    for name in ("alice", "bob"):
        Customer.objects.filter(name=name).count()
    for status in STATUSES:
        Customer.objects.filter(name=status).count()
    for i in ids:
        if i == wanted:
            return Customer.objects.get(pk=i)
""") == []


def test_per_item_transactions_and_locks_are_deliberate(tmp_path):
    assert dj(tmp_path, """
from django.db import transaction
from .models import Order

def settle(ids):
    for i in ids:
        with transaction.atomic():
            order = Order.objects.get(pk=i)
    for i in ids:
        Order.objects.select_for_update().filter(pk=i).first()
""") == []


def test_error_fallbacks_are_not_the_per_row_path(tmp_path):
    assert dj(tmp_path, """
from .models import Customer

def names(ids):
    for i in ids:
        try:
            print(i)
        except KeyError:
            Customer.objects.get(pk=i)
""") == []


def test_writes_are_not_queries(tmp_path):
    assert dj(tmp_path, """
from .models import Customer, Order

def touch(ids):
    for i in ids:
        Order.objects.filter(pk=i).update(paid=True)
        Order.objects.filter(pk=i).delete()
        Customer.objects.create(name=str(i))
""") == []


def test_local_function_named_like_an_api_is_not_a_query(tmp_path):
    assert dj(tmp_path, """
class objects:
    @staticmethod
    def get(pk):
        return pk

def run(ids):
    return [objects.get(pk=i) for i in ids]
""") == []


def test_cache_miss_fallback_and_procedure_calls(tmp_path):
    assert dj(tmp_path, """
from django.db import connection
from .models import Customer

def names(ids, cache):
    for i in ids:
        customer = cache.get(i)
        if customer is None:
            customer = Customer.objects.get(pk=i)
            cache[i] = customer
    with connection.cursor() as cursor:
        for i in ids:
            cursor.execute("SELECT refresh_customer(%s)", [i])
""") == []
