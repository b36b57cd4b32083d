"""Django settings read from the project's settings modules (fact ``django_settings``):
which database aliases turn ATOMIC_REQUESTS on. What counts as a settings module and how
the setting is spelled: ``knowledge.settings``.

Reader: ``DjangoSettingsFacts.of(facts)``.
"""

from __future__ import annotations

import ast
from typing import Dict, FrozenSet, NamedTuple, Optional, Set

from backendlint.engine.facts import FactCollector, register
from backendlint.engine.pyast import nodes_of
from backendlint.knowledge.settings import FACT_KIND, KEY, is_settings_module


def _is_false(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and node.value in (False, None, 0, "", "false", "False", "0")


def _const_str(node: ast.AST) -> Optional[str]:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _alias_of_target(node: ast.expr) -> str:
    """``DATABASES["default"]["ATOMIC_REQUESTS"]`` -> "default"; unknown -> "*"."""
    if isinstance(node, ast.Subscript):
        alias = _const_str(node.slice)
        if alias is not None:
            return alias
    return "*"


@register
class DjangoSettings(FactCollector):
    """Part per settings file: {"atomic_requests": {alias: bool}}.

    Merged: {"atomic_requests": [aliases where some settings module turns it on]}
    ("*" when the database alias could not be told).
    """

    kind = FACT_KIND
    requires = (KEY,)
    version = 1

    def wants(self, relpath: str, source: str) -> bool:
        return is_settings_module(relpath) and KEY in source

    def collect(self, tree: ast.Module, relpath: str, module_name: str, source: str):
        found: Dict[str, bool] = {}

        def note(alias: str, value: ast.expr) -> None:
            on = not _is_false(value)
            found[alias] = found.get(alias, False) or on

        # Dict literals: {"default": {..., "ATOMIC_REQUESTS": True}} -> alias from the
        # enclosing dict's key when there is one.
        parents: Dict[int, str] = {}
        for node in nodes_of(tree, ast.Dict):
            if isinstance(node, ast.Dict):
                for key, value in zip(node.keys, node.values):
                    name = _const_str(key) if key is not None else None
                    if isinstance(value, ast.Dict) and name is not None:
                        parents[id(value)] = name
        for node in nodes_of(tree, (ast.Dict, ast.Call, ast.Assign)):
            if isinstance(node, ast.Dict):
                for key, value in zip(node.keys, node.values):
                    if key is not None and _const_str(key) == KEY:
                        note(parents.get(id(node), "*"), value)
            elif isinstance(node, ast.Call):
                # dict(ATOMIC_REQUESTS=True, ...)
                for kw in node.keywords:
                    if kw.arg == KEY:
                        note("*", kw.value)
            elif isinstance(node, ast.Assign):
                for target in node.targets:
                    if isinstance(target, ast.Subscript) and _const_str(target.slice) == KEY:
                        note(_alias_of_target(target.value), node.value)
                    # A plain ``ATOMIC_REQUESTS = True`` (ast.Name target) is ignored.
        if not found:
            return None
        return {"atomic_requests": found}

    def merge(self, parts):
        aliases: Set[str] = set()
        for part in parts.values():
            for alias, on in (part.get("atomic_requests") or {}).items():
                if on:
                    aliases.add(alias)
        return {"atomic_requests": sorted(aliases)}


class DjangoSettingsFacts(NamedTuple):
    """The merged ``django_settings`` fact."""

    atomic_requests: FrozenSet[str]  # aliases ("*": alias not told) with ATOMIC_REQUESTS on

    @classmethod
    def of(cls, facts) -> "DjangoSettingsFacts":
        data = (facts.get(FACT_KIND) if facts is not None else None) or {}
        return cls(frozenset(data.get("atomic_requests") or ()))

    def atomic_requests_aliases(self) -> FrozenSet[str]:
        """Database aliases whose ATOMIC_REQUESTS some settings module turns on."""
        return self.atomic_requests
