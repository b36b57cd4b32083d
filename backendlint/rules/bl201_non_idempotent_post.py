"""BL201 non-idempotent-post: a POST handler creates state with no idempotency guard."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Dict, FrozenSet, List, Optional, Sequence, Set, Tuple

import libcst as cst

from backendlint.engine.imports import dotted_name
from backendlint.engine.rule import Option, Rule
from backendlint.engine.traversal import walk
from backendlint.knowledge import creates, effects, handlers, orm, side_effects
from backendlint.knowledge.paths import is_test_path
from backendlint.knowledge.side_effects import Bindings, SideEffect

GUARD_HINT = "(Idempotency-Key header, get_or_create, or upsert)"
_EFFECT_KINDS = (side_effects.PAYMENT, side_effects.HTTP, side_effects.TASK, side_effects.EMAIL)
_EFFECT_VERB = {
    side_effects.PAYMENT: "charges a payment",
    side_effects.HTTP: "sends an outbound POST",
    side_effects.TASK: "enqueues a task",
    side_effects.EMAIL: "sends an email",
}
_ALL = "*"  # guard state: everything is covered


@dataclass
class State:
    """Guards in force on the current path, and whether the code is a POST branch."""

    post: bool
    models: FrozenSet[str] = frozenset()  # models cleared by a duplicate check ("*": all)
    effects: bool = False  # side effects cleared (they follow a duplicate check)
    integrity: bool = False  # inside try: ... except IntegrityError

    def with_(self, **kw) -> "State":
        data = dict(post=self.post, models=self.models, effects=self.effects, integrity=self.integrity)
        data.update(kw)
        return State(**data)

    def covers(self, model: str) -> bool:
        if self.integrity or _ALL in self.models:
            return True
        key = creates.model_key(model)
        return any(_same_model(key, guarded) for guarded in self.models)

    def covers_effects(self) -> bool:
        return self.effects or _ALL in self.models or self.integrity


@dataclass
class Finding:
    label: str
    guarded: bool


@dataclass
class Analysis:
    ctx: object
    bindings: Bindings
    methods: Optional[Set[str]]  # methods the handler is known to accept
    events: List[Finding] = field(default_factory=list)
    # var -> list of (model, guarded) for model instances constructed in the handler
    constructions: Dict[str, List[Tuple[str, bool]]] = field(default_factory=dict)
    lookups: Dict[str, Tuple[str, str]] = field(default_factory=dict)  # var -> (model, shape)
    created_flags: Set[str] = field(default_factory=set)
    model_vars: Set[str] = field(default_factory=set)
    loaded_vars: Set[str] = field(default_factory=set)  # model instances read from the database
    saved: Set[str] = field(default_factory=set)
    scope: object = None  # orm.OrmScope of the handler
    pending_adds: List[Finding] = field(default_factory=list)  # session.add before commit
    created_keys: FrozenSet[str] = frozenset()  # model keys of every row the handler creates
    class_key: Optional[str] = None  # "module.Class" of a handler method (effect summaries)
    self_key: Optional[str] = None  # the handler's own summary key
    callee_labels: Set[str] = field(default_factory=set)  # what project calls were found to do
    func: object = None  # the handler's FunctionDef


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
    facts = orm.FACTS + (creates.MIDDLEWARE_FACT,) + effects.FACTS
    options = (
        Option(
            "guards",
            list,
            [],
            "extra names of decorators, dependencies, middleware or functions that make a "
            "handler idempotent (matched on the full or last dotted name)",
        ),
    )

    @classmethod
    def skips_path(cls, relpath: str) -> bool:
        return is_test_path(relpath)

    @classmethod
    def prepare(cls, facts, options=None) -> None:
        effects.run_resolver(facts)  # follows handlers' calls into project functions

    def __init__(self, ctx, options=None):
        super().__init__(ctx, options)
        self.extra_guards = tuple(self.opts.get("guards") or ())
        self.file_mentions_idempotency = "idempot" in ctx.source.lower()
        self.in_tests = is_test_path(ctx.relpath)

    # ------------------------------------------------------------------------------
    def leave_FunctionDef(self, node: cst.FunctionDef) -> None:
        found = self.analyse(node)
        if found is None or found[1] is None:
            return
        unguarded = []
        for event in found[1].events:
            if not event.guarded and event.label not in unguarded:
                unguarded.append(event.label)
        if not unguarded:
            return
        what = _join(unguarded)
        self.report(node.name, f"POST handler {what} without an idempotency guard {GUARD_HINT}")

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
            state = _guard(state, _ALL)
        self._block(analysis, node.body.body if isinstance(node.body, cst.IndentedBlock) else [], state)
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
                    if text and creates.guard_named(text, self.extra_guards):
                        return True
        params = func.params
        for p in list(params.params) + list(params.kwonly_params):
            for part in (p.default, p.annotation.annotation if p.annotation else None):
                if part is None:
                    continue
                for sub in walk(part):
                    if isinstance(sub, (cst.Name, cst.Attribute)):
                        text = ctx.qualified(sub) or dotted_name(sub) or ""
                        if text and creates.guard_named(text, self.extra_guards) and not _is_key_param(p):
                            return True
        if self.extra_guards:
            for sub in walk(func.body):
                if isinstance(sub, cst.Call):
                    text = ctx.qualified_callee(sub) or dotted_name(sub.func) or ""
                    if text and creates.guard_named(text, self.extra_guards) and "idempot" not in text.lower():
                        return True
        if self.file_mentions_idempotency and creates.idempotency_key_used(func):
            return True
        return False

    def _middleware_guarded(self) -> bool:
        names = self.ctx.facts.get(creates.MIDDLEWARE_FACT) if self.ctx.facts is not None else None
        return bool(names)

    def _has_method_branches(self, func: cst.FunctionDef, analysis: Analysis) -> bool:
        for sub in walk(func.body):
            if isinstance(sub, cst.If) and self._post_test(sub.test, analysis) is not None:
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
                if creates.manager_guarded_create(value):
                    analysis.model_vars.add(name)
                    analysis.loaded_vars.add(name)
                elif creates.manager_create(ctx, value):
                    analysis.model_vars.add(name)
                elif _is_loader(value):
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
                    or creates.model_classmethod_create(ctx, sub, lambda expr: self._is_session(analysis, expr))
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
                if creates.manager_guarded_create(call):
                    for t in sub.targets:
                        if isinstance(t.target, cst.Tuple) and len(t.target.elements) == 2:
                            flag = t.target.elements[1].value
                            if isinstance(flag, cst.Name) and flag.value != "_":
                                analysis.created_flags.add(flag.value)

    # -- POST branches -----------------------------------------------------------------
    def _post_test(self, test: cst.BaseExpression, analysis: Analysis) -> Optional[bool]:
        """True: the test holds only for POST; False: it holds only for non-POST."""
        verdict = handlers.post_branch_test(test)
        if verdict is not None:
            return verdict
        found = handlers.method_test(test)
        if found is not None and analysis.methods:
            methods, positive = found
            accepted = {m for m in analysis.methods if m not in ("HEAD", "OPTIONS")}
            true_set = (accepted & set(methods)) if positive else (accepted - set(methods))
            if true_set == {"POST"}:
                return True
            if true_set and "POST" not in true_set:
                return False
        return None

    # -- statement walk ----------------------------------------------------------------
    def _block(self, a: Analysis, stmts: Sequence[cst.BaseStatement], state: State) -> State:
        for stmt in stmts:
            state = self._statement(a, stmt, state)
        return state

    def _body(self, a: Analysis, body, state: State) -> State:
        if isinstance(body, cst.IndentedBlock):
            return self._block(a, body.body, state)
        if isinstance(body, cst.SimpleStatementSuite):
            for small in body.body:
                state = self._small(a, small, state)
            return state
        return state

    def _statement(self, a: Analysis, stmt: cst.BaseStatement, state: State) -> State:
        if isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                state = self._small(a, small, state)
            return state
        if isinstance(stmt, cst.If):
            return self._if(a, stmt, state)
        if isinstance(stmt, (cst.For, cst.While)):
            self._expr_nodes(a, stmt.iter if isinstance(stmt, cst.For) else stmt.test, state)
            self._body(a, stmt.body, state)
            if stmt.orelse is not None:
                self._body(a, stmt.orelse.body, state)
            return state
        if isinstance(stmt, (cst.Try, cst.TryStar)):
            return self._try(a, stmt, state)
        if isinstance(stmt, cst.With):
            inner = state
            for item in stmt.items:
                self._expr_nodes(a, item.item, state)
                if creates.suppresses_integrity_error(self.ctx, item):
                    inner = inner.with_(integrity=True)
            after = self._body(a, stmt.body, inner)
            return after.with_(integrity=state.integrity)
        if isinstance(stmt, cst.FunctionDef):
            self._body(a, stmt.body, state)
            return state
        if isinstance(stmt, cst.Match):
            self._expr_nodes(a, stmt.subject, state)
            for case in stmt.cases:
                self._body(a, case.body, state)
            return state
        return state

    def _if(self, a: Analysis, stmt: cst.If, state: State) -> State:
        post = self._post_test(stmt.test, a)
        self._expr_nodes(a, stmt.test, state)
        body_state, else_state = state, state
        if post is True:
            body_state = state.with_(post=True)
            else_state = state.with_(post=False) if not state.post else state
        elif post is False:
            body_state = state.with_(post=False) if not state.post else state
            else_state = state.with_(post=True)
        dup = self._dup_test(a, stmt.test)
        if dup is not None:
            model, exists = dup
            if exists:  # true when a duplicate exists: the else branch is the "new" path
                else_state = _guard(else_state, model, a.created_keys)
            else:  # true when no duplicate exists: the body is the "new" path
                body_state = _guard(body_state, model, a.created_keys)
        state_check = post is None and dup is None and self._state_test(a, stmt.test)
        if state_check:
            # ``if order.status == PENDING: ...`` on a row loaded here: a retry finds the
            # row in its new state, so both branches are guarded.
            body_state = _guard(body_state, _ALL)
            else_state = _guard(else_state, _ALL)
        self._body(a, stmt.body, body_state)
        body_exits = _exits(stmt.body)
        if stmt.orelse is not None:
            if isinstance(stmt.orelse, cst.If):
                self._if(a, stmt.orelse, else_state)
            else:
                self._body(a, stmt.orelse.body, else_state)
        after = state
        if body_exits:
            if post is False:
                after = after.with_(post=True)
            elif post is True and not state.post:
                after = after.with_(post=False)
            if dup is not None and dup[1]:
                after = _guard(after, dup[0], a.created_keys)
            if state_check:
                after = _guard(after, _ALL)
        return after

    def _try(self, a: Analysis, stmt, state: State) -> State:
        integrity = any(creates.catches_integrity_error(h) for h in stmt.handlers)
        body_state = state.with_(integrity=True) if integrity else state
        after_body = self._body(a, stmt.body, body_state).with_(integrity=state.integrity)
        looked_up = _lookups_in(self.ctx, stmt.body, a.model_vars)
        after = state.with_(post=after_body.post)
        for handler in stmt.handlers:
            handler_state = state
            missing = creates.does_not_exist_models(handler)
            if missing is not None:
                # try: obj = M.objects.get(...)  except M.DoesNotExist: M.objects.create(...)
                for m in [m for m in missing if m] + looked_up:
                    handler_state = _guard(handler_state, m, a.created_keys)
            self._body(a, handler.body, handler_state)
            if missing is not None and _exits(stmt.body) and looked_up:
                # try: M.objects.get(...); return ...  except M.DoesNotExist: pass
                for m in looked_up:
                    after = _guard(after, m, a.created_keys)
        if stmt.orelse is not None:
            self._body(a, stmt.orelse.body, after_body)
        if stmt.finalbody is not None:
            self._body(a, stmt.finalbody.body, state)
        if not stmt.handlers:
            after = after_body
        return after

    # -- expressions ---------------------------------------------------------------------
    def _small(self, a: Analysis, small: cst.BaseSmallStatement, state: State) -> State:
        # constructions: obj = Order(...), obj = lookup or Order(...)
        if isinstance(small, (cst.Assign, cst.AnnAssign)) and small.value is not None:
            value = side_effects.unwrap(small.value)
            targets = [t.target for t in small.targets] if isinstance(small, cst.Assign) else [small.target]
            built = creates.model_construction(self.ctx, value)
            guarded = False
            if built is None and isinstance(value, cst.BooleanOperation) and isinstance(value.operator, cst.Or):
                right = creates.model_construction(self.ctx, value.right)
                left = creates.lookup_model(self.ctx, value.left, a.model_vars)
                if right and left:
                    built, guarded = right, True
            if built:
                for target in targets:
                    if isinstance(target, cst.Name):
                        a.constructions.setdefault(target.value, []).append((built, guarded or state.covers(built)))
        return self._expr_nodes(a, small, state)

    def _expr_nodes(self, a: Analysis, node: cst.CSTNode, state: State) -> State:
        for sub in walk(node):
            if isinstance(sub, cst.Call):
                state = self._call(a, sub, state)
        return state

    def _call(self, a: Analysis, call: cst.Call, state: State) -> State:
        """Record what the call creates; return the guard state after it."""
        ctx = self.ctx
        func = call.func
        method = func.attr.value if isinstance(func, cst.Attribute) else ""
        # Deletes that make a retry harmless (they apply outside POST branches too).
        if method in ("delete", "adelete") and not call.args:
            recv = func.value
            found = creates.lookup_model(ctx, recv, a.model_vars)
            if found:
                # delete-then-create: the handler replaces the rows, it does not add
                return _guard(state, found[0])
            return state
        if not state.post:
            return state
        made = (
            creates.manager_create(ctx, call)
            or creates.related_create(call, a.model_vars, getattr(a.scope, "flavour", None) and a.scope.flavour.relations)
            or creates.model_classmethod_create(ctx, call, lambda expr: self._is_session(a, expr))
        )
        if made is not None:
            owner = _related_owner(call)
            if owner is not None and owner in a.model_vars and owner not in a.loaded_vars:
                return state  # a child row of an object this handler creates
            if not creates.is_log_model(made.model):
                a.events.append(Finding(f"creates {made.label}", state.covers(made.model)))
            return state
        if isinstance(func, cst.Attribute):
            # obj.save() of an instance constructed in the handler; Order(...).save()
            if method in ("save", "asave") and not any(arg.keyword is None for arg in call.args):
                recv = func.value
                built = creates.model_construction(ctx, recv)
                if built:
                    self._event(a, built, state.covers(built))
                    return state
                if isinstance(recv, cst.Name) and recv.value in a.constructions and recv.value not in a.saved:
                    self._constructed(a, recv.value, state)
                    return state
            # session.add(obj) / session.add(Order(...)) / session.add_all([...])
            if method in ("add", "add_all", "bulk_save_objects") and call.args and self._is_session(a, func.value):
                arg = call.args[0].value
                items = [arg]
                if method != "add" and isinstance(arg, (cst.List, cst.Tuple)):
                    items = [el.value for el in arg.elements]
                for item in items:
                    built = creates.model_construction(ctx, item)
                    if built:
                        self._event(a, built, state.covers(built), pending=True)
                    elif isinstance(item, cst.Name) and item.value in a.constructions and item.value not in a.saved:
                        self._constructed(a, item.value, state, pending=True)
                    elif method != "add" and isinstance(item, (cst.ListComp, cst.GeneratorExp)):
                        built = creates.model_construction(ctx, item.elt)
                        if built:
                            self._event(a, built, state.covers(built), pending=True)
                return state
            if method in ("commit", "flush") and not call.args and state.integrity and self._is_session(a, func.value):
                # try: session.commit() except IntegrityError: the INSERTs of the pending
                # adds happen here, so the handler deals with the duplicate
                for event in a.pending_adds:
                    event.guarded = True
                a.pending_adds.clear()
                return state
            if method in ("commit",) and self._is_session(a, func.value):
                a.pending_adds.clear()
                return state
            if method == "bulk_insert_mappings" and call.args and self._is_session(a, func.value):
                model = (dotted_name(call.args[0].value) or "rows").rsplit(".", 1)[-1]
                self._event(a, model, state.covers(model))
                return state
            inserted = creates.executed_insert(ctx, call, a.bindings)
            if inserted is not None:
                table, upsert, _ = inserted
                if not upsert:
                    self._event(a, table, state.covers(table))
                return state
        effect = side_effects.classify_call(ctx, call, a.bindings)
        if effect is not None and self._counts(effect, call):
            guarded = effect.idempotent or state.covers_effects()
            a.events.append(Finding(f"{_EFFECT_VERB[effect.kind]} ({effect.label})", guarded))
        elif effect is None:
            self._project_call(a, call, state)
        return state

    def _project_call(self, a: Analysis, call: cst.Call, state: State) -> None:
        """A call to a project function that (itself or through its callees) creates state
        with no guard of its own (effect summaries)."""
        found = effects.handler_callee(self.ctx, call, a.bindings, a.class_key, a.self_key, a.func)
        if found is None:
            return
        target, summaries = found
        exported = summaries.get("creates", {}).get(target)
        if not exported:
            return
        for label, chain in exported.items():
            if label in a.callee_labels:
                continue  # already named through another call
            if label.startswith("sends an outbound POST") and any(
                _IDEMPOTENT_URL.search(name) for name in effects.chain_names(target, chain)
            ):
                continue  # notify_ping_event() -> httpx.post(url): a ping, a token refresh
            a.callee_labels.add(label)
            if label.startswith("creates "):
                model = label.split()[1]
                if creates.is_log_model(model):
                    continue
                guarded = state.covers(model)
            else:
                guarded = state.covers_effects()
            text = (
                f"calls {effects.describe_chain(summaries, target, chain)}, "
                f"which {label} ({effects.create_line(summaries, target, chain)})"
            )
            a.events.append(Finding(text, guarded))

    def _is_session(self, a: Analysis, expr: cst.BaseExpression) -> bool:
        scope = a.scope
        if scope is not None:
            kind = scope.kind(expr)
            if kind in (orm.K_SESSION, orm.K_AUTOCOMMIT):
                return True
            if kind is not None:
                return False
        return creates.is_session(self.ctx, expr, a.bindings)

    def _event(self, a: Analysis, model: str, guarded: bool, pending: bool = False) -> None:
        if creates.is_log_model(model):
            return
        event = Finding(f"creates {model}", guarded)
        a.events.append(event)
        if pending and not guarded:
            a.pending_adds.append(event)

    def _constructed(self, a: Analysis, var: str, state: State, pending: bool = False) -> None:
        a.saved.add(var)
        if var in a.loaded_vars:
            return  # obj = lookup(); if obj is None: obj = Model(...) -- handled by the guards
        for model, guarded in a.constructions[var]:
            self._event(a, model, guarded or state.covers(model), pending=pending)

    @staticmethod
    def _counts(effect: SideEffect, call: cst.Call) -> bool:
        if effect.kind not in _EFFECT_KINDS:
            return False
        if effect.kind == side_effects.HTTP:
            return effect.method == "POST" and not _idempotent_url(call)
        if effect.kind == side_effects.TASK:
            return not creates.is_idempotent_task_name(effect.label)
        return True

    # -- duplicate checks ------------------------------------------------------------------
    def _dup_test(self, a: Analysis, test: cst.BaseExpression) -> Optional[Tuple[str, bool]]:
        """(model, exists?) when the test checks for an existing row: exists? is True when
        the test is true for a duplicate. Model "*" is a get_or_create ``created`` flag or
        a duplicate check delegated to a predicate (``user.has_active_session()``)."""
        if isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not):
            inner = self._dup_test(a, test.expression)
            return (inner[0], not inner[1]) if inner else None
        if isinstance(test, cst.BooleanOperation):
            return self._dup_test(a, test.left) or self._dup_test(a, test.right)
        if isinstance(test, cst.Name):
            if test.value in a.created_flags:
                return (_ALL, False)
            if test.value in a.lookups:
                return (a.lookups[test.value][0], True)
            return None
        if isinstance(test, cst.Attribute):
            # existing.pk / existing.id
            base = test.value
            if isinstance(base, cst.Name) and base.value in a.lookups and test.attr.value in ("pk", "id"):
                return (a.lookups[base.value][0], True)
            # user.profile / chat.share_id: the link to a row this handler creates is set
            attr = test.attr.value
            linked = creates.attr_names_model(attr, a.created_keys)
            if linked:
                return (linked, True)
            if attr.endswith("_id") and isinstance(base, cst.Name) and base.value in a.loaded_vars:
                return (_ALL, True)
            return None
        if isinstance(test, cst.Call) and isinstance(test.func, cst.Name) and test.func.value in ("len", "bool") and len(test.args) == 1:
            return self._dup_test(a, test.args[0].value)  # len(wishlists) == 0
        if isinstance(test, cst.Call) and isinstance(test.func, cst.Name) and test.func.value in ("hasattr", "getattr") and len(test.args) >= 2:
            name = test.args[1].value
            if isinstance(name, cst.SimpleString):
                linked = creates.attr_names_model(name.value.strip("\"'"), a.created_keys)
                if linked:
                    return (linked, True)  # if not hasattr(request.user, "config"): UserConfig(...)
            return None
        if isinstance(test, (cst.Call, cst.Await)):
            found = creates.lookup_model(self.ctx, test, a.model_vars)
            if found:
                return (found[0], True)
            call = side_effects.unwrap(test)
            if isinstance(call, cst.Call) and _is_duplicate_predicate(call):
                return (_ALL, True)
            return None
        if isinstance(test, cst.Comparison) and len(test.comparisons) == 1:
            comp = test.comparisons[0]
            if isinstance(comp.operator, (cst.In, cst.NotIn)):
                # ``if name not in current`` with current = Setting.objects.get_settings_dict()
                target = comp.comparator
                found = None
                if isinstance(target, cst.Name) and target.value in a.lookups:
                    found = a.lookups[target.value][0]
                elif isinstance(target, cst.Call):
                    hit = creates.lookup_model(self.ctx, target, a.model_vars)
                    found = hit[0] if hit else None
                if found:
                    return (found, isinstance(comp.operator, cst.In))
                return None
            left = self._dup_test(a, test.left)
            if left is None:
                return None
            model, exists = left
            op = comp.operator
            right = comp.comparator
            if isinstance(right, cst.Name) and right.value == "None":
                if isinstance(op, cst.Is) or isinstance(op, cst.Equal):
                    return (model, not exists)
                if isinstance(op, (cst.IsNot, cst.NotEqual)):
                    return (model, exists)
            if isinstance(right, cst.Integer):
                n = int(right.value)
                if isinstance(op, (cst.GreaterThan,)) and n == 0 or isinstance(op, cst.GreaterThanEqual) and n == 1:
                    return (model, exists)
                if isinstance(op, cst.NotEqual) and n == 0:
                    return (model, exists)
                if isinstance(op, cst.Equal) and n == 0 or isinstance(op, cst.LessThan) and n == 1:
                    return (model, not exists)
            return None
        return None

    def _state_test(self, a: Analysis, test: cst.BaseExpression, depth: int = 0) -> bool:
        """The test reads a state field of a row loaded in the handler (``order.status``,
        ``invoice.transmission_status``, ``self.object.paid_at``), also through a flag
        (``was_accepted = obj.state == ACCEPTED; if was_accepted:``)."""
        if isinstance(test, cst.Name) and depth < 2:
            values = a.bindings.values.get(test.value, [])
            return bool(values) and all(self._state_test(a, v, depth + 1) for v in values)
        for sub in walk(test):
            if isinstance(sub, cst.Attribute) and _STATE_ATTR.search(sub.attr.value):
                owner = sub.value
                if isinstance(owner, cst.Name) and owner.value in a.loaded_vars:
                    return True
                if isinstance(owner, cst.Name) and any(
                    _row_annotation(self.ctx, ann) for ann in a.bindings.annotations.get(owner.value, [])
                ):
                    return True  # request: PrivacyRequest = task.privacy_request; if request.status ...
                text = dotted_name(owner) or ""
                if text.startswith("self.") and text.count(".") == 1 and text != "self.request":
                    return True  # self.order.status: the view's object
        return False


# ----------------------------------------------------------------------------------------


def _same_model(a: str, b: str) -> bool:
    """``statictoken`` and a related ``token_set`` are one model; so are ``order`` and
    ``orders``. Names are compared on their ends (models are often prefixed)."""
    if a == b:
        return True
    short, long_ = (a, b) if len(a) <= len(b) else (b, a)
    if len(short) < 4:
        return False
    short = short[:-1] if short.endswith("s") else short
    long_ = long_[:-1] if long_.endswith("s") else long_
    return long_.endswith(short)


def _guard(state: State, model: str, created: FrozenSet[str] = frozenset()) -> State:
    """The state after a duplicate check on ``model``. When the handler also creates
    ``model`` (a marker row), the check covers everything the handler does."""
    key = model if model == _ALL else creates.model_key(model)
    if any(_same_model(key, c) for c in created):
        key = _ALL
    return state.with_(models=state.models | {key}, effects=True)


def _exits(body, depth: int = 0) -> bool:
    """The block returns/raises/continues (also from a nested ``if`` at its top level: a
    duplicate check whose "already there" path usually returns is taken as one)."""
    stmts = body.body if isinstance(body, (cst.IndentedBlock, cst.SimpleStatementSuite)) else []
    for stmt in stmts:
        if isinstance(stmt, cst.If) and depth < 2 and _exits(stmt.body, depth + 1):
            return True
        smalls = stmt.body if isinstance(stmt, cst.SimpleStatementLine) else ([stmt] if isinstance(stmt, cst.BaseSmallStatement) else [])
        for small in smalls:
            if isinstance(small, (cst.Return, cst.Raise, cst.Continue, cst.Break)):
                return True
            if isinstance(small, cst.Expr) and isinstance(small.value, cst.Call):
                name = dotted_name(small.value.func) or ""
                if name.rsplit(".", 1)[-1] in ("abort",):
                    return True
    return False


def _lookups_in(ctx, body, model_vars) -> List[str]:
    out = []
    for sub in walk(body):
        if isinstance(sub, cst.Call):
            found = creates.lookup_model(ctx, sub, model_vars)
            if found and found[1] == "instance" and found[0] not in out:
                out.append(found[0])
    return out


_LOADER_PREFIXES = ("get_", "aget_", "find_", "fetch_", "load_", "retrieve_", "lookup_")


def _is_loader(call: cst.Call) -> bool:
    """``get_object_or_404(...)``, ``self.get_object()``, ``Chats.get_chat_by_id(...)``:
    a row read from the database."""
    name = dotted_name(call.func) or ""
    last = name.rsplit(".", 1)[-1]
    if last in ("get_object_or_404", "get_object", "aget_object_or_404", "first_or_404", "get_or_404", "one_or_404"):
        return True
    return last.startswith(_LOADER_PREFIXES) and last not in ("get_form", "get_serializer", "get_context_data", "get_queryset", "get_success_url", "get_form_kwargs", "get_serializer_context")


def _row_annotation(ctx, ann: cst.BaseExpression) -> bool:
    """``PrivacyRequest`` imported from the project: a typed row (not a library class)."""
    if not isinstance(ann, (cst.Name, cst.Attribute)):
        return False
    q = ctx.qualified(ann) or ""
    last = q.rsplit(".", 1)[-1]
    return bool(q) and last[:1].isupper() and any(c.islower() for c in last) and not q.startswith(creates._NOT_MODEL_MODULES)


def _is_key_param(p: cst.Param) -> bool:
    return "idempot" in p.name.value.lower()


def _join(items: List[str]) -> str:
    if len(items) > 3:
        items = items[:3] + [f"{len(items) - 3} more"]
    if len(items) == 1:
        return items[0]
    return ", ".join(items[:-1]) + " and " + items[-1]


_STATE_ATTR = re.compile(
    r"(status|state|paid|confirmed|completed|processed|approved|cancell?ed|done|finished|submitted|"
    r"published|sent|used|redeemed|locked|closed|_at$)",
    re.IGNORECASE,
)
_PREDICATE = re.compile(r"^(has_|already_|is_duplicate|exists|.*_exists$)")


def _is_duplicate_predicate(call: cst.Call) -> bool:
    """``user.has_active_staff_session(...)``, ``already_registered(...)``: a duplicate
    check done by a project predicate."""
    name = (dotted_name(call.func) or "").rsplit(".", 1)[-1]
    return bool(name) and bool(_PREDICATE.match(name)) and name not in ("has_perm", "has_perms", "has_permission", "has_changed", "has_key", "has_header")


def _related_owner(call: cst.Call) -> Optional[str]:
    """``order`` for ``order.items.create(...)``."""
    func = call.func
    if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Attribute):
        owner = func.value.value
        if isinstance(owner, cst.Name):
            return owner.value
    return None


_IDEMPOTENT_URL = side_effects.IDEMPOTENT_URL


def _idempotent_url(call: cst.Call) -> bool:
    """An outbound POST to an endpoint whose URL says it reads or is idempotent
    (OAuth token exchange, search, completions, ``/update``)."""
    url = None
    for arg in call.args:
        if arg.keyword is None or arg.keyword.value == "url":
            url = arg.value
            break
    if url is None:
        return False
    texts = []
    for sub in walk(url):
        if isinstance(sub, cst.SimpleString):
            texts.append(sub.value)
        elif isinstance(sub, cst.FormattedStringText):
            texts.append(sub.value)
        elif isinstance(sub, cst.Name):
            texts.append(sub.value)
    return bool(_IDEMPOTENT_URL.search(" ".join(texts)))
