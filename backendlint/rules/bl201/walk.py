"""BL201's walk of a POST handler's body: which creates and side effects happen on the
POST path, and which guards are in force there.

The walk rides on ``syntax.flow.Flow`` (statement dispatch, blocks, suites), with
BL201's own semantics for the compound statements, which are not those of a join of
branches: the state after an ``if`` is the state before it, refined only when the body
exits (``if exists: return`` guards the rest; ``if request.method != "POST": return``
makes the rest a POST branch); guards found inside a branch stay in that branch; code
after ``return`` / ``raise`` is still read (an exit does not end the walk). So every
statement falls through (no ``Outcome`` has exits) and ``join`` is never needed by the
walk itself.
"""

from __future__ import annotations

from typing import Dict, Optional

import libcst as cst

from backendlint.analysis.calls import project_callee
from backendlint.index.effects import CreatePath, EffectIndex
from backendlint.knowledge import creates, guards, orm, side_effects
from backendlint.knowledge.side_effects import SideEffect
from backendlint.rules.bl201.checks import IfTest, exits, lookups_in
from backendlint.rules.bl201.severity import effect_of_callee, effect_of_row, effect_of_side_effect
from backendlint.rules.bl201.state import Analysis, Finding, State, guard
from backendlint.syntax.flow import Flow, Outcome
from backendlint.syntax.names import dotted_name, last_of
from backendlint.syntax.walk import walk

_EFFECT_KINDS = (side_effects.PAYMENT, side_effects.HTTP, side_effects.TASK, side_effects.EMAIL)
MAX_CHAIN = 4  # calls named in a message


def is_session(ctx, a: Analysis, expr: cst.BaseExpression) -> bool:
    """A database session, by the handler's ORM scope, else by name and bindings."""
    scope = a.scope
    if scope is not None:
        kind = scope.kind(expr)
        if kind in (orm.K_SESSION, orm.K_AUTOCOMMIT):
            return True
        if kind is not None:
            return False
    return creates.is_session(ctx, expr, a.bindings)


