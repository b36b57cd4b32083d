"""BL301's severity (catalog "Severity", row BL301, and "Effect").

``Reading(rule, func, scope)`` reads one function once: where each name is bound, which
fields each written row gets, the loops around each write. ``rank_of(reading, listed,
...)`` then decides for one finding (the writes it lists):

- effect *invariant*: (a) two written rows linked by a non-null FK (model index
  ``required_fk``), (b) an arithmetic update (``+=``, ``-=``, ``F("x") ± n``) beside another
  write, (c) a just-written row (or its id) stored in another row's field, a counter or
  pointer field written beside another write, (d) a state field written beside another
  write; *log* for log models; *row* otherwise; not determined for raw SQL or a callee
  whose written model is not known;
- high: invariant, or a loop over a table or relation that creates the children of one
  parent (a FK of the created row set from outside the loop);
- low: row/log effect (independent rows), a loop whose only write per item is idempotent
  and targets the item, delete-then-create of one model (token rotation), an optional
  child (nullable FK), a method reached only through ``getattr`` dispatch;
- medium: the rest (effect not determined).
"""

from __future__ import annotations

import re
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

import libcst as cst

from backendlint.analysis.contexts import context_of
from backendlint.analysis.severity import Rank, rank
from backendlint.analysis.unit_of_work import CallOp
from backendlint.engine.traversal import children_of
from backendlint.index.models import KIND as MODELS_KIND, ModelIndex
from backendlint.knowledge import impact, magnitude, side_effects
from backendlint.knowledge.models import FK, O2O
from backendlint.knowledge.orm import K_QUERYSET, MANAGER_ATTRS, DbOp, OrmScope, calls_in, string_prefix

_CREATES = frozenset({"create", "get_or_create", "update_or_create", "bulk_create", "session_add", "session_add_all"})
_IDEMPOTENT = frozenset({"get_or_create", "update_or_create"})
_LOOPS = (cst.For, cst.While, cst.ListComp, cst.SetComp, cst.DictComp, cst.GeneratorExp)
_SCOPES = (cst.FunctionDef, cst.ClassDef, cst.Lambda)
_GETATTR_PREFIX = re.compile(r"getattr\(\s*\w+\s*,\s*(?:f[\"']([A-Za-z_]\w*)\{|[\"']([A-Za-z_]\w*)[\"']\s*[%+]|[\"']([A-Za-z_]\w*)%s)")
_GETATTR_NAME = re.compile(r"getattr\(\s*(?:self|cls)\s*,\s*[\"']([A-Za-z_]\w*)[\"']\s*[,)]")


class Written(NamedTuple):
    """One write of a finding, read."""

    op: DbOp
    model: Optional[str]  # the model's class name
    key: Optional[str]  # its model index key
    fields: Dict[str, cst.BaseExpression]  # field -> value it is given
    arithmetic: bool  # += / -= / F("x") ± n
    row: Optional[str]  # the local name the written row is bound to
    parent: Optional[str]  # ``parent.children.create()``: the parent's name
    loop: Optional[cst.CSTNode]  # the innermost loop around it


def _root(expr: cst.BaseExpression) -> Tuple[Optional[str], List[str]]:
    """The name at the bottom of a receiver chain, and the attributes on the way up."""
    attrs: List[str] = []
    for _ in range(30):
        if isinstance(expr, cst.Await):
            expr = expr.expression
        elif isinstance(expr, cst.Call):
            expr = expr.func
        elif isinstance(expr, cst.Subscript):
            expr = expr.value
        elif isinstance(expr, cst.Attribute):
            attrs.append(expr.attr.value)
            expr = expr.value
        else:
            break
    attrs.reverse()
    return (expr.value if isinstance(expr, cst.Name) else None), attrs


def _names_in(expr: Optional[cst.CSTNode]) -> List[str]:
    out, work = [], [expr] if expr is not None else []
    while work:
        node = work.pop()
        if isinstance(node, cst.Name):
            out.append(node.value)
        elif not isinstance(node, _SCOPES):
            work.extend(children_of(node))
    return out


def _is_f_arithmetic(expr: cst.BaseExpression) -> bool:
    if not (isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, (cst.Add, cst.Subtract))):
        return False
    return any(isinstance(s, cst.Call) and _root(s.func)[0] == "F" and not _root(s.func)[1]
               for s in (expr.left, expr.right))


