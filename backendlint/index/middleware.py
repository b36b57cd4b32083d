"""Project fact: middleware that makes every request of the project idempotent (BL201).

The collector finds the names; ``Middleware.of(facts)`` reads them.
"""

from __future__ import annotations

import ast
from typing import NamedTuple, Tuple

from backendlint.engine.facts import FactCollector, nodes_of, register
from backendlint.engine.pyast import ast_dotted

FACT_KIND = "idempotency_middleware"
FACTS = (FACT_KIND,)


@register
class IdempotencyMiddleware(FactCollector):
    """Middleware that makes every request of the project idempotent.

    Django ``MIDDLEWARE = [..., "x.IdempotencyMiddleware"]`` (also ``+=`` and
    ``MIDDLEWARE_CLASSES``), Starlette/FastAPI ``app.add_middleware(IdempotencyMiddleware)``,
    Flask ``app.wsgi_app = IdempotencyMiddleware(app.wsgi_app)``, ``@app.middleware("http")``
    functions. Part: the names found; merged: a sorted list of them.
    """

    kind = FACT_KIND
    requires = ("idempot", "Idempot", "IDEMPOT")
    version = 1

    def collect(self, tree, relpath, module_name, source):
        found = set()
        for node in nodes_of(tree, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Call, ast.FunctionDef, ast.AsyncFunctionDef)):
            if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                names = [t.id if isinstance(t, ast.Name) else getattr(t, "attr", "") for t in targets]
                value = node.value
                if value is None:
                    continue
                if any(n in ("MIDDLEWARE", "MIDDLEWARE_CLASSES") for n in names):
                    for sub in ast.walk(value):
                        if isinstance(sub, ast.Constant) and isinstance(sub.value, str) and "idempot" in sub.value.lower():
                            found.add(sub.value)
                if any(n == "wsgi_app" for n in names) and isinstance(value, ast.Call):
                    callee = _ast_name(value.func)
                    if "idempot" in callee.lower():
                        found.add(callee)
            elif isinstance(node, ast.Call):
                callee = _ast_name(node.func)
                if callee.endswith(("add_middleware", "Middleware")) or callee.endswith("insert") or callee.endswith("append"):
                    for arg in node.args:
                        name = _ast_name(arg) or (arg.value if isinstance(arg, ast.Constant) and isinstance(arg.value, str) else "")
                        if name and "idempot" in name.lower() and (callee.endswith("add_middleware") or "MIDDLEWARE" in _ast_name(getattr(node.func, "value", node.func))):
                            found.add(name)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and "idempot" in node.name.lower():
                for dec in node.decorator_list:
                    target = dec.func if isinstance(dec, ast.Call) else dec
                    if _ast_name(target).endswith(".middleware"):
                        found.add(node.name)
        return sorted(found) or None

    def merge(self, parts):
        out = set()
        for part in parts.values():
            out.update(part or ())
        return sorted(out)


def _ast_name(node) -> str:
    return ast_dotted(node) or ""


class Middleware(NamedTuple):
    """The reader: the idempotency middleware names the project installs."""

    names: Tuple[str, ...]

    @classmethod
    def of(cls, facts) -> "Middleware":
        found = facts.get(FACT_KIND) if facts is not None else None
        return cls(tuple(found or ()))

    @property
    def guards_every_request(self) -> bool:
        return bool(self.names)
