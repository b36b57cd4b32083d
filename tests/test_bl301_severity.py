"""BL301's severity (catalog "Severity", row BL301, and "Effect"): each invariant kind,
log and row effects, the low conditions, the context, and the model index's field
attributes the effect reads."""

from __future__ import annotations

from pathlib import Path

import pytest

from backendlint.engine.cache import Store
from backendlint.engine.config import Config
from backendlint.engine.discovery import discover, module_name
from backendlint.engine.project import build_index
from backendlint.engine.run import _relpath
from backendlint.index.models import ModelIndex
from helpers import lint, write_project

MODELS = """
from django.db import models

class Workspace(models.Model):
    name = models.CharField(max_length=20)
    member_count = models.IntegerField(default=0)
    status = models.CharField(max_length=20)
    updated_at = models.DateTimeField(auto_now=True)

class Membership(models.Model):
    workspace = models.ForeignKey(Workspace, related_name="memberships", on_delete=models.CASCADE)
    role = models.CharField(max_length=20)

class Invite(models.Model):
    workspace = models.ForeignKey(Workspace, null=True, on_delete=models.SET_NULL)
    email = models.EmailField()

class Note(models.Model):
    text = models.TextField()

class Tag(models.Model):
    name = models.CharField(max_length=20)

class AuditLog(models.Model):
    text = models.TextField()

class AuthToken(models.Model):
    user_id = models.IntegerField()
"""


def run(tmp_path, source, path="ws/services.py", files=None, **kw):
    tmp_path.mkdir(parents=True, exist_ok=True)
    project = {"ws/__init__.py": "", "ws/models.py": MODELS, path: source}
    project.update(files or {})
    diags = lint(tmp_path, project, select=["BL301"], **kw)
    return [d for d in diags if d.path == path]


def one(tmp_path, source, **kw):
    diags = run(tmp_path, source, **kw)
    assert len(diags) == 1, [d.message for d in diags]
    return diags[0]


MODELS_LOG = """
from django.db import models

class Billing(models.Model):
    plan = models.CharField(max_length=20)

class BillingLog(models.Model):
    billing = models.ForeignKey(Billing, on_delete=models.CASCADE)
    event = models.CharField(max_length=20)
"""

VIEW = "from django.views.decorators.http import require_POST\nfrom ws.models import *\n\n@require_POST\n"


# -- effect invariant: high ------------------------------------------------------------------
def test_a_parent_and_its_required_child_is_high(tmp_path):
    d = one(tmp_path, VIEW + """
def create_workspace(request):
    ws = Workspace.objects.create(name=request.POST["name"])
    Membership.objects.create(workspace=ws, role="owner")
""")
    assert d.severity == "high"
    assert d.why == "request handler; Workspace and its required Membership"


def test_a_required_child_through_the_related_manager_is_high(tmp_path):
    d = one(tmp_path, VIEW + """
def create_workspace(request):
    ws = Workspace.objects.create(name="x")
    ws.memberships.create(role="owner")
""")
    assert (d.severity, d.why) == ("high", "request handler; Workspace and its required Membership")


def test_an_arithmetic_update_beside_another_write_is_high(tmp_path):
    d = one(tmp_path, VIEW + """
def join(request, pk):
    Note.objects.create(text="joined")
    Workspace.objects.filter(pk=pk).update(member_count=F("member_count") + 1)
""")
    assert d.severity == "high"
    assert "arithmetic update" in d.why


def test_augmented_assignment_then_save_beside_another_write_is_high(tmp_path):
    d = one(tmp_path, VIEW + """
def join(request, pk):
    ws = Workspace.objects.get(pk=pk)
    ws.member_count += 1
    ws.save()
    Note.objects.create(text="joined")
""")
    assert d.severity == "high"


def test_a_new_row_stored_in_another_rows_field_is_high(tmp_path):
    d = one(tmp_path, VIEW + """
def pin(request, pk):
    note = Note.objects.create(text="pinned")
    ws = Workspace.objects.get(pk=pk)
    ws.pinned = note
    ws.save()
""")
    assert (d.severity, d.why) == ("high", "request handler; a new Note stored in Workspace.pinned")


def test_fields_copied_from_a_saved_row_into_its_children_are_high(tmp_path):
    # Corpus lesson (netbox's Device.save): the children's site and rack are copies of
    # the parent's; a failure part-way leaves some children with the old ones.
    d = one(tmp_path, MODELS_LOG.replace("class Billing", "class Bay") + """
class Device(models.Model):
    site = models.CharField(max_length=20)
    parent = models.ForeignKey("self", null=True, on_delete=models.CASCADE)

    def save(self, *args, **kwargs):
        super().save(*args, **kwargs)
        for child in Device.objects.filter(parent=self):
            child.site = self.site
            child.save()
""")
    assert (d.severity, d.why) == ("high", "request handler; Device.site copied from Device")


