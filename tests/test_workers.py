"""Memory of the checking processes.

Worker processes share what the rules derive from the project facts (Rule.prepare): the
parent computes it once before the pool forks; a worker that had to build its own copy
would hold it privately (and copy the facts' pages it reads building it). And a checked
file's syntax tree is freed as soon as the file is done.
"""

from __future__ import annotations

import gc
import os
from pathlib import Path

import libcst as cst
import pytest

from backendlint.engine import registry
from backendlint.engine.checker import check_file
from backendlint.index import effects
from backendlint.index import models as queries
from backendlint.rules import bl301_write_outside_transaction as bl301
from tests.helpers import lint, write_project

PROJECT = {
    "shop/__init__.py": "",
    "shop/models.py": """
        from django.db import models

        class Order(models.Model):
            ref = models.CharField(max_length=20)

        class Line(models.Model):
            order = models.ForeignKey(Order, on_delete=models.CASCADE)
            product = models.ForeignKey("Product", on_delete=models.CASCADE)

        class Product(models.Model):
            name = models.CharField(max_length=20)
    """,
    "shop/repository.py": """
        from shop.models import Line, Order

        def save_order(data):
            return Order.objects.create(**data)

        def add_line(order, sku):
            return Line.objects.create(order=order, sku=sku)
    """,
    "shop/api.py": """
        from fastapi import APIRouter
        from shop.repository import save_order

        router = APIRouter()

        @router.post("/orders")
        def post_order(payload: dict):
            return save_order(payload)
    """,
    "shop/checkout.py": """
        from shop.models import Line
        from shop.repository import add_line, save_order

        def checkout(data):
            order = save_order(data)
            add_line(order, data["sku"])
            return order

        def names():
            return [line.product.name for line in Line.objects.all()]
    """,
}


def _check(root: Path, jobs: int):
    return [(d.code, d.path, d.line, d.message) for d in lint(root, PROJECT, jobs=jobs)]


@pytest.fixture
def project(tmp_path):
    write_project(tmp_path, PROJECT)
    return tmp_path


def test_the_project_has_a_finding_of_every_rule_that_prepares(project):
    assert {code for code, *_ in _check(project, 1)} == {"BL201", "BL301", "BL401"}


def test_workers_use_what_the_parent_prepared(project, monkeypatch):
    serial = _check(project, 1)
    parent = os.getpid()

    def parent_only(fn):
        def wrapper(*args, **kwargs):
            if os.getpid() != parent:
                raise AssertionError(f"{fn.__name__} built again in a worker")
            return fn(*args, **kwargs)

        return wrapper

    monkeypatch.setattr(effects, "resolver", parent_only(effects.resolver))
    monkeypatch.setattr(bl301, "_callee_writers", parent_only(bl301._callee_writers))
    monkeypatch.setattr(bl301, "_writer_names", parent_only(bl301._writer_names))
    monkeypatch.setattr(bl301, "_django_model_classes", parent_only(bl301._django_model_classes))
    monkeypatch.setattr(queries.FactsView, "__init__", parent_only(queries.FactsView.__init__))
    monkeypatch.setattr(queries.FactsView, "_cache", {})
    # In-process, the values are built on first use, as before.
    assert _check(project, 1) == serial
    # In workers, every one of them was built by the parent: no rule failed.
    assert _check(project, 2) == serial


def test_a_failing_prepare_leaves_the_value_to_first_use(project, monkeypatch):
    serial = _check(project, 1)

    def broken(cls, facts, options=None):
        raise RuntimeError("prepare failed")

    monkeypatch.setattr(bl301.WriteOutsideTransaction, "prepare", classmethod(broken))
    assert _check(project, 2) == serial


def test_a_checked_files_tree_is_freed_without_the_garbage_collector(project):
    # A reference cycle through the file's context (the N+1 analysis in its memo points
    # back at it) kept each tree alive until the collector's next full pass, when
    # several big trees could be alive at once.
    from backendlint.engine.project import build_index
    from backendlint.engine.cache import Store
    from backendlint.engine.run import _job

    rules = registry.all_rules()
    files = sorted(project.rglob("*.py"))
    triples = [(str(p), p.relative_to(project).as_posix(), _job(p, project).module_name) for p in files]
    facts, _ = build_index(triples, sorted({k for r in rules for k in r.facts}), Store(None, "index.json", []))
    gc.collect()
    gc.disable()
    try:
        found = []
        for path in files:
            found += check_file(_job(path, project), rules, {}, facts)[0]
        alive = [o for o in gc.get_objects() if type(o) is cst.Module]
    finally:
        gc.enable()
    assert {d.code for d in found} == {"BL201", "BL301", "BL401"}
    assert alive == []


def test_the_index_makes_no_reference_cycles(project):
    # The index runs with the garbage collector off (project.without_gc): that is only
    # safe while collecting and merging leave no cycles behind, so reference counting
    # frees every ast tree and temporary.
    from backendlint.engine.facts import collectors
    from backendlint.engine.project import _collect_one

    kinds = [c.kind for c in collectors()]
    here = Path(__file__).resolve().parents[1]
    files = [(p, here) for p in sorted((here / "backendlint").rglob("*.py"))]
    files += [(p, project) for p in sorted(project.rglob("*.py"))]
    gc.collect()
    gc.disable()
    try:
        results = [_collect_one((str(p), p.relative_to(root).as_posix(), "m", kinds)) for p, root in files]
        merged = [c.merge({rel: parts[c.kind] for rel, _, parts in results if c.kind in parts}) for c in collectors()]
        del results, merged
        garbage = gc.collect()
    finally:
        gc.enable()
    assert garbage == 0


_BATCHES: dict = {}


def _recording_batch(jobs):
    """run._check_batch, noting which worker got which files (module level: the pool
    pickles the function by name)."""
    with open(_BATCHES["record"], "a", encoding="utf-8") as fh:
        fh.write(f"{os.getpid()} {' '.join(job.relpath for job in jobs)}\n")
    return _BATCHES["real"](jobs)


def test_the_biggest_files_are_checked_one_after_another(project, monkeypatch, tmp_path):
    """Files from BIG_FILE bytes go to one worker, in one batch: two of the largest
    syntax trees are never in memory at once. Results are unchanged."""
    from backendlint.engine import run as run_module

    serial = _check(project, 1)
    record = tmp_path / "batches.txt"
    monkeypatch.setitem(_BATCHES, "record", str(record))
    monkeypatch.setitem(_BATCHES, "real", run_module._check_batch)
    monkeypatch.setattr(run_module, "_check_batch", _recording_batch)
    monkeypatch.setattr(run_module, "BIG_FILE", 200)
    sizes = {p.relative_to(project).as_posix(): p.stat().st_size for p in project.rglob("*.py")}
    big = sorted(path for path, size in sizes.items() if size >= 200)
    assert 2 <= len(big) < len(sizes) - 1
    assert _check(project, 2) == serial
    batches = [sorted(line.split()[1:]) for line in record.read_text(encoding="utf-8").splitlines()]
    assert big in batches  # one batch (submitted first), with all of them
    assert sum(len(batch) for batch in batches) == len(sizes)  # each file checked once
