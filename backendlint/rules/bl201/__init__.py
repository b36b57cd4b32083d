"""BL201 non-idempotent-post: a POST handler creates state with no idempotency guard.

The rule's engine contract, the handler-wide guards (middleware, decorators,
dependencies, an idempotency key, a consumed row), the pre-pass over what the handler's
local names hold, and the message. The walk of the body (what happens on the POST path
and under which guard) is ``walk.py``.
"""

from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

import libcst as cst

from backendlint.analysis import contexts
from backendlint.engine.rule import Option, Rule
from backendlint.index import effects, middleware
from backendlint.knowledge import creates, guards, handlers, orm, side_effects
from backendlint.knowledge.paths import is_test_path
from backendlint.rules.bl201.checks import post_test
from backendlint.rules.bl201.severity import rank_finding
from backendlint.rules.bl201.state import ALL, Analysis, State, guard
from backendlint.rules.bl201.walk import PostWalk, is_session
from backendlint.syntax.names import dotted_name
from backendlint.syntax.walk import walk

GUARD_HINT = "(Idempotency-Key header, get_or_create, or upsert)"


class NonIdempotentPost(Rule):
    code = "BL201"
    name = "non-idempotent-post"
    summary = "POST handler creates state with no idempotency guard"
    # Every POST handler mentions POST as a word (route methods, require_POST, def post,
    # on_post, request.method == "POST", @action(methods=["post"])) or is a DRF
    # ``create``/``perform_create``. "postgres", "POSTGRES_HOST", "created" and the
    # "Post Falls" of an airport table do not count. (Each alternative begins with its
    # literal, the lookbehind after it, so that the regex engine can scan for them.)
    requires_re = r"post(?<![a-z]post)(?![a-z])|POST(?![A-Z])|create(?<![a-z]create)(?![a-z])"
    facts = tuple(dict.fromkeys(orm.FACTS + middleware.FACTS + effects.FACTS + contexts.FACTS))
    options = (
        Option(
            "guards",
            list,
            [],
            "extra names of decorators, dependencies, middleware or functions that make a "
            "handler idempotent (matched on the full or last dotted name)",
        ),
        Option(
            "log-models",
            list,
            [],
            "models of your own whose rows record that something happened (a duplicate is "
            "noise): findings that create only those are low",
        ),
    )

    @classmethod
    def skips_path(cls, relpath: str) -> bool:
        return is_test_path(relpath)

    @classmethod
    def prepare(cls, facts, options=None) -> None:
        effects.run_resolver(facts)  # follows handlers' calls into project functions
        contexts.context_map(facts)  # severity: the context of every project function

    def __init__(self, ctx, options=None):
        super().__init__(ctx, options)
        self.extra_guards = tuple(self.opts.guards or ())
        self.log_models = tuple(self.opts.log_models or ())
        self.file_mentions_idempotency = "idempot" in ctx.source.lower()
        self.in_tests = is_test_path(ctx.relpath)

    # ------------------------------------------------------------------------------
    def leave_FunctionDef(self, node: cst.FunctionDef) -> None:
        found = self.analyse(node)
        if found is None or found[1] is None:
            return
        unguarded: List[str] = []
        reported = []
        for event in found[1].events:
            if not event.guarded and event.label not in unguarded:
                unguarded.append(event.label)
                reported.append(event)
        if not unguarded:
            return
        what = _join(unguarded)
        ranked = rank_finding(self.ctx, node, handlers.enclosing_classes(self.ctx.stack), reported)
        self.report(node.name, f"POST handler {what} without an idempotency guard {GUARD_HINT}", **ranked.as_report())

    def analyse(self, node: cst.FunctionDef) -> Optional[Tuple[str, Optional[Analysis]]]:
        """(handler kind, analysis) for a POST handler (analysis None when a handler-wide
        guard applies), None for any other function."""
        ctx = self.ctx
        if self.in_tests:
            return None
        classes = handlers.enclosing_classes(ctx.stack)
        kind = handlers.post_handler_kind(ctx, node, classes)
        if kind is None:
            return None
        if self._middleware_guarded() or self._handler_guarded(node, classes):
            return (kind, None)
        methods = handlers.handler_methods(ctx, node)
        analysis = Analysis(ctx, side_effects.local_bindings(node), set(methods) if methods else None)
        analysis.scope = orm.OrmScope(ctx, node)
        analysis.func = node
        analysis.log_models = self.log_models
        if len(classes) == 1:
            analysis.class_key = f"{ctx.module_name}.{classes[0].name.value}"
            analysis.self_key = f"{analysis.class_key}.{node.name.value}"
        elif not classes:
            analysis.self_key = f"{ctx.module_name}.{node.name.value}"
        self._prepare(analysis, node)
        if kind == handlers.POST_ONLY:
            start = True
        elif kind == handlers.MIXED:
            start = not self._has_method_branches(node, analysis)
        else:
            start = False
        state = State(post=start)
        if self._consumes_loaded_row(analysis, node):
            # an invite/token loaded by the handler and deleted: a retry finds nothing
            state = guard(state, ALL)
        if isinstance(node.body, cst.IndentedBlock):
            PostWalk(ctx, analysis).suite(node.body, state)
        return (kind, analysis)

    @staticmethod
    def _consumes_loaded_row(analysis: Analysis, func: cst.FunctionDef) -> bool:
        for sub in walk(func.body):
            if isinstance(sub, cst.Call) and not sub.args and isinstance(sub.func, cst.Attribute):
                if sub.func.attr.value in ("delete", "adelete"):
                    recv = sub.func.value
                    if isinstance(recv, cst.Name) and recv.value in analysis.loaded_vars:
                        return True
        return False

    # -- handler-wide guards ---------------------------------------------------------
    def _handler_guarded(self, func: cst.FunctionDef, classes: Sequence[cst.ClassDef]) -> bool:
        ctx = self.ctx
        decorators = list(func.decorators)
        if classes:
            decorators += list(classes[-1].decorators)
        for dec in decorators:
            for sub in walk(dec):
                if isinstance(sub, (cst.Name, cst.Attribute)):
                    text = ctx.qualified(sub) or dotted_name(sub) or ""
                    if text and guards.guard_named(text, self.extra_guards):
                        return True
        params = func.params
        for p in list(params.params) + list(params.kwonly_params):
            for part in (p.default, p.annotation.annotation if p.annotation else None):
                if part is None:
                    continue
                for sub in walk(part):
                    if isinstance(sub, (cst.Name, cst.Attribute)):
                        text = ctx.qualified(sub) or dotted_name(sub) or ""
                        if text and guards.guard_named(text, self.extra_guards) and not _is_key_param(p):
                            return True
        if self.extra_guards:
            for sub in walk(func.body):
                if isinstance(sub, cst.Call):
                    text = ctx.qualified_callee(sub) or dotted_name(sub.func) or ""
                    if text and guards.guard_named(text, self.extra_guards) and "idempot" not in text.lower():
                        return True
        if self.file_mentions_idempotency and guards.idempotency_key_used(func):
            return True
        return False

    def _middleware_guarded(self) -> bool:
        return middleware.Middleware.of(self.ctx.facts).guards_every_request

    def _has_method_branches(self, func: cst.FunctionDef, analysis: Analysis) -> bool:
        for sub in walk(func.body):
            if isinstance(sub, cst.If) and post_test(sub.test, analysis) is not None:
                return True
        return False

    # -- pre-pass: what local names hold -----------------------------------------------
    def _prepare(self, analysis: Analysis, func: cst.FunctionDef) -> None:
        ctx = self.ctx
        values = analysis.bindings.values
        for name, vals in values.items():
            for value in vals:
                value = side_effects.unwrap(value)
                if not isinstance(value, cst.Call):
                    continue
                if guards.manager_guarded_create(value):
                    analysis.model_vars.add(name)
                    analysis.loaded_vars.add(name)
                elif creates.manager_create(ctx, value):
                    analysis.model_vars.add(name)
                elif guards.is_loader(value):
                    analysis.model_vars.add(name)
                    analysis.loaded_vars.add(name)
                elif creates.model_construction(ctx, value):
                    analysis.model_vars.add(name)
        for name, vals in values.items():
            for value in vals:
                found = creates.lookup_model(ctx, value, analysis.model_vars)
                if found:
                    analysis.lookups[name] = found
                    if found[1] == "instance":
                        analysis.model_vars.add(name)
                        analysis.loaded_vars.add(name)
        created = set()
        relations = getattr(analysis.scope, "flavour", None) and analysis.scope.flavour.relations
        for sub in walk(func.body):
            if isinstance(sub, cst.Call):
                made = (
                    creates.manager_create(ctx, sub)
                    or creates.related_create(sub, analysis.model_vars, relations)
                    or creates.model_classmethod_create(ctx, sub, lambda expr: is_session(ctx, analysis, expr))
                )
                if made is not None:
                    created.add(creates.model_key(made.model))
                elif isinstance(sub.func, cst.Attribute) and sub.func.attr.value in ("save", "add", "add_all"):
                    # Order(...).save(), session.add(Order(...))
                    for candidate in [sub.func.value] + [arg.value for arg in sub.args]:
                        built = creates.model_construction(ctx, candidate)
                        if built:
                            created.add(creates.model_key(built))
        for var_values in values.values():
            for value in var_values:
                built = creates.model_construction(ctx, side_effects.unwrap(value))
                if built:
                    created.add(creates.model_key(built))
        analysis.created_keys = frozenset(created)
        # created flags of get_or_create: ``obj, created = M.objects.get_or_create(...)``
        for sub in walk(func.body):
            if isinstance(sub, cst.Assign) and isinstance(side_effects.unwrap(sub.value), cst.Call):
                call = side_effects.unwrap(sub.value)
                if guards.manager_guarded_create(call):
                    for t in sub.targets:
                        if isinstance(t.target, cst.Tuple) and len(t.target.elements) == 2:
                            flag = t.target.elements[1].value
                            if isinstance(flag, cst.Name) and flag.value != "_":
                                analysis.created_flags.add(flag.value)

    # -- POST branches -----------------------------------------------------------------


def _is_key_param(p: cst.Param) -> bool:
    return guards.mentions_idempotency(p.name.value)


def _join(items: List[str]) -> str:
    if len(items) > 3:
        items = items[:3] + [f"{len(items) - 3} more"]
    if len(items) == 1:
        return items[0]
    return ", ".join(items[:-1]) + " and " + items[-1]
