"""Celery retries: a task's or Task class's retry settings and when they retry forever.

``Task.max_retries`` defaults to 3; ``None`` retries forever. ``Task.retry`` treats
``max_retries=None`` as "use the task's limit", and autoretry passes ``retry_kwargs`` to
``Task.retry``, so ``self.retry(max_retries=None)`` and ``retry_kwargs={"max_retries":
None}`` are only unbounded when the task's own ``max_retries`` is None.

The settings are read from LibCST (the rule, in the file it checks) and from the stdlib
``ast`` (the project index, ``backendlint.index.celery``, for base classes in other
files): each ``ast_*`` reader sits beside its LibCST twin (tests/test_twins_retry.py).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Set, Tuple

import libcst as cst

from backendlint.knowledge.retry import AUTORETRY, SELF_RETRY, UNBOUNDED, WAIT_ALWAYS, RetryPolicy
from backendlint.syntax.calls import CallArgs
from backendlint.syntax.literals import is_none
from backendlint.syntax.names import dotted_name, last_name, positional_params
from backendlint.syntax.scopes import Scopes
from backendlint.syntax.walk import statements, walk_local

CELERY_TASK_BASES = frozenset({"celery.Task", "celery.app.task.Task", "celery.app.Task", "celery.task.Task"})
# Last names of the decorators that make a task (``@app.task(...)``, ``@shared_task(...)``).
TASK_DECORATORS = frozenset({"task", "shared_task"})
# Names through which a task function reaches its own Task (``self`` when bound, too).
CURRENT_TASK = frozenset({"current_task", "celery.current_task"})
MAX_RETRIES = "max_retries"
AUTORETRY_FOR = "autoretry_for"
RETRY_KWARGS = "retry_kwargs"
RETRY_METHOD = "retry"


def names_task_class(qualified: str) -> bool:
    """A celery Task base by name: celery's own, or any class whose name ends in ``Task``."""
    return qualified in CELERY_TASK_BASES or qualified.rsplit(".", 1)[-1].endswith("Task")


@dataclass
class CeleryRetryConfig:
    """Retry settings of a task or Task class: None means "not set here".

    ``max_retries``: "none" / "set". ``autoretry``: True when autoretry_for is non-empty.
    ``retry_kwargs_max``: "none" / "set" / "unknown". ``self_retry``: "unbounded" when a
    method calls ``self.retry(...)`` without a max_retries of its own.
    """

    max_retries: Optional[str] = None
    autoretry: Optional[bool] = None
    retry_kwargs_max: Optional[str] = None
    self_retry: Optional[str] = None

    def inherit(self, parent: "CeleryRetryConfig") -> "CeleryRetryConfig":
        return CeleryRetryConfig(
            self.max_retries if self.max_retries is not None else parent.max_retries,
            self.autoretry if self.autoretry is not None else parent.autoretry,
            self.retry_kwargs_max if self.retry_kwargs_max is not None else parent.retry_kwargs_max,
            self.self_retry if self.self_retry is not None else parent.self_retry,
        )

    def to_json(self) -> Dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}

    @classmethod
    def from_json(cls, data: Dict[str, Any]) -> "CeleryRetryConfig":
        return cls(data.get("max_retries"), data.get("autoretry"), data.get("retry_kwargs_max"), data.get("self_retry"))

    @property
    def autoretries_forever(self) -> bool:
        """autoretry, and retry_kwargs leave the limit to max_retries."""
        return bool(self.autoretry) and self.retry_kwargs_max not in ("set", "unknown")

    @property
    def retries_forever(self) -> bool:
        if self.max_retries != "none":
            return False
        return self.autoretries_forever or self.self_retry == "unbounded"


# -- the settings, read from LibCST ------------------------------------------------------


def kind_of_max(value: cst.CSTNode) -> str:
    return "none" if is_none(value) else "set"


def autoretry_of(value: cst.CSTNode) -> bool:
    if isinstance(value, (cst.Tuple, cst.List)):
        return bool(value.elements)
    return not is_none(value)


def retry_kwargs_max(value: cst.CSTNode) -> Optional[str]:
    if not isinstance(value, cst.Dict):
        if isinstance(value, cst.Call) and last_name(value.func) == "dict":
            args = CallArgs.of(value)
            if MAX_RETRIES in args.keywords:
                return kind_of_max(args.keywords[MAX_RETRIES])
            return "unknown" if (args.star_kwargs or args.positional) else None
        return "unknown"
    for element in value.elements:
        if isinstance(element, cst.StarredDictElement):
            return "unknown"
        key = element.key
        if isinstance(key, cst.SimpleString) and key.evaluated_value == MAX_RETRIES:
            return kind_of_max(element.value)
    return None


