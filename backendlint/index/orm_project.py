"""Which ORMs the project uses, and the names of Django related managers (fact
``orm_project``, read by ``knowledge.orm.file_flavour`` and BL301's call graph).

A reader, ``OrmProjectFacts.of(facts)``, gives the merged fact's parts by name.
"""

from __future__ import annotations

import ast
from typing import FrozenSet, List, NamedTuple, Set

from backendlint.engine.facts import FactCollector, register
from backendlint.engine.pyast import nodes_of
from backendlint.knowledge.orm import FACT_KIND

_REL_FIELDS = {"ManyToManyField", "TaggableManager", "ForeignKey", "OneToOneField", "GenericRelation",
               "ParentalKey", "TreeForeignKey", "TreeManyToManyField", "SortedManyToManyField"}
# These relations are not written through when .add()ed (modelcluster defers to save()).
_DEFERRED = {"ParentalManyToManyField", "ClusterTaggableManager"}


def _imported_roots(tree: ast.Module) -> Set[str]:
    roots: Set[str] = set()
    for node in nodes_of(tree, (ast.Import, ast.ImportFrom)):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".", 1)[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            roots.add(node.module.split(".", 1)[0])
    return roots


@register
class OrmProject(FactCollector):
    """Which ORMs the project uses, and the names of Django related managers.

    Part per file: {"django": bool, "sqlalchemy": bool, "relations": [names]}.
    Merged: {"django": bool, "sqlalchemy": bool, "relations": sorted names}, where
    relations are many-to-many fields, ``related_name``s and the default
    ``<model>_set`` accessors of the project's models.
    """

    kind = FACT_KIND
    requires = ("django", "sqlalchemy", "sqlmodel", "flask_sqlalchemy", "ManyToMany", "related_name",
                "ForeignKey", "TaggableManager", "GenericRelation")
    version = 2

    def collect(self, tree: ast.Module, relpath: str, module_name: str, source: str):
        # Real import statements only: an import written inside a string (a test's
        # source snippet, a docstring) says nothing about the project.
        imported = _imported_roots(tree)
        django = bool(imported & {"django", "rest_framework"})
        sqlalchemy = bool(imported & {"sqlalchemy", "flask_sqlalchemy", "sqlmodel", "alembic"})
        relations: Set[str] = set()
        if "ManyToMany" in source or "related_name" in source or "ForeignKey" in source or "Taggable" in source \
                or "GenericRelation" in source or "OneToOne" in source:
            for node in nodes_of(tree, ast.ClassDef):
                for stmt in node.body:
                    targets: List[ast.expr] = []
                    value = None
                    if isinstance(stmt, ast.Assign):
                        targets, value = stmt.targets, stmt.value
                    elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
                        targets, value = [stmt.target], stmt.value
                    if not isinstance(value, ast.Call):
                        continue
                    field = _call_name(value.func)
                    if field in _DEFERRED:
                        continue
                    if field not in _REL_FIELDS:
                        continue
                    if field in ("ManyToManyField", "TaggableManager", "GenericRelation", "TreeManyToManyField",
                                 "SortedManyToManyField"):
                        for target in targets:
                            if isinstance(target, ast.Name):
                                relations.add(target.id)
                    for kw in value.keywords:
                        if kw.arg == "related_name" and isinstance(kw.value, ast.Constant) and isinstance(kw.value.value, str):
                            name = kw.value.value
                            if name and name != "+" and not name.endswith("+"):
                                relations.add(name)
                    if field in ("ForeignKey", "ParentalKey", "TreeForeignKey") and not any(
                        kw.arg == "related_name" for kw in value.keywords
                    ):
                        relations.add(f"{node.name.lower()}_set")
        if not (django or sqlalchemy or relations):
            return None
        return {"django": django, "sqlalchemy": sqlalchemy, "relations": sorted(relations)}

    def merge(self, parts):
        django = any(p.get("django") for p in parts.values())
        sqlalchemy = any(p.get("sqlalchemy") for p in parts.values())
        relations: Set[str] = set()
        for part in parts.values():
            relations.update(part.get("relations") or ())
        # Django's auth models.
        if django:
            relations.update(("groups", "user_permissions", "permissions"))
        return {"django": django, "sqlalchemy": sqlalchemy, "relations": sorted(relations)}


def _call_name(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return ""


class OrmProjectFacts(NamedTuple):
    """The merged ``orm_project`` fact."""

    django: bool
    sqlalchemy: bool
    relations: FrozenSet[str]

    @classmethod
    def of(cls, facts) -> "OrmProjectFacts":
        data = (facts.get(FACT_KIND) if facts is not None else None) or {}
        return cls(bool(data.get("django")), bool(data.get("sqlalchemy")), frozenset(data.get("relations") or ()))
