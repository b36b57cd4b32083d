"""Outbound-call timeouts known from the whole project (fact ``outbound_timeouts``):
project ``requests.Session`` subclasses whose code mentions a timeout, session factories
and module-level sessions, ``socket.setdefaulttimeout`` calls, Celery time limits. Read
by BL501 through ``Sessions`` (``sessions(facts)``)."""

from __future__ import annotations

import ast
from typing import Any, Dict, Iterable, List, Optional

from backendlint.engine.facts import FactCollector, register
from backendlint.engine.pyast import AstImports, ast_dotted, nodes_of
from backendlint.knowledge.paths import is_test_path
from backendlint.knowledge.timeouts import (  # noqa: F401 - the vocabulary
    ALL_SESSIONS,
    CELERY_GLOBAL_LIMITS,
    CELERY_TASK_LIMITS,
    FACT_KIND,
    mentions_timeout,
)

@register
class OutboundTimeouts(FactCollector):
    """Per file: classes whose code mentions a timeout (a ``request()``/``send()``
    override that sets a default, a timeout adapter), functions that return a
    ``requests.Session`` (factories) and module-level sessions, ``socket.setdefaulttimeout``
    calls outside tests, Celery time limits (global settings, per task decorator)."""

    kind = FACT_KIND
    requires = ("requests", "timeout", "Timeout", "TIME_LIMIT", "time_limit")
    version = 1

    def collect(self, tree: ast.Module, relpath: str, module_name: str, source: str):
        imports = AstImports(module_name, relpath.endswith("__init__.py"))
        for node in nodes_of(tree, (ast.Import, ast.ImportFrom)):
            imports.add(node)
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                imports.local(node.name)
        # A file in a namespace package (no __init__.py) is imported by its path from the
        # root ("app.http") but named by its directory ("http"): key it both ways.
        by_path = relpath[:-3].replace("/", ".") if relpath.endswith(".py") else ""
        if by_path.endswith(".__init__"):
            by_path = by_path[: -len(".__init__")]
        prefixes = [f"{module_name}." if module_name else ""]
        if by_path and by_path != module_name:
            prefixes.append(by_path + ".")
        lines = source.splitlines()
        part: Dict[str, Any] = {}

        def text_of(node: ast.AST) -> str:
            end = getattr(node, "end_lineno", None) or node.lineno
            return "\n".join(lines[node.lineno - 1:end])

        def is_session_ctor(value: Optional[ast.AST]) -> bool:
            return isinstance(value, ast.Call) and imports.resolve(ast_dotted(value.func)) in ALL_SESSIONS

        timeout_classes, factories, instances, capped = [], {}, {}, []
        for node in tree.body:
            if isinstance(node, ast.ClassDef):
                if mentions_timeout(text_of(node)):
                    timeout_classes.extend(prefix + node.name for prefix in prefixes)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                if _returns_session(node, is_session_ctor):
                    for prefix in prefixes:
                        factories[prefix + node.name] = mentions_timeout(text_of(node))
                for dec in node.decorator_list:
                    if isinstance(dec, ast.Call) and any(k.arg in CELERY_TASK_LIMITS for k in dec.keywords):
                        capped.extend(prefix + node.name for prefix in prefixes)
            elif isinstance(node, (ast.Assign, ast.AnnAssign)) and is_session_ctor(node.value):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for t in targets:
                    if isinstance(t, ast.Name):
                        for prefix in prefixes:
                            instances[prefix + t.id] = False
        if not is_test_path(relpath) and "setdefaulttimeout" in source:
            for call in nodes_of(tree, (ast.Call,)):
                if imports.resolve(ast_dotted(call.func)) == "socket.setdefaulttimeout" and not (
                    call.args and isinstance(call.args[0], ast.Constant) and call.args[0].value is None
                ):
                    part["sd"] = f"{relpath}:{call.lineno}"
                    break
        if ("TIME_LIMIT" in source or "time_limit" in source) and _global_celery_limit(tree):
            part["cl"] = relpath
        if timeout_classes:
            part["tc"] = timeout_classes
        if factories:
            part["fa"] = factories
        if instances:
            part["in"] = instances
        if capped:
            part["ca"] = capped
        return part or None

    def merge(self, parts: Dict[str, Any]) -> Dict[str, Any]:
        out: Dict[str, Any] = {"timeout_classes": [], "factories": {}, "instances": {}, "capped_tasks": [],
                               "setdefaulttimeout": "", "celery_limit": ""}
        for relpath in sorted(parts):
            part = parts[relpath]
            out["timeout_classes"].extend(part.get("tc", ()))
            out["factories"].update(part.get("fa", {}))
            out["instances"].update(part.get("in", {}))
            out["capped_tasks"].extend(part.get("ca", ()))
            if part.get("sd") and not out["setdefaulttimeout"]:
                out["setdefaulttimeout"] = part["sd"]
            if part.get("cl") and not out["celery_limit"]:
                out["celery_limit"] = part["cl"]
        return out