class Reading:
    """What one function binds and assigns (read once per function with a finding)."""

    def __init__(self, rule, func: cst.FunctionDef, scope: OrmScope):
        self.ctx = rule.ctx
        self.rule = rule
        self.func = func
        self.scope = scope
        self.index = ModelIndex.of(self.ctx.facts.get(MODELS_KIND) if self.ctx.facts is not None else None)
        self.parents: Dict[int, cst.CSTNode] = {}
        self.external: Optional[str] = None  # set by effect_of: the external call a state goes with
        self.values: Dict[str, List[cst.BaseExpression]] = {}  # name -> assigned values
        self.loop_of_name: Dict[str, cst.CSTNode] = {}  # loop variable -> its loop
        self.attrs: Dict[str, Dict[str, Tuple[cst.BaseExpression, bool]]] = {}  # name -> field -> (value, arithmetic)
        work: List[cst.CSTNode] = [func.body]
        while work:
            node = work.pop()
            if isinstance(node, (cst.Assign, cst.AnnAssign, cst.AugAssign)):
                self._assignment(node)
            elif isinstance(node, (cst.For, cst.CompFor)):
                for name in _names_in(node.target):
                    self.loop_of_name[name] = node
            for kid in children_of(node):
                self.parents[id(kid)] = node
                if not isinstance(kid, _SCOPES):
                    work.append(kid)

    def _assignment(self, node) -> None:
        targets = [t.target for t in node.targets] if isinstance(node, cst.Assign) else [node.target]
        value = node.value
        if value is None:
            return
        for target in targets:
            if isinstance(target, cst.Name):
                self.values.setdefault(target.value, []).append(value)
            elif isinstance(target, (cst.Tuple, cst.List)) and target.elements:
                first = target.elements[0].value  # obj, created = X.objects.get_or_create()
                if isinstance(first, cst.Name):
                    self.values.setdefault(first.value, []).append(value)
            elif isinstance(target, cst.Attribute) and isinstance(target.value, cst.Name):
                owner = target.value.value
                arith = isinstance(node, cst.AugAssign) and isinstance(node.operator, (cst.AddAssign, cst.SubtractAssign))
                if isinstance(node, cst.Assign) and isinstance(value, cst.BinaryOperation) and isinstance(
                        value.operator, (cst.Add, cst.Subtract)):
                    arith = any(isinstance(s, cst.Attribute) and s.attr.value == target.attr.value
                                and isinstance(s.value, cst.Name) and s.value.value == owner for s in (value.left, value.right))
                self.attrs.setdefault(owner, {})[target.attr.value] = (value, arith or _is_f_arithmetic(value))

    # -- models ------------------------------------------------------------------------
    def _key(self, name: Optional[str]) -> Optional[str]:
        if not name or not name[:1].isupper() or name in ("None", "True", "False"):
            return None
        q = self.ctx.qualified(cst.Name(name)) or f"?{name}"
        found = self.index.model(q, self.ctx.module_name) or self.index.model(f"?{name}", self.ctx.module_name)
        return found.key if found is not None else None

    def model_of(self, expr: Optional[cst.BaseExpression], depth: int = 0) -> Tuple[Optional[str], Optional[str]]:
        """(class name, index key) of the rows ``expr`` is or yields, if known."""
        if expr is None or depth > 6:
            return None, None
        if isinstance(expr, cst.Call) and isinstance(expr.func, cst.Name):
            callee = expr.func.value
            if callee[:1].isupper():
                return callee, self._key(callee)
            if callee in ("get_object_or_404", "get_list_or_404") and expr.args:
                return self.model_of(expr.args[0].value, depth + 1)
        root, attrs = _root(expr)
        if root is None:
            return None, None
        if root in ("None", "True", "False"):
            return None, None
        if attrs and attrs[0] in MANAGER_ATTRS or (root[:1].isupper() and not attrs):
            return root, self._key(root)
        if root == "self" and not attrs:
            cls = next((n for n in reversed(self.ctx.stack) if isinstance(n, cst.ClassDef)), None)
            name = cls.name.value if cls is not None else None
            key = self._key(name)
            return (name, key) if key else (None, None)
        # a relation of a row: parent.items.all() / .create(), row.unit.change_set.create()
        name, key = self.row_model(root, depth + 1)
        followed = False
        for attr in attrs:
            rel = self.index.django_relation(key, attr) if key else None
            if rel is None or not rel.target:
                break
            name, key, followed = rel.target.rsplit(".", 1)[-1], rel.target, True
        else:
            return name, key
        return (name, key) if followed or attrs[0] in ("save", "delete") else (None, None)

    def row_model(self, name: str, depth: int = 0) -> Tuple[Optional[str], Optional[str]]:
        loop = self.loop_of_name.get(name)
        if loop is not None:
            return self.model_of(loop.iter, depth + 1)
        for value in self.values.get(name, ()):
            found = self.model_of(value, depth + 1)
            if found[0]:
                return found
        if name == "self":
            return self.model_of(cst.Name("self"), depth + 1)
        return None, None

    # -- one write --------------------------------------------------------------------------
    def loop_of(self, node: cst.CSTNode) -> Optional[cst.CSTNode]:
        cur = self.parents.get(id(node))
        while cur is not None and cur is not self.func:
            if isinstance(cur, _LOOPS):
                return cur
            cur = self.parents.get(id(cur))
        return None

    def written(self, op: DbOp) -> Written:
        call = op.node
        fields: Dict[str, cst.BaseExpression] = {}
        arithmetic = False
        row = parent = None
        receiver = op.receiver
        if isinstance(op, CallOp):
            what = self.rule.callees[op.target].what if op.target in self.rule.callees else ""
            model = what if what.isidentifier() and what[:1].isupper() else None
            return Written(op, model, self._key(model), {}, False, None, None, self.loop_of(call))
        if op.kind in ("session_add", "session_merge", "session_delete") and call.args:
            arg = call.args[0].value
            model, key = self.model_of(arg) if not isinstance(arg, cst.Name) else self.row_model(arg.value)
            source = arg if isinstance(arg, cst.Call) else None
            if isinstance(arg, cst.Name):
                row = arg.value
                source = next((v for v in self.values.get(row, ()) if isinstance(v, cst.Call)), None)
            if source is not None:
                fields.update({a.keyword.value: a.value for a in source.args if a.keyword is not None})
        else:
            model, key = self.model_of(receiver)
            kwargs = [a for a in call.args if a.keyword is not None]
            for arg in kwargs:
                if arg.keyword.value == "defaults" and isinstance(arg.value, cst.Dict):
                    for el in arg.value.elements:
                        text = string_prefix(getattr(el, "key", None))
                        if text:
                            fields[text] = el.value
                elif arg.keyword.value not in ("update_fields", "using", "force_insert", "force_update"):
                    fields[arg.keyword.value] = arg.value
                arithmetic = arithmetic or _is_f_arithmetic(arg.value)
            root, attrs = _root(receiver) if receiver is not None else (None, [])
            if op.kind in ("save", "delete") and isinstance(receiver, cst.Call) and _root(receiver)[0] == "super":
                row = "self"  # super().save() in a model's save()
                model, key = self.model_of(cst.Name("self"))
                for field, (value, arith) in self.attrs.get(row, {}).items() if op.kind == "save" else ():
                    fields[field] = value
                    arithmetic = arithmetic or arith
            if op.kind in ("save", "delete") and isinstance(receiver, cst.Name):
                row = receiver.value
                source = next((v for v in self.values.get(row, ()) if isinstance(v, cst.Call)
                               and isinstance(v.func, cst.Name) and v.func.value[:1].isupper()), None)
                if source is not None:
                    fields.update({a.keyword.value: a.value for a in source.args if a.keyword is not None})
                for field, (value, arith) in self.attrs.get(row, {}).items() if op.kind == "save" else ():
                    fields[field] = value
                    arithmetic = arithmetic or arith
            elif root is not None and attrs and attrs[0] not in MANAGER_ATTRS and not root[:1].isupper() and (
                    op.kind in _CREATES or op.kind.startswith("m2m_")):
                parent = root  # parent.items.create(...) / parent.tags.add(...)
            if op.kind in _CREATES:
                bound = self._bound_name(call)
                row = bound or row
        return Written(op, model, key, fields, arithmetic, row, parent, self.loop_of(call))

    def _bound_name(self, call: cst.Call) -> Optional[str]:
        for name, values in self.values.items():
            for value in values:
                while isinstance(value, cst.Await):
                    value = value.expression
                if value is call:
                    return name
        return None

    def external_call(self) -> Optional[str]:
        """The first call of the function that changes the world outside the database."""
        for call, _ in calls_in(self.func.body):
            found = side_effects.classify_call(self.ctx, call)
            if found is not None and impact.of_side_effect(found.kind, found.method) == impact.EXTERNAL:
                return found.label
        return None

    # -- dispatch ---------------------------------------------------------------------------
    def by_dispatch(self) -> bool:
        """The method is reached through ``getattr(self, "on_" + x)`` / ``f"on_{x}"`` (a
        string prefix of its name is looked up in its module) or ``getattr(self, "name")``."""
        name = self.func.name.value
        memo = self.ctx.memo
        found = memo.get("bl301.getattr") if memo is not None else None
        if found is None:
            source = self.ctx.source
            found = (set(), set())
            if "getattr(" in source:
                for m in _GETATTR_PREFIX.finditer(source):
                    found[0].add(next(g for g in m.groups() if g))
                found[1].update(_GETATTR_NAME.findall(source))
            if memo is not None:
                memo["bl301.getattr"] = found
        prefixes, names = found
        return name in names or any(name.startswith(p) and len(p) >= 3 for p in prefixes)


