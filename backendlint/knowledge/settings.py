"""Django settings: facts read from the project's settings modules.

A settings module is a file named ``settings.py`` (also ``settings_<env>.py`` /
``<env>_settings.py``) or any module inside a ``settings/`` package; test settings
(``test_settings.py``, ``settings/test.py``...) are left out, since they never
serve requests.

ATOMIC_REQUESTS: Django reads it per database, from ``DATABASES = {"default": {...,
"ATOMIC_REQUESTS": True}}`` or ``DATABASES["default"]["ATOMIC_REQUESTS"] = True`` (also a
dict built earlier and put into DATABASES, or ``.update({"ATOMIC_REQUESTS": True})``).
A top-level ``ATOMIC_REQUESTS = True`` is not a Django setting (Django ignores it), so
it is ignored here too. A value that is not literally false (``env.bool(...)``) counts
as on: it may be on, and a rule must not claim the opposite.
"""

from __future__ import annotations

import ast
from typing import Dict, List, Optional, Set

from backendlint.engine.facts import FactCollector, nodes_of, register

FACT_KIND = "django_settings"
FACTS = (FACT_KIND,)
KEY = "ATOMIC_REQUESTS"


def is_settings_module(relpath: str) -> bool:
    parts = relpath.replace("\\", "/").split("/")
    name = parts[-1]
    if not name.endswith(".py"):
        return False
    stem = name[:-3]
    if "test" in stem.lower() or any(p in ("tests", "test") for p in parts[:-1]):
        return False
    if stem == "settings" or stem.startswith("settings_") or stem.endswith("_settings"):
        return True
    return "settings" in parts[:-1]


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


def atomic_requests_aliases(facts) -> List[str]:
    """Database aliases whose ATOMIC_REQUESTS some settings module turns on."""
    data = (facts.get(FACT_KIND) if facts is not None else None) or {}
    return list(data.get("atomic_requests") or ())
