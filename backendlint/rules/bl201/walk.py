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

from dataclasses import dataclass, field
from typing import Dict, FrozenSet, List, Optional, Set, Tuple

import libcst as cst

from backendlint.analysis.calls import project_callee
from backendlint.index.effects import CreatePath, EffectIndex
from backendlint.knowledge import creates, guards, handlers, orm, side_effects
from backendlint.knowledge.side_effects import Bindings, SideEffect
from backendlint.syntax.flow import Flow, Outcome
from backendlint.syntax.names import dotted_name, last_of
from backendlint.syntax.walk import walk

_EFFECT_KINDS = (side_effects.PAYMENT, side_effects.HTTP, side_effects.TASK, side_effects.EMAIL)
_ALL = "*"  # guard state: everything is covered
MAX_CHAIN = 4  # calls named in a message



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


def post_test(test: cst.BaseExpression, analysis: Analysis) -> Optional[bool]:
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
        a = self.a
        post = post_test(stmt.test, a)
        self._expr_nodes(stmt.test, state)
        body_state, else_state = state, state
        if post is True:
            body_state = state.with_(post=True)
            else_state = state.with_(post=False) if not state.post else state
        elif post is False:
            body_state = state.with_(post=False) if not state.post else state
            else_state = state.with_(post=True)
        dup = self._dup_test(stmt.test)
        if dup is not None:
            model, exists = dup
            if exists:  # true when a duplicate exists: the else branch is the "new" path
                else_state = _guard(else_state, model, a.created_keys)
            else:  # true when no duplicate exists: the body is the "new" path
                body_state = _guard(body_state, model, a.created_keys)
        state_check = post is None and dup is None and self._state_test(stmt.test)
        if state_check:
            # ``if order.status == PENDING: ...`` on a row loaded here: a retry finds the
            # row in its new state, so both branches are guarded.
            body_state = _guard(body_state, _ALL)
            else_state = _guard(else_state, _ALL)
        self.suite(stmt.body, body_state)
        body_exits = _exits(stmt.body)
        if isinstance(stmt.orelse, cst.If):
            self.statement(stmt.orelse, else_state)
        elif stmt.orelse is not None:
            self.suite(stmt.orelse, else_state)
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
        return Outcome(after)

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
        looked_up = _lookups_in(self.ctx, stmt.body, a.model_vars)
        after = state.with_(post=after_body.post)
        for handler in stmt.handlers:
            handler_state = state
            missing = guards.does_not_exist_models(handler)
            if missing is not None:
                # try: obj = M.objects.get(...)  except M.DoesNotExist: M.objects.create(...)
                for m in [m for m in missing if m] + looked_up:
                    handler_state = _guard(handler_state, m, a.created_keys)
            self.suite(handler.body, handler_state)
            if missing is not None and _exits(stmt.body) and looked_up:
                # try: M.objects.get(...); return ...  except M.DoesNotExist: pass
                for m in looked_up:
                    after = _guard(after, m, a.created_keys)
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
                return _guard(state, found[0])
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
                a.events.append(Finding(f"creates {made.label}", state.covers(made.model)))
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
            a.events.append(Finding(f"{side_effects.EFFECT_VERB[effect.kind]} ({effect.label})", guarded))
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
            a.events.append(Finding(f"calls {_describe(index, path)}, which {label} ({_create_line(index, path)})", guarded))

    def _is_session(self, expr: cst.BaseExpression) -> bool:
        return is_session(self.ctx, self.a, expr)

    def _event(self, model: str, guarded: bool, pending: bool = False) -> None:
        a = self.a
        if creates.is_log_model(model):
            return
        event = Finding(f"creates {model}", guarded)
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
    def _dup_test(self, test: cst.BaseExpression) -> Optional[Tuple[str, bool]]:
        """(model, exists?) when the test checks for an existing row: exists? is True when
        the test is true for a duplicate. Model "*" is a get_or_create ``created`` flag or
        a duplicate check delegated to a predicate (``user.has_active_session()``)."""
        a = self.a
        if isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not):
            inner = self._dup_test(test.expression)
            return (inner[0], not inner[1]) if inner else None
        if isinstance(test, cst.BooleanOperation):
            return self._dup_test(test.left) or self._dup_test(test.right)
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
            return self._dup_test(test.args[0].value)  # len(wishlists) == 0
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
            if isinstance(call, cst.Call) and guards.is_duplicate_predicate(call):
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
            left = self._dup_test(test.left)
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

    def _state_test(self, test: cst.BaseExpression, depth: int = 0) -> bool:
        """The test reads a state field of a row loaded in the handler (``order.status``,
        ``invoice.transmission_status``, ``self.object.paid_at``), also through a flag
        (``was_accepted = obj.state == ACCEPTED; if was_accepted:``)."""
        a = self.a
        if isinstance(test, cst.Name) and depth < 2:
            values = a.bindings.values.get(test.value, [])
            return bool(values) and all(self._state_test(v, depth + 1) for v in values)
        for sub in walk(test):
            if isinstance(sub, cst.Attribute) and guards.STATE_ATTR.search(sub.attr.value):
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


def _row_annotation(ctx, ann: cst.BaseExpression) -> bool:
    """``PrivacyRequest`` imported from the project: a typed row (not a library class)."""
    if not isinstance(ann, (cst.Name, cst.Attribute)):
        return False
    q = ctx.qualified(ann) or ""
    last = q.rsplit(".", 1)[-1]
    return bool(q) and last[:1].isupper() and any(c.islower() for c in last) and not q.startswith(creates.NOT_MODEL_MODULES)


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