# -- the decision ----------------------------------------------------------------------------
def _refers(value: cst.BaseExpression, row: str) -> bool:
    if isinstance(value, cst.Name):
        return value.value == row
    return isinstance(value, cst.Attribute) and isinstance(value.value, cst.Name) and value.value.value == row and \
        value.attr.value in ("id", "pk")


def _field_kind(index: ModelIndex, key: Optional[str], field: str) -> Tuple[bool, Optional[bool]]:
    """(is a FK/O2O field, its null) for a field name (``owner`` or ``owner_id``)."""
    for name in (field, field[:-3] if field.endswith("_id") else None):
        if name and key:
            rel = index.django_relation(key, name)
            if rel is not None and rel.kind in (FK, O2O):
                info = index.field(key, name)
                return True, info.null if info is not None else None
    return False, None


def _same_row(w: Written, row: str) -> bool:
    """``Model.objects.filter(pk=row.pk).update(...)``: another write of the same row."""
    if w.op.kind == "update" and isinstance(w.op.receiver, cst.Call):
        return any(a.keyword is not None and a.keyword.value in ("pk", "id") and _refers(a.value, row)
                   for a in w.op.receiver.args)
    return False


def _other_rows(w: Written, writes: Sequence[Written]) -> bool:
    """Is another row written beside ``w``'s (not ``w``'s row again)?"""
    return any(o.op.node is not w.op.node and not (w.row and (o.row == w.row or _same_row(o, w.row)))
               for o in writes)