def retry_calls(body: cst.CSTNode, receivers: Set[str]) -> List[cst.Call]:
    """``<receiver>.retry(...)`` calls in a function body (celery's Task.retry)."""
    out = []
    for node in walk_local(body):
        if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) and node.func.attr.value == RETRY_METHOD:
            if dotted_name(node.func.value) in receivers:
                out.append(node)
    return out


def self_retry_state(calls: List[cst.Call]) -> Optional[str]:
    """"unbounded" if one call lets the task's max_retries decide, "bounded" if all override."""
    if not calls:
        return None
    for call in calls:
        args = CallArgs.of(call)
        given, value = args.get(MAX_RETRIES)
        if not given and not args.star_kwargs:
            return "unbounded"
        if given and is_none(value):
            return "unbounded"
    return "bounded"


def class_config(node: cst.ClassDef) -> Tuple[CeleryRetryConfig, Dict[str, cst.CSTNode]]:
    """The retry settings a class body sets, and the node that sets each (``max_retries``,
    ``autoretry_for``: the assignment; ``self_retry``: the name of the method that calls
    ``self.retry()`` without a limit). Twin: ``ast_class_config``."""
    own = CeleryRetryConfig()
    anchors: Dict[str, cst.CSTNode] = {}
    for stmt in statements(node.body):
        if isinstance(stmt, cst.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0].target, cst.Name):
            name = stmt.targets[0].target.value
            if name == MAX_RETRIES:
                own.max_retries = kind_of_max(stmt.value)
                anchors[name] = stmt
            elif name == AUTORETRY_FOR:
                own.autoretry = autoretry_of(stmt.value)
                anchors[name] = stmt
            elif name == RETRY_KWARGS:
                own.retry_kwargs_max = retry_kwargs_max(stmt.value)
        elif isinstance(stmt, cst.FunctionDef):
            params = positional_params(stmt)
            if params:
                state = self_retry_state(retry_calls(stmt.body, {params[0]}))
                if state and own.self_retry != "unbounded":
                    own.self_retry = state
                    if state == "unbounded":
                        anchors["self_retry"] = stmt.name
    return own, anchors


# -- the twins, read from the standard library's ast (for the project index) --------------


def _ast_is_none(node: Optional[ast.AST]) -> bool:
    return isinstance(node, ast.Constant) and node.value is None


def ast_class_config(node: ast.ClassDef) -> CeleryRetryConfig:
    """What ``class_config`` reads, from ``ast``. Known differences (kept: the facts of
    the index are stored and cached): ``retry_kwargs = dict(...)`` is "unknown" here;
    in a dict literal the last of ``**x`` / ``"max_retries"`` decides here, the first in
    the LibCST twin; methods' positional-only receivers are not seen here, and calls in
    nested functions are."""
    config = CeleryRetryConfig()
    for stmt in node.body:
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
            name, value = stmt.targets[0].id, stmt.value
            if name == MAX_RETRIES:
                config.max_retries = "none" if _ast_is_none(value) else "set"
            elif name == AUTORETRY_FOR:
                config.autoretry = bool(value.elts) if isinstance(value, (ast.Tuple, ast.List)) else not _ast_is_none(value)
            elif name == RETRY_KWARGS:
                config.retry_kwargs_max = "unknown"
                if isinstance(value, ast.Dict):
                    config.retry_kwargs_max = None
                    for key, val in zip(value.keys, value.values):
                        if key is None:
                            config.retry_kwargs_max = "unknown"
                        elif isinstance(key, ast.Constant) and key.value == MAX_RETRIES:
                            config.retry_kwargs_max = "none" if _ast_is_none(val) else "set"
        elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)) and stmt.args.args:
            receiver = stmt.args.args[0].arg
            for sub in ast.walk(stmt):
                if (
                    isinstance(sub, ast.Call)
                    and isinstance(sub.func, ast.Attribute)
                    and sub.func.attr == RETRY_METHOD
                    and isinstance(sub.func.value, ast.Name)
                    and sub.func.value.id == receiver
                ):
                    kw = {k.arg: k.value for k in sub.keywords}
                    if None in kw and MAX_RETRIES not in kw:
                        state = "bounded"
                    elif MAX_RETRIES in kw and not _ast_is_none(kw[MAX_RETRIES]):
                        state = "bounded"
                    else:
                        state = "unbounded"
                    if config.self_retry != "unbounded":
                        config.self_retry = state
    return config


