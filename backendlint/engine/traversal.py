"""One traversal of a parsed file for all enabled rules.

Why not ``module.visit(visitor)`` or LibCST's ``visit_batched``: both rebuild every node
of the tree while walking it (``_visit_and_replace_children``), which on real code costs
about as much as parsing, and neither lets one rule's exception be contained without
stopping the others. This walker reads the dataclass fields of each node directly,
skips syntactic trivia (whitespace, commas, parentheses, operator tokens) that no rule
visits, keeps the ancestor stack that rules use instead of ParentNodeProvider, and
dispatches ``visit_<Node>``/``leave_<Node>`` to each rule with its own error guard.
"""

from __future__ import annotations

import dataclasses
import inspect
from typing import Callable, Dict, List, Sequence, Tuple

import libcst as cst
import libcst._nodes.op as _op
import libcst._nodes.whitespace as _ws

from backendlint.engine.context import FileContext
from backendlint.engine.rule import Rule


def _trivia_types() -> frozenset:
    found = set()
    for mod in (_op, _ws):
        for obj in vars(mod).values():
            if inspect.isclass(obj) and issubclass(obj, cst.CSTNode):
                found.add(obj)
    for name in (
        "LeftParen", "RightParen", "LeftSquareBracket", "RightSquareBracket",
        "LeftCurlyBrace", "RightCurlyBrace", "Asynchronous",
    ):
        found.add(getattr(cst, name))
    return frozenset(found)


TRIVIA = _trivia_types()
_SKIP_FIELDS = frozenset({"lpar", "rpar", "leading_lines", "lines_after_decorators", "header", "footer"})
# Fields visited first so that traversal order is lexical where rules care about it.
_FIRST_FIELDS = {"FunctionDef": ("decorators",), "ClassDef": ("decorators",)}
_FIELDS: Dict[type, Tuple[str, ...]] = {}


def _fields_of(tp: type) -> Tuple[str, ...]:
    names = _FIELDS.get(tp)
    if names is None:
        all_names = [
            f.name
            for f in dataclasses.fields(tp)
            if f.name not in _SKIP_FIELDS and not f.name.startswith("whitespace")
        ]
        first = _FIRST_FIELDS.get(tp.__name__, ())
        names = tuple(list(first) + [n for n in all_names if n not in first])
        _FIELDS[tp] = names
    return names


# What a field's value is, by its type: a child node to visit, a sequence of values, or
# nothing to visit (trivia, strings, None). isinstance(x, cst.CSTNode) goes through
# ABCMeta on every call; the type's kind is looked up once.
_CHILD, _SEQUENCE, _OTHER = 1, 2, 3  # all true: `kinds.get(tp) or _kind_of(tp)`
_KINDS: Dict[type, int] = {tuple: _SEQUENCE, list: _SEQUENCE, type(None): _OTHER, str: _OTHER}


def _kind_of(tp: type) -> int:
    if issubclass(tp, cst.CSTNode):
        kind = _OTHER if tp in TRIVIA else _CHILD
    elif issubclass(tp, (tuple, list)):
        kind = _SEQUENCE
    else:
        kind = _OTHER
    _KINDS[tp] = kind
    return kind


def children_of(node: cst.CSTNode) -> List[cst.CSTNode]:
    """The node's children in lexical order, syntactic trivia left out."""
    children: List[cst.CSTNode] = []
    kinds = _KINDS
    for field in _fields_of(type(node)):
        value = getattr(node, field)
        kind = kinds.get(type(value)) or _kind_of(type(value))
        if kind == _CHILD:
            children.append(value)
        elif kind == _SEQUENCE:
            for item in value:
                if (kinds.get(type(item)) or _kind_of(type(item))) == _CHILD:
                    children.append(item)
    return children


class RuleError(Exception):
    """An exception raised inside a rule, with the rule and the node it was visiting."""

    def __init__(self, rule: Rule, node: cst.CSTNode, exc: BaseException):
        super().__init__(f"{type(exc).__name__}: {exc}")
        self.rule = rule
        self.node = node
        self.exc = exc


class Dispatcher:
    def __init__(self, ctx: FileContext, rules: Sequence[Rule]):
        self.ctx = ctx
        self.rules = list(rules)
        self.visit_map: Dict[str, List[Tuple[Rule, Callable]]] = {}
        self.leave_map: Dict[str, List[Tuple[Rule, Callable]]] = {}
        for rule in self.rules:
            for attr in dir(type(rule)):
                if attr.startswith("visit_"):
                    self.visit_map.setdefault(attr[6:], []).append((rule, getattr(rule, attr)))
                elif attr.startswith("leave_"):
                    self.leave_map.setdefault(attr[6:], []).append((rule, getattr(rule, attr)))
        self.errors: List[RuleError] = []
        self.broken: set = set()  # rules disabled for this file after an exception

    def _call(self, pairs, node) -> None:
        for rule, fn in pairs:
            if rule in self.broken:
                continue
            try:
                fn(node)
            except RecursionError as exc:
                self.broken.add(rule)
                self.errors.append(RuleError(rule, node, exc))
            except Exception as exc:  # noqa: BLE001 - one rule must not stop the run
                self.broken.add(rule)
                self.errors.append(RuleError(rule, node, exc))

    def run(self, module: cst.Module) -> None:
        ctx = self.ctx
        imports = ctx.imports
        stack = ctx.stack
        visit_map, leave_map = self.visit_map, self.leave_map
        # Iterative walk (deeply nested code must not exhaust the Python stack).
        # Each work item is (node, entering?).
        work: List[Tuple[cst.CSTNode, bool]] = [(module, True)]
        while work:
            node, entering = work.pop()
            tp = type(node)
            name = tp.__name__
            if not entering:
                stack.pop()
                pairs = leave_map.get(name)
                if pairs:
                    self._call(pairs, node)
                if len(stack) == 1:
                    ctx.top = None
                continue
            # Keep the import table current in source order (before rules look at uses).
            if tp is cst.Import:
                imports.add_import(node)
            elif tp is cst.ImportFrom:
                imports.add_import_from(node)
            elif (tp is cst.FunctionDef or tp is cst.ClassDef) and len(stack) == 1:
                imports.add_local(node.name.value)
            if len(stack) == 1:
                ctx.top = node
            pairs = visit_map.get(name)
            if pairs:
                self._call(pairs, node)
            stack.append(node)
            work.append((node, False))
            for child in reversed(children_of(node)):
                work.append((child, True))
        for rule in self.rules:
            if rule in self.broken:
                continue
            try:
                rule.end_module()
            except Exception as exc:  # noqa: BLE001
                self.broken.add(rule)
                self.errors.append(RuleError(rule, module, exc))


def walk(node: cst.CSTNode):
    """Yield ``node`` and its descendants (pre-order, trivia skipped), iteratively.

    For rules that analyse a subtree on their own (a function body, a loop).
    """
    work = [node]
    while work:
        current = work.pop()
        yield current
        work.extend(reversed(children_of(current)))