def _updates_existing(reading: Reading, w: Written) -> bool:
    """A save or update of a row that exists (not one built here: a new row copying a
    value is a snapshot, consistent whenever it is written)."""
    if w.op.kind == "update":
        return True
    return w.op.kind == "save" and not any(
        isinstance(v, cst.Call) and isinstance(v.func, cst.Name) and v.func.value[:1].isupper()
        for v in reading.values.get(w.row or "", ()))


def _copies(value: cst.BaseExpression, row: str) -> bool:
    """``device.site = self.site``: a field of a written row copied into another row."""
    return isinstance(value, cst.Attribute) and isinstance(value.value, cst.Name) and value.value.value == row \
        and value.attr.value not in ("id", "pk")


def _field_text(w: Written, field: str) -> str:
    return f"{w.model}.{field}" if w.model else f"a row's {field}"


def _per_row(w: Written) -> bool:
    """A state written per row, not one row's state that the other writes go with: each
    item of a loop saving itself, or a queryset update of many rows (not by key)."""
    if w.loop is not None and w.op.kind in ("save", "delete") and w.row in _loop_names(w.loop):
        return True
    if w.op.kind == "update" and isinstance(w.op.receiver, cst.Call):
        keys = {a.keyword.value for a in w.op.receiver.args if a.keyword is not None}
        return not keys & {"pk", "id"}
    return False