def _returns_session(fn: ast.AST, is_session_ctor) -> bool:
    names = set()
    returns = []
    for node in ast.walk(fn):
        if isinstance(node, ast.Assign) and is_session_ctor(node.value):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.withitem) and is_session_ctor(node.context_expr):
            if isinstance(node.optional_vars, ast.Name):
                names.add(node.optional_vars.id)
        elif isinstance(node, ast.Return) and node.value is not None:
            returns.append(node.value)
    return any(is_session_ctor(v) or (isinstance(v, ast.Name) and v.id in names) for v in returns)


def _global_celery_limit(tree: ast.Module) -> bool:
    """``CELERY_TASK_TIME_LIMIT = 300`` (settings), ``app.conf.task_time_limit = 300``,
    ``app.conf.update(task_time_limit=300)`` / ``Celery(..., task_time_limit=300)``."""
    for node in ast.walk(tree):
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                name = t.id if isinstance(t, ast.Name) else t.attr if isinstance(t, ast.Attribute) else None
                if name in CELERY_GLOBAL_LIMITS and not _is_none(node.value):
                    return True
        elif isinstance(node, ast.Call):
            for k in node.keywords:
                if k.arg in CELERY_GLOBAL_LIMITS and not _is_none(k.value):
                    return True
        elif isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values):
                if isinstance(key, ast.Constant) and key.value in CELERY_GLOBAL_LIMITS and not _is_none(value):
                    return True
    return False


def _is_none(value: Optional[ast.AST]) -> bool:
    return value is None or (isinstance(value, ast.Constant) and value.value is None)


class Sessions:
    """What the project facts say about sessions (built once per run)."""

    def __init__(self, facts):
        data = (facts.get(FACT_KIND) if facts is not None else None) or {}
        summaries = (facts.get("effect_summaries") if facts is not None else None) or {}
        self.classes: Dict[str, List[str]] = summaries.get("classes", {})
        self.timeout_classes = frozenset(data.get("timeout_classes", ()))
        self.factories: Dict[str, bool] = data.get("factories", {})
        self.instances: Dict[str, bool] = data.get("instances", {})
        self.capped_tasks = frozenset(data.get("capped_tasks", ()))
        self.setdefaulttimeout: str = data.get("setdefaulttimeout", "")
        self.celery_limit: str = data.get("celery_limit", "")
        self._subclass: Dict[str, Optional[bool]] = {}

    def session_subclass(self, qualified: str) -> Optional[bool]:
        """For a project class: None when it is not a ``requests.Session`` subclass, else
        whether it (or a project class between it and Session) mentions a timeout."""
        if qualified in self._subclass:
            return self._subclass[qualified]
        found: Optional[bool] = None
        todo, seen, mentions = [qualified], set(), False
        while todo and len(seen) < 16:
            cls = todo.pop()
            if cls in seen:
                continue
            seen.add(cls)
            if cls in ALL_SESSIONS:
                found = True
                continue
            if cls not in self.classes:
                continue
            if cls in self.timeout_classes:
                mentions = True
            todo.extend(self.classes[cls])
        result = None if found is None else mentions
        self._subclass[qualified] = result
        return result

    def names(self) -> Iterable[str]:
        """Identifiers that may name a project session (for the prefilter)."""
        for key in list(self.factories) + list(self.instances):
            yield key.rsplit(".", 1)[-1]
        for cls in self.classes:
            if self.session_subclass(cls) is not None:
                yield cls.rsplit(".", 1)[-1]


def sessions(facts) -> Sessions:
    memo = getattr(facts, "memo", None)
    if memo is not None and "timeouts.sessions" in memo:
        return memo["timeouts.sessions"]
    found = Sessions(facts)
    if memo is not None:
        memo["timeouts.sessions"] = found
    return found
