"""BL301 write-outside-transaction: catalog bullets, covering forms, tricky negatives."""

from __future__ import annotations

import textwrap

import pytest

from helpers import codes_at, lint

MODELS = """
from django.db import models

class Tag(models.Model):
    name = models.CharField(max_length=20)

class Order(models.Model):
    tags = models.ManyToManyField(Tag)
    total = models.IntegerField(default=0)

class Payment(models.Model):
    order = models.ForeignKey(Order, related_name="payments", on_delete=models.CASCADE)

class Line(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE)
"""


def run(tmp_path, source, files=None, **kw):
    tmp_path.mkdir(parents=True, exist_ok=True)
    project = {"shop/__init__.py": "", "shop/models.py": MODELS, "shop/services.py": source}
    project.update(files or {})
    return lint(tmp_path, project, select=["BL301"], **kw)


def lines(diags, path="shop/services.py"):
    return [d.line for d in diags if d.path == path]


# -- the basic finding ----------------------------------------------------------------------
def test_two_writes_reported_at_first_with_message(tmp_path):
    diags = run(tmp_path, """
        from shop.models import Order, Payment

        def pay(order_id):
            order = Order.objects.get(pk=order_id)
            order.total = 10
            order.save()
            Payment.objects.create(order=order)
    """)
    assert lines(diags) == [7]
    message = diags[0].message
    assert "2 writes outside a transaction" in message
    assert "order.save() line 7" in message
    assert "Payment.objects.create() line 8" in message
    assert "transaction.atomic()" in message


def test_single_write_is_fine(tmp_path):
    assert run(tmp_path, """
        from shop.models import Order

        def rename(order):
            order.total = 3
            order.save(update_fields=["total"])
    """) == []


def test_read_only_function_is_fine(tmp_path):
    assert run(tmp_path, """
        from shop.models import Order

        def report():
            return [o.total for o in Order.objects.filter(total__gt=0)]
    """) == []


@pytest.mark.parametrize(
    "first,second",
    [
        ("Order.objects.filter(total=0).update(total=1)", "Order.objects.filter(total=5).delete()"),
        ("Order.objects.bulk_create(objs)", "Order.objects.bulk_update(objs, ['total'])"),
        ("Order.objects.get_or_create(total=1)", "Order.objects.update_or_create(total=2)"),
        ("order.tags.add(tag)", "order.tags.remove(tag)"),
        ("order.tags.set([tag])", "order.tags.clear()"),
        ("order.payments.create()", "order.line_set.all().delete()"),
        ("Order._default_manager.create()", "order.delete()"),
        ("qs.update(total=0)", "order.save()"),
    ],
)
def test_django_write_spellings(tmp_path, first, second):
    diags = run(tmp_path, f"""
        from shop.models import Order

        def change(order, tag, objs):
            qs = Order.objects.filter(total=3)
            {first}
            {second}
    """)
    assert lines(diags) == [6], [d.message for d in diags]


def test_queryset_parameter_update(tmp_path):
    diags = run(tmp_path, """
        def close(modeladmin, request, queryset):
            queryset.update(total=0)
            queryset.filter(total=0).delete()

        def merge(defaults, extra):
            defaults.update(total=0)
            extra.update(total=1)
    """)
    assert lines(diags) == [3]


def test_raw_sql_cursor_writes(tmp_path):
    diags = run(tmp_path, """
        from django.db import connection

        SQL = "SELECT 1"

        def purge():
            with connection.cursor() as cursor:
                cursor.execute("DELETE FROM shop_line WHERE order_id IS NULL")
                cursor.execute(
                    "UPDATE shop_order SET total = 0"
                )

        def read():
            with connection.cursor() as cursor:
                cursor.execute("SELECT * FROM shop_order")
                cursor.execute(SQL)
    """)
    assert lines(diags) == [8]


