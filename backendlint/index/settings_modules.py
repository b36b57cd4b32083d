"""Which modules are Django settings: those ``DJANGO_SETTINGS_MODULE`` names.

A project fact (kind ``settings_modules``): the module names given to
``os.environ.setdefault("DJANGO_SETTINGS_MODULE", "...")`` or assigned to
``os.environ["DJANGO_SETTINGS_MODULE"]`` anywhere in the project (``manage.py``,
``wsgi.py``, ``asgi.py``, Celery apps). Settings modules not named ``settings.py`` nor in
a ``settings/`` package (``config/production.py``) are known this way.
"""

from __future__ import annotations

import ast
from typing import Dict, List, Optional

from backendlint.engine.facts import FactCollector, register
from backendlint.engine.pyast import nodes_of

FACT_KIND = "settings_modules"
FACTS = (FACT_KIND,)
_KEY = "DJANGO_SETTINGS_MODULE"


def _str(node: Optional[ast.AST]) -> Optional[str]:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


@register
class SettingsModules(FactCollector):
    kind = FACT_KIND
    requires = (_KEY,)
    version = 1

    def collect(self, tree: ast.Module, relpath: str, module_name: str, source: str):
        found: List[str] = []
        for node in nodes_of(tree, (ast.Call, ast.Assign)):
            if isinstance(node, ast.Call):
                # os.environ.setdefault("DJANGO_SETTINGS_MODULE", "proj.settings")
                if len(node.args) >= 2 and _str(node.args[0]) == _KEY and _str(node.args[1]):
                    found.append(_str(node.args[1]))
            else:
                for target in node.targets:
                    if isinstance(target, ast.Subscript) and _str(target.slice) == _KEY and _str(node.value):
                        found.append(_str(node.value))
        return sorted(set(found)) or None

    def merge(self, parts: Dict[str, List[str]]) -> List[str]:
        return sorted({name for part in parts.values() for name in part})


class SettingsModuleNames:
    """The reader: is a module one that ``DJANGO_SETTINGS_MODULE`` names?"""

    def __init__(self, merged: Optional[List[str]]):
        self._names = frozenset(merged or ())

    def __contains__(self, module_name: str) -> bool:
        return module_name in self._names


def settings_module_names(facts) -> SettingsModuleNames:
    return SettingsModuleNames(facts.get(FACT_KIND) if facts is not None else None)
