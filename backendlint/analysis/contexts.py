"""The context of every project function: request, task, library, operator or test.

Built once per run from two facts: the effect summaries (every module-level function and
method, its resolved decorators, its class's bases and the calls it makes, resolved to
project functions) and the registrations (``backendlint.index.contexts``). The catalog's
rules ("Severity", "Context"):

1. a function with a framework role keeps that role's context wherever it lives: its
   registration, its decorators, its class's bases (through project classes);
2. other functions take the hottest of their path's context and their callers'
   (request > task > library > operator > test); callers in test code are ignored; a
   function with no known caller and no path word is *library*, and its callees inherit
   that; model ``save()``/``delete()`` overrides with no known caller are request;
3. nested functions and lambdas take their enclosing function's context; module-level
   code its path's context (operator under ``if __name__ == "__main__":``), else library.

The result is data (``Context``): the context, and for an inherited one the caller it
came from with the line of the call, for messages ("request: called from checkout() in
shop/views.py:40").
"""

from __future__ import annotations

from typing import Dict, List, NamedTuple, Optional, Sequence

import libcst as cst

from backendlint.index.contexts import FACT_KIND as ROLES_KIND, Roles
from backendlint.knowledge import contexts as vocab
from backendlint.knowledge.contexts import HEAT, LIBRARY, OPERATOR, REQUEST, TEST

SUMMARIES_KIND = "effect_summaries"
FACTS = (SUMMARIES_KIND, ROLES_KIND)
_MAX_BASES = 8
_MODEL_BASES = ("django.db.models.Model", "django.db.models.base.Model")


class Context(NamedTuple):
    name: str  # request / task / library / operator / test
    via: Optional[str] = None  # the caller it was inherited from (a summary key)
    via_path: str = ""  # that caller's file
    via_line: int = 0  # the line of the call in it

    def describe(self) -> str:
        """``request handler`` / ``request: called from checkout() in shop/views.py:40``."""
        if self.via:
            caller = self.via.rsplit(".", 1)[-1]
            return f"{self.name}: called from {caller}() in {self.via_path}:{self.via_line}"
        return vocab.LABEL.get(self.name, self.name)


class ContextMap:
    """Context per project function key (``module.func``, ``module.Class.method``)."""

    def __init__(self, summaries: Optional[dict], roles: Optional[dict]):
        summaries = summaries or {}
        self.where: Dict[str, Sequence] = summaries.get("where", {})
        self.classes: Dict[str, List[str]] = summaries.get("classes", {})
        decorators: Dict[str, List[str]] = summaries.get("decorators", {})
        edges: Dict[str, list] = summaries.get("edges", {})
        registered = Roles(roles)
        self.contexts: Dict[str, Context] = {}
        # A signal receiver runs where the code that sends the signal runs: an edge from
        # each sender to each receiver; a receiver with no known sender is request.
        sent: Dict[str, list] = {}
        for receiver in registered.receivers:
            for sender, line in registered.sent_to(receiver):
                if sender in self.where and receiver in self.where:
                    sent.setdefault(sender, []).append([receiver, line])
        fed = {target for out in sent.values() for target, _ in out}
        role_of: Dict[str, str] = {}
        for key in self.where:
            receiving = key in registered.receivers
            role = self._role(key, () if key in fed else decorators.get(key, ()), registered)
            if role is None and receiving and key not in fed:
                role = REQUEST
            if role is not None:
                role_of[key] = role
        value: Dict[str, Context] = {k: Context(r) for k, r in role_of.items()}
        for key, (relpath, *_rest) in self.where.items():
            if key not in value:
                by_path = vocab.path_context(relpath)
                if by_path is not None:
                    value[key] = Context(by_path)
        # Propagate to callees with no role: each takes the hottest context of its own
        # path and of its callers (heat only grows, so the work list ends).
        work = list(value)
        hooks = {k for k in self.where if k not in role_of and self._is_model_hook(k)}

        def run(work: List[str]) -> None:
            while work:
                key = work.pop()
                here = value[key]
                if here.name == TEST:
                    continue  # callers in test code are ignored
                relpath = self.where[key][0]
                for edge in list(edges.get(key, ())) + sent.get(key, []):
                    target, line = edge[0], edge[1]
                    if target in role_of or target not in self.where:
                        continue
                    current = value.get(target)
                    if current is None or HEAT[here.name] > HEAT[current.name]:
                        value[target] = Context(here.name, key, relpath, line)
                        work.append(target)

        run(work)
        rest = []
        for key in self.where:
            if key not in value:
                value[key] = Context(REQUEST if key in hooks else LIBRARY)
                rest.append(key)
        run(rest)
        self.contexts = value

    def _role(self, key: str, decorators, registered: Roles) -> Optional[str]:
        owner = key.rsplit(".", 1)[0] if "." in key else ""
        owners = (owner,) if owner in self.classes else ()
        found = [registered.of(key, owners)]
        found += [vocab.decorator_role(d) for d in decorators]
        if owners:
            found.append(self._class_role(owner))
        return vocab.hottest(r for r in found if r is not None)

    def _class_role(self, cls: str) -> Optional[str]:
        seen = set()
        todo = [(cls, 0)]
        found = []
        while todo:
            name, depth = todo.pop()
            if name in seen or depth > _MAX_BASES:
                continue
            seen.add(name)
            for base in self.classes.get(name, ()):
                role = vocab.base_role(base)
                if role is not None:
                    found.append(role)
                elif base in self.classes:
                    todo.append((base, depth + 1))
        return vocab.hottest(found)

    def _is_model_hook(self, key: str) -> bool:
        owner, _, name = key.rpartition(".")
        if name not in vocab.MODEL_HOOKS or owner not in self.classes:
            return False
        todo, seen = [owner], set()
        while todo:
            cls = todo.pop()
            if cls in seen or len(seen) > _MAX_BASES * 4:
                continue
            seen.add(cls)
            for base in self.classes.get(cls, ()):
                if base in _MODEL_BASES:
                    return True
                todo.append(base)
        return False

    def of(self, key: Optional[str]) -> Optional[Context]:
        return self.contexts.get(key) if key else None