def test_write_in_a_loop_counts_as_several(tmp_path):
    diags = run(tmp_path, """
        from shop.models import Order

        def reset(orders):
            for order in orders:
                order.total = 0
                order.save()

        def tags(names):
            return [Order.objects.create(total=n) for n in names]

        def drain():
            while Order.objects.exists():
                Order.objects.first().delete()
    """)
    assert lines(diags) == [7, 10, 14]
    assert "in a loop" in diags[0].message


def test_loop_that_writes_once_then_breaks(tmp_path):
    assert run(tmp_path, """
        from shop.models import Order

        def claim(orders):
            for order in orders:
                if order.total == 0:
                    order.save()
                    break

        def first(orders):
            for order in orders:
                order.save()
                return order
    """) == []


def test_batching_loop_and_per_item_isolation_are_intended(tmp_path):
    assert run(tmp_path, """
        import time
        from shop.models import Order

        def purge(ids, batch_size=1000):
            for start in range(0, len(ids), batch_size):
                Order.objects.filter(pk__in=ids[start:start + batch_size]).delete()
                time.sleep(1)

        def each(orders, log):
            for order in orders:
                try:
                    order.save()
                except Exception:
                    log.exception("skipped %s", order.pk)
    """) == []


def test_buffer_flushed_in_batches(tmp_path):
    diags = run(tmp_path, """
        from shop.models import Line, Order

        def rebuild(rows):
            buffer = []
            for row in rows:
                buffer.append(Line(order_id=row))
                if len(buffer) >= 1000:
                    Line.objects.bulk_create(buffer)
                    buffer = []
            Line.objects.bulk_create(buffer)

        def rebuild_and_mark(rows, order):
            pending = []
            for row in rows:
                pending.append(Line(order_id=row))
                if len(pending) >= 1000:
                    Line.objects.bulk_create(pending)
                    pending.clear()
            Line.objects.bulk_create(pending)
            order.save()
            order.delete()
    """)
    assert lines(diags) == [21]


# -- receivers that are not the ORM ----------------------------------------------------------
def test_cache_dict_set_and_http_sessions_are_not_writes(tmp_path):
    assert run(tmp_path, """
        import requests
        import redis
        from django.core.cache import cache, caches
        from shop.models import Order

        r = redis.Redis()

        def refresh(order, key, request):
            cache.delete(key)
            caches["default"].delete(key)
            r.delete(key)
            data = {}
            data.update(total=1)
            seen = set()
            seen.add(order.pk)
            http = requests.Session()
            http.delete("https://example.com/hook")
            request.session.update(cart=1)
            request.session.save()
            client, s3 = get_client_and_resource()
            s3.Object("bucket", key).delete()
            order.translation.store.save()
            order.save()
    """) == []


def test_form_save_without_commit_and_file_delete_without_save(tmp_path):
    assert run(tmp_path, """
        from shop.forms import OrderForm

        def edit(request, order):
            form = OrderForm(request.POST, instance=order)
            obj = form.save(commit=False)
            obj.attachment.delete(save=False)
            obj.save()
    """) == []


def test_form_save_counts(tmp_path):
    diags = run(tmp_path, """
        from shop.forms import OrderForm
        from shop.models import Payment

        def edit(request):
            form = OrderForm(request.POST)
            order = form.save()
            Payment.objects.create(order=order)
    """)
    assert lines(diags) == [7]


def test_set_add_on_an_attribute_that_is_not_a_relation(tmp_path):
    assert run(tmp_path, """
        from shop.models import Order

        class Collector:
            def __init__(self):
                self.seen = set()

            def visit(self, order):
                self.seen.add(order.pk)
                self.seen.remove(order.pk)
                order.save()
    """) == []


# -- paths -----------------------------------------------------------------------------------
def test_exclusive_branches_do_not_add_up(tmp_path):
    assert run(tmp_path, """
        from shop.models import Order, Payment

        def branch(order, paid):
            if paid:
                order.save()
            elif order.total:
                Payment.objects.create(order=order)
            else:
                order.delete()

        def early_return(order, paid):
            if paid:
                order.save()
                return order
            order.delete()

        def attempt(order):
            try:
                order.save()
            except ValueError:
                order.delete()

        def raise_first(order, paid):
            if not paid:
                order.delete()
                raise ValueError("unpaid")
            order.save()

        def matched(order, action):
            match action:
                case "save":
                    order.save()
                case _:
                    order.delete()
    """) == []


