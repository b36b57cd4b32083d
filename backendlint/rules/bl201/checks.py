"""What an ``if`` / ``try`` in a POST handler says (BL201's "Not reported" decisions):
the test looks for an existing row (a duplicate check), reads a state field of a row the
handler loaded (a state check), asks for the POST method (a POST branch); the block after
it exits; what a ``try`` body looks up.
"""

from __future__ import annotations

from typing import FrozenSet, List, NamedTuple, Optional, Tuple

import libcst as cst

from backendlint.knowledge import creates, guards, handlers, side_effects
from backendlint.rules.bl201.state import ALL, Analysis, State, guard
from backendlint.syntax.names import dotted_name
from backendlint.syntax.walk import walk


class IfTest(NamedTuple):
    """What the test of an ``if`` says about the POST path."""

    post: Optional[bool]  # True: it holds only for POST; False: only for other methods
    dup: Optional[Tuple[str, bool]]  # a duplicate check: (model, true when the row exists?)
    state_check: bool  # it reads a state field of a row the handler loaded

    @classmethod
    def read(cls, ctx, a: Analysis, test: cst.BaseExpression) -> "IfTest":
        post = post_test(test, a)
        dup = dup_test(ctx, a, test)
        return cls(post, dup, post is None and dup is None and state_test(ctx, a, test))

    def branches(self, state: State, created: FrozenSet[str]) -> Tuple[State, State]:
        """The states the body and the ``else`` start from."""
        body_state, else_state = state, state
        if self.post is True:
            body_state = state.with_(post=True)
            else_state = state.with_(post=False) if not state.post else state
        elif self.post is False:
            body_state = state.with_(post=False) if not state.post else state
            else_state = state.with_(post=True)
        if self.dup is not None:
            model, exists = self.dup
            if exists:  # true when a duplicate exists: the else branch is the "new" path
                else_state = guard(else_state, model, created)
            else:  # true when no duplicate exists: the body is the "new" path
                body_state = guard(body_state, model, created)
        if self.state_check:
            # ``if order.status == PENDING: ...`` on a row loaded here: a retry finds the
            # row in its new state, so both branches are guarded.
            body_state = guard(body_state, ALL)
            else_state = guard(else_state, ALL)
        return body_state, else_state

    def after_exit(self, state: State, created: FrozenSet[str]) -> State:
        """The state after the ``if`` when its body exits: what follows is the other side
        of the test (``if request.method != "POST": return``, ``if exists: return``)."""
        after = state
        if self.post is False:
            after = after.with_(post=True)
        elif self.post is True and not state.post:
            after = after.with_(post=False)
        if self.dup is not None and self.dup[1]:
            after = guard(after, self.dup[0], created)
        if self.state_check:
            after = guard(after, ALL)
        return after


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


def dup_test(ctx, a: Analysis, test: cst.BaseExpression) -> Optional[Tuple[str, bool]]:
    """(model, exists?) when the test checks for an existing row: exists? is True when
    the test is true for a duplicate. Model "*" is a get_or_create ``created`` flag or
    a duplicate check delegated to a predicate (``user.has_active_session()``)."""
    if isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not):
        inner = dup_test(ctx, a, test.expression)
        return (inner[0], not inner[1]) if inner else None
    if isinstance(test, cst.BooleanOperation):
        return dup_test(ctx, a, test.left) or dup_test(ctx, a, test.right)
    if isinstance(test, cst.Name):
        if test.value in a.created_flags:
            return (ALL, False)
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
            return (ALL, True)
        return None
    if isinstance(test, cst.Call) and isinstance(test.func, cst.Name) and test.func.value in ("len", "bool") and len(test.args) == 1:
        return dup_test(ctx, a, test.args[0].value)  # len(wishlists) == 0
    if isinstance(test, cst.Call) and isinstance(test.func, cst.Name) and test.func.value in ("hasattr", "getattr") and len(test.args) >= 2:
        name = test.args[1].value
        if isinstance(name, cst.SimpleString):
            linked = creates.attr_names_model(name.value.strip("\"'"), a.created_keys)
            if linked:
                return (linked, True)  # if not hasattr(request.user, "config"): UserConfig(...)
        return None
    if isinstance(test, (cst.Call, cst.Await)):
        found = creates.lookup_model(ctx, test, a.model_vars)
        if found:
            return (found[0], True)
        call = side_effects.unwrap(test)
        if isinstance(call, cst.Call) and guards.is_duplicate_predicate(call):
            return (ALL, True)
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
                hit = creates.lookup_model(ctx, target, a.model_vars)
                found = hit[0] if hit else None
            if found:
                return (found, isinstance(comp.operator, cst.In))
            return None
        left = dup_test(ctx, a, test.left)
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

def state_test(ctx, a: Analysis, test: cst.BaseExpression, depth: int = 0) -> bool:
    """The test reads a state field of a row loaded in the handler (``order.status``,
    ``invoice.transmission_status``, ``self.object.paid_at``), also through a flag
    (``was_accepted = obj.state == ACCEPTED; if was_accepted:``)."""
    if isinstance(test, cst.Name) and depth < 2:
        values = a.bindings.values.get(test.value, [])
        return bool(values) and all(state_test(ctx, a, v, depth + 1) for v in values)
    for sub in walk(test):
        if isinstance(sub, cst.Attribute) and guards.STATE_ATTR.search(sub.attr.value):
            owner = sub.value
            if isinstance(owner, cst.Name) and owner.value in a.loaded_vars:
                return True
            if isinstance(owner, cst.Name) and any(
                row_annotation(ctx, ann) for ann in a.bindings.annotations.get(owner.value, [])
            ):
                return True  # request: PrivacyRequest = task.privacy_request; if request.status ...
            text = dotted_name(owner) or ""
            if text.startswith("self.") and text.count(".") == 1 and text != "self.request":
                return True  # self.order.status: the view's object
    return False


# ----------------------------------------------------------------------------------------


def exits(body, depth: int = 0) -> bool:
    """The block returns/raises/continues (also from a nested ``if`` at its top level: a
    duplicate check whose "already there" path usually returns is taken as one)."""
    stmts = body.body if isinstance(body, (cst.IndentedBlock, cst.SimpleStatementSuite)) else []
    for stmt in stmts:
        if isinstance(stmt, cst.If) and depth < 2 and exits(stmt.body, depth + 1):
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


def lookups_in(ctx, body, model_vars) -> List[str]:
    out = []
    for sub in walk(body):
        if isinstance(sub, cst.Call):
            found = creates.lookup_model(ctx, sub, model_vars)
            if found and found[1] == "instance" and found[0] not in out:
                out.append(found[0])
    return out


def row_annotation(ctx, ann: cst.BaseExpression) -> bool:
    """``PrivacyRequest`` imported from the project: a typed row (not a library class)."""
    if not isinstance(ann, (cst.Name, cst.Attribute)):
        return False
    q = ctx.qualified(ann) or ""
    last = q.rsplit(".", 1)[-1]
    return bool(q) and last[:1].isupper() and any(c.islower() for c in last) and not q.startswith(creates.NOT_MODEL_MODULES)