def effect_of(reading: Reading, writes: Sequence[Written], log_models: Sequence[str]) -> Tuple[Optional[str], str, Optional[str]]:
    """(effect, what it is in a few words, the low reason "optional child" if one).
    ``reading.external`` says whether an external call made it invariant."""
    index = reading.index
    distinct = len({id(w.op.node) for w in writes}) > 1
    optional = None
    if distinct:
        rows = {w.row: w for w in writes if w.row}
        for w in writes:  # (c) and (a) through a reference
            if impact.is_log_model(w.model, log_models):
                continue  # a log row naming or copying a row: noise when left alone
            for field, value in w.fields.items():
                if field.startswith("_"):
                    continue
                for row, other in rows.items():
                    if other is w or w.row == row or _same_row(w, row):
                        continue
                    if other.key and _copies(value, row) and _updates_existing(reading, w) and \
                            reading.index.django_relation(other.key, value.attr.value) is None:
                        return impact.INVARIANT, f"{_field_text(w, field)} copied from {other.model or 'a written row'}", None
                    if not _refers(value, row):
                        continue
                    fk, null = _field_kind(index, w.key, field)
                    if fk and impact.is_log_model(w.model, log_models):
                        continue  # a log row of the new row: noise when left alone
                    if fk and null and w.op.kind in _CREATES:
                        optional = f"optional child {w.model}.{field}"
                        continue
                    if fk and w.op.kind in _CREATES:
                        return impact.INVARIANT, f"{other.model or 'a row'} and its required {w.model}", None
                    return impact.INVARIANT, f"a new {other.model or 'row'} stored in {w.model or 'a row'}.{field}", None
        for a in writes:  # (a) through the model index, or parent.children.create()
            for b in writes:
                if a is b or not a.key or not b.key or a.key == b.key or impact.is_log_model(b.model, log_models):
                    continue
                if a.op.kind == b.op.kind == "delete" or {a.op.kind, b.op.kind} <= {"delete", "m2m_clear", "m2m_remove"}:
                    continue  # what a partial delete leaves is consistent, and a retry ends it
                if index.required_fk(b.key, a.key):
                    return impact.INVARIANT, f"{a.model} and its required {b.model}", None
            if a.parent and a.parent in rows and a.op.kind in _CREATES and not impact.is_log_model(a.model, log_models):
                parent = rows[a.parent]
                if not (a.key and parent.key) or index.required_fk(a.key, parent.key):
                    return impact.INVARIANT, f"{parent.model or 'a row'} and its {a.model or 'child rows'}", None
        for w in writes:  # (b), (c) counters, (d) states
            if impact.is_log_model(w.model, log_models) or not _other_rows(w, writes):
                continue  # an audit row's fields (its status, its action) hold nothing together
            if w.arithmetic:
                return impact.INVARIANT, f"an arithmetic update of {w.model or 'a row'} with another write", None
            for field in w.fields:
                if impact.is_bookkeeping_field(field) or field.startswith("_"):
                    continue
                if impact.is_counter_field(field) and not (_per_row(w) and not w.arithmetic):
                    return impact.INVARIANT, f"a row and its counter {field}", None
                if impact.is_state_field(field) and not _per_row(w):
                    return impact.INVARIANT, f"{_field_text(w, field)} with another write", None
    states = [(w, f) for w in writes for f in w.fields if impact.is_state_field(f) and not impact.is_bookkeeping_field(f)
              and not f.startswith("_")
              and not _per_row(w) and not impact.is_log_model(w.model, log_models)]
    external = reading.external_call() if states else None
    if external:  # (d) with an external call
        w, field = states[0]
        reading.external = external
        return impact.INVARIANT, f"{_field_text(w, field)} and {external}", None
    effects = []
    for w in writes:
        if not w.op.is_write:
            continue
        if w.op.kind in ("raw_sql", "execute") or isinstance(w.op, CallOp) and not w.model:
            effects.append(None)
        elif impact.is_log_model(w.model, log_models):
            effects.append(impact.LOG)
        else:
            effects.append(impact.ROW)
    if None in effects:
        opaque = next(w for w, e in zip([w for w in writes if w.op.is_write], effects) if e is None)
        return None, "raw SQL" if not isinstance(opaque.op, CallOp) else f"what {opaque.op.label} writes", optional
    found = impact.strongest(effects) or impact.ROW
    if found == impact.LOG:
        return found, "log rows", optional
    return found, "independent rows", optional