def test_writes_on_the_same_path_add_up(tmp_path):
    diags = run(tmp_path, """
        from shop.models import Order, Payment

        def both(order, paid):
            if paid:
                order.save()
            Payment.objects.create(order=order)

        def after_try(order):
            try:
                order.save()
            except ValueError:
                pass
            order.delete()

        def in_finally(order):
            try:
                order.save()
            finally:
                Payment.objects.filter(order=order).delete()
    """)
    assert lines(diags) == [6, 11, 18]


def test_update_then_create_when_nothing_matched(tmp_path):
    assert run(tmp_path, """
        from django.db.models import F
        from shop.models import Order

        def bump(pk):
            updated = Order.objects.filter(pk=pk).update(total=F("total") + 1)
            if not updated:
                Order.objects.create(pk=pk, total=1)

        def bump_inline(pk):
            if Order.objects.filter(pk=pk).update(total=2) == 0:
                Order.objects.create(pk=pk, total=2)
    """) == []


def test_nested_function_is_its_own_unit(tmp_path):
    diags = run(tmp_path, """
        from shop.models import Order

        def outer(order):
            def inner():
                order.save()
                order.delete()
            order.save()
            return inner
    """)
    assert lines(diags) == [6]


# -- covered ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "imports,opener",
    [
        ("from django.db import transaction", "with transaction.atomic():"),
        ("from django.db import transaction", "with transaction.atomic(using='default', savepoint=False):"),
        ("from django.db.transaction import atomic", "with atomic():"),
        ("from django.db.transaction import atomic as db_atomic", "with db_atomic(durable=True):"),
        ("import django.db.transaction as tx", "with tx.atomic():"),
        ("from django.db import transaction as t", "with t.atomic(), open('x') as fh:"),
        ("from django.db import transaction", "with (transaction.atomic() if True else nullcontext()):"),
    ],
)
def test_with_atomic_spellings(tmp_path, imports, opener):
    assert run(tmp_path, f"""
        {imports}
        from contextlib import nullcontext
        from shop.models import Order, Payment

        def pay(order):
            {opener}
                order.save()
                Payment.objects.create(order=order)
    """) == []


def test_atomic_held_in_a_variable(tmp_path):
    assert run(tmp_path, """
        from django.db import transaction
        from shop.models import Order, Payment

        def pay(order):
            tx = transaction.atomic(using="default")
            with tx:
                order.save()
                Payment.objects.create(order=order)
    """) == []


@pytest.mark.parametrize(
    "imports,decorator",
    [
        ("from django.db import transaction", "@transaction.atomic"),
        ("from django.db import transaction", "@transaction.atomic(using='default')"),
        ("from django.db.transaction import atomic", "@atomic"),
        ("from django.db.transaction import atomic", "@atomic()"),
    ],
)
def test_atomic_decorators(tmp_path, imports, decorator):
    assert run(tmp_path, f"""
        {imports}
        from shop.models import Order, Payment

        {decorator}
        def pay(order):
            order.save()
            Payment.objects.create(order=order)
    """) == []


def test_method_decorator_on_method_and_on_dispatch(tmp_path):
    assert run(tmp_path, """
        from django.db import transaction
        from django.utils.decorators import method_decorator
        from django.views import View
        from shop.models import Order, Payment

        class PayView(View):
            @method_decorator(transaction.atomic)
            def post(self, request, pk):
                order = Order.objects.get(pk=pk)
                order.save()
                Payment.objects.create(order=order)

        @method_decorator(transaction.atomic, name="dispatch")
        class RefundView(View):
            def post(self, request, pk):
                order = Order.objects.get(pk=pk)
                order.save()
                Payment.objects.create(order=order)

            def helper(self, order):
                order.save()
                order.delete()

        class AtomicDispatch(View):
            @method_decorator([transaction.atomic])
            def dispatch(self, request, *args, **kwargs):
                return super().dispatch(request, *args, **kwargs)

            def post(self, request, pk):
                order = Order.objects.get(pk=pk)
                order.save()
                Payment.objects.create(order=order)
    """) == []