# -- the policies -------------------------------------------------------------------------


class CeleryPolicies:
    """Celery tasks and Task classes whose max_retries is None and that retry.

    ``classes``: the project's Task classes (``backendlint.index.celery.CeleryTaskClassIndex``
    or anything with ``inherited(qualified) -> CeleryRetryConfig`` and
    ``is_task_class(qualified) -> bool``).
    """

    def __init__(self, scopes: Scopes, classes):
        self.scopes = scopes
        self.classes = classes

    @staticmethod
    def task_decorator(decorator: cst.Decorator) -> Optional[cst.Call]:
        expr = decorator.decorator
        if isinstance(expr, cst.Call) and last_name(expr.func) in TASK_DECORATORS:
            return expr
        return None

    def for_function(self, fn: cst.FunctionDef, stack: Sequence[cst.CSTNode]) -> List[RetryPolicy]:
        out = []
        for decorator in fn.decorators:
            call = self.task_decorator(decorator)
            if call is None:
                continue
            policy = self._task(fn, decorator, call, stack)
            if policy is not None:
                out.append(policy)
        return out

    def _task(self, fn: cst.FunctionDef, decorator: cst.Decorator, call: cst.Call, stack) -> Optional[RetryPolicy]:
        args = CallArgs.of(call)
        own = CeleryRetryConfig()
        if MAX_RETRIES in args.keywords:
            own.max_retries = kind_of_max(args.keywords[MAX_RETRIES])
        elif args.star_kwargs:
            return None
        if AUTORETRY_FOR in args.keywords:
            own.autoretry = autoretry_of(args.keywords[AUTORETRY_FOR])
        if RETRY_KWARGS in args.keywords:
            own.retry_kwargs_max = retry_kwargs_max(args.keywords[RETRY_KWARGS])
        receivers = {fn.name.value} | CURRENT_TASK
        params = positional_params(fn)
        bind = args.keywords.get("bind")
        if params and (isinstance(bind, cst.Name) and bind.value == "True" or params[0] == "self"):
            receivers.add(params[0])
        calls = retry_calls(fn.body, receivers)
        own.self_retry = self_retry_state(calls)
        base_name = None
        base = args.keywords.get("base")
        inherited = CeleryRetryConfig()
        if base is not None:
            base_name = self.scopes.resolve(base, list(stack) + [fn, decorator])
            inherited = self.classes.inherited(base_name)
        config = own.inherit(inherited)
        contributes = own.max_retries == "none" or own.autoretry or own.self_retry == "unbounded"
        if not contributes or not config.retries_forever:
            return None
        why = AUTORETRY if config.autoretries_forever else SELF_RETRY
        from_base = () if own.max_retries == "none" else (base_name or "",)
        return RetryPolicy("celery", "task", decorator, UNBOUNDED, WAIT_ALWAYS, why, from_base)

    def for_class(self, node: cst.ClassDef, stack: Sequence[cst.CSTNode]) -> Optional[RetryPolicy]:
        bases = []
        for arg in node.bases:
            base = arg.value.value if isinstance(arg.value, cst.Subscript) else arg.value  # Task[Any, Any]
            if not arg.keyword:
                bases.append(self.scopes.resolve(base, stack) or dotted_name(base))
        if not any(self.classes.is_task_class(b) for b in bases):
            return None
        own, anchors = class_config(node)
        inherited = CeleryRetryConfig()
        for base in bases:
            inherited = inherited.inherit(self.classes.inherited(base))
        config = own.inherit(inherited)
        if not config.retries_forever:
            return None
        anchor = anchors.get(MAX_RETRIES) if own.max_retries == "none" else None
        if anchor is None and own.autoretry:
            anchor = anchors.get(AUTORETRY_FOR)
        if anchor is None:
            anchor = anchors.get("self_retry")
        if anchor is None:
            return None
        return RetryPolicy("celery", "Task", anchor, UNBOUNDED, WAIT_ALWAYS, AUTORETRY if config.autoretries_forever else SELF_RETRY, (node.name.value,))