def test_a_new_row_copying_a_value_or_a_relation_is_a_snapshot(tmp_path):
    # Corpus lessons: weblate's Change(target=suggestion.target) history rows, pretix's
    # ReferencedPayPalObject(order=payment.order): a new row copying a value, or pointing
    # at the same parent, is consistent whenever it is written.
    d = one(tmp_path, VIEW + """
def snapshot(request, pk):
    ws = Workspace.objects.get(pk=pk)
    ws.name = "x"
    ws.save()
    Note.objects.create(text=ws.name)
""")
    assert d.severity == "low"
    d = one(tmp_path / "relation", VIEW + """
def repoint(request, pk):
    m = Membership.objects.get(pk=pk)
    m.role = "x"
    m.save()
    other = Membership.objects.get(pk=2)
    other.workspace = m.workspace
    other.save()
""")
    assert d.severity == "low"


def test_the_same_row_written_twice_is_no_stored_reference(tmp_path):
    # Corpus lesson (weblate's Unit.save): ``filter(pk=self.pk).update(source=self)`` after
    # ``super().save()`` writes the same row again; it stores no new row elsewhere.
    d = one(tmp_path, MODELS_LOG.replace("class Billing", "class Bay") + """
class Unit(models.Model):
    source = models.ForeignKey("self", null=True, on_delete=models.CASCADE)

    def save(self, *args, **kwargs):
        super().save(*args, **kwargs)
        Unit.objects.filter(pk=self.pk).update(source=self)
""")
    assert (d.severity, d.why) == ("low", "request handler; independent rows")


def test_a_counter_of_a_row_written_twice_is_no_invariant(tmp_path):
    # Corpus lesson (weblate's Unit.save: num_words set, then the same row updated by key).
    d = one(tmp_path, MODELS_LOG.replace("class Billing", "class Bay") + """
class Unit(models.Model):
    source = models.ForeignKey("self", null=True, on_delete=models.CASCADE)
    num_words = models.IntegerField(default=0)

    def save(self, *args, **kwargs):
        self.num_words = 3
        super().save(*args, **kwargs)
        Unit.objects.filter(pk=self.pk).update(source=self)
""")
    assert d.severity == "low"


def test_copies_into_log_rows_and_private_attributes_are_no_invariant(tmp_path):
    # Corpus lessons: weblate's AuditLog copying a user's field; netbox's Cable keeping
    # ``_orig_status`` (a cached attribute, not a field).
    d = one(tmp_path, VIEW + """
def audit(request, pk):
    ws = Workspace.objects.get(pk=pk)
    ws.name = "x"
    ws.save()
    AuditLog.objects.create(text=ws.name)
""")
    assert d.severity == "low"
    d = one(tmp_path / "private", VIEW + """
def cable(request, pk):
    ws = Workspace.objects.get(pk=pk)
    ws._orig_status = ws.name
    ws.save()
    Note.objects.create(text="x")
""")
    assert d.severity == "low"


def test_a_counter_field_beside_another_write_is_high(tmp_path):
    d = one(tmp_path, "from celery import shared_task\nfrom ws.models import *\n\n@shared_task\n" + """
def reply(pk):
    Note.objects.create(text="reply")
    Workspace.objects.filter(pk=pk).update(reply_count=3)
""")
    assert (d.severity, d.why) == ("high", "background task; a row and its counter reply_count")


def test_a_state_field_beside_another_write_is_high(tmp_path):
    d = one(tmp_path, VIEW + """
def archive(request, pk):
    ws = Workspace.objects.get(pk=pk)
    ws.status = "archived"
    ws.save()
    Note.objects.create(text="archived")
""")
    assert (d.severity, d.why) == ("high", "request handler; Workspace.status with another write")


def test_a_state_field_with_an_external_call_is_high(tmp_path):
    d = one(tmp_path, VIEW + """
def charge(request, pk):
    import stripe
    ws = Workspace.objects.get(pk=pk)
    for m in ws.memberships.all():
        m.role = "paid"
        m.save()
    ws.status = "paid"
    ws.save()
    stripe.Charge.create(amount=100)
""")
    assert d.severity == "high"
    d = one(tmp_path / "alone", VIEW + """
def charge(request, pk):
    import stripe
    for pk in request.POST.getlist("ids"):
        Workspace.objects.filter(pk=pk).update(status="paid")
    stripe.Charge.create(amount=100)
""")
    assert (d.severity, d.why) == ("high", "request handler; Workspace.status and stripe.Charge.create")