def test_atomic_dispatch_inherited_from_a_project_mixin(tmp_path):
    files = {
        "shop/mixins.py": """
            from django.db import transaction
            from django.utils.decorators import method_decorator

            @method_decorator(transaction.atomic, name="dispatch")
            class AtomicMixin:
                pass
        """,
    }
    assert run(tmp_path, """
        from django.views import View
        from shop.mixins import AtomicMixin
        from shop.models import Order, Payment

        class PayView(AtomicMixin, View):
            def post(self, request, pk):
                order = Order.objects.get(pk=pk)
                order.save()
                Payment.objects.create(order=order)
    """, files) == []


def test_other_methods_of_a_class_are_not_covered_by_one_atomic_method(tmp_path):
    diags = run(tmp_path, """
        from django.db import transaction
        from django.utils.decorators import method_decorator
        from django.views import View
        from shop.models import Order, Payment

        class PayView(View):
            @method_decorator(transaction.atomic)
            def post(self, request, pk):
                order = Order.objects.get(pk=pk)
                order.save()
                Payment.objects.create(order=order)

            def put(self, request, pk):
                order = Order.objects.get(pk=pk)
                order.save()
                Payment.objects.create(order=order)
    """)
    assert lines(diags) == [16]


def test_one_write_inside_atomic_and_one_outside_reports_the_outside_one(tmp_path):
    diags = run(tmp_path, """
        from django.db import transaction
        from shop.models import Order, Payment

        def pay(order):
            with transaction.atomic():
                order.save()
            Payment.objects.create(order=order)
    """)
    assert lines(diags) == [8]
    assert "inside a transaction" in diags[0].message


def test_a_locked_claim_then_work_outside_is_deliberate(tmp_path):
    diags = run(tmp_path, """
        from django.db import transaction
        from shop.models import Order, Payment

        def process(pk):
            with transaction.atomic():
                order = Order.objects.select_for_update().get(pk=pk)
                if order.total < 0:
                    return
                order.total = -1
                order.save()
            charge(order)
            order.total = 1
            order.save()

        def process_twice(pk):
            with transaction.atomic():
                order = Order.objects.select_for_update().get(pk=pk)
                order.save()
            Payment.objects.create(order=order)
            order.save()
    """)
    assert lines(diags) == [20]


def test_local_function_named_atomic_is_not_the_api(tmp_path):
    diags = run(tmp_path, """
        from contextlib import contextmanager
        from shop.models import Order, Payment

        @contextmanager
        def atomic():
            yield

        def pay(order):
            with atomic():
                order.save()
                Payment.objects.create(order=order)
    """)
    assert lines(diags) == [11]


# -- project wrappers --------------------------------------------------------------------------
WRAPPERS = {
    "shop/db.py": """
        import contextlib
        from django.db import transaction

        @contextlib.contextmanager
        def traced_atomic(name, using=None):
            with tracer.span(name):
                with transaction.atomic(using=using):
                    yield

        def plain_atomic():
            return transaction.atomic()

        @contextlib.contextmanager
        def conditional_atomic(enabled):
            if enabled:
                with transaction.atomic():
                    yield
            else:
                yield

        @contextlib.contextmanager
        def outer_wrapper():
            with traced_atomic("outer"):
                yield

        def atomic_task(func):
            def inner(*args, **kwargs):
                with transaction.atomic():
                    return func(*args, **kwargs)
            return inner

        @contextlib.contextmanager
        def not_a_transaction():
            with open("lock") as fh:
                yield fh
    """,
}


