"""Django models and SQLAlchemy mapped classes: the words that make them.

Vocabulary only (read by the model index, ``backendlint.index.models``, and by the N+1
analysis): the relation field classes and their kinds, the bases that make a class a
model, manager or queryset, and the stdlib-ast predicates that recognise a relation
field, a ``relationship()`` or a column in a class body.
"""

from __future__ import annotations

import ast
from typing import Any, Optional, Tuple

from backendlint.engine.pyast import STATEMENT_FIELDS, AstImports, ast_dotted

# Django relation kinds, as the model index records them.
FK = "fk"  # ForeignKey
O2O = "o2o"  # OneToOneField
M2M = "m2m"  # ManyToManyField
GFK = "gfk"  # GenericForeignKey (contenttypes)
GREL = "grel"  # GenericRelation
RFK = "rfk"  # the reverse side of a ForeignKey (``order.items``, ``order.item_set``)
RO2O = "ro2o"  # the reverse side of a OneToOneField (and of multi-table inheritance)
RM2M = "rm2m"  # the reverse side of a ManyToManyField
REVERSE_KIND = {FK: RFK, O2O: RO2O, M2M: RM2M}

# Single-valued relations are loaded with select_related (a GenericForeignKey only with
# prefetch_related); many-valued ones with prefetch_related.
SINGLE = frozenset({FK, O2O, RO2O, GFK})
MANY = frozenset({M2M, RFK, RM2M, GREL})

RELATION_FIELDS = {
    "ForeignKey": FK,
    "OneToOneField": O2O,
    "ManyToManyField": M2M,
    "GenericForeignKey": GFK,
    "GenericRelation": GREL,
    "TreeForeignKey": FK,
    "TreeOneToOneField": O2O,
    "TreeManyToManyField": M2M,
    "ParentalKey": FK,
    "ParentalManyToManyField": M2M,
    "TaggableManager": M2M,
    "ClusterTaggableManager": M2M,
    "SortedManyToManyField": M2M,
}
RELATION_LIBS = ("django.", "mptt.", "modelcluster.", "taggit.", "sortedm2m.", "treebeard.")

# Bases that make a class a Django model (besides project models).
DJANGO_MODEL_BASES = frozenset(
    {
        "django.db.models.Model",
        "django.db.models.base.Model",
        "django.contrib.auth.models.AbstractUser",
        "django.contrib.auth.models.AbstractBaseUser",
        "django.contrib.auth.base_user.AbstractBaseUser",
        "django.contrib.auth.models.PermissionsMixin",
        "django.contrib.auth.models.User",
        "django.contrib.auth.models.Group",
        "django.contrib.sites.models.Site",
        "mptt.models.MPTTModel",
        "polymorphic.models.PolymorphicModel",
        "treebeard.mp_tree.MP_Node",
        "treebeard.ns_tree.NS_Node",
        "treebeard.al_tree.AL_Node",
        "modelcluster.models.ClusterableModel",
        "wagtail.models.Page",
        "wagtail.core.models.Page",
        "django_extensions.db.models.TimeStampedModel",
        "model_utils.models.TimeStampedModel",
    }
)
DJANGO_MANAGER_BASES = frozenset(
    {
        "django.db.models.Manager",
        "django.db.models.manager.Manager",
        "django.db.models.manager.BaseManager",
        "django.db.models.QuerySet",
        "django.db.models.query.QuerySet",
        "django.contrib.auth.models.UserManager",
        "django.contrib.auth.base_user.BaseUserManager",
        "mptt.managers.TreeManager",
        "mptt.querysets.TreeQuerySet",
        "polymorphic.managers.PolymorphicManager",
        "polymorphic.query.PolymorphicQuerySet",
    }
)
SA_BASES = frozenset(
    {
        "sqlalchemy.orm.DeclarativeBase",
        "sqlalchemy.orm.DeclarativeBaseNoMeta",
        "sqlalchemy.orm.decl_api.DeclarativeBase",
        "sqlmodel.SQLModel",
        "sqlmodel.main.SQLModel",
    }
)
CONTRIB_LABELS = frozenset({"auth", "contenttypes", "sites", "admin", "sessions", "flatpages", "redirects",
                             "taggit", "otp_totp", "otp_static", "django_celery_beat", "socialaccount", "account"})
