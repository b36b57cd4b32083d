"""BL301 write-outside-transaction: a unit of work whose database writes are not atomic.

Django runs in autocommit mode: each write outside ``transaction.atomic`` is its own
transaction, so a function that writes twice can fail between the two and leave half of
its work in the database. With SQLAlchemy the session batches writes until ``commit()``;
two commits in one unit of work, each with writes before it, are the same partial write.

The analysis is per function (nested functions are their own units) and path-sensitive:
the writes of mutually exclusive paths (if/else, try/except, a write after an early
return) do not add up, and a write in a loop counts as several.

Calls (effect summaries): a call, outside a transaction, of a project function that
writes outside a transaction of its own (itself or through the project functions it
calls, to a fixed point) is one more write of the unit, listed with where the callee
writes. A function whose every call site is inside a transaction is covered by its
callers.

Where the pieces are: the paths and their operations, ``analysis/unit_of_work.py``; the
writing callees and caller coverage, ``analysis/callgraph.py``; what opens a transaction,
``knowledge/transactions.py`` (project wrappers: ``index/transactions.py``); which calls
write, ``knowledge/orm.py`` and ``knowledge/writes.py``. This module holds what is not
reported (rules/BL301.md), what makes a finding, and its message.
"""

from __future__ import annotations

from typing import Any, Dict, FrozenSet, List, Optional, Tuple

import libcst as cst

from backendlint.analysis import callgraph
from backendlint.analysis.contexts import FACTS as CONTEXT_FACTS, context_map
from backendlint.analysis.callgraph import Writer, last as _last
from backendlint.analysis.unit_of_work import CallOp, Path, Step, TooDeep, UnitOfWork, effective
from backendlint.engine.rule import Option, Rule
from backendlint.index.settings import DjangoSettingsFacts
from backendlint.index.transactions import TransactionFacts
from backendlint.analysis.calls import project_callee
from backendlint.index import effects
from backendlint.index.models import KIND as MODELS_KIND
from backendlint.knowledge import orm, settings, side_effects, transactions
from backendlint.knowledge.handlers import is_django_view_class, is_view  # shared with BL201 ("View (Django)")
from backendlint.knowledge.orm import AUTOCOMMIT, DJANGO, SQLALCHEMY, DbOp, OrmScope
from backendlint.knowledge.paths import is_migration_path, is_test_path
from backendlint.knowledge.transactions import ADMIN_ATOMIC_METHODS
from backendlint.knowledge.writes import BULK_KINDS, OP_METHODS, is_batching_loop
from backendlint.rules.bl301.severity import rank_of
from backendlint.syntax.names import dotted_name


MAX_LISTED = 6
TEST_FUNCTION_PREFIXES = ("test_", "setUp", "tearDown", "setup_", "teardown_")
_TOOLING_WORDS = callgraph.TOOLING_WORDS


def _dedupe(listed):
    """One item per operation (a loop's first and later rounds are the same call)."""
    out = []
    index = {}
    for op, cover, rep in listed:
        key = id(op.node)
        if key in index:
            old = out[index[key]]
            out[index[key]] = (old[0], old[1], True)
            continue
        index[key] = len(out)
        out.append((op, cover, rep))
    return out


# -- per-run values of the call graph (built once in ``prepare``, shared with workers) ------
def callee_writers(facts, extra=()) -> Dict[str, Writer]:
    """``callgraph.build_callee_writers``, once per run and option value."""
    if facts is None:
        return {}
    memo = getattr(facts, "memo", None)
    key = "bl301.callee_writers:" + "|".join(sorted(extra))
    if memo is not None and key in memo:
        return memo[key]
    found = _callee_writers(facts, extra)
    if memo is not None:
        memo[key] = found
    return found


def writer_names(facts, extra=()) -> FrozenSet[str]:
    """``callgraph.build_writer_names``: how a call of a writing project function is spelled."""
    memo = getattr(facts, "memo", None)
    key = "bl301.writer_names:" + "|".join(sorted(extra))
    if memo is not None and key in memo:
        return memo[key]
    names = _writer_names(facts, callee_writers(facts, extra))
    if memo is not None:
        memo[key] = names
    return names


def django_model_classes(facts) -> FrozenSet[str]:
    """``callgraph.build_django_model_classes``, once per run."""
    if facts is None:
        return frozenset()
    memo = getattr(facts, "memo", None)
    if memo is not None and "bl301.models" in memo:
        return memo["bl301.models"]
    result = _django_model_classes(facts)
    if memo is not None:
        memo["bl301.models"] = result
    return result