@pytest.mark.parametrize(
    "opener",
    [
        "with traced_atomic('pay'):",
        "with db.traced_atomic('pay', using='default'):",
        "with plain_atomic():",
        "with conditional_atomic(True):",
        "with outer_wrapper():",
    ],
)
def test_project_wrappers_of_atomic(tmp_path, opener):
    assert run(tmp_path, f"""
        from shop import db
        from shop.db import traced_atomic, plain_atomic, conditional_atomic, outer_wrapper
        from shop.models import Order, Payment

        def pay(order):
            {opener}
                order.save()
                Payment.objects.create(order=order)
    """, WRAPPERS) == []


def test_project_decorator_wrapper(tmp_path):
    assert run(tmp_path, """
        from shop.db import atomic_task
        from shop.models import Order, Payment

        @atomic_task
        def pay(order):
            order.save()
            Payment.objects.create(order=order)
    """, WRAPPERS) == []


def test_context_manager_that_is_not_a_wrapper(tmp_path):
    diags = run(tmp_path, """
        from shop.db import not_a_transaction
        from shop.models import Order, Payment

        def pay(order):
            with not_a_transaction():
                order.save()
                Payment.objects.create(order=order)
    """, WRAPPERS)
    assert lines(diags) == [7]


def test_method_that_wraps_atomic(tmp_path):
    assert run(tmp_path, """
        from contextlib import contextmanager
        from django.db import transaction
        from shop.models import Order, Payment

        class Publisher:
            @contextmanager
            def locked_order(self, pk):
                with transaction.atomic():
                    yield Order.objects.select_for_update().get(pk=pk)

            def publish(self, pk):
                with self.locked_order(pk) as order:
                    order.save()
                    Payment.objects.create(order=order)
    """) == []


def test_wrapper_defined_below_its_use_in_the_same_file(tmp_path):
    assert run(tmp_path, """
        from contextlib import contextmanager
        from django.db import transaction
        from shop.models import Order, Payment

        def pay(order):
            with my_atomic():
                order.save()
                Payment.objects.create(order=order)

        @contextmanager
        def my_atomic():
            with transaction.atomic():
                yield
    """) == []


def test_transaction_wrappers_option(tmp_path):
    source = """
        from shop.locks import locked_unit
        from shop.models import Order, Payment

        def pay(order, client):
            with locked_unit(order):
                order.save()
                Payment.objects.create(order=order)

        def other(order, client):
            with client.unit_of_work():
                order.save()
                Payment.objects.create(order=order)
    """
    files = {"shop/locks.py": "def locked_unit(obj):\n    return obj.lock()\n"}
    assert lines(run(tmp_path / "a", source, files)) == [7, 12]
    options = {"write-outside-transaction": {"transaction-wrappers": ["shop.locks.locked_unit", "unit_of_work"]}}
    assert run(tmp_path / "b", source, files, rule_options=options) == []


# -- ATOMIC_REQUESTS -----------------------------------------------------------------------------
VIEW = """
from django.db import transaction
from django.views import View
from shop.models import Order, Payment

def pay(request, pk):
    order = Order.objects.get(pk=pk)
    order.save()
    Payment.objects.create(order=order)

@transaction.non_atomic_requests
def refund(request, pk):
    order = Order.objects.get(pk=pk)
    order.save()
    Payment.objects.create(order=order)

class PayView(View):
    def post(self, request, pk):
        order = Order.objects.get(pk=pk)
        self.record(order)

    def record(self, order):
        order.save()
        Payment.objects.create(order=order)

def service(order):
    order.save()
    Payment.objects.create(order=order)
"""


def run_views(tmp_path, settings_files):
    files = {"shop/__init__.py": "", "shop/models.py": MODELS, "shop/views.py": VIEW}
    files.update(settings_files)
    return lines(lint(tmp_path, files, select=["BL301"]), "shop/views.py")


