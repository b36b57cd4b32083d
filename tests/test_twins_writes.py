"""The stdlib-ast predicates of knowledge/writes.py give the answers of their LibCST twins."""

from __future__ import annotations

import ast
import textwrap

import libcst as cst
import pytest

from backendlint.knowledge import writes

LOOPS = [
    ("for chunk in chunks(ids, 1000):\n    Order.objects.filter(id__in=chunk).update(paid=True)\n", True),
    ("for i in range(0, n, BATCH_SIZE):\n    Order.objects.bulk_create(rows[i:i + 100])\n", True),
    ("for order in orders:\n    order.save()\n    time.sleep(1)\n", True),
    ("for order in orders:\n    order.save()\n    sleep(1)\n", True),
    ("while pending:\n    item = pending.pop()\n    item.save(update_fields=['state'])\n", False),
    ("for order in orders:\n    order.save()\n", False),
    ("for order in orders:\n    order.save()\nelse:\n    flush(batch)\n", True),
    ("for order in orders:\n    order.save()\n    self.process_chunked(order)\n", True),
    ("for order in orders:\n    order.save()\n    wait = sleep\n", False),
]

BODIES = [
    ("for x in xs:\n    buf.append(x)\n    if len(buf) > 100:\n        M.objects.bulk_create(buf)\n        buf = []\n", {"buf"}),
    ("for x in xs:\n    rows.append(x)\n    rows = list()\n", {"rows"}),
    ("for x in xs:\n    rows.clear()\n    other = [1]\n    done = list(x)\n", {"rows"}),
    ("for x in xs:\n    a = b = []\n", {"a", "b"}),
    ("for x in xs:\n    x.save()\n", set()),
]

LOCKS = [
    ("with transaction.atomic():\n    o = Order.objects.select_for_update().get(pk=1)\n", True),
    ("with session.begin():\n    q = session.query(M).with_for_update().one()\n", True),
    ("with transaction.atomic():\n    o = Order.objects.get(pk=1)\n", False),
    ("with transaction.atomic():\n    o = Order.objects.get_for_update(pk=1)\n", True),
]


def _both(source: str):
    source = textwrap.dedent(source)
    return cst.parse_module(source).body[0], ast.parse(source).body[0]


@pytest.mark.parametrize("source,expected", LOOPS)
def test_batching_loop_twins_agree(source, expected):
    libcst_loop, ast_loop = _both(source)
    assert writes.is_batching_loop(libcst_loop) is expected
    assert writes.ast_is_batching_loop(ast_loop) is expected


@pytest.mark.parametrize("source,expected", BODIES)
def test_reset_lists_twins_agree(source, expected):
    libcst_loop, ast_loop = _both(source)
    assert writes.reset_lists(libcst_loop.body) == expected
    assert writes.ast_reset_lists(ast_loop.body) == expected


@pytest.mark.parametrize("source,expected", LOCKS)
def test_row_lock_twins_agree(source, expected):
    libcst_with, ast_with = _both(source)
    assert writes.takes_row_locks(libcst_with.body) is expected
    assert writes.ast_takes_row_locks(ast_with.body) is expected


def test_operation_methods_are_the_union_of_the_write_tables():
    assert writes.OP_METHODS == (
        writes.DJANGO_INSTANCE_WRITES | writes.DJANGO_QUERYSET_WRITES | writes.RELATED_MANAGER_WRITES
        | writes.EXECUTE_METHODS | writes.SA_SESSION_WRITES | writes.COMMIT_METHODS
    )
    assert writes.DJANGO_WRITE_METHODS >= {"save", "asave", "aadd", "abulk_update", "clear"}


def test_the_async_forms_are_the_sync_ones_prefixed():
    assert writes.DJANGO_QUERYSET_ASYNC_WRITES == {"a" + m for m in writes.DJANGO_QUERYSET_WRITES}
    assert writes.DJANGO_MANAGER_WRITES.isdisjoint({"save", "asave"})
    assert writes.DJANGO_QUERYSET_ASYNC_WRITES <= writes.DJANGO_MANAGER_WRITES