# Module attributes so that a test can tell where they are built (tests/test_workers.py).
_callee_writers = callgraph.build_callee_writers
_writer_names = callgraph.build_writer_names
_django_model_classes = callgraph.build_django_model_classes


def _call_note(value: Writer) -> str:
    chain, what, relpath, line = value
    text = f"writes {what}" if what[:1].isupper() and "." not in what else what
    text = f"{text} in {relpath}:{line}"
    if chain:
        text = f"through {_last(chain[0])}(), {text}"
    return text


class _UnitOfWork(UnitOfWork):
    """BL301's reading of loops: a loop that writes in batches on purpose (``batch`` /
    ``chunk`` names, a ``sleep`` between rounds) is a series of units, one per round."""

    def rounds_apart(self, loop: cst.CSTNode) -> bool:
        return is_batching_loop(loop)


_OP_CALL = 1
_PROJECT_CALL = 2


class WriteOutsideTransaction(Rule):
    code = "BL301"
    name = "write-outside-transaction"
    summary = "A unit of work makes two or more database writes that are not all in one transaction"
    # Every write is a method call (``x.save()``: the attribute of one of OP_METHODS,
    # after a dot, maybe across lines or comments), or a call of a project function that
    # writes (prefilter_names); a report needs two writes, so one of them occurs in the
    # file. "Waddington" or "address" do not count.
    requires_re = r"\.(?:\s|\\\r?\n|#[^\n]*\n)*(?:%s)\b" % "|".join(sorted(OP_METHODS, key=lambda m: (-len(m), m)))
    facts = (orm.FACT_KIND, transactions.FACT_KIND, settings.FACT_KIND, effects.FACT_KIND, MODELS_KIND,
             *CONTEXT_FACTS)
    options = (
        Option(
            "transaction-wrappers",
            list,
            [],
            "Names of project functions/context managers that open a transaction "
            "(qualified like 'shop.db.traced_atomic', or a bare name), in addition to those "
            "found automatically.",
        ),
        Option("log-models", list, [], "Model names whose rows are logs (a partial write there is ranked low)."),
    )

    def __init__(self, ctx, options=None):
        super().__init__(ctx, options)
        self.skip = is_migration_path(ctx.relpath, ctx.source) or is_test_path(ctx.relpath)
        project_tx = TransactionFacts.of(ctx.facts)
        self.tx = transactions.Transactions(ctx, self.opts.transaction_wrappers or (), project_tx.wrappers,
                                            project_tx.atomic_classes)
        self.atomic_requests = bool(DjangoSettingsFacts.of(ctx.facts).atomic_requests_aliases())
        # (reported node, framework, listed writes, ctx.where() of the function)
        self.pending: List[Tuple[cst.Call, str, List[Tuple[DbOp, Optional[int], bool]], tuple, Any]] = []
        # Per enclosing function: calls a write-like method (_OP_CALL) / a project function
        # that may write (_PROJECT_CALL).
        self.frames: List[int] = []
        # Project functions that write outside a transaction of their own (Django files only).
        extra = tuple(self.opts.transaction_wrappers or ())
        self.callee_names: FrozenSet[str] = frozenset()
        self.callees: Dict[str, Writer] = {}
        if not self.skip and ctx.facts is not None and orm.file_flavour(ctx).django:
            self.callee_names = writer_names(ctx.facts, extra)
            if self.callee_names:
                self.callees = callee_writers(ctx.facts, extra)

    @classmethod
    def skips_path(cls, relpath: str) -> bool:
        """Tests and migrations directories (an alembic ``versions/`` outside an
        ``alembic/`` directory needs the source: ``__init__`` sees it)."""
        return is_test_path(relpath) or is_migration_path(relpath)

    @classmethod
    def prefilter_names(cls, facts: Any, options: Optional[Dict[str, Any]] = None) -> FrozenSet[str]:
        """A file that calls a project function writing outside a transaction of its own can
        hold a finding without any write verb of its own (two such calls)."""
        return writer_names(facts, tuple(cls.typed(options).transaction_wrappers or ()))

    @classmethod
    def prepare(cls, facts: Any, options: Optional[Dict[str, Any]] = None) -> None:
        writer_names(facts, tuple(cls.typed(options).transaction_wrappers or ()))  # and callee_writers
        django_model_classes(facts)
        effects.run_resolver(facts)
        context_map(facts)

    # -- coverage of a whole function ----------------------------------------------------
    def _classes(self) -> List[cst.ClassDef]:
        return [n for n in self.ctx.stack if isinstance(n, cst.ClassDef)]

    def _whole_function_covered(self, func: cst.FunctionDef, classes: List[cst.ClassDef]) -> bool:
        if self.tx.function_is_atomic(func, classes):
            return True
        direct_class = classes[-1] if classes and self._is_method(func, classes[-1]) else None
        if direct_class is not None:
            if func.name.value in ADMIN_ATOMIC_METHODS and any(
                (dotted_name(b.value) or "").endswith("Admin") for b in direct_class.bases
            ):
                return True
            qualified = f"{self.ctx.module_name}.{direct_class.name.value}"
            if len(classes) == 1 and self.tx.is_atomic_class_name(qualified):
                return True
        if self.atomic_requests and not self.tx.is_non_atomic_requests(func, classes):
            if self._is_view_code(func, classes, direct_class):
                return True
        return self._covered_by_callers(func, classes, direct_class)

    def _covered_by_callers(self, func: cst.FunctionDef, classes, direct_class) -> bool:
        """Every call site of this function in the project is inside a transaction
        (effect summaries): the callers hold it."""
        if not classes:
            key = f"{self.ctx.module_name}.{func.name.value}"
        elif len(classes) == 1 and direct_class is not None:
            key = f"{self.ctx.module_name}.{direct_class.name.value}.{func.name.value}"
        else:
            return False
        return callgraph.covered_by_callers(self.ctx.facts, self.ctx.memo, key)

    @staticmethod
    def _is_method(func: cst.FunctionDef, cls: cst.ClassDef) -> bool:
        body = cls.body
        return isinstance(body, cst.IndentedBlock) and any(stmt is func for stmt in body.body)

    def _is_view_code(self, func, classes, direct_class) -> bool:
        if is_view(self.ctx, func, classes):
            return True
        if direct_class is not None:
            # Helper methods of a view class (form_valid, perform_create...) run inside the
            # request's transaction too.
            if is_django_view_class(self.ctx, direct_class):
                return True
            body = direct_class.body
            if isinstance(body, cst.IndentedBlock):
                for stmt in body.body:
                    if isinstance(stmt, cst.FunctionDef) and stmt is not func and is_view(self.ctx, stmt, classes):
                        return True
        return False

    # -- analysis ----------------------------------------------------------------------------
    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self.frames.append(0)

    def visit_Call(self, node: cst.Call) -> None:
        # Cheap prefilter: does the function call any method an operation could be?
        frames = self.frames
        if frames and frames[-1] != _OP_CALL | _PROJECT_CALL:
            func = node.func
            if isinstance(func, cst.Attribute):
                if func.attr.value in OP_METHODS:
                    frames[-1] |= _OP_CALL
                if func.attr.value in self.callee_names:
                    frames[-1] |= _PROJECT_CALL
            elif isinstance(func, cst.Name) and self.callee_names and not frames[-1] & _PROJECT_CALL:
                if func.value in self.callee_names or _last(self.ctx.qualified(func) or "") in self.callee_names:
                    frames[-1] |= _PROJECT_CALL

    def leave_FunctionDef(self, node: cst.FunctionDef) -> None:
        candidates = self.frames.pop() if self.frames else _OP_CALL | _PROJECT_CALL
        if self.skip or not candidates:
            return
        name = node.name.value
        if name.startswith(TEST_FUNCTION_PREFIXES):
            return
        params = [p.name.value for p in node.params.params[:2]]
        if params == ["apps", "schema_editor"]:
            return  # a RunPython data migration: migrations run in a transaction
        classes = self._classes()
        if self._whole_function_covered(node, classes):
            return
        scope = OrmScope(self.ctx, node)
        follow = candidates & _PROJECT_CALL and self.callees and self._follows_calls(node, classes)
        analysis = _UnitOfWork(scope, self.tx, self._callee_of(node, classes) if follow else None)
        try:
            paths = analysis.run(node)
        except TooDeep:
            return
        if not analysis.ops:
            return
        if analysis.claim_blocks:
            paths = [tuple(e for e in p if e.cover not in analysis.claim_blocks) for p in paths]
        if analysis.batched_ops:
            batched = set(analysis.batched_ops)
            # The final flush of the same buffer after the loop is part of the series.
            for index, op in enumerate(analysis.ops):
                if (op.kind in BULK_KINDS or isinstance(op, CallOp)) and any(
                    isinstance(a.value, cst.Name) and a.value.value in analysis.flush_buffers and a.keyword is None
                    for a in op.node.args
                ):
                    batched.add(index)
            paths = [tuple(e for e in p if e.op < 0 or e.op not in batched) for p in paths]
        found = self._django_finding(paths, analysis.ops)
        if found is not None and any(isinstance(op, CallOp) for op in analysis.ops):
            # Report where the unit's own writes alone would be reported, so that following
            # calls does not move existing findings.
            ops = analysis.ops
            direct = self._django_finding(
                [tuple(e for e in p if e.op < 0 or not isinstance(ops[e.op], CallOp)) for p in paths], ops
            )
            if direct is not None and direct[0] is not found[0]:
                if any(op.node is direct[0] for op, _, _ in found[2]):
                    found = (direct[0], found[1], found[2])
                else:
                    found = direct
        found = found or self._sqlalchemy_finding(paths, analysis.ops, analysis.scope_of)
        if found is not None:
            top, where = self.ctx.where()
            ranked = rank_of(self, node, scope, (*self.ctx.stack, node), found[2])
            self.pending.append((*found, (top, where + (node,)), ranked))

    def _follows_calls(self, func: cst.FunctionDef, classes: List[cst.ClassDef]) -> bool:
        """Units whose calls are followed. Not: signal receivers, save()/delete()
        overrides and other methods of Django models, which are steps of whatever saves
        the row (a view, a form, a task: the unit of work is the caller's, and in the
        projects we checked the writes behind a model method's calls were derived state:
        checks, counters, a VCS status); management commands and fake-data generators,
        which drive long jobs (populating a database, imports) step by step. Their own
        writes still count."""
        relpath = f"/{self.ctx.relpath.lower()}"
        if "/management/commands/" in relpath or any(w in relpath for w in _TOOLING_WORDS):
            return False
        name = func.name.value
        if any(w in name.lower() for w in _TOOLING_WORDS):
            return False
        if classes and name in ("save", "delete", "asave", "adelete"):
            return False
        params = func.params
        names = [p.name.value for p in (*params.posonly_params, *params.params, *params.kwonly_params)]
        if names[:1] == ["sender"] or ("instance" in names and isinstance(params.star_kwarg, cst.Param)):
            return False  # a signal receiver: (sender, instance, **kwargs)
        for dec in func.decorators:
            expr = dec.decorator.func if isinstance(dec.decorator, cst.Call) else dec.decorator
            if _last(dotted_name(expr) or "") == "receiver":
                return False
        if classes and self._is_model_method(func, classes):
            return False
        return True

    def _is_model_method(self, func: cst.FunctionDef, classes: List[cst.ClassDef]) -> bool:
        if len(classes) != 1 or not self._is_method(func, classes[0]):
            return False
        key = f"{self.ctx.module_name}.{classes[0].name.value}"
        return key in django_model_classes(self.ctx.facts)

    def _callee_of(self, func: cst.FunctionDef, classes: List[cst.ClassDef]):
        """call -> CallOp when the call resolves to a project function that writes outside a
        transaction of its own (effect summaries), else None."""
        names = self.callee_names
        direct_class = classes[-1] if len(classes) == 1 and self._is_method(func, classes[-1]) else None
        class_key = f"{self.ctx.module_name}.{direct_class.name.value}" if direct_class is not None else None
        self_key = f"{class_key}.{func.name.value}" if class_key else (
            None if classes else f"{self.ctx.module_name}.{func.name.value}"
        )
        bindings = []

        def callee_of(call: cst.Call) -> Optional[CallOp]:
            target = call.func
            if isinstance(target, cst.Attribute):
                if target.attr.value not in names:
                    return None
            elif isinstance(target, cst.Name):
                if target.value not in names and _last(self.ctx.qualified(target) or "") not in names:
                    return None
            else:
                return None
            if not bindings:
                bindings.append(side_effects.local_bindings(func))
            key = project_callee(self.ctx, call, bindings[0], class_key, self_key, func)
            if key is None or key not in self.callees:
                return None
            label = f"{orm.render(call.func)}()"
            note = _call_note(self.callees[key])
            if _last(label[:-2]) != _last(key):  # an alias: name the function
                note = f"{_last(key)}() {note}"
            return CallOp(call, "call", DJANGO, label, None, key, note)

        return callee_of

    def _django_finding(self, paths: List[Path], ops: List[DbOp]):
        best = None
        best_key = None
        for path in paths:
            path = effective(path)
            writes = [e for e in path if ops[e.op].framework in (DJANGO, AUTOCOMMIT)]
            uncovered = [e for e in writes if e.cover is None]
            if not uncovered:
                continue
            # A call in a loop is one write: calling a service per item makes one unit of
            # work per item (label-studio's uploads, pretix's data sync), by design more
            # often than not; a write of the unit's own in a loop still counts twice.
            weight = sum(2 if e.repeated and not isinstance(ops[e.op], CallOp) else 1 for e in writes)
            if weight < 2:
                continue
            key = (weight, -uncovered[0].op)
            if best_key is None or key > best_key:
                best, best_key = (writes, uncovered[0]), key
        if best is None:
            return None
        writes, first = best
        listed = _dedupe([(ops[e.op], e.cover, e.repeated) for e in writes])
        framework = ops[first.op].framework
        return (ops[first.op].node, framework, listed)

    def _sqlalchemy_finding(self, paths: List[Path], ops: List[DbOp], scope_of: List[Optional[int]]):
        best = None
        best_key = None
        for path in paths:
            path = effective(path)
            # Per session scope (a ``with Session() as s`` block is a unit of its own).
            pending: Dict[Optional[int], List[Step]] = {}
            segments: Dict[Optional[int], List[Tuple[List[Step], Step]]] = {}
            counts: Dict[Optional[int], int] = {}
            for entry in path:
                op = ops[entry.op]
                if op.framework != SQLALCHEMY or entry.cover is not None:
                    continue
                scope = scope_of[entry.op]
                if op.is_commit:
                    if pending.get(scope):
                        segments.setdefault(scope, []).append((pending[scope], entry))
                        counts[scope] = counts.get(scope, 0) + (2 if entry.repeated else 1)
                        pending[scope] = []
                else:
                    pending.setdefault(scope, []).append(entry)
            for scope, count in counts.items():
                if count < 2:
                    continue
                key = (count, -segments[scope][0][0][0].op)
                if best_key is None or key > best_key:
                    best, best_key = segments[scope], key
        if best is None:
            return None
        listed = []
        for writes, commit in best:
            listed.extend((ops[e.op], e.cover, e.repeated) for e in writes)
            listed.append((ops[commit.op], commit.cover, commit.repeated))
        listed = _dedupe(listed)
        first = best[0][0][0]
        return (ops[first.op].node, SQLALCHEMY, listed)

    # -- reporting -----------------------------------------------------------------------------
    def end_module(self) -> None:
        for node, framework, listed, where, ranked in self.pending:
            lines = self.ctx.lines_of([op.node for op, _, _ in listed], where)
            self.report(node, self._message(framework, listed, lines), where, **ranked.as_report())

    @staticmethod
    def _describe(listed, lines, covered_note: bool) -> str:
        parts = []
        for op, cover, repeated in listed[:MAX_LISTED]:
            text = f"{op.label} line {lines.get(id(op.node), '?')}"
            notes = [op.note] if isinstance(op, CallOp) else []
            if repeated:
                notes.append("in a loop")
            if covered_note and cover is not None:
                notes.append("inside a transaction")
            if notes:
                text += f" ({', '.join(notes)})"
            parts.append(text)
        if len(listed) > MAX_LISTED:
            parts.append(f"and {len(listed) - MAX_LISTED} more")
        return ", ".join(parts)

    def _message(self, framework: str, listed, lines) -> str:
        if framework == SQLALCHEMY:
            commits = sum(2 if rep else 1 for op, _, rep in listed if op.is_commit)
            looped = any(rep for op, _, rep in listed if op.is_commit)
            count = "commits in a loop" if looped and commits == 2 and sum(1 for o, _, _ in listed if o.is_commit) == 1 else f"{commits} commits"
            return (
                f"writes committed in separate transactions ({count}): {self._describe(listed, lines, False)}; "
                "a failure between the commits leaves partial data: commit once at the end of the unit "
                "of work, or use `with session.begin():`"
            )
        uncovered = [x for x in listed if x[1] is None]
        fix = "wrap them in transaction.atomic()" if framework == DJANGO else "run them in one transaction (`with engine.begin():`)"
        if len(uncovered) < len(listed):
            return (
                f"{len(listed)} writes not in one transaction ({len(uncovered)} outside it): "
                f"{self._describe(listed, lines, True)}; move them into one transaction.atomic() block"
                if framework == DJANGO
                else f"{len(listed)} writes not in one transaction: {self._describe(listed, lines, True)}; {fix}"
            )
        if len(listed) == 1:
            return (
                f"a write in a loop runs outside a transaction: {self._describe(listed, lines, False)}; "
                "a failure part-way leaves the earlier iterations written: wrap the loop in transaction.atomic()"
                if framework == DJANGO
                else f"a write in a loop on an autocommit connection: {self._describe(listed, lines, False)}; {fix}"
            )
        where = "outside a transaction" if framework == DJANGO else "on an autocommit connection"
        return f"{len(listed)} writes {where}: {self._describe(listed, lines, False)}; {fix}"
