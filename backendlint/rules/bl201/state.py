"""What BL201 knows along a POST handler: the guards in force on a path (``State``), what
the handler's local names hold and what it was found to do (``Analysis``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, FrozenSet, List, Optional, Set, Tuple

from backendlint.knowledge import creates
from backendlint.knowledge.side_effects import Bindings

ALL = "*"  # guard state: everything is covered


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
        if self.integrity or ALL in self.models:
            return True
        key = creates.model_key(model)
        return any(same_model(key, guarded) for guarded in self.models)

    def covers_effects(self) -> bool:
        return self.effects or ALL in self.models or self.integrity


@dataclass
class Finding:
    label: str
    guarded: bool
    effect: str = "row"  # knowledge.impact: external / invariant / row / log
    what: str = ""  # the effect in a few words, for the finding's why ("sends an email (send_mail)")


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
    log_models: Tuple[str, ...] = ()  # the ``log-models`` option


def same_model(a: str, b: str) -> bool:
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


def guard(state: State, model: str, created: FrozenSet[str] = frozenset()) -> State:
    """The state after a duplicate check on ``model``. When the handler also creates
    ``model`` (a marker row), the check covers everything the handler does."""
    key = model if model == ALL else creates.model_key(model)
    if any(same_model(key, c) for c in created):
        key = ALL
    return state.with_(models=state.models | {key}, effects=True)
