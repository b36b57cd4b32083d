"""Registrations that give project functions a context: the roots no decorator names.

A project fact (kind ``unit_roles``): per file, the project functions and classes that
the framework calls because they are *registered* rather than decorated —

- ``path("x/", views.checkout)``, ``re_path``/``url``, ``SomeView.as_view()`` in URL
  patterns, ``router.register("orders", OrderViewSet)``, Flask ``add_url_rule(...,
  view_func=f)``, FastAPI/Starlette ``add_api_route(path, f)`` / ``Route(path, f)``,
  ``Depends(provider)``: request;
- ``admin.site.register(Model, OrderAdmin)``: request (admin views);
- signal receivers (``@receiver(order_paid)``, ``order_paid.connect(handler)``) and the
  project functions that send each signal (``order_paid.send(...)``): a receiver runs
  where the code that sends runs (``analysis.contexts`` adds an edge from each sender to
  each receiver); with no sender known, the catalog says request;
- ``app.task(f)`` / ``shared_task(f)`` called as functions: task;
- what ``if __name__ == "__main__":`` calls: operator.

The reader (``Roles``) maps a function or class key (``module.Class.method``,
``module.func``, ``module.Class``) to the context its registration gives it, and tells
the receivers of each signal and the functions that send it.
"""

from __future__ import annotations

import ast
from typing import Dict, Iterable, List, Optional

from backendlint.engine.facts import FactCollector, register
from backendlint.engine.pyast import ast_dotted, descendants, file_bindings, nodes_of, resolve
from backendlint.knowledge.contexts import OPERATOR, REQUEST, TASK, hottest

FACT_KIND = "unit_roles"
FACTS = (FACT_KIND,)

_URL_FUNCS = frozenset({"path", "re_path", "url", "Route", "WebSocketRoute", "add_api_route",
                        "add_api_websocket_route", "add_route", "add_url_rule", "add_get", "add_post",
                        "add_put", "add_patch", "add_delete", "add_view", "api_route"})
_TASK_FUNCS = frozenset({"task", "shared_task", "actor"})
_RECEIVER_METHODS = frozenset({"connect"})
_SEND_METHODS = frozenset({"send", "send_robust", "asend", "asend_robust"})


def _target(node: ast.AST) -> Optional[ast.AST]:
    """The function or class a registration argument names: ``views.f``, ``V.as_view()``."""
    if isinstance(node, ast.Call):
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in ("as_view", "as_asgi", "as_view_func"):
            return func.value
        if isinstance(func, (ast.Name, ast.Attribute)) and (ast_dotted(func) or "").rsplit(".", 1)[-1] == "Depends" and node.args:
            return node.args[0]
        return None
    if isinstance(node, (ast.Name, ast.Attribute)):
        return node
    return None


