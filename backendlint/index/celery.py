"""Celery Task classes of the project: which retry settings each class sets, and its bases.

Lets a task's ``base=`` (and a Task subclass's parent) be read from another file. The
fact (kind ``celery_retry_task_classes``) maps a class's qualified name to its bases and
its own ``CeleryRetryConfig``; ``CeleryTaskClassIndex`` is the reader the rules use.
"""

from __future__ import annotations

import ast
from typing import Any, Dict, List, Optional, Set

from backendlint.engine.facts import FactCollector, register
from backendlint.engine.pyast import ast_dotted, file_bindings, resolve
from backendlint.knowledge.retry.celery import CeleryRetryConfig, ast_class_config, names_task_class

KIND = "celery_retry_task_classes"


def _module_names(relpath: str, module_name: str) -> List[str]:
    """The module's name, and its dotted path from the project root (namespace packages)."""
    names = [module_name]
    path = relpath[:-3] if relpath.endswith(".py") else relpath
    if path.endswith("/__init__"):
        path = path[: -len("/__init__")]
    dotted = path.replace("/", ".")
    if dotted and dotted != module_name and all(part.isidentifier() for part in dotted.split(".")):
        names.append(dotted)
    return names


@register
class CeleryTaskClasses(FactCollector):
    """Classes that set celery retry options: {qualified name: {"bases", "config"}}."""

    kind = KIND
    requires = ("max_retries", "autoretry_for", "retry_kwargs", ".retry(")
    version = 3  # 3: bases resolve through pyast.file_bindings (imports anywhere in the file)

    def collect(self, tree: ast.Module, relpath: str, module_name: str, source: str):
        is_package = relpath.endswith("__init__.py")
        bindings = file_bindings(tree, module_name, is_package)
        out = {}
        for node in tree.body:
            if not isinstance(node, ast.ClassDef):
                continue
            plain = [b.value if isinstance(b, ast.Subscript) else b for b in node.bases]
            bases = [b for b in (resolve(bindings, base) or ast_dotted(base) for base in plain) if b]
            config = ast_class_config(node)
            if bases or config.to_json():
                entry = {"bases": bases, "config": config.to_json()}
                for module in _module_names(relpath, module_name):
                    out[f"{module}.{node.name}" if module else node.name] = entry
        return out or None

    def merge(self, parts):
        merged: Dict[str, Any] = {}
        for relpath in sorted(parts):
            merged.update(parts[relpath])
        return merged


class CeleryTaskClassIndex:
    """Reads the merged fact: a class's bases and the retry settings it passes on."""

    def __init__(self, facts: Optional[Dict[str, Any]]):
        self.facts = facts or {}

    def bases(self, qualified: Optional[str]) -> List[str]:
        info = self.facts.get(qualified) if qualified else None
        return list(info.get("bases", [])) if info else []

    def own_config(self, qualified: Optional[str]) -> CeleryRetryConfig:
        info = self.facts.get(qualified) if qualified else None
        return CeleryRetryConfig.from_json(info.get("config", {})) if info else CeleryRetryConfig()

    def inherited(self, qualified: Optional[str], depth: int = 0, seen: Optional[Set[str]] = None) -> CeleryRetryConfig:
        """The retry config a class named ``qualified`` gives its tasks (its own settings,
        then its bases', nearest first)."""
        seen = seen if seen is not None else set()
        info = self.facts.get(qualified) if qualified else None
        if not info or depth > 8 or qualified in seen:
            return CeleryRetryConfig()
        seen.add(qualified)
        config = CeleryRetryConfig.from_json(info.get("config", {}))
        for base in info.get("bases", []):
            config = config.inherit(self.inherited(base, depth + 1, seen))
        return config

    def is_task_class(self, qualified: Optional[str], depth: int = 0) -> bool:
        """A celery Task by name, or a project class with one among its bases."""
        if not qualified or depth > 8:
            return False
        if names_task_class(qualified):
            return True
        info = self.facts.get(qualified)
        return bool(info) and any(self.is_task_class(b, depth + 1) for b in info.get("bases", []))
