"""The project-wide ORM model index (fact kind ``orm_models``) and its cache."""

from __future__ import annotations

import os
from pathlib import Path

from backendlint.engine.cache import Store
from backendlint.engine.config import Config
from backendlint.engine.discovery import discover, module_name
from backendlint.engine.project import build_index
from backendlint.engine.run import RunOptions, _relpath, run
from backendlint.index import models as index_module
from backendlint.index.models import ModelIndex
from fixtures import DJANGO_SHOP, SQLALCHEMY_APP
from helpers import write_project


def index(tmp_path: Path, files):
    write_project(tmp_path, files)
    found = discover([tmp_path], Config(base=tmp_path)).files
    triples = [(str(p), _relpath(p, tmp_path), module_name(p, tmp_path)[0]) for p in found]
    facts, _ = build_index(triples, ["orm_models"], Store(None, "index.json", []), None)
    return facts.get("orm_models")


def rels(facts, key, fw="dj"):
    """(kind, target) of each Django relation, (target, lazy, inverse) of each SQLAlchemy
    relationship, through the index's reader."""
    reader = ModelIndex(facts)
    if fw == "dj":
        return {attr: (r.kind, r.target) for attr, r in reader.django_relations(key).items()}
    return {attr: (r.target, r.lazy, r.inverse) for attr, r in reader.sa_relationships(key).items()}


def test_django_fields_targets_and_reverse_accessors(tmp_path):
    facts = index(tmp_path, {
        "shop/__init__.py": "",
        "shop/base.py": """
from django.db import models as m

class Owned(m.Model):
    owner = m.ForeignKey("auth.User", related_name="%(app_label)s_%(class)s_owned", on_delete=m.CASCADE)

    class Meta:
        abstract = True
""",
        "shop/models.py": """
from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey, GenericRelation
from django.db import models
from django.db.models import ForeignKey, OneToOneField
from .base import Owned

class Customer(Owned):
    user = OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    notes = GenericRelation("Note")

class Order(Owned):
    customer = ForeignKey(Customer, on_delete=models.CASCADE)
    tags = models.ManyToManyField("shop.Tag", related_name="orders")
    parent = models.ForeignKey("self", null=True, related_name="+", on_delete=models.SET_NULL)
    friends = models.ManyToManyField("self")

class Tag(models.Model):
    pass

class Profile(models.Model):
    customer = models.OneToOneField("Customer", on_delete=models.CASCADE)

class Note(models.Model):
    content_object = GenericForeignKey("content_type", "object_id")

class Line(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE)

    class Meta:
        default_related_name = "lines"

class User(models.Model):
    pass
""",
    })
    assert rels(facts, "shop.models.Order") == {
        "owner": ("fk", None),  # "auth.User" is not a project model
        "customer": ("fk", "shop.models.Customer"),
        "tags": ("m2m", "shop.models.Tag"),
        "parent": ("fk", "shop.models.Order"),
        "friends": ("m2m", "shop.models.Order"),
        "lines": ("rfk", "shop.models.Line"),
    }
    assert rels(facts, "shop.models.Customer") == {
        "owner": ("fk", None),
        "user": ("o2o", "shop.models.User"),  # settings.AUTH_USER_MODEL: the project's User
        "notes": ("grel", "shop.models.Note"),
        "order_set": ("rfk", "shop.models.Order"),
        "profile": ("ro2o", "shop.models.Profile"),
    }
    assert rels(facts, "shop.models.Tag") == {"orders": ("rm2m", "shop.models.Order")}
    assert rels(facts, "shop.models.Note") == {"content_object": ("gfk", None)}
    assert facts["dj"]["shop.models.Order"]["r"]["lines"][2] == "order"  # the FK back to the parent
    assert facts["dj"]["shop.base.Owned"]["ab"] == 1
    # abstract bases give no reverse accessor of their own; the concrete ones get %(class)s
    assert set(facts["dj"]["shop.models.User"]["r"]) == {"customer"}


def test_a_field_name_can_be_a_charfield_on_one_model_and_a_foreignkey_on_another(tmp_path):
    facts = index(tmp_path, {
        "ship/__init__.py": "",
        "ship/models.py": """
from django.db import models

class Carrier(models.Model):
    name = models.CharField(max_length=20)

class Shipment(models.Model):
    carrier = models.CharField(max_length=20)

class ShippingRate(models.Model):
    carrier = models.ForeignKey(Carrier, on_delete=models.CASCADE)
""",
    })
    assert "carrier" not in facts["dj"]["ship.models.Shipment"]["r"]
    assert facts["dj"]["ship.models.ShippingRate"]["r"]["carrier"][:2] == ["fk", "ship.models.Carrier"]