SA_BASE_FACTORIES = ("declarative_base", "SQLAlchemy", "generate_base", "automap_base")
SA_LIBS = ("sqlalchemy", "sqlmodel", "flask_sqlalchemy")

# Names that make a function's return expression worth summarising.
QUERY_MARKERS = frozenset(
    {
        "objects", "_default_manager", "_base_manager", "get_queryset", "queryset",
        "all", "filter", "exclude", "order_by", "select_related", "prefetch_related",
        "annotate", "distinct", "only", "defer", "values", "values_list", "none", "using",
        "iterator", "alias", "union", "select_for_update", "fetch_mode",
        "query", "select", "options", "where", "filter_by", "scalars", "execute", "join",
        "get_object_or_404", "get_list_or_404",
    }
)


REFINING_METHODS = frozenset({"filter", "exclude", "order_by", "distinct", "annotate", "alias", "only", "defer",
                     "using", "none", "reverse", "select_for_update", "extra", "complex_filter", "all",
                     "filter_by", "where", "limit", "offset", "join", "outerjoin", "group_by", "having"})

COLLECTION_ANNOTATIONS = frozenset({"List", "list", "Set", "set", "Sequence", "Collection", "Iterable", "FrozenSet", "frozenset", "MutableSequence", "MutableSet", "AbstractSet"})

# What a lazy= setting becomes once normalised: relationship(lazy=True) is "select".
def norm_lazy(lazy: Any) -> str:
    if lazy is True:
        return "select"
    if lazy is False:
        return "joined"
    if lazy is None:
        return "noload"
    return str(lazy)


def last_part(dotted: Optional[str]) -> str:
    """``Model`` of ``models.Model`` / ``?models.Model`` (``""`` for None)."""
    return (dotted or "").rsplit(".", 1)[-1].lstrip("?")


# TODO(merge): a stdlib-ast helper; belongs in engine/pyast.py (tests/test_engine.py
# imports it from here).
def _returns_value(fn: ast.AST) -> bool:
    """A ``return <value>`` anywhere in the function, nested definitions included (as
    ``ast.walk`` finds them). Only statement lists are walked: a return is a statement."""
    stack = list(fn.body)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Return):
            if node.value is not None:
                return True
            continue
        for name in STATEMENT_FIELDS:
            value = getattr(node, name, None)
            if type(value) is list:
                stack.extend(value)
    return False


def is_relationship_call(call: ast.Call, imports: AstImports) -> bool:
    dotted = ast_dotted(call.func)
    if not dotted:
        return False
    last = last_part(dotted)
    if last not in ("relationship", "relation", "Relationship"):
        return False
    q = imports.resolve(dotted)
    if q is None:
        return "." in dotted or last in ("relationship", "Relationship")  # db.relationship
    return q.startswith(("sqlalchemy", "sqlmodel", "flask_sqlalchemy")) or "." in dotted



def is_sa_column(call: ast.Call, imports: AstImports) -> bool:
    dotted = ast_dotted(call.func)
    last = last_part(dotted)
    if last not in ("Column", "mapped_column", "column_property", "synonym", "deferred", "composite"):
        return False
    if last == "mapped_column":
        return True
    q = imports.resolve(dotted) or ""
    return q.startswith(SA_LIBS) or dotted in ("db.Column", "sa.Column")


def dj_field_kind(callee: Optional[str]) -> Optional[str]:
    """The relation callee worth recording (a qualified or ``?`` name), or None."""
    if not callee:
        return None
    last = last_part(callee)
    if last in RELATION_FIELDS:
        return callee
    if any(tok in last for tok in ("ForeignKey", "OneToOne", "ManyToMany", "GenericRelation", "ParentalKey")):
        return callee
    if not callee.startswith(("django.", "?models.")) and (last.endswith("Key") or last.endswith("Field") or last.endswith("Relation")):
        # A project field class: kept in case it subclasses ForeignKey & co.
        return callee
    return None