def test_a_required_log_child_is_no_invariant(tmp_path):
    # Corpus lesson (weblate billing): a row and the log row that records its change.
    d = one(tmp_path, MODELS_LOG + VIEW.replace("from ws.models import *", "") + """
def renew(request, pk):
    billing = Billing.objects.get(pk=pk)
    billing.plan = "pro"
    billing.save()
    billing.billinglog_set.create(event="renewed")
""")
    assert (d.severity, d.why) == ("low", "request handler; independent rows")


def test_states_written_per_row_are_no_invariant(tmp_path):
    # Corpus lessons: per-item saves of the loop's rows (pretix's scheduled mails,
    # oscar's duplicate users) and a queryset update of many rows mark each row on its
    # own; no other write depends on them.
    d = one(tmp_path, VIEW + """
def sweep(request):
    for ws in Workspace.objects.filter(name=""):
        ws.status = "stale"
        ws.save()
    Note.objects.create(text="swept")
""")
    assert d.severity == "low"
    d = one(tmp_path / "bulk", VIEW + """
def sweep(request):
    Workspace.objects.filter(name="").update(status="stale")
    Note.objects.create(text="swept")
""")
    assert d.severity == "low"
    d = one(tmp_path / "one", VIEW + """
def activate(request, pk):
    ws = Workspace.objects.get(pk=pk)
    Workspace.objects.filter(name=ws.name).update(status="inactive")
    ws.status = "active"
    ws.save()
""")
    assert (d.severity, d.why) == ("high", "request handler; Workspace.status with another write")


def test_a_log_rows_state_and_a_last_name_are_no_invariant(tmp_path):
    # Corpus lessons: pretalx's ActivityLog.is_orga_action, weblate's
    # AddonActivityLog.status; saleor's anonymised user.last_name (a name, no pointer).
    d = one(tmp_path, VIEW + """
def act(request, pk):
    entry = AuditLog(text="x")
    entry.status = "done"
    entry.save()
    Note.objects.create(text="acted")
""")
    assert d.severity == "low"
    d = one(tmp_path / "name", VIEW + """
def anonymise(request, pk):
    user = Note.objects.get(pk=pk)
    user.last_name = "x"
    user.save()
    Tag.objects.filter(name=user.text).delete()
""")
    assert (d.severity, d.why) == ("low", "request handler; independent rows")


def test_deleting_a_parents_children_is_no_invariant(tmp_path):
    # Corpus lesson (pretix's Event.delete_sub_objects): what a partial delete leaves is
    # consistent (no child lost its parent), and running it again finishes it.
    d = one(tmp_path, VIEW + """
def wipe(request, pk):
    ws = Workspace.objects.get(pk=pk)
    ws.memberships.all().delete()
    ws.delete()
""")
    assert d.severity == "low"


def test_a_counter_reset_on_many_rows_is_per_row(tmp_path):
    # Corpus lesson (pretix's Reset2FADriftThrottleView): resetting a counter of many rows
    # beside another write; each row's counter stands alone.
    d = one(tmp_path, VIEW + """
def reset(request):
    Workspace.objects.filter(name="a").update(member_count=0)
    Note.objects.create(text="reset")
""")
    assert d.severity == "low"


def test_a_relation_chain_names_the_last_model(tmp_path):
    # Corpus lesson (weblate's Comment.resolve: self.unit.change_set.create()).
    d = one(tmp_path, VIEW + """
def pin(request, pk):
    m = Membership.objects.get(pk=pk)
    m.role = "pinned"
    m.save()
    m.workspace.memberships.create(role="pinned")
""")
    assert d.why == "request handler; independent rows"


def test_a_bookkeeping_timestamp_is_no_state_field(tmp_path):
    d = one(tmp_path, VIEW + """
def touch(request, pk):
    ws = Workspace.objects.get(pk=pk)
    ws.updated_at = now()
    ws.save()
    Note.objects.create(text="touched")
""")
    assert d.severity == "low"


# -- row and log: low ------------------------------------------------------------------------
def test_independent_rows_are_low(tmp_path):
    d = one(tmp_path, VIEW + """
def two_notes(request):
    Note.objects.create(text="a")
    Tag.objects.create(name="b")
""")
    assert (d.severity, d.why) == ("low", "request handler; independent rows")