def test_inheritance_across_files_and_multi_table(tmp_path):
    facts = index(tmp_path, {
        "core/__init__.py": "",
        "core/mixins.py": """
from django.db import models

class Tagged(models.Model):
    tags = models.ManyToManyField("core.Tag", blank=True)

    class Meta:
        abstract = True
""",
        "core/models/__init__.py": "from .places import Place, Restaurant, Tag\n",
        "core/models/places.py": """
from django.db import models
from core.mixins import Tagged

class Tag(models.Model):
    pass

class Place(Tagged):
    pass

class Restaurant(Place):
    chef = models.ForeignKey("core.Chef", on_delete=models.CASCADE)

class Chef(models.Model):
    pass
""",
    })
    assert rels(facts, "core.models.places.Restaurant")["tags"] == ("m2m", "core.models.places.Tag")
    assert rels(facts, "core.models.places.Place")["restaurant"] == ("ro2o", "core.models.places.Restaurant")
    assert rels(facts, "core.models.places.Chef")["restaurant_set"] == ("rfk", "core.models.places.Restaurant")


def test_managers_querysets_and_helpers(tmp_path):
    facts = index(tmp_path, {
        "shop/__init__.py": "",
        "shop/models.py": """
from django.db import models

class OrderQuerySet(models.QuerySet):
    def paid(self):
        return self.filter(paid=True)

class OrderManager(models.Manager.from_queryset(OrderQuerySet)):
    def get_queryset(self):
        return super().get_queryset().select_related("customer")

class Order(models.Model):
    objects = OrderManager()
    paid_ones = OrderQuerySet.as_manager()

def recent():
    qs = Order.objects.all()
    return qs.order_by("-id")
""",
    })
    assert facts["dj"]["shop.models.Order"]["m"] == {"objects": "shop.models.OrderManager",
                                                     "paid_ones": "shop.models.OrderQuerySet"}
    assert facts["cls"]["shop.models.OrderManager"]["qs"] == "shop.models.OrderQuerySet"
    assert "paid" in facts["qsm"]
    assert "shop.models.recent" in facts["fn"]


def test_sqlalchemy_mapped_classes(tmp_path):
    facts = index(tmp_path, {
        "app/__init__.py": "",
        "app/ext.py": "from flask_sqlalchemy import SQLAlchemy\ndb = SQLAlchemy()\n",
        "app/models.py": """
from typing import List, Optional
from sqlalchemy import Column, ForeignKey, Integer
from sqlalchemy.orm import DeclarativeBase, Mapped, backref, declarative_base, relationship
from sqlmodel import Field, Relationship, SQLModel
from .ext import db

Legacy = declarative_base()

class Base(DeclarativeBase):
    pass

class Parent(Base):
    __tablename__ = "parents"
    children: Mapped[List["Child"]] = relationship(back_populates="parent")
    eager = relationship("Child", lazy="joined")
    flagged = relationship("Child", lazy=True)
    joined = relationship("Child", lazy=False)

class Child(Base):
    __tablename__ = "children"
    parent: Mapped[Optional["Parent"]] = relationship(back_populates="children")

class Node(Legacy):
    __tablename__ = "nodes"
    id = Column(Integer, primary_key=True)
    edges = relationship("Edge", lazy="selectin", backref="node")
    marks = relationship("Mark", backref=backref("node", lazy="joined"))

class Edge(Legacy):
    __tablename__ = "edges"
    id = Column(Integer, primary_key=True)

class Mark(Legacy):
    __tablename__ = "marks"
    id = Column(Integer, primary_key=True)

class Author(db.Model):
    books = db.relationship("Book", backref="author", lazy="dynamic")

class Book(db.Model):
    id = db.Column(db.Integer, primary_key=True)

class Team(SQLModel, table=True):
    heroes: List["Hero"] = Relationship(back_populates="team")

class Hero(SQLModel, table=True):
    team: Optional[Team] = Relationship(back_populates="heroes", sa_relationship_kwargs={"lazy": "selectin"})
""",
    })
    assert rels(facts, "app.models.Parent", "sa") == {
        "children": ("app.models.Child", "select", "parent"),
        "eager": ("app.models.Child", "joined", None),
        "flagged": ("app.models.Child", "select", None),
        "joined": ("app.models.Child", "joined", None),
    }
    assert facts["sa"]["app.models.Parent"]["r"]["children"][2] is True  # Mapped[List[...]]
    assert facts["sa"]["app.models.Child"]["r"]["parent"][2] is False
    # a backref does not inherit the declaring side's lazy=
    assert rels(facts, "app.models.Edge", "sa") == {"node": ("app.models.Node", "select", "edges")}
    assert rels(facts, "app.models.Mark", "sa") == {"node": ("app.models.Node", "joined", "marks")}
    assert rels(facts, "app.models.Book", "sa") == {"author": ("app.models.Author", "select", "books")}
    assert rels(facts, "app.models.Author", "sa")["books"][1] == "dynamic"
    assert rels(facts, "app.models.Hero", "sa") == {"team": ("app.models.Team", "selectin", "heroes")}
    assert not facts["dj"]