@register
class UnitRoles(FactCollector):
    kind = FACT_KIND
    requires = ("path(", "url(", "register(", "connect(", "__main__", "add_", "Route(", "Depends(", "task(", "actor(",
                "receiver", ".send")
    version = 2  # 2: {"r": roles, "rc": receivers, "s": senders}

    def collect(self, tree: ast.Module, relpath: str, module_name: str, source: str):
        bindings = file_bindings(tree, module_name, relpath.endswith("__init__.py"))
        roles: Dict[str, str] = {}
        receivers: Dict[str, List[str]] = {}  # function key -> signals it receives
        senders: Dict[str, List[list]] = {}  # signal -> [[function key, line of the send]]

        def note(node: Optional[ast.AST], role: str) -> None:
            target = _target(node) if node is not None else None
            if target is None:
                return
            name = resolve(bindings, target)
            if name:
                roles[name] = hottest([roles.get(name, role), role]) or role

        for call in nodes_of(tree, ast.Call):
            func = call.func
            last = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            if last in _URL_FUNCS:
                for arg in call.args[1:3]:
                    note(arg, REQUEST)
                for kw in call.keywords:
                    if kw.arg in ("view_func", "view", "endpoint", "handler"):
                        note(kw.value, REQUEST)
            elif last == "register" and isinstance(func, ast.Attribute) and len(call.args) >= 2:
                note(call.args[1], REQUEST)  # router.register(prefix, ViewSet), admin.site.register(M, Admin)
            elif last in _RECEIVER_METHODS and isinstance(func, ast.Attribute) and call.args:
                handler = _target(call.args[0])
                signal = resolve(bindings, func.value)
                name = resolve(bindings, handler) if handler is not None else None
                if name and signal:
                    receivers.setdefault(name, []).append(signal)
            elif last == "Depends" and call.args:
                note(call.args[0], REQUEST)
            elif last in _TASK_FUNCS and call.args and isinstance(call.args[0], (ast.Name, ast.Attribute)):
                note(call.args[0], TASK)
        for stmt in tree.body:
            if isinstance(stmt, ast.If) and _is_main_test(stmt.test):
                for inner in stmt.body:
                    for call in descendants(inner):
                        if isinstance(call, ast.Call) and isinstance(call.func, (ast.Name, ast.Attribute)):
                            note(call.func, OPERATOR)
        prefix = f"{module_name}." if module_name else ""
        for qual, fn in _functions(tree):
            key = prefix + qual
            for dec in fn.decorator_list:
                if isinstance(dec, ast.Call) and dec.args and (resolve(bindings, dec.func) or "").endswith("receiver"):
                    first = dec.args[0]
                    for item in first.elts if isinstance(first, (ast.List, ast.Tuple)) else [first]:
                        signal = resolve(bindings, item) if isinstance(item, (ast.Name, ast.Attribute)) else None
                        if signal:
                            receivers.setdefault(key, []).append(signal)
            for stmt in fn.body:
                for call in descendants(stmt):
                    if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) and call.func.attr in _SEND_METHODS:
                        signal = resolve(bindings, call.func.value)
                        if signal:
                            senders.setdefault(signal, []).append([key, call.lineno])
        if not (roles or receivers or senders):
            return None
        return {"r": roles, "rc": receivers, "s": senders}

    def merge(self, parts: Dict[str, dict]) -> Dict[str, dict]:
        roles: Dict[str, str] = {}
        receivers: Dict[str, List[str]] = {}
        senders: Dict[str, List[list]] = {}
        for part in parts.values():
            for name, role in part.get("r", {}).items():
                roles[name] = hottest([roles.get(name, role), role]) or role
            for name, signals in part.get("rc", {}).items():
                receivers.setdefault(name, []).extend(signals)
            for signal, sites in part.get("s", {}).items():
                senders.setdefault(signal, []).extend(sites)
        received = {sig for signals in receivers.values() for sig in signals}
        # ``.send(...)`` is common (mail, sockets): keep only the signals something receives.
        return {"roles": roles, "receivers": receivers, "senders": {k: v for k, v in senders.items() if k in received}}


def _functions(tree: ast.Module):
    """(qualified name, def) of module-level functions and methods of module-level classes."""
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield node.name, node
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    yield f"{node.name}.{item.name}", item


def _is_main_test(test: ast.AST) -> bool:
    """``__name__ == "__main__"`` (either way round)."""
    if not isinstance(test, ast.Compare) or len(test.comparators) != 1:
        return False
    sides = [test.left, test.comparators[0]]
    return any(isinstance(s, ast.Name) and s.id == "__name__" for s in sides) and any(
        isinstance(s, ast.Constant) and s.value == "__main__" for s in sides
    )


class Roles:
    """The reader: the context a registration gives a key (function, method or class),
    and the signals' receivers and senders."""

    def __init__(self, merged: Optional[Dict[str, dict]]):
        merged = merged or {}
        self._roles: Dict[str, str] = merged.get("roles", {})
        self.receivers: Dict[str, List[str]] = merged.get("receivers", {})
        self.senders: Dict[str, List[list]] = merged.get("senders", {})

    def sent_to(self, receiver: str) -> List[list]:
        """[[sender key, line of the send]] for the signals ``receiver`` receives."""
        return [site for signal in self.receivers.get(receiver, ()) for site in self.senders.get(signal, ())]

    def of(self, key: str, owners: Iterable[str] = ()) -> Optional[str]:
        """The registration role of ``key``, or of one of ``owners`` (its class)."""
        found = [self._roles[k] for k in (key, *owners) if k in self._roles]
        return hottest(found)