def _is_table_or_relation(reading: Reading, loop: Optional[cst.CSTNode]) -> bool:
    if not isinstance(loop, cst.For):
        return False
    said = magnitude.syntactic(loop.iter)
    if said is not None:
        return said in (magnitude.TABLE, magnitude.RELATION)
    return reading.scope.kind(loop.iter) == K_QUERYSET or _root(loop.iter)[1][-1:] == ["all"]


def _loop_names(loop: cst.CSTNode) -> List[str]:
    if isinstance(loop, cst.For):
        return _names_in(loop.target)
    return []


def _copies_children(reading: Reading, writes: Sequence[Written]) -> Optional[str]:
    """A loop over a table or relation that creates rows under one parent set outside it."""
    for w in writes:
        if w.loop is None or w.op.kind not in ("create", "bulk_create", "save", "session_add") or \
                not _is_table_or_relation(reading, w.loop):
            continue
        if w.op.kind == "save" and not (w.row and any(isinstance(v, cst.Call) for v in reading.values.get(w.row, ()))):
            continue
        inner = set(_loop_names(w.loop))
        if w.parent and w.parent not in inner:
            return f"creates {w.model or 'rows'} under one {reading.row_model(w.parent)[0] or 'parent'} in a loop"
        for field, value in w.fields.items():
            fk, _ = _field_kind(reading.index, w.key, field)
            names = _names_in(value)
            if fk and names and not inner.intersection(names):
                return f"copies rows into {w.model}.{field} in a loop"
    return None


def _idempotent_per_item(reading: Reading, writes: Sequence[Written]) -> bool:
    """Every write repeats in a loop, alone in it, idempotent and aimed at the item."""
    loops: Dict[int, int] = {}
    for w in writes:
        if w.loop is None or w.arithmetic:
            return False
        loops[id(w.loop)] = loops.get(id(w.loop), 0) + 1
        item = set(_loop_names(w.loop))
        if w.op.kind in _IDEMPOTENT:
            continue
        if w.op.kind in ("save", "delete") and w.row in item:
            continue
        if w.op.kind == "update" and isinstance(w.op.receiver, cst.Call):
            keys = {a.keyword.value: a.value for a in w.op.receiver.args if a.keyword is not None}
            if any(k in ("pk", "id") and item.intersection(_names_in(v)) for k, v in keys.items()):
                continue
        return False
    return bool(loops) and all(n == 1 for n in loops.values())


def _rotation(writes: Sequence[Written]) -> Optional[str]:
    ops = [w for w in writes if w.op.is_write]
    if len(ops) < 2 or ops[0].op.kind != "delete" or not ops[0].model:
        return None
    if all(w.model == ops[0].model for w in ops) and any(w.op.kind in _CREATES or w.op.kind == "save" for w in ops[1:]):
        return f"delete-then-create of {ops[0].model} (rotation)"
    return None


def rank_of(rule, func: cst.FunctionDef, scope: OrmScope, stack: Sequence[cst.CSTNode], listed) -> Rank:
    """The finding's severity, context and why (the writes ``listed`` as the rule lists them)."""
    context = context_of(rule.ctx, stack)
    reading = Reading(rule, func, scope)
    writes = [reading.written(op) for op, _, _ in listed if op.is_write]
    effect, what, optional = effect_of(reading, writes, tuple(rule.opts.log_models or ()))
    low = high = None
    if context.via is None and reading.by_dispatch():
        low = "reached through getattr dispatch"
    elif not reading.external and _idempotent_per_item(reading, writes):
        low = "idempotent write per item"
    elif _rotation(writes):
        low = _rotation(writes)
    elif effect != impact.INVARIANT and optional:
        low = optional
    elif effect in (impact.ROW, impact.LOG):
        copies = _copies_children(reading, writes)
        high = copies
        low = None if copies else what
    if effect == impact.INVARIANT:
        high = what
    elif effect is None and not low:
        high = _copies_children(reading, writes)
    return rank(context.name, context_why=context.describe(), low=low, high=high,
                medium=f"effect not determined ({what})")