class PostWalk(Flow[State]):
    """Records ``Finding``s on the analysis while walking a handler body."""

    def __init__(self, ctx, analysis: Analysis):
        super().__init__()
        self.ctx = ctx
        self.a = analysis
        self._outer_integrity: Dict[int, bool] = {}

    # -- Flow's contract -------------------------------------------------------------
    def join(self, a: State, b: State) -> State:
        """Guards in force on both paths (not used by the walk: nothing exits)."""
        return State(post=a.post or b.post, models=a.models & b.models, effects=a.effects and b.effects,
                     integrity=a.integrity and b.integrity)

    def simple(self, stmt: cst.CSTNode, state: State) -> State:
        if isinstance(stmt, cst.BaseSmallStatement):
            return self._small(stmt, state)
        return state  # a class body does not run in the handler

    def _through(self, stmt: cst.CSTNode, state: State) -> Outcome[State]:
        return Outcome(self.simple(stmt, state))

    # an exit does not end the walk: what follows is read with the same guards
    visit_Return = visit_Raise = visit_Break = visit_Continue = _through

    def enter_with(self, node: cst.With, state: State) -> State:
        inner = state
        for item in node.items:
            self._expr_nodes(item.item, state)
            if guards.suppresses_integrity_error(self.ctx, item):
                inner = inner.with_(integrity=True)
        self._outer_integrity[id(node)] = state.integrity
        return inner

    def leave_with(self, node: cst.With, state: State) -> State:
        return state.with_(integrity=self._outer_integrity.pop(id(node)))

    def visit_If(self, stmt: cst.If, state: State) -> Outcome[State]:
        # Not a join of the branches: the state after the ``if`` is the state before it,
        # refined by what the test says only when the body exits (``if exists: return``).
        said = IfTest.read(self.ctx, self.a, stmt.test)
        self._expr_nodes(stmt.test, state)
        body_state, else_state = said.branches(state, self.a.created_keys)
        self.suite(stmt.body, body_state)
        if isinstance(stmt.orelse, cst.If):
            self.statement(stmt.orelse, else_state)
        elif stmt.orelse is not None:
            self.suite(stmt.orelse, else_state)
        return Outcome(said.after_exit(state, self.a.created_keys) if exits(stmt.body) else state)

    def visit_For(self, stmt, state: State) -> Outcome[State]:
        self._expr_nodes(stmt.iter if isinstance(stmt, cst.For) else stmt.test, state)
        self.suite(stmt.body, state)
        if stmt.orelse is not None:
            self.suite(stmt.orelse, state)
        return Outcome(state)

    visit_While = visit_For

    def visit_Try(self, stmt, state: State) -> Outcome[State]:
        a = self.a
        integrity = any(guards.catches_integrity_error(h) for h in stmt.handlers)
        body_state = state.with_(integrity=True) if integrity else state
        after_body = self.suite(stmt.body, body_state).fall.with_(integrity=state.integrity)
        looked_up = lookups_in(self.ctx, stmt.body, a.model_vars)
        after = state.with_(post=after_body.post)
        for handler in stmt.handlers:
            handler_state = state
            missing = guards.does_not_exist_models(handler)
            if missing is not None:
                # try: obj = M.objects.get(...)  except M.DoesNotExist: M.objects.create(...)
                for m in [m for m in missing if m] + looked_up:
                    handler_state = guard(handler_state, m, a.created_keys)
            self.suite(handler.body, handler_state)
            if missing is not None and exits(stmt.body) and looked_up:
                # try: M.objects.get(...); return ...  except M.DoesNotExist: pass
                for m in looked_up:
                    after = guard(after, m, a.created_keys)
        if stmt.orelse is not None:
            self.suite(stmt.orelse, after_body)
        if stmt.finalbody is not None:
            self.suite(stmt.finalbody, state)
        if not stmt.handlers:
            after = after_body
        return Outcome(after)

    visit_TryStar = visit_Try

    def visit_Match(self, stmt: cst.Match, state: State) -> Outcome[State]:
        self._expr_nodes(stmt.subject, state)
        for case in stmt.cases:
            self.suite(case.body, state)
        return Outcome(state)

    def visit_FunctionDef(self, stmt: cst.FunctionDef, state: State) -> Outcome[State]:
        self.suite(stmt.body, state)  # a nested function is read as if it ran here
        return Outcome(state)

    # -- statements and calls --------------------------------------------------------
    def _small(self, small: cst.BaseSmallStatement, state: State) -> State:
        a = self.a
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
        return self._expr_nodes(small, state)

    def _expr_nodes(self, node: cst.CSTNode, state: State) -> State:
        for sub in walk(node):
            if isinstance(sub, cst.Call):
                state = self._call(sub, state)
        return state

    def _call(self, call: cst.Call, state: State) -> State:
        """Record what the call creates; return the guard state after it."""
        a = self.a
        ctx = self.ctx
        func = call.func
        method = func.attr.value if isinstance(func, cst.Attribute) else ""
        # Deletes that make a retry harmless (they apply outside POST branches too).
        if method in ("delete", "adelete") and not call.args:
            recv = func.value
            found = creates.lookup_model(ctx, recv, a.model_vars)
            if found:
                # delete-then-create: the handler replaces the rows, it does not add
                return guard(state, found[0])
            return state
        if not state.post:
            return state
        made = (
            creates.manager_create(ctx, call)
            or creates.related_create(call, a.model_vars, getattr(a.scope, "flavour", None) and a.scope.flavour.relations)
            or creates.model_classmethod_create(ctx, call, lambda expr: self._is_session(expr))
        )
        if made is not None:
            owner = _related_owner(call)
            if owner is not None and owner in a.model_vars and owner not in a.loaded_vars:
                return state  # a child row of an object this handler creates
            if not creates.is_log_model(made.model):
                a.events.append(Finding(f"creates {made.label}", state.covers(made.model), *effect_of_row(made.model, a.log_models)))
            return state
        if isinstance(func, cst.Attribute):
            # obj.save() of an instance constructed in the handler; Order(...).save()
            if method in ("save", "asave") and not any(arg.keyword is None for arg in call.args):
                recv = func.value
                built = creates.model_construction(ctx, recv)
                if built:
                    self._event(built, state.covers(built))
                    return state
                if isinstance(recv, cst.Name) and recv.value in a.constructions and recv.value not in a.saved:
                    self._constructed(recv.value, state)
                    return state
            # session.add(obj) / session.add(Order(...)) / session.add_all([...])
            if method in ("add", "add_all", "bulk_save_objects") and call.args and self._is_session(func.value):
                arg = call.args[0].value
                items = [arg]
                if method != "add" and isinstance(arg, (cst.List, cst.Tuple)):
                    items = [el.value for el in arg.elements]
                for item in items:
                    built = creates.model_construction(ctx, item)
                    if built:
                        self._event(built, state.covers(built), pending=True)
                    elif isinstance(item, cst.Name) and item.value in a.constructions and item.value not in a.saved:
                        self._constructed(item.value, state, pending=True)
                    elif method != "add" and isinstance(item, (cst.ListComp, cst.GeneratorExp)):
                        built = creates.model_construction(ctx, item.elt)
                        if built:
                            self._event(built, state.covers(built), pending=True)
                return state
            if method in ("commit", "flush") and not call.args and state.integrity and self._is_session(func.value):
                # try: session.commit() except IntegrityError: the INSERTs of the pending
                # adds happen here, so the handler deals with the duplicate
                for event in a.pending_adds:
                    event.guarded = True
                a.pending_adds.clear()
                return state
            if method in ("commit",) and self._is_session(func.value):
                a.pending_adds.clear()
                return state
            if method == "bulk_insert_mappings" and call.args and self._is_session(func.value):
                model = (dotted_name(call.args[0].value) or "rows").rsplit(".", 1)[-1]
                self._event(model, state.covers(model))
                return state
            inserted = creates.executed_insert(ctx, call, a.bindings)
            if inserted is not None:
                table, upsert, _ = inserted
                if not upsert:
                    self._event(table, state.covers(table))
                return state
        effect = side_effects.classify_call(ctx, call, a.bindings)
        if effect is not None and self._counts(effect, call):
            guarded = effect.idempotent or state.covers_effects()
            severity = effect_of_side_effect(effect, self._task(call, effect), EffectIndex.of(ctx.facts))
            a.events.append(Finding(f"{side_effects.EFFECT_VERB[effect.kind]} ({effect.label})", guarded, *severity))
        elif effect is None:
            self._project_call(call, state)
        return state

    def _project_call(self, call: cst.Call, state: State) -> None:
        """A call to a project function that (itself or through its callees) creates state
        with no guard of its own (effect summaries)."""
        a = self.a
        target = project_callee(self.ctx, call, a.bindings, a.class_key, a.self_key, a.func)
        if target is None:
            return
        index = EffectIndex.of(self.ctx.facts)
        for label, path in index.exported(target).items():
            if label in a.callee_labels:
                continue  # already named through another call
            if label.startswith("sends an outbound POST") and any(
                side_effects.IDEMPOTENT_URL.search(last_of(name)) for name in path.functions
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
            a.events.append(Finding(f"calls {_describe(index, path)}, which {label} ({_create_line(index, path)})", guarded,
                                    *effect_of_callee(index, path, label, a.log_models)))

    def _task(self, call: cst.Call, effect: SideEffect) -> Optional[str]:
        """The project function ``send_welcome.delay()`` enqueues (None: not certain, a
        string name, ``send_task``)."""
        func = call.func
        if effect.kind != side_effects.TASK or not isinstance(func, cst.Attribute):
            return None
        if func.attr.value not in ("delay", "apply_async") or not isinstance(func.value, (cst.Name, cst.Attribute)):
            return None
        a = self.a
        return project_callee(self.ctx, cst.Call(func=func.value), a.bindings, a.class_key, a.self_key, a.func)

    def _is_session(self, expr: cst.BaseExpression) -> bool:
        return is_session(self.ctx, self.a, expr)

    def _event(self, model: str, guarded: bool, pending: bool = False) -> None:
        a = self.a
        if creates.is_log_model(model):
            return
        event = Finding(f"creates {model}", guarded, *effect_of_row(model, a.log_models))
        a.events.append(event)
        if pending and not guarded:
            a.pending_adds.append(event)

    def _constructed(self, var: str, state: State, pending: bool = False) -> None:
        a = self.a
        a.saved.add(var)
        if var in a.loaded_vars:
            return  # obj = lookup(); if obj is None: obj = Model(...) -- handled by the guards
        for model, guarded in a.constructions[var]:
            self._event(model, guarded or state.covers(model), pending=pending)

    @staticmethod
    def _counts(effect: SideEffect, call: cst.Call) -> bool:
        if effect.kind not in _EFFECT_KINDS:
            return False
        if effect.kind == side_effects.HTTP:
            return effect.method == "POST" and not side_effects.idempotent_url(call)
        if effect.kind == side_effects.TASK:
            return not side_effects.is_idempotent_task_name(effect.label)
        return True

    # -- duplicate checks ------------------------------------------------------------------


def _related_owner(call: cst.Call) -> Optional[str]:
    """``order`` for ``order.items.create(...)``."""
    func = call.func
    if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Attribute):
        owner = func.value.value
        if isinstance(owner, cst.Name):
            return owner.value
    return None


def _describe(index: EffectIndex, path: CreatePath) -> str:
    """``create_order() (shop/services.py:12), which calls save() (shop/repo.py:3)``."""
    parts = []
    for key in path.functions[:MAX_CHAIN]:
        relpath, line = index.where(key)
        parts.append(f"{last_of(key)}() ({relpath}:{line})")
    if len(path.functions) > MAX_CHAIN:
        parts.append("...")
    return ", which calls ".join(parts)


def _create_line(index: EffectIndex, path: CreatePath) -> str:
    return f"{index.where(path.functions[-1]).relpath}:{path.line}"