def test_names_from_other_libraries_are_not_matched_by_class_name(tmp_path):
    facts = index(tmp_path, {
        "pos/__init__.py": "",
        "pos/models.py": """
from django.db import models
from django_otp.models import Device as OtpDevice

class Device(models.Model):
    pass

class WebAuthnDevice(OtpDevice):
    pass
""",
    })
    assert "pos.models.WebAuthnDevice" not in facts["dj"]
    assert "webauthndevice" not in facts["dj"]["pos.models.Device"]["r"]


def test_index_comes_from_the_cache_on_a_second_run(tmp_path, monkeypatch):
    write_project(tmp_path, {
        "shop/__init__.py": "",
        "shop/models.py": """
from django.db import models

class Customer(models.Model):
    pass

class Order(models.Model):
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE)
""",
        "shop/views.py": """
from .models import Order

def report():
    return [o.customer for o in Order.objects.all()]
""",
    })
    calls = []
    original = index_module.OrmModels.collect

    def counting(self, tree, relpath, module_name, source):
        calls.append(relpath)
        return original(self, tree, relpath, module_name, source)

    monkeypatch.setattr(index_module.OrmModels, "collect", counting)
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        first = run([Path(".")], Config(base=tmp_path), RunOptions(select=["BL401"], jobs=1, use_cache=True))
        assert sorted(calls) == ["shop/models.py", "shop/views.py"]
        assert (tmp_path / ".backendlint_cache" / "index.json").is_file()
        calls.clear()
        second = run([Path(".")], Config(base=tmp_path), RunOptions(select=["BL401"], jobs=1, use_cache=True))
        assert calls == []  # every file's part came from the cache
        assert [(d.path, d.line) for d in second.diagnostics] == [(d.path, d.line) for d in first.diagnostics]
        assert [d.line for d in first.diagnostics] == [5]
        # a changed models.py is collected again, and the relation is gone
        (tmp_path / "shop" / "models.py").write_text(
            "from django.db import models\n\nclass Order(models.Model):\n    customer = models.CharField(max_length=9)\n"
        )
        third = run([Path(".")], Config(base=tmp_path), RunOptions(select=["BL401"], jobs=1, use_cache=True))
        assert calls == ["shop/models.py"]
        assert third.diagnostics == []
    finally:
        os.chdir(cwd)


def test_the_shared_shop_and_app_through_the_reader(tmp_path):
    facts = index(tmp_path, {"shop/__init__.py": "", "shop/models.py": DJANGO_SHOP,
                             "app/__init__.py": "", "app/models.py": SQLALCHEMY_APP})
    reader = ModelIndex(facts)
    assert reader.model("shop.models.Order", "shop.views") == ("dj", "shop.models.Order")
    assert reader.model("?Post", "app.views") == ("sa", "app.models.Post")
    assert rels(facts, "shop.models.Order") == {
        "customer": ("fk", "shop.models.Customer"),
        "tags": ("m2m", "shop.models.Tag"),
        "content_object": ("gfk", None),
        "items": ("rfk", "shop.models.Item"),
    }
    assert reader.django_relation("shop.models.Order", "items").field == "order"  # the FK back
    assert rels(facts, "shop.models.Customer") == {
        "user": ("o2o", None),  # settings.AUTH_USER_MODEL, no project User
        "order_set": ("rfk", "shop.models.Order"),
        "profile": ("ro2o", "shop.models.Profile"),
    }
    assert rels(facts, "shop.models.Product")["parent"] == ("fk", "shop.models.Product")
    assert rels(facts, "shop.models.Product")["item_set"] == ("rfk", "shop.models.Item")
    assert rels(facts, "shop.models.Tag") == {"order_set": ("rm2m", "shop.models.Order")}
    assert reader.managers("shop.models.Order") == {"objects": "shop.models.OrderQuerySet"}
    assert reader.method("shop.models.OrderQuerySet", "paid")[1] == "shop.models.OrderQuerySet"
    assert reader.is_manager("shop.models.OrderQuerySet")
    assert "with_customer" in reader.queryset_methods
    assert rels(facts, "app.models.User", "sa")["posts"] == ("app.models.Post", "select", "author")
    assert rels(facts, "app.models.User", "sa")["profile"] == ("app.models.Profile", "joined", None)
    assert reader.sa_relationship("app.models.User", "profile").uselist is False
    assert rels(facts, "app.models.Audit", "sa")["user"] == ("app.models.User", "joined", "audits")  # backref
    assert rels(facts, "app.models.Role", "sa")["user"] == ("app.models.User", "select", "roles")
    assert reader.sa_relationship("app.models.User", "settings").lazy == "joined"  # lazy=False
    assert reader.sa_relationship("app.models.User", "audits").lazy == "select"  # lazy=True