# -- relation fields (stdlib ast) --------------------------------------------------------
def const_str(node: Optional[ast.AST]) -> Optional[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def keyword_value(call: ast.Call, name: str) -> Optional[ast.AST]:
    for k in call.keywords:
        if k.arg == name:
            return k.value
    return None


def dj_target_ref(node: Optional[ast.AST], imports: AstImports) -> Optional[str]:
    if node is None:
        return None
    text = const_str(node)
    if text is not None:
        return "s:" + text
    dotted = ast_dotted(node)
    if dotted and dotted.endswith("AUTH_USER_MODEL"):
        return "u:"
    if dotted:
        return "q:" + imports.ref(dotted)
    return None




def annotation_target(node: Optional[ast.AST], imports: AstImports, depth: int = 0) -> Tuple[Optional[str], Optional[bool], Optional[str]]:
    """(target, uselist, lazy hint) from ``Mapped[List["Child"]]``-style annotations."""
    if node is None or depth > 6:
        return None, None, None
    text = const_str(node)
    if text is not None:
        try:
            parsed = ast.parse(text, mode="eval").body
        except SyntaxError:
            return None, None, None
        return annotation_target(parsed, imports, depth + 1)
    if isinstance(node, ast.BinOp):  # "Parent | None"
        for side in (node.left, node.right):
            if not (isinstance(side, ast.Constant) and side.value is None):
                return annotation_target(side, imports, depth + 1)
        return None, None, None
    if isinstance(node, ast.Subscript):
        head = last_part(ast_dotted(node.value))
        inner = node.slice
        if isinstance(inner, ast.Tuple) and inner.elts:
            inner = inner.elts[0]
        if head in ("Mapped", "Optional", "Annotated"):
            return annotation_target(inner, imports, depth + 1)
        if head in ("DynamicMapped",):
            t, _, _ = annotation_target(inner, imports, depth + 1)
            return t, True, "dynamic"
        if head in ("WriteOnlyMapped",):
            t, _, _ = annotation_target(inner, imports, depth + 1)
            return t, True, "write_only"
        if head in COLLECTION_ANNOTATIONS:
            t, _, _ = annotation_target(inner, imports, depth + 1)
            return t, True, None
        if head == "Union":
            elts = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
            for e in elts:
                if not (isinstance(e, ast.Constant) and e.value is None):
                    return annotation_target(e, imports, depth + 1)
        return None, None, None
    dotted = ast_dotted(node)
    if dotted and last_part(dotted) not in ("None", "Any"):
        return "q:" + imports.ref(dotted), False, None
    return None, None, None


def lazy_value(node: Optional[ast.AST]) -> Optional[Any]:
    if isinstance(node, ast.Constant) and (isinstance(node.value, (str, bool)) or node.value is None):
        return node.value
    return "?"  # not a constant: unknown


def sa_relationship(call: ast.Call, ann: Optional[ast.AST], imports: AstImports) -> list:
    """[target, lazy, uselist, backref, backref_lazy, back_populates] of relationship()."""
    inner = keyword_value(call, "sa_relationship")
    if isinstance(inner, ast.Call):
        rel = sa_relationship(inner, ann, imports)
        if rel[0] is None:
            rel[0] = annotation_target(ann, imports)[0]
        return rel
    target = None
    first = call.args[0] if call.args else keyword_value(call, "argument")
    if isinstance(first, ast.Lambda):
        first = first.body
    if first is not None:
        text = const_str(first)
        if text is not None:
            target = "s:" + text
        else:
            dotted = ast_dotted(first)
            if dotted:
                target = "q:" + imports.ref(dotted)
    ann_target, ann_list, ann_lazy = annotation_target(ann, imports)
    if target is None:
        target = ann_target
    lazy: Any = "select"
    if ann_lazy:
        lazy = ann_lazy
    lazy_node = keyword_value(call, "lazy")
    kwargs = keyword_value(call, "sa_relationship_kwargs")
    if lazy_node is None and isinstance(kwargs, ast.Dict):
        for k, v in zip(kwargs.keys, kwargs.values):
            if const_str(k) == "lazy":
                lazy_node = v
    if lazy_node is not None:
        lazy = lazy_value(lazy_node)
    uselist = None
    ul = keyword_value(call, "uselist")
    if isinstance(ul, ast.Constant) and isinstance(ul.value, bool):
        uselist = ul.value
    elif ann_list is not None:
        uselist = ann_list
    backref = backref_lazy = None
    br = keyword_value(call, "backref")
    if br is not None:
        text = const_str(br)
        if text is not None:
            backref, backref_lazy = text, "select"
        elif isinstance(br, ast.Call) and br.args:
            backref = const_str(br.args[0])
            bl = keyword_value(br, "lazy")
            backref_lazy = "select" if bl is None else lazy_value(bl)
    back_populates = const_str(keyword_value(call, "back_populates"))
    return [target, lazy, uselist, backref, backref_lazy, back_populates]
