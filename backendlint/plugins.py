"""The built-in rules and fact collectors, installed into the engine.

The top floor: it imports ``backendlint.rules`` and ``backendlint.index`` (whose modules
register their fact collectors with ``backendlint.engine.facts.register``) and installs
the rule classes with ``backendlint.engine.registry.install``. The engine imports
neither, so no import circle runs through it. The command line calls ``load()``; so does
any program that drives the engine itself (the tests do it in ``conftest.py``).
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import List

_LOADED = False


def _modules(package) -> List[object]:
    return [importlib.import_module(f"{package.__name__}.{info.name}") for info in pkgutil.iter_modules(package.__path__)]


def load() -> None:
    """Register every built-in fact collector and install every built-in rule (once)."""
    global _LOADED
    if _LOADED:
        return
    import backendlint.index as index
    import backendlint.knowledge as knowledge
    import backendlint.rules as rules
    from backendlint.engine import registry
    from backendlint.engine.rule import Rule

    _modules(knowledge)  # collectors not yet moved to index/ register on import
    _modules(index)
    found = []
    for module in _modules(rules):
        for obj in vars(module).values():
            if isinstance(obj, type) and issubclass(obj, Rule) and obj.__module__ == module.__name__:
                found.append(obj)
    registry.install(found)
    _LOADED = True
