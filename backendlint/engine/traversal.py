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
from typing import TYPE_CHECKING, Callable, Dict, List, Optional, Sequence, Tuple

import libcst as cst
import libcst._nodes.op as _op
import libcst._nodes.whitespace as _ws

if TYPE_CHECKING:  # annotations only: positions (which context uses) needs children_of
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


def _generic_children(node: cst.CSTNode) -> List[cst.CSTNode]:
    """``children_of`` from the values' runtime types alone."""
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


# Per node type, a function listing its children, generated from the dataclass fields'
# annotations: a field that always holds a child (``Attribute.value: BaseExpression``)
# is appended without looking at its value, one that never does (``Attribute.dot:
# Dot``, ``Name.value: str``) is not read, and any other field gets the runtime checks
# of ``_generic_children``. tests/test_engine.py checks, node by node on real code, that
# the result is ``_generic_children``'s.
_ALWAYS, _NEVER, _MAYBE = "always", "never", "maybe"
_CHILDREN: Dict[type, Callable[[cst.CSTNode], List[cst.CSTNode]]] = {}


def _subclasses(cls: type) -> set:
    """``cls`` and its subclasses, but not the class objects LibCST's ``add_slots``
    replaced (they linger in ``__subclasses__()`` and have no instances)."""
    import sys

    found = {cls}
    work = [cls]
    while work:
        for sub in work.pop().__subclasses__():
            if sub not in found and getattr(sys.modules.get(sub.__module__), sub.__name__, sub) is sub:
                found.add(sub)
                work.append(sub)
    return found


def _value_kind(annotation) -> str:
    """Whether a value of this annotation is always a child, never one, or either."""
    import typing

    from libcst._maybe_sentinel import MaybeSentinel

    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return _NEVER
    if origin is typing.Union:
        kinds = {_value_kind(member) for member in typing.get_args(annotation)}
        return kinds.pop() if len(kinds) == 1 else _MAYBE
    if origin is not None or not isinstance(annotation, type):
        return _MAYBE  # a sequence inside a union, or something unforeseen: look at it
    if annotation in (str, bool, type(None), MaybeSentinel):
        return _NEVER
    if issubclass(annotation, cst.CSTNode):
        trivia = [sub in TRIVIA for sub in _subclasses(annotation)]
        return _ALWAYS if not any(trivia) else _NEVER if all(trivia) else _MAYBE
    return _MAYBE


def _items_code(sequence: str) -> List[str]:
    """Code appending the items of ``sequence`` that are children."""
    return [
        f"for item in {sequence}:",
        "    if (kinds.get(type(item)) or kind_of(type(item))) == CHILD:",
        "        out.append(item)",
    ]


def _field_code(field: str, annotation) -> List[str]:
    import collections.abc
    import typing

    origin = typing.get_origin(annotation)
    if origin in (collections.abc.Sequence, list, tuple) and len(typing.get_args(annotation)) == 1:
        kind = _value_kind(typing.get_args(annotation)[0])
        if kind == _ALWAYS:
            return [f"out.extend(node.{field})"]
        return [] if kind == _NEVER else _items_code(f"node.{field}")
    kind = _value_kind(annotation)
    if kind == _ALWAYS:
        return [f"out.append(node.{field})"]
    if kind == _NEVER:
        return []
    return [
        f"value = node.{field}",
        "kind = kinds.get(type(value)) or kind_of(type(value))",
        "if kind == CHILD:",
        "    out.append(value)",
        "elif kind == SEQUENCE:",
    ] + ["    " + line for line in _items_code("value")]


def _children_function(tp: type) -> Callable[[cst.CSTNode], List[cst.CSTNode]]:
    import typing

    try:
        hints = typing.get_type_hints(tp)
        lines = ["def children(node):", "    out = []"]
        for field in _fields_of(tp):
            lines.extend("    " + line for line in _field_code(field, hints[field]))
        lines.append("    return out")
        scope = {"kinds": _KINDS, "kind_of": _kind_of, "CHILD": _CHILD, "SEQUENCE": _SEQUENCE}
        exec("\n".join(lines), scope)  # noqa: S102 - code built from field names only
        fn = scope["children"]
    except Exception:  # noqa: BLE001 - unforeseen annotations: check at runtime
        fn = _generic_children
    _CHILDREN[tp] = fn
    return fn


def children_of(node: cst.CSTNode) -> List[cst.CSTNode]:
    """The node's children in lexical order, syntactic trivia left out."""
    tp = type(node)
    return (_CHILDREN.get(tp) or _children_function(tp))(node)


def string_value(node: cst.SimpleString):
    """``node.evaluated_value``, without its ``ast.literal_eval`` parse for the common
    case of a str literal with no backslash (an escape or a line continuation), no
    carriage return (newlines inside a literal are normalised) and no bytes or
    format prefix: then the value is the text between the quotes."""
    text = node.value
    if "\\" not in text and "\r" not in text:
        quote = text[-1:]
        start = text.find(quote) if quote in ("'", '"') else -1
        if start >= 0 and text[:start].lower() in ("", "r", "u"):
            width = 3 if len(text) - start >= 6 and text.startswith(quote * 3, start) else 1
            return text[start + width : len(text) - width]
    return node.evaluated_value


class _ByType(dict):
    """{node type: the (rule, method) pairs for it} from a {type name: pairs} map,
    filled as types are met (a type lookup instead of reading ``__name__``)."""

    def __init__(self, by_name: Dict[str, List[Tuple[Rule, Callable]]]):
        super().__init__()
        self.by_name = by_name

    def __missing__(self, tp: type):
        pairs = self[tp] = self.by_name.get(tp.__name__)
        return pairs


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
        visits = _ByType(self.visit_map)
        leaves = _ByType(self.leave_map)
        call = self._call
        Import, ImportFrom, FunctionDef, ClassDef = cst.Import, cst.ImportFrom, cst.FunctionDef, cst.ClassDef
        # Iterative walk (deeply nested code must not exhaust the Python stack). The work
        # list holds nodes to enter, and None where the node on top of ``stack`` is left.
        work: List[Optional[cst.CSTNode]] = [module]
        pop, push, extend = work.pop, work.append, work.extend
        while work:
            node = pop()
            if node is None:
                node = stack.pop()
                pairs = leaves[type(node)]
                if pairs:
                    call(pairs, node)
                if len(stack) == 1:
                    ctx.top = None
                continue
            tp = type(node)
            # Keep the import table current in source order (before rules look at uses).
            if tp is Import:
                imports.add_import(node)
            elif tp is ImportFrom:
                imports.add_import_from(node)
            elif (tp is FunctionDef or tp is ClassDef) and len(stack) == 1:
                imports.add_local(node.name.value)
            if len(stack) == 1:
                ctx.top = node
            pairs = visits[tp]
            if pairs:
                call(pairs, node)
            children = children_of(node)
            if children or leaves[tp] or len(stack) <= 1:
                stack.append(node)
                push(None)
                extend(reversed(children))
            # else: a leaf nothing leaves (a name, a string): nothing to undo.
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