@pytest.mark.parametrize(
    "settings",
    [
        {"proj/settings.py": 'DATABASES = {"default": {"ENGINE": "x", "ATOMIC_REQUESTS": True}}\n'},
        {"proj/settings.py": 'DATABASES = {"default": env.db()}\nDATABASES["default"]["ATOMIC_REQUESTS"] = True\n'},
        {"proj/settings/__init__.py": "", "proj/settings/base.py": 'DATABASES = {"default": {"ATOMIC_REQUESTS": env.bool("A", True)}}\n'},
    ],
)
def test_atomic_requests_covers_views_only(tmp_path, settings):
    # pay and PayView are covered; the @non_atomic_requests view and the service are not.
    assert run_views(tmp_path, settings) == [14, 27]


@pytest.mark.parametrize(
    "settings",
    [
        {},
        {"proj/settings.py": "ATOMIC_REQUESTS = True\nDATABASES = {'default': {'ENGINE': 'x'}}\n"},
        {"proj/settings.py": "DATABASES = {'default': {'ATOMIC_REQUESTS': False}}\n"},
        {"proj/test_settings.py": "DATABASES = {'default': {'ATOMIC_REQUESTS': True}}\n"},
        {"proj/config.py": "DATABASES = {'default': {'ATOMIC_REQUESTS': True}}\n"},
    ],
)
def test_without_atomic_requests_every_view_is_a_finding(tmp_path, settings):
    assert run_views(tmp_path, settings) == [8, 14, 23, 27]


# -- skipped files -----------------------------------------------------------------------------
def test_migrations_alembic_versions_and_tests_are_skipped(tmp_path):
    body = textwrap.dedent("""
        from shop.models import Order, Payment

        def forwards(order):
            order.save()
            Payment.objects.create(order=order)
    """)
    alembic = textwrap.dedent("""
        from alembic import op
        revision = "abc"

        def upgrade(session, user, post):
            session.add(user)
            session.commit()
            session.add(post)
            session.commit()
    """)
    files = {
        "shop/__init__.py": "",
        "shop/models.py": MODELS,
        "shop/migrations/__init__.py": "",
        "shop/migrations/0002_data.py": body,
        "alembic/versions/abc_add.py": alembic,
        "shop/tests/test_orders.py": body,
        "shop/jobs.py": body,
        "shop/migration_helpers.py": """
            def forwards(apps, schema_editor):
                Order = apps.get_model("shop", "Order")
                for order in Order.objects.all():
                    order.save()
        """,
    }
    diags = lint(tmp_path, files, select=["BL301"])
    assert codes_at(diags) == [("BL301", "shop/jobs.py", 5)]


# -- SQLAlchemy -----------------------------------------------------------------------------------
def test_flask_sqlalchemy_two_commits(tmp_path):
    diags = lint(tmp_path, """
        from flask_sqlalchemy import SQLAlchemy
        db = SQLAlchemy()

        def register(user, profile):
            db.session.add(user)
            db.session.commit()
            db.session.add(profile)
            db.session.commit()

        def register_once(user, profile):
            db.session.add(user)
            db.session.add(profile)
            db.session.commit()

        def commit_to_read_id(user):
            db.session.add(user)
            db.session.flush()
            user.name = "x"
            db.session.commit()
    """, select=["BL301"])
    assert [d.line for d in diags] == [6]
    assert "commit" in diags[0].message and "line 7" in diags[0].message


def test_sqlalchemy_commit_in_a_loop_and_statements_built_earlier(tmp_path):
    diags = lint(tmp_path, """
        from sqlalchemy import update, delete, select
        from sqlalchemy.orm import Session

        def close_all(session: Session, ids):
            for pk in ids:
                session.execute(update(Account).where(Account.id == pk).values(open=False))
                session.commit()

        def purge(session: Session, pk):
            stmt = delete(Account).where(Account.id == pk)
            session.execute(stmt)
            session.commit()
            session.query(Log).filter(Log.account_id == pk).delete()
            session.commit()

        def reads(session: Session, pk):
            session.execute(select(Account))
            session.commit()
            session.execute(select(Log))
            session.commit()
    """, select=["BL301"])
    assert [d.line for d in diags] == [7, 12]