def test_log_rows_are_low(tmp_path):
    d = one(tmp_path, VIEW + """
def audit(request):
    AuditLog.objects.create(text="a")
    AuditLog.objects.create(text="b")
""")
    assert (d.severity, d.why) == ("low", "request handler; log rows")


def test_the_log_models_option(tmp_path):
    source = VIEW + """
def notes(request):
    Note.objects.create(text="a")
    Note.objects.create(text="b")
"""
    assert one(tmp_path / "a", source).why == "request handler; independent rows"
    d = one(tmp_path / "b", source, rule_options={"write-outside-transaction": {"log-models": ["Note"]}})
    assert d.why == "request handler; log rows"


# -- the other low conditions ------------------------------------------------------------------
def test_an_idempotent_write_per_item_is_low(tmp_path):
    d = one(tmp_path, VIEW + """
def rename(request):
    for ws in Workspace.objects.all():
        ws.name = ws.name.strip()
        ws.save()
""")
    assert (d.severity, d.why) == ("low", "request handler; idempotent write per item")


def test_get_or_create_per_item_is_low(tmp_path):
    d = one(tmp_path, VIEW + """
def tags(request):
    for name in request.POST.getlist("tags"):
        Tag.objects.get_or_create(name=name)
""")
    assert d.severity == "low"


def test_an_update_by_the_items_key_is_low(tmp_path):
    d = one(tmp_path, VIEW + """
def rename(request):
    for ws in Workspace.objects.all():
        Workspace.objects.filter(pk=ws.pk).update(name="x")
""")
    assert d.severity == "low"


def test_delete_then_create_of_one_model_is_low(tmp_path):
    d = one(tmp_path, VIEW + """
def rotate(request):
    AuthToken.objects.filter(user_id=request.user.id).delete()
    AuthToken.objects.create(user_id=request.user.id)
""")
    assert (d.severity, d.why) == ("low", "request handler; delete-then-create of AuthToken (rotation)")


def test_an_optional_child_is_low(tmp_path):
    d = one(tmp_path, VIEW + """
def invite(request):
    ws = Workspace.objects.create(name="x")
    Invite.objects.create(workspace=ws, email="a@b.c")
""")
    assert (d.severity, d.why) == ("low", "request handler; optional child Invite.workspace")


def test_a_method_reached_through_getattr_is_low(tmp_path):
    d = one(tmp_path, """
from ws.models import *

class Handler:
    def dispatch(self, event):
        return getattr(self, f"on_{event}")()

    def on_created(self):
        ws = Workspace.objects.create(name="x")
        Membership.objects.create(workspace=ws, role="owner")
""")
    assert (d.severity, d.why) == ("low", "library code with no known caller; reached through getattr dispatch")


def test_a_getattr_of_a_plain_word_is_no_dispatch_of_its_longer_names(tmp_path):
    d = one(tmp_path, """
from ws.models import *

class Handler:
    def run(self, obj):
        return getattr(obj, "save")

    def save_all(self):
        ws = Workspace.objects.create(name="x")
        Membership.objects.create(workspace=ws, role="owner")
""")
    assert d.severity == "high"


# -- loops that copy children: high; not determined: medium ------------------------------------
def test_a_loop_creating_children_of_one_parent_is_high(tmp_path):
    d = one(tmp_path, VIEW + """
def copy(request, pk):
    ws = Workspace.objects.get(pk=pk)
    for m in Membership.objects.filter(role="owner"):
        Membership.objects.create(workspace=ws, role=m.role)
""")
    assert d.severity == "high"
    assert "Membership.workspace in a loop" in d.why


def test_raw_sql_is_not_determined(tmp_path):
    d = one(tmp_path, VIEW + """
def purge(request):
    from django.db import connection
    Note.objects.create(text="a")
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM ws_tag")
""")
    assert (d.severity, d.why) == ("medium", "request handler; effect not determined (raw SQL)")


# -- context ---------------------------------------------------------------------------------
def test_operator_context_is_low_whatever_the_effect(tmp_path):
    d = one(tmp_path, """
from django.core.management.base import BaseCommand
from ws.models import *

class Command(BaseCommand):
    def handle(self, *args, **options):
        ws = Workspace.objects.create(name="x")
        Membership.objects.create(workspace=ws, role="owner")
""", path="ws/management/commands/seed.py")
    assert (d.severity, d.context, d.why) == ("low", "operator", "operator code")