def context_map(facts) -> ContextMap:
    """The map for this run, built once (kept in ``facts.memo``; rules build it in their
    ``prepare`` so that worker processes share it)."""
    memo = getattr(facts, "memo", None)
    if memo is not None and "contexts.map" in memo:
        return memo["contexts.map"]
    found = ContextMap(facts.get(SUMMARIES_KIND) if facts is not None else None,
                       facts.get(ROLES_KIND) if facts is not None else None)
    if memo is not None:
        memo["contexts.map"] = found
    return found


# -- the LibCST side: the unit of work around a node --------------------------------------


def unit_key(module_name: str, stack: Sequence[cst.CSTNode]) -> Optional[str]:
    """The summary key of the module-level function or method around the node whose
    ancestors are ``stack`` (nested functions belong to it); None for code that runs at
    import time (module level, class bodies) and for methods of nested classes."""
    names: List[str] = []
    for node in stack:
        if type(node) is cst.ClassDef:
            if names:
                return None  # a class nested in a class: not summarised
            names.append(node.name.value)
        elif type(node) is cst.FunctionDef:
            names.append(node.name.value)
            qual = ".".join(names)
            return f"{module_name}.{qual}" if module_name else qual
    return None


def _under_main(stack: Sequence[cst.CSTNode]) -> bool:
    for node in stack:
        if isinstance(node, cst.If) and isinstance(node.test, cst.Comparison):
            text = cst.Module([]).code_for_node(node.test).replace("'", '"').replace(" ", "")
            if text in ('__name__=="__main__"', '"__main__"==__name__'):
                return True
    return False


def context_of(ctx, stack: Optional[Sequence[cst.CSTNode]] = None) -> Context:
    """The context of the code at the node whose ancestors are ``stack`` (default: the
    traversal's current stack) in the file ``ctx`` checks."""
    stack = ctx.stack if stack is None else stack
    key = unit_key(ctx.module_name, stack)
    if key is None:
        if _under_main(stack):
            return Context(OPERATOR)
        return Context(vocab.path_context(ctx.relpath) or LIBRARY)
    found = context_map(ctx.facts).of(key) if ctx.facts is not None else None
    if found is None:  # a file outside the index (stdin, a project with no summaries)
        return Context(vocab.path_context(ctx.relpath) or LIBRARY)
    return found