def test_sqlalchemy_begin_blocks_cover(tmp_path):
    assert lint(tmp_path, """
        from sqlalchemy.ext.asyncio import AsyncSession

        def sync(session, engine, a, b):
            with session.begin():
                session.add(a)
                session.commit()
                session.add(b)
                session.commit()
            with engine.begin() as conn:
                conn.execute(insert(A).values(x=1))
                conn.commit()
                conn.execute(insert(B).values(x=1))
                conn.commit()

        async def run(session: AsyncSession, a, b):
            async with session.begin():
                session.add(a)
                await session.commit()
                session.add(b)
                await session.commit()
    """, select=["BL301"]) == []


def test_sqlalchemy_async_two_commits(tmp_path):
    diags = lint(tmp_path, """
        from sqlalchemy.ext.asyncio import AsyncSession

        async def transfer(session: AsyncSession, a, b):
            session.add(a)
            await session.commit()
            await session.delete(b)
            await session.commit()
    """, select=["BL301"])
    assert [d.line for d in diags] == [5]


def test_each_session_block_is_its_own_unit_of_work(tmp_path):
    diags = lint(tmp_path, """
        from sqlalchemy.orm import Session

        def two_units(engine, a, b):
            with Session(engine) as session:
                session.add(a)
                session.commit()
            notify(a)
            with Session(engine) as session:
                session.add(b)
                session.commit()

        def per_item(engine, items):
            for item in items:
                with Session(engine) as session:
                    session.add(item)
                    session.commit()

        def one_unit(engine, a, b):
            with Session(engine) as session:
                session.add(a)
                session.commit()
                session.add(b)
                session.commit()
    """, select=["BL301"])
    assert [d.line for d in diags] == [21]


def test_http_session_delete_is_not_a_sqlalchemy_write(tmp_path):
    assert lint(tmp_path, """
        import requests
        from sqlalchemy.orm import Session

        def sync(db: Session, user):
            http = requests.Session()
            http.delete(f"https://example.com/users/{user.id}")
            db.add(user)
            db.commit()
            http.delete("https://example.com/cache")
            db.commit()
    """, select=["BL301"]) == []


def test_autocommit_connection_writes(tmp_path):
    diags = lint(tmp_path, """
        from sqlalchemy import create_engine, text

        def fix(engine):
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("UPDATE accounts SET open = false"))
                conn.execute(text("DELETE FROM sessions"))
    """, select=["BL301"])
    assert [d.line for d in diags] == [6]


def test_prefilter_does_not_change_results(tmp_path):
    source = """
        from shop.models import Order, Payment

        def pay(order):
            order.save()
            Payment.objects.create(order=order)
    """
    with_prefilter = run(tmp_path / "a", source)
    without = run(tmp_path / "b", source, prefilter=False)
    assert [d.line for d in with_prefilter] == [d.line for d in without] == [5]


def test_save_on_plain_objects_in_a_project_without_an_orm_is_not_a_write(tmp_path):
    # Found by running backendlint on itself: a cache store's .save() twice is no DB write,
    # and Django imports written inside test strings do not make the project Django.
    files = {
        "tool/run.py": """\
            from tool.cache import Store


            def run():
                index = Store("index")
                results = Store("results")
                index.save()
                results.save()
            """,
        "tool/cache.py": "class Store:\n    def __init__(self, name):\n        self.name = name\n\n    def save(self):\n        pass\n",
        "tests/test_snippets.py": 'SNIPPET = """\nfrom django.db import models\n"""\n',
    }
    assert lint(tmp_path, files, select=["BL301"]) == []


def test_same_code_in_a_django_project_is_reported(tmp_path):
    files = {
        "shop/models.py": "from django.db import models\n\n\nclass Order(models.Model):\n    pass\n",
        "shop/services.py": """\
            from shop.models import Order


            def close(a, b):
                a.save()
                b.save()
            """,
    }
    assert [(d.path, d.line) for d in lint(tmp_path, files, select=["BL301"])] == [("shop/services.py", 5)]
