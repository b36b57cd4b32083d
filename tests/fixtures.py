"""Shared model fixtures: one Django shop and one SQLAlchemy app.

Used by the BL401/BL402 tests and the model index tests instead of a copy per file.
``DJANGO_SHOP`` (``shop/models.py``): ForeignKey, OneToOneField (also to
``settings.AUTH_USER_MODEL``), ManyToManyField, GenericForeignKey, a ``"self"`` FK, a
``"shop.Order"`` string target with ``related_name``, reverse accessors (``order.items`` by
``related_name``, the default ``product.item_set``, the one-to-one ``customer.profile``), a custom
QuerySet used ``as_manager()``. ``SQLALCHEMY_APP`` (``app/models.py``): 2.0-style
``Mapped[...]`` relationships with ``back_populates``, ``lazy=`` in every spelling,
``uselist=False``, ``backref(...)`` with and without its own ``lazy``.
"""

DJANGO_SHOP = """
from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.db import models
from django.db.models import ForeignKey, ManyToManyField


class Customer(models.Model):
    name = models.CharField(max_length=50)
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)


class Carrier(models.Model):
    name = models.CharField(max_length=50)


class Tag(models.Model):
    name = models.CharField(max_length=20)


class OrderQuerySet(models.QuerySet):
    def paid(self):
        return self.filter(paid=True)

    def with_customer(self):
        return self.select_related("customer")


class Order(models.Model):
    customer = ForeignKey(Customer, on_delete=models.CASCADE)
    tags = ManyToManyField(Tag)
    paid = models.BooleanField(default=False)
    content_object = GenericForeignKey("content_type", "object_id")
    objects = OrderQuerySet.as_manager()


class Item(models.Model):
    order = models.ForeignKey("shop.Order", related_name="items", on_delete=models.CASCADE)
    product = models.ForeignKey("Product", on_delete=models.CASCADE)


class Product(models.Model):
    name = models.CharField(max_length=50)
    parent = models.ForeignKey("self", null=True, on_delete=models.SET_NULL)


class Shipment(models.Model):
    carrier = models.CharField(max_length=20)


class ShippingRate(models.Model):
    carrier = models.ForeignKey(Carrier, on_delete=models.CASCADE)


class Profile(models.Model):
    customer = models.OneToOneField(Customer, on_delete=models.CASCADE)
"""

SQLALCHEMY_APP = """
from typing import List, Optional
from sqlalchemy import ForeignKey
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, backref


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    posts: Mapped[List["Post"]] = relationship(back_populates="author")
    profile = relationship("Profile", uselist=False, lazy="joined")
    groups = relationship("Group", lazy="selectin")
    sessions = relationship("LoginSession", lazy="raise")
    settings = relationship("Setting", lazy=False)
    audits = relationship("Audit", lazy=True, backref=backref("user", lazy="joined"))
    roles = relationship("Role", lazy="subquery", backref="user")


class Post(Base):
    __tablename__ = "posts"
    id: Mapped[int] = mapped_column(primary_key=True)
    author_id = mapped_column(ForeignKey("users.id"))
    author: Mapped["User"] = relationship(back_populates="posts")


class Profile(Base):
    __tablename__ = "profiles"
    id: Mapped[int] = mapped_column(primary_key=True)


class Group(Base):
    __tablename__ = "groups"
    id: Mapped[int] = mapped_column(primary_key=True)


class LoginSession(Base):
    __tablename__ = "login_sessions"
    id: Mapped[int] = mapped_column(primary_key=True)


class Setting(Base):
    __tablename__ = "settings"
    id: Mapped[int] = mapped_column(primary_key=True)


class Audit(Base):
    __tablename__ = "audits"
    id: Mapped[int] = mapped_column(primary_key=True)


class Role(Base):
    __tablename__ = "roles"
    id: Mapped[int] = mapped_column(primary_key=True)
"""