def test_a_helper_takes_its_callers_context(tmp_path):
    d = one(tmp_path, """
from ws.models import *

def make_workspace(name):
    ws = Workspace.objects.create(name=name)
    Membership.objects.create(workspace=ws, role="owner")
""", files={"ws/views.py": VIEW.replace("from ws.models import *", "from ws.services import make_workspace") + """
def create(request):
    make_workspace(request.POST["name"])
"""})
    assert d.severity == "high"
    assert d.context == "request"
    assert d.why.startswith("request: called from create() in ws/views.py:")


def test_a_helper_with_no_caller_is_library(tmp_path):
    d = one(tmp_path, """
from ws.models import *

def make_workspace(name):
    ws = Workspace.objects.create(name=name)
    Membership.objects.create(workspace=ws, role="owner")
""")
    assert (d.severity, d.context) == ("high", "library")


# -- the model index's field attributes ---------------------------------------------------------
def index(tmp_path: Path, files) -> ModelIndex:
    write_project(tmp_path, files)
    found = discover([tmp_path], Config(base=tmp_path)).files
    triples = [(str(p), _relpath(p, tmp_path), module_name(p, tmp_path)[0]) for p in found]
    facts, _ = build_index(triples, ["orm_models"], Store(None, "index.json", []), None)
    return ModelIndex(facts.get("orm_models"))


DJANGO_FIELDS = """
from django.db import models

class Org(models.Model):
    slug = models.SlugField(unique=True)
    code = models.CharField(max_length=5, primary_key=True)

class Base(models.Model):
    org = models.ForeignKey(Org, on_delete=models.CASCADE)

    class Meta:
        abstract = True

class Team(Base):
    parent = models.ForeignKey("self", null=True, on_delete=models.CASCADE)
    name = models.CharField(max_length=20)
    number = models.IntegerField()

    class Meta:
        unique_together = ("org", "name")
        constraints = [models.UniqueConstraint(fields=["org", "number"], name="uniq_number")]

class Pair(models.Model):
    a = models.IntegerField()
    b = models.IntegerField()

    class Meta:
        unique_together = (("a", "b"), ("b", "a"))
"""


def test_model_index_django_field_attributes(tmp_path):
    idx = index(tmp_path, {"org/__init__.py": "", "org/models.py": DJANGO_FIELDS})
    team, org = "org.models.Team", "org.models.Org"
    assert idx.field(team, "parent").null is True  # a nullable FK
    assert idx.field(team, "org").null is False  # inherited from the abstract base
    assert idx.field(org, "slug") == (False, True, False)  # a unique field
    assert idx.field(org, "code").primary_key is True
    assert idx.required_fk(team, org) and not idx.required_fk(org, team)
    assert not idx.required_fk(team, team)  # parent is nullable
    assert set(idx.unique_fields(org)) == {("slug",), ("code",)}
    assert set(idx.unique_fields(team)) == {("org", "name"), ("org", "number")}  # unique_together, UniqueConstraint
    assert set(idx.unique_fields("org.models.Pair")) == {("a", "b"), ("b", "a")}
    assert idx.field("org.models.Nope", "x") is None


SA_FIELDS = """
from typing import Optional
from sqlalchemy import Column, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, declarative_base, mapped_column

Base = declarative_base()

class Parent(Base):
    __tablename__ = "parent"
    id = Column(Integer, primary_key=True)
    email = Column(String, unique=True)

class Child(Base):
    __tablename__ = "child"
    __table_args__ = (UniqueConstraint("parent_id", "name"),)
    id = Column(Integer, primary_key=True)
    parent_id = Column(Integer, ForeignKey("parent.id"), nullable=False)
    buddy_id = Column(Integer, ForeignKey("parent.id"))
    name: Mapped[Optional[str]] = mapped_column(String)
    code: Mapped[str] = mapped_column(String)
"""


def test_model_index_sqlalchemy_nullable(tmp_path):
    idx = index(tmp_path, {"db/__init__.py": "", "db/models.py": SA_FIELDS})
    child, parent = "db.models.Child", "db.models.Parent"
    assert idx.field(child, "parent_id").null is False
    assert idx.field(child, "buddy_id").null is True  # a Column is nullable by default
    assert idx.field(child, "name").null is True  # Mapped[Optional[...]]
    assert idx.field(child, "code").null is False  # Mapped[str]
    assert idx.field(parent, "email").unique is True
    assert idx.required_fk(child, parent) and not idx.required_fk(parent, child)
    assert ("parent_id", "name") in idx.unique_fields(child)
