"""Effect summaries: what each project function does to the world, through the functions it calls.

A project fact (kind ``effect_summaries``). For every module-level function and every
method of a module-level class, the collector records, from the function's own body:

- ``cr``: rows it creates with no idempotency guard around them (``Model.objects.create``,
  ``Model(...).save()``, ``session.add(Model(...))``, ``bulk_create`` without conflict
  handling) and irreversible side effects (task enqueue, outbound POST, email, payment);
  the vocabulary is BL201's (``creates``, ``side_effects``), on the stdlib ``ast``;
- ``g``: whether it guards against duplicates (``get_or_create``/``update_or_create``, an
  ``if`` on an ``exists()``/``first()``/``get()`` lookup, ``except IntegrityError``, an
  upsert, an idempotency key): a guarded function's creates, and its callees', are its
  own business and are not exported to its callers;
- ``w``: database writes (Django manager/queryset writes, ``save()``/``delete()`` of rows
  built or loaded here) with whether each sits inside a transaction opened here, and for
  BL301 whether it sits in a loop or a deliberate series (a batching loop, per-item error
  isolation, a buffer flushed in batches) and inside which other context managers (project
  wrappers of atomic are known only at merge time, from another fact);
- ``tx``: the whole body runs in a transaction (``@transaction.atomic``, or a body that is
  one ``with transaction.atomic()`` / ``session.begin()`` block);
- ``k``: the calls it makes, as descriptors resolved at merge time, with their line,
  whether they sit inside a transaction opened here, and the same BL301 flags as writes.

Calls are resolved only when the target is certain: a module function through the file's
imports (``from x import f as g``, ``import x as y; y.f()``, relative imports, package
re-exports), ``Class.method()``, ``self.method()`` / ``cls.method()`` (on the class and its
project bases), ``obj.method()`` where ``obj`` was built by ``Class(...)`` in the function,
annotated ``obj: Class`` or injected with FastAPI ``Depends(Class)``, and
``self.attr.method()`` where ``__init__`` sets ``self.attr = Class(...)``. Anything else
(third-party libraries, unknown receivers) stays opaque.

The merge computes the transitive effects with a fixed point: the exported creates of a
function are its own plus those of the functions it calls (first chain found per created
thing), iterated until nothing changes, so recursion and cycles terminate. A function whose
every call site in the project is inside a transaction is covered by its callers.

The cached JSON keeps its compact shape (short keys, lists); the reader gives it names:
``EffectIndex`` over the merged fact, ``Create`` / ``Write`` / ``Call`` / ``Edge`` for its
entries, ``CreatePath`` for the chain of calls to an exported create. Nothing outside
``index/`` needs to read an entry by position.
"""

from __future__ import annotations

from backendlint.knowledge.writes import DJANGO_QUERYSET_ASYNC_WRITES, DJANGO_QUERYSET_WRITES, ast_reset_lists

import ast
from typing import Any, Dict, List, NamedTuple, Optional, Sequence, Tuple

from backendlint.engine.facts import FactCollector, register
from backendlint.engine.pyast import AstImports, all_nodes, ast_dotted, body_nodes, body_statements, descendants, nodes_of
from backendlint.knowledge.creates import UPSERT_METHODS, ast_is_session, ast_manager_model, ast_model_name, ast_queryset_model, model_key
from backendlint.knowledge.guards import DUPLICATE_CHECK_LOOKUPS, GUARDED_CREATES, ast_catches_integrity, ast_is_loader, mentions_idempotency
from backendlint.knowledge.orm import NON_ORM_NAME_HINTS, NON_ORM_PREFIXES
from backendlint.knowledge.side_effects import ast_external_effect, ast_side_effect, external_of_receiver
from backendlint.syntax.names import last_of

FACT_KIND = "effect_summaries"
FACTS = (FACT_KIND,)

MAX_CHAIN = 4  # a chain of calls stops growing past this many functions
_MAX_ITEMS = 8  # exported creates kept per function
_MAX_ROUNDS = 64  # safety net for the fixed point (it converges long before)

_ATOMIC_NAMES = ("django.db.transaction.atomic", "django.db.transaction.Atomic")
_GUARDED = GUARDED_CREATES | frozenset(UPSERT_METHODS)
_DJ_WRITES = DJANGO_QUERYSET_WRITES | DJANGO_QUERYSET_ASYNC_WRITES  # one table (knowledge/writes.py)

# Where a write or call sits, for BL301 (the flags of writes and calls).
IN_LOOP = 1
DELIBERATE = 2  # a batching loop, per-item error isolation, a buffer flushed in batches


_last = last_of


def _non_orm(expr: ast.AST) -> bool:
    text = (ast_dotted(expr) or "").lower()
    return any(h in text for h in NON_ORM_NAME_HINTS)


# -- one function ---------------------------------------------------------------------------
class _FunctionScan:
    def __init__(self, imports: AstImports, func: ast.AST, cls: Optional[str], attr_types: Dict[str, str]):
        self.imports = imports
        self.func = func
        self.cls = cls
        self.attr_types = attr_types
        self.creates: List[list] = []  # [label, model key, line]
        self.writes: List[list] = []  # [label, line, in_tx, flags, model, wrappers]
        self.calls: List[list] = []  # [descriptor, line, in_tx, flags, wrappers]
        # BL301's view of where a write or call sits: ``flags`` (IN_LOOP, DELIBERATE: a
        # batching loop, per-item error isolation, a buffer flushed in batches) and the
        # names of the ``with`` context managers around it that may be project wrappers of
        # atomic (checked against the transaction_wrappers fact by the rule).
        self.flags = 0
        self.wraps: Tuple[str, ...] = ()
        self.resets: set = set()  # lists emptied inside a loop (buffers flushed in batches)
        self.not_rows: set = set()  # built from a class of a non-ORM library
        self.flushed: set = set()
        self.guard = False
        self.var_types: Dict[str, str] = {}  # var -> qualified class
        self.built: Dict[str, str] = {}  # var -> model built here (Model(...))
        self.loaded: set = set()  # vars holding rows read from the database
        self.guarded_models: set = set()
        self.unresolved: set = set()  # methods called on receivers of unknown class
        # severity: what built a local name (any callable, ``boto3.client``), the external
        # effects of the body (whatever its guards), the tasks it enqueues
        self.built_by: Dict[str, str] = {}
        self.external: List[list] = []  # [label, line]
        self.tasks: List[list] = []  # [descriptor, line, label of the enqueue or ""]
        self.sends: List[list] = []  # [receiver class, method] of send-like calls not known external

    # local names
    def _q(self, node: ast.AST) -> Optional[str]:
        return self.imports.resolve(ast_dotted(node))

    def _class_of(self, ann: Optional[ast.AST]) -> Optional[str]:
        if ann is None:
            return None
        if isinstance(ann, ast.Subscript):
            # Annotated[Service, Depends(...)], Optional[Service]
            inner = ann.slice
            if isinstance(inner, ast.Tuple) and inner.elts:
                inner = inner.elts[0]
            return self._class_of(inner)
        if isinstance(ann, ast.Constant) and isinstance(ann.value, str):
            try:
                ann = ast.parse(ann.value, mode="eval").body
            except SyntaxError:
                return None
        q = self._q(ann)
        return q if q and _last(q)[:1].isupper() else None

    def _depends_class(self, default: Optional[ast.AST]) -> Optional[str]:
        if isinstance(default, ast.Call) and default.args and _last(ast_dotted(default.func) or "") == "Depends":
            return self._class_of(default.args[0])
        return None

    def prepare(self) -> None:
        args = self.func.args
        params = list(args.posonlyargs) + list(args.args) + list(args.kwonlyargs)
        defaults: Dict[str, ast.AST] = {}
        positional = list(args.posonlyargs) + list(args.args)
        for p, d in zip(positional[len(positional) - len(args.defaults):], args.defaults):
            defaults[p.arg] = d
        for p, d in zip(args.kwonlyargs, args.kw_defaults):
            if d is not None:
                defaults[p.arg] = d
        for p in params:
            found = self._depends_class(defaults.get(p.arg))
            if found is None and p.annotation is not None:
                ann = p.annotation
                if isinstance(ann, ast.Subscript) and _last(ast_dotted(ann.value) or "") == "Annotated":
                    elts = ann.slice.elts if isinstance(ann.slice, ast.Tuple) else [ann.slice]
                    for extra in elts[1:]:
                        found = found or self._depends_class(extra)
                found = found or self._class_of(ann)
            if found:
                self.var_types[p.arg] = found
        assigned: Dict[str, List[ast.AST]] = {}
        for node in body_statements(self.func.body):
            if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                assigned.setdefault(node.targets[0].id, []).append(node.value)
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                cls = self._class_of(node.annotation)
                if cls:
                    self.var_types[node.target.id] = cls
                if node.value is not None:
                    assigned.setdefault(node.target.id, []).append(node.value)
        for name, values in assigned.items():
            callees = {self._q(_unawait(v).func) for v in values if isinstance(_unawait(v), ast.Call)}
            if len(callees) == 1 and len(values) == 1 and None not in callees:
                self.built_by[name] = callees.pop()
            kinds = set()
            for value in values:
                if isinstance(value, ast.Await):
                    value = value.value
                if isinstance(value, ast.Call):
                    callee = ast_dotted(value.func)
                    q = self.imports.resolve(callee)
                    model = ast_model_name(callee, q)
                    if model and not any(isinstance(a, ast.Starred) for a in value.args):
                        kinds.add(("built", model))
                        if _non_orm_class(q):
                            self.not_rows.add(name)  # SessionStore(): saved, but not a row
                    elif q and _last(q)[:1].isupper():
                        kinds.add(("class", q))
                    elif ast_is_loader(value):
                        kinds.add(("loaded", ""))
                    else:
                        kinds.add(("other", ""))
                else:
                    kinds.add(("other", ""))
            if len(kinds) == 1:
                kind, what = next(iter(kinds))
                if kind == "built":
                    self.built[name] = what
                elif kind == "class":
                    self.var_types.setdefault(name, what)
                elif kind == "loaded":
                    self.loaded.add(name)
            elif any(k == "loaded" for k, _ in kinds):
                self.loaded.add(name)

    # body
    def scan(self) -> None:
        self.prepare()
        self._stmts(self.func.body, False)
        for dec in getattr(self.func, "decorator_list", []):
            if self._atomic_expr(dec):
                self.tx_decorated = True

    tx_decorated = False

    def _atomic_expr(self, expr: ast.AST) -> bool:
        if isinstance(expr, ast.IfExp):  # atomic() if durable else nullcontext()
            return self._atomic_expr(expr.body) or self._atomic_expr(expr.orelse)
        if isinstance(expr, ast.Call):
            expr = expr.func
        q = self._q(expr) or ""
        text = ast_dotted(expr) or ""
        if q in _ATOMIC_NAMES or _last(text) == "atomic":
            return True
        return isinstance(expr, ast.Attribute) and expr.attr in ("begin", "begin_nested")

    def _stmts(self, stmts: Sequence[ast.stmt], in_tx: bool) -> None:
        for stmt in stmts:
            self._stmt(stmt, in_tx)

    def _stmt(self, stmt: ast.stmt, in_tx: bool) -> None:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            return
        if isinstance(stmt, (ast.With, ast.AsyncWith)):
            inner = in_tx
            wraps = self.wraps
            for item in stmt.items:
                self._expr(item.context_expr, in_tx)
                if self._atomic_expr(item.context_expr):
                    inner = True
                elif isinstance(item.context_expr, ast.Call):
                    name = self._q(item.context_expr.func) or ast_dotted(item.context_expr.func)
                    if name:
                        wraps = wraps + (name,)
                if ast_catches_integrity(item.context_expr):
                    self.guard = True
            saved, self.wraps = self.wraps, wraps
            self._stmts(stmt.body, inner)
            self.wraps = saved
            return
        if isinstance(stmt, (ast.For, ast.AsyncFor, ast.While)):
            self._loop(stmt, in_tx)
            return
        if isinstance(stmt, ast.If):
            if self._lookup_test(stmt.test):
                self.guard = True
            self._expr(stmt.test, in_tx)
            self._stmts(stmt.body, in_tx)
            self._stmts(stmt.orelse, in_tx)
            return
        if isinstance(stmt, ast.Try) or type(stmt).__name__ == "TryStar":
            for handler in stmt.handlers:
                if ast_catches_integrity(handler.type):
                    self.guard = True
            saved = self.flags
            if saved & IN_LOOP and any(_swallows(h) for h in stmt.handlers):
                self.flags |= DELIBERATE  # per-item error isolation: progress is intended
            self._stmts(stmt.body, in_tx)
            for handler in stmt.handlers:
                self._stmts(handler.body, in_tx)
            self._stmts(stmt.orelse, in_tx)
            self.flags = saved
            self._stmts(stmt.finalbody, in_tx)
            return
        for field_name, value in ast.iter_fields(stmt):
            if isinstance(value, list):
                for item in value:
                    if isinstance(item, ast.stmt):
                        self._stmt(item, in_tx)
                    elif isinstance(item, ast.AST):
                        self._expr(item, in_tx)
            elif isinstance(value, ast.AST):
                if isinstance(value, ast.stmt):
                    self._stmt(value, in_tx)
                else:
                    self._expr(value, in_tx)

    def _loop(self, stmt, in_tx: bool) -> None:
        self._expr(stmt.iter if isinstance(stmt, (ast.For, ast.AsyncFor)) else stmt.test, in_tx)
        saved = self.flags
        self.flags |= IN_LOOP
        if not saved & IN_LOOP:
            # The outermost loop's walk covers the loops inside it: a batching word in an
            # inner loop makes the whole outer body a deliberate series, as in BL301.
            if _is_batching_loop(stmt):
                self.flags |= DELIBERATE
            self.resets |= _reset_lists(stmt.body)
        self._stmts(stmt.body, in_tx)
        self.flags = saved
        self._stmts(stmt.orelse, in_tx)

    def _write(self, label: str, line: int, in_tx: bool, model: str = "", call: Optional[ast.Call] = None) -> None:
        flags = self.flags
        if call is not None and isinstance(call.func, ast.Attribute) and call.func.attr.startswith(("bulk_", "abulk_")):
            arg = call.args[0] if call.args else None
            if isinstance(arg, ast.Name):
                if flags & IN_LOOP and arg.id in self.resets:
                    self.flushed.add(arg.id)
                    flags |= DELIBERATE
                elif arg.id in self.flushed:
                    flags |= DELIBERATE  # the final flush of a buffer flushed in batches
        self.writes.append([label, line, in_tx, flags, model, list(self.wraps)])

    def _lookup_test(self, test: ast.AST) -> bool:
        for node in descendants(test):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                if node.func.attr in DUPLICATE_CHECK_LOOKUPS and (ast_queryset_model(node) or ast_is_session(node.func.value) or "query" in (ast_dotted(node.func.value) or "")):
                    return True
                if node.func.attr in ("exists", "aexists"):
                    return True
            if isinstance(node, ast.Name) and node.id in self.loaded:
                return True
        return False

    def _expr(self, expr: ast.AST, in_tx: bool) -> None:
        if isinstance(expr, (ast.Lambda, ast.FunctionDef, ast.AsyncFunctionDef)):
            return
        for node in body_nodes([expr]):  # depth first, last child first; not into lambdas
            if isinstance(node, ast.Call):
                self._call(node, in_tx)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and mentions_idempotency(node.value):
                self.guard = True
            if isinstance(node, ast.Name) and mentions_idempotency(node.id):
                self.guard = True

    def _call(self, call: ast.Call, in_tx: bool) -> None:
        func = call.func
        line = call.lineno
        dotted = ast_dotted(func)
        q = self.imports.resolve(dotted)
        attr = func.attr if isinstance(func, ast.Attribute) else ""
        receiver = self._receiver_class(func)
        external = ast_external_effect(call, q, receiver)
        if external:
            self.external.append([external, line])
        elif receiver and attr in _SEND_METHODS:
            self.sends.append([receiver, attr])  # a project class's send(): its library base decides
        if attr in ("delay", "apply_async"):
            task = self._task_descriptor(func.value)
            if task is not None:
                self.tasks.append([task, line, ast_side_effect(call, q) or ""])
        if attr in _GUARDED:
            self.guard = True
            model = ast_queryset_model(func.value)
            if model:
                self._write(f"{model}.objects.{attr}", line, in_tx, model)
            return
        if any(k.arg in ("ignore_conflicts", "update_conflicts") for k in call.keywords):
            self.guard = True
        # -- Django manager / queryset writes
        if attr in _DJ_WRITES:
            model = ast_queryset_model(func.value)
            if model:
                label = f"{model}.objects.{attr}" if ast_manager_model(func.value) else f"{model} queryset .{attr}()"
                self._write(label, line, in_tx, model, call)
                if attr in ("create", "acreate", "bulk_create", "abulk_create"):
                    suffix = " (bulk_create)" if "bulk" in attr else ""
                    self.creates.append([f"creates {model}{suffix}", model_key(model), line])
                return
            if attr in ("create_user", "create_superuser"):
                pass
        if attr in ("create_user", "create_superuser") and ast_manager_model(func.value):
            model = ast_manager_model(func.value)
            self._write(f"{model}.objects.{attr}", line, in_tx, model)
            self.creates.append([f"creates {model}", model_key(model), line])
            return
        # -- save()/delete() of rows built or loaded here
        if attr in ("save", "asave", "delete", "adelete") and not any(not isinstance(a, ast.Starred) for a in call.args[:0]):
            recv = func.value
            model = None
            if isinstance(recv, ast.Call):
                callee = ast_dotted(recv.func)
                q_recv = self.imports.resolve(callee)
                model = ast_model_name(callee, q_recv)
                if model and attr in ("save", "asave"):
                    if not _non_orm_class(q_recv):
                        self._write(f"{model}(...).save()", line, in_tx, model)
                    self.creates.append([f"creates {model}", model_key(model), line])
                    return
            if isinstance(recv, ast.Name) and not call.args:
                if recv.id in self.built:
                    model = self.built[recv.id]
                    if recv.id not in self.not_rows:
                        self._write(f"{recv.id}.{attr}()", line, in_tx, model)
                    if attr in ("save", "asave"):
                        self.creates.append([f"creates {model}", model_key(model), line])
                    return
                if recv.id in self.loaded and not _non_orm(recv):
                    self._write(f"{recv.id}.{attr}()", line, in_tx)
                    return
        # -- SQLAlchemy session.add(Model(...)) / session.add(obj)
        if attr in ("add", "add_all") and call.args and ast_is_session(func.value):
            arg = call.args[0]
            items = arg.elts if isinstance(arg, (ast.List, ast.Tuple)) and attr == "add_all" else [arg]
            for item in items:
                model = None
                if isinstance(item, ast.Call):
                    callee = ast_dotted(item.func)
                    model = ast_model_name(callee, self.imports.resolve(callee))
                elif isinstance(item, ast.Name):
                    model = self.built.get(item.id)
                if model:
                    self.creates.append([f"creates {model}", model_key(model), line])
            return
        # -- side effects (BL201's vocabulary)
        effect = ast_side_effect(call, q)
        if effect:
            self.creates.append([effect, "", line])
            return
        # -- calls to resolve at merge
        desc = self._descriptor(func, dotted, q, attr)
        if desc is not None:
            self.calls.append([desc, line, in_tx, self.flags, list(self.wraps)])
        elif attr:
            self.unresolved.add(attr)

    def _receiver_class(self, func: ast.AST) -> Optional[str]:
        """What built the root of a method call's receiver: ``boto3.client`` for
        ``ec2.run_instances()`` after ``ec2 = boto3.client("ec2")``, the class of
        ``msg.send()`` after ``msg = EmailMessage(...)``, ``twilio.rest.Client`` for
        ``client.messages.create()``."""
        if not isinstance(func, ast.Attribute):
            return None
        root = func.value
        while isinstance(root, ast.Attribute):
            root = root.value
        if isinstance(root, ast.Call):
            return self._q(root.func)
        if isinstance(root, ast.Name):
            return self.built_by.get(root.id) or self.var_types.get(root.id)
        return None

    def _task_descriptor(self, recv: ast.AST) -> Optional[list]:
        """The task function of ``send_welcome.delay()`` / ``tasks.send_welcome.apply_async()``."""
        if isinstance(recv, (ast.Name, ast.Attribute)):
            if isinstance(recv, ast.Name) and (recv.id in self.built or recv.id in self.loaded or recv.id in self.built_by):
                return None
            q = self._q(recv)
            return ["q", q] if q else None
        return None

    def _descriptor(self, func, dotted, q, attr) -> Optional[list]:
        if isinstance(func, ast.Name):
            return ["q", q] if q else None
        if not isinstance(func, ast.Attribute):
            return None
        recv = func.value
        if isinstance(recv, ast.Name):
            if recv.id in ("self", "cls") and self.cls:
                return ["s", attr]
            if recv.id in self.var_types:
                return ["i", self.var_types[recv.id], attr]
            if q and recv.id not in self.built and recv.id not in self.loaded:
                return ["q", q]  # module.func / Class.method through imports or local defs
            return None
        if isinstance(recv, ast.Attribute) and isinstance(recv.value, ast.Name) and recv.value.id == "self":
            cls = self.attr_types.get(recv.attr)
            if cls:
                return ["i", cls, attr]
            return None
        if q and dotted and "." in dotted:
            return ["q", q]
        return None


def _unawait(value: ast.AST) -> ast.AST:
    return value.value if isinstance(value, ast.Await) else value


def _non_orm_class(qualified: Optional[str]) -> bool:
    return bool(qualified) and any(qualified == p or qualified.startswith(p + ".") for p in NON_ORM_PREFIXES)


def _swallows(handler: ast.ExceptHandler) -> bool:
    """The handler carries on (falls through or continues) instead of re-raising."""
    body = handler.body
    if any(isinstance(s, ast.Continue) for s in body):
        return True
    return bool(body) and not isinstance(body[-1], (ast.Raise, ast.Return))


_BATCH_WORDS = ("batch", "chunk")


def _is_batching_loop(loop: ast.AST) -> bool:
    """BL301's batching loop (``for chunk in chunks(ids, 1000)``, ``batch_size``, a ``sleep``
    between rounds): a series of commits on purpose."""
    for node in descendants(loop):
        if isinstance(node, ast.Name):
            lower = node.id.lower()
            if any(w in lower for w in _BATCH_WORDS) or lower == "sleep":
                return True
        elif isinstance(node, ast.Attribute):
            lower = node.attr.lower()
            if any(w in lower for w in _BATCH_WORDS) or lower == "sleep":
                return True
    return False


_reset_lists = ast_reset_lists  # names set back to an empty list (or cleared) in a loop body


def _whole_body_atomic(scan: _FunctionScan) -> bool:
    if scan.tx_decorated:
        return True
    body = [s for s in scan.func.body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]
    return len(body) == 1 and isinstance(body[0], (ast.With, ast.AsyncWith)) and any(
        scan._atomic_expr(item.context_expr) for item in body[0].items
    )


def _attr_types(cls: ast.ClassDef, imports: AstImports) -> Dict[str, str]:
    """``self.repo = Repo(...)`` in ``__init__`` and ``repo: Repo`` class annotations."""
    out: Dict[str, str] = {}
    for stmt in cls.body:
        if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
            q = imports.resolve(ast_dotted(stmt.annotation))
            if q and _last(q)[:1].isupper():
                out[stmt.target.id] = q
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)) and stmt.name == "__init__":
            for node in body_statements(stmt.body):
                if isinstance(node, ast.Assign) and len(node.targets) == 1:
                    t = node.targets[0]
                    if isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name) and t.value.id == "self" and isinstance(node.value, ast.Call):
                        q = imports.resolve(ast_dotted(node.value.func))
                        if q and _last(q)[:1].isupper():
                            out[t.attr] = q
    return out


# -- the collector --------------------------------------------------------------------------
@register
class EffectSummaries(FactCollector):
    kind = FACT_KIND
    # "class ": files of classes without methods (Django models) still give their bases
    # (BL301 tells model classes apart).
    requires = ("def ", "class ")
    version = 4  # 4: external effects ("x") and enqueued tasks ("t") per function (severity)

    def collect(self, tree: ast.Module, relpath: str, module_name: str, source: str):
        is_package = relpath.endswith("__init__.py")
        imports = AstImports(module_name, is_package)
        for node in nodes_of(tree, (ast.Import, ast.ImportFrom)):
            imports.add(node)
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                imports.local(node.name)
        funcs: Dict[str, Any] = {}
        classes: Dict[str, Any] = {}
        unresolved: set = set()

        def summarise(fn, qual: str, cls: Optional[str], attr_types) -> None:
            scan = _FunctionScan(imports, fn, cls, attr_types)
            scan.scan()
            unresolved.update(scan.unresolved)
            rec: Dict[str, Any] = {"l": fn.lineno}
            if scan.creates:
                rec["cr"] = scan.creates
            if scan.writes:
                rec["w"] = scan.writes
            if scan.calls:
                rec["k"] = scan.calls
            if scan.external:
                rec["x"] = scan.external
            if scan.tasks:
                rec["t"] = scan.tasks
            if scan.sends:
                rec["s"] = scan.sends
            if scan.guard:
                rec["g"] = 1
            if _whole_body_atomic(scan):
                rec["tx"] = 1
            decorators = [ast_dotted(d.func if isinstance(d, ast.Call) else d) or "?" for d in fn.decorator_list]
            if any(_last(d) not in _PLAIN_DECORATORS for d in decorators):
                rec["d"] = 1  # a task, a receiver, a route: the framework calls it too
                # (a project decorator may open a transaction: BL301 checks the names)
                rec["dn"] = [imports.resolve(d) or d for d in decorators if _last(d) not in _PLAIN_DECORATORS]
            funcs[qual] = rec

        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                summarise(node, node.name, None, {})
            elif isinstance(node, ast.ClassDef):
                attr_types = _attr_types(node, imports)
                bases = [imports.resolve(ast_dotted(b)) for b in node.bases]
                methods = []
                for stmt in node.body:
                    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
                        methods.append(stmt.name)
                        summarise(stmt, f"{node.name}.{stmt.name}", node.name, attr_types)
                classes[node.name] = {"b": [b for b in bases if b]}
        # re-exports: names this module imports from elsewhere (package __init__ files)
        aliases = {k: v for k, v in imports.bindings.items() if v != f"{module_name}.{k}"}
        if not funcs and not classes and not is_package:
            return None
        # A file without functions (models, forms) gives its classes' bases only.
        refs = sorted(set(_references(tree)) | unresolved) if funcs else []
        part = {"m": module_name, "f": funcs, "c": classes, "a": aliases if is_package else {}, "r": refs}
        roots = {v.split(".", 1)[0] for v in imports.bindings.values()}
        if roots & {"django", "rest_framework"}:
            part["o"] = "dj"  # the ORM the file's writes belong to (BL301)
        elif roots & {"sqlalchemy", "flask_sqlalchemy", "sqlmodel"} or "db.session" in source:
            part["o"] = "sa"
        return part

    def merge(self, parts: Dict[str, Any]) -> Dict[str, Any]:
        return merge_summaries(parts)


# Methods whose effect depends on the receiver's library class (a project subclass of
# EmailMessage, of an ssh client): recorded with the receiver for the merge to decide.
_SEND_METHODS = frozenset({"send", "send_messages", "sendmail", "send_message", "exec_command"})

_PLAIN_DECORATORS = frozenset({"staticmethod", "classmethod", "property", "setter", "cached_property", "wraps", "abstractmethod", "override"})


def _references(tree: ast.Module) -> List[str]:
    """Names used as values rather than called (``path("x", views.create)``,
    ``signal.connect(handler)``, ``callbacks = [f]``): such functions run from elsewhere."""
    nodes = all_nodes(tree)  # the walk the collectors share
    called = {id(node.func) for node in nodes if isinstance(node, ast.Call)}
    out = set()
    for node in nodes:
        if id(node) in called:
            continue
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            out.add(node.id)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load):
            out.add(node.attr)
    return sorted(out)


# -- merge: resolution and the fixed point ------------------------------------------------------
def merge_summaries(parts: Dict[str, Any]) -> Dict[str, Any]:
    funcs: Dict[str, Any] = {}
    where: Dict[str, Tuple[str, int]] = {}  # key -> (relpath, def line)
    classes: Dict[str, List[str]] = {}
    aliases: Dict[str, Dict[str, str]] = {}
    twins: Dict[str, str] = {}  # the two keys of a function in a namespace package
    flavour: Dict[str, str] = {}  # relpath -> "dj" / "sa" (the ORM its imports name)
    for relpath, part in parts.items():
        if part.get("o"):
            flavour[relpath] = part["o"]
        module = part.get("m", "")
        names = [module]
        # a file in a namespace package (a directory without __init__.py) is imported
        # by its path from the root ("app.repository") but named "repository"
        by_path = relpath[:-3].replace("/", ".") if relpath.endswith(".py") else ""
        if by_path.endswith(".__init__"):
            by_path = by_path[: -len(".__init__")]
        if by_path and by_path != module and by_path.endswith("." + module):
            names.append(by_path)
        if len(names) > 1:
            for qual in part.get("f", {}):
                a_key, b_key = f"{names[0]}.{qual}" if names[0] else qual, f"{names[1]}.{qual}"
                twins[a_key], twins[b_key] = b_key, a_key
        for name_ in names:
            if part.get("a"):
                aliases[name_] = part["a"]
            for qual, rec in part.get("f", {}).items():
                key = f"{name_}.{qual}" if name_ else qual
                funcs[key] = rec
                where[key] = (relpath, rec.get("l", 0))
            for name, rec in part.get("c", {}).items():
                classes[f"{name_}.{name}" if name_ else name] = rec.get("b", [])
    res = Resolver(funcs, classes, aliases)
    # edges
    edges: Dict[str, List[tuple]] = {}  # key -> [(target, line, in_tx, flags, wrappers)]
    callers: Dict[str, List[Tuple[str, bool]]] = {}
    for key, rec in funcs.items():
        cls = key.rsplit(".", 1)[0] if "." in key and key.rsplit(".", 1)[0] in classes else None
        out = []
        for raw in rec.get("k", []):
            call = Call.of(raw)
            in_tx = bool(call.in_tx)
            target = res.resolve(call.descriptor, cls)
            if target and target != key:
                out.append((target, call.line, in_tx) + tuple(raw[3:5]))
                callers.setdefault(target, []).append((key, in_tx))
        edges[key] = out
    external, tasks = _external_effects(funcs, edges, res, classes)
    # exported creates: {label: chain} with chain = [[callee key, call line], ...] + [create line]
    exported: Dict[str, Dict[str, list]] = {}
    for key, rec in funcs.items():
        if rec.get("g"):
            continue
        own: Dict[str, list] = {}
        for create in map(Create.of, rec.get("cr", [])):
            own.setdefault(create.label, [create.line])
        exported[key] = own
    for _ in range(_MAX_ROUNDS):
        changed = False
        for key, out in edges.items():
            if funcs[key].get("g"):
                continue
            mine = exported.setdefault(key, {})
            if len(mine) >= _MAX_ITEMS:
                continue
            for target, line, *_rest in out:
                for label, chain in list(exported.get(target, {}).items()):
                    if label in mine or len(chain) > 2 * MAX_CHAIN:
                        continue
                    mine[label] = [target, line] + chain
                    changed = True
        if not changed:
            break
    # covered by callers: every call site in the project is in a transaction (opened
    # there, or around the caller's body, or the caller is itself covered by its
    # callers). Grown from nothing to a fixed point, so a cycle alone never covers itself.
    referenced = set()
    for part in parts.values():
        referenced.update(part.get("r", ()))
    covered_set: set = set()
    candidates = {
        k: sites for k, sites in callers.items()
        if sites and not funcs[k].get("d") and _last(k) not in referenced
    }
    for _ in range(_MAX_ROUNDS):
        grown = False
        for key, sites in candidates.items():
            if key in covered_set:
                continue
            if all(in_tx or funcs.get(c, {}).get("tx") or c in covered_set for c, in_tx in sites):
                covered_set.add(key)
                grown = True
        if not grown:
            break
    covered = sorted(covered_set | {twins[k] for k in covered_set if k in twins})
    return {
        "where": {k: list(v) for k, v in where.items()},
        "creates": {k: v for k, v in exported.items() if v},
        "classes": classes,
        "aliases": aliases,
        "covered": covered,
        "writes": {k: rec["w"] for k, rec in funcs.items() if rec.get("w")},
        "tx": sorted(k for k, rec in funcs.items() if rec.get("tx")),
        "decorators": {k: rec["dn"] for k, rec in funcs.items() if rec.get("dn")},
        "flavour": flavour,
        "edges": {k: [list(e) for e in v] for k, v in edges.items() if v},
        "external": external,
        "tasks": tasks,
    }


def _library_bases(classes: Dict[str, List[str]], cls: str) -> List[str]:
    """The library classes a project class derives from (through project bases)."""
    out, todo, seen = [], [cls], set()
    while todo and len(seen) < 32:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for base in classes.get(name, ()):
            (todo if base in classes else out).append(base)
    return out


def _external_effects(funcs: Dict[str, Any], edges: Dict[str, List[tuple]], res: "Resolver",
                      classes: Dict[str, List[str]]):
    """Severity's view: the external effect of each function (its own, else the first
    found through the functions it calls and the tasks it enqueues, whatever their
    guards: a task that sends mail sends it however the caller is guarded), and the task
    function each enqueue label of a function starts ({key: {label: task key}})."""
    tasks: Dict[str, Dict[str, str]] = {}
    callers: Dict[str, List[str]] = {}
    for key, out in edges.items():
        for edge in out:
            callers.setdefault(edge[0], []).append(key)
    for key, rec in funcs.items():
        for desc, _line, label in rec.get("t", ()):
            target = res.resolve(desc, None)
            if target and target in funcs and target != key:
                callers.setdefault(target, []).append(key)
                if label:
                    tasks.setdefault(key, {}).setdefault(label, target)
    external: Dict[str, str] = {k: rec["x"][0][0] for k, rec in funcs.items() if rec.get("x")}
    for key, rec in funcs.items():
        if key in external:
            continue
        for receiver, attr in rec.get("s", ()):
            # msg = NotificationEmail(...); msg.send(): a project subclass of a mail class
            receiver = res.canonical(receiver)
            if receiver in classes and res.method(receiver, attr) is None:
                found = next(filter(None, (external_of_receiver(b, attr) for b in _library_bases(classes, receiver))), None)
                if found:
                    external[key] = found
                    break
    work = list(external)
    while work:  # grows only: each function is given its label once
        key = work.pop()
        for caller in callers.get(key, ()):
            if caller not in external:
                external[caller] = external[key]
                work.append(caller)
    return external, tasks


class Resolver:
    def __init__(self, funcs, classes, aliases):
        self.funcs = funcs if isinstance(funcs, (dict, set, frozenset)) else set(funcs)
        self.classes = classes
        self.aliases = aliases

    def canonical(self, name: str, depth: int = 0) -> str:
        """Follow package re-exports: ``shop.services.create`` -> ``shop.services.orders.create``."""
        if depth > 4 or name in self.funcs or name in self.classes:
            return name
        module, _, rest = name.rpartition(".")
        while module:
            table = self.aliases.get(module)
            if table:
                head, _, tail = rest.partition(".")
                if head in table:
                    return self.canonical(table[head] + ("." + tail if tail else ""), depth + 1)
            module, _, last = module.rpartition(".")
            rest = f"{last}.{rest}"
        return name

    def method(self, cls: str, name: str, depth: int = 0) -> Optional[str]:
        cls = self.canonical(cls)
        if depth > 8 or cls not in self.classes:
            return None
        key = f"{cls}.{name}"
        if key in self.funcs:
            return key
        for base in self.classes[cls]:
            found = self.method(base, name, depth + 1)
            if found:
                return found
        return None

    def resolve(self, desc: Sequence[str], cls: Optional[str]) -> Optional[str]:
        kind = desc[0]
        if kind == "q":
            name = self.canonical(desc[1])
            if name in self.funcs:
                return name
            owner, _, meth = name.rpartition(".")
            if owner and self.canonical(owner) in self.classes:
                return self.method(owner, meth)
            return None
        if kind == "s":
            return self.method(cls, desc[1]) if cls else None
        if kind == "i":
            return self.method(desc[1], desc[2])
        return None


def run_resolver(facts, fallback_memo: Optional[dict] = None) -> Optional[Resolver]:
    """The resolver over the project's summaries, built once per run (kept in
    ``facts.memo``; rules call this from their ``prepare``, so worker processes share it)."""
    summaries = facts.get(FACT_KIND) if facts is not None else None
    if not summaries:
        return None
    memos = getattr(facts, "memo", None)
    if memos is None:
        memos = fallback_memo if fallback_memo is not None else {}
    found = memos.get("effects.resolver")
    if found is None:
        found = memos["effects.resolver"] = resolver(summaries)
    return found


def resolver(summaries: Dict[str, Any]) -> Resolver:
    # ``where`` has a key for every project function: the set of functions, without
    # a copy (a set of them would be built again in every worker process).
    return Resolver(summaries.get("where", {}), summaries.get("classes", {}), summaries.get("aliases", {}))


# -- the reader: named fields for the parts and the merged fact -------------------------------
# The cached JSON keeps its compact shape (lists, short keys); these give its entries names.


class Create(NamedTuple):
    """A function's own create or side effect (part ``cr``)."""

    label: str  # "creates Order", "enqueues a task (send_receipt.delay)"
    model: str  # model key ("" for a side effect)
    line: int

    @classmethod
    def of(cls, entry: Sequence[Any]) -> "Create":
        return cls(*entry[:3])


class Write(NamedTuple):
    """A database write (part ``w``, merged ``writes``)."""

    label: str  # "Order.objects.create", "order.save()"
    line: int
    in_tx: bool  # inside a transaction opened in the function
    flags: int = 0  # IN_LOOP | DELIBERATE
    model: str = ""
    wrappers: Tuple[str, ...] = ()  # context managers around it that may wrap atomic

    @classmethod
    def of(cls, entry: Sequence[Any]) -> "Write":
        return cls(*entry[:6])


class Call(NamedTuple):
    """A call to resolve at merge time (part ``k``)."""

    descriptor: Sequence[str]  # ["q", qualified] / ["s", method] / ["i", class, method]
    line: int
    in_tx: bool
    flags: int = 0
    wrappers: Tuple[str, ...] = ()

    @classmethod
    def of(cls, entry: Sequence[Any]) -> "Call":
        return cls(*entry[:5])


class Edge(NamedTuple):
    """A resolved call (merged ``edges``)."""

    target: str
    line: int
    in_tx: bool
    flags: int = 0
    wrappers: Tuple[str, ...] = ()

    @classmethod
    def of(cls, entry: Sequence[Any]) -> "Edge":
        return cls(*entry[:5])


class Where(NamedTuple):
    relpath: str
    line: int


class CreatePath(NamedTuple):
    """How a called function comes to create something: the functions along the calls,
    the first being the one called, and the line of the create in the last one."""

    functions: Tuple[str, ...]
    line: int

    @classmethod
    def of(cls, first: str, chain: Sequence[Any]) -> "CreatePath":
        # chain: [callee, call line, callee, call line, ..., create line]
        return cls((first,) + tuple(chain[i] for i in range(0, len(chain) - 1, 2)), chain[-1])


class EffectIndex:
    """The reader of the merged effect summaries."""

    __slots__ = ("data",)

    def __init__(self, data: Optional[Dict[str, Any]]):
        self.data = data or {}

    @classmethod
    def of(cls, facts) -> "EffectIndex":
        return cls(facts.get(FACT_KIND) if facts is not None else None)

    def __bool__(self) -> bool:
        return bool(self.data)

    def where(self, key: str) -> Where:
        found = self.data.get("where", {}).get(key)
        return Where(*found) if found else Where("?", 0)

    def exported(self, key: str) -> Dict[str, CreatePath]:
        """What calling ``key`` creates with no guard on the way: {label: path}."""
        found = self.data.get("creates", {}).get(key) or {}
        return {label: CreatePath.of(key, chain) for label, chain in found.items()}

    def writes(self, key: str) -> List[Write]:
        return [Write.of(w) for w in self.data.get("writes", {}).get(key, ())]

    def edges(self, key: str) -> List[Edge]:
        return [Edge.of(e) for e in self.data.get("edges", {}).get(key, ())]

    def covered(self) -> List[str]:
        return self.data.get("covered") or []

    def whole_body_tx(self) -> List[str]:
        return self.data.get("tx") or []

    def decorators(self) -> Dict[str, List[str]]:
        return self.data.get("decorators") or {}

    def flavour(self, relpath: str) -> str:
        return (self.data.get("flavour") or {}).get(relpath, "")

    def classes(self) -> Dict[str, List[str]]:
        return self.data.get("classes") or {}

    def aliases(self) -> Dict[str, Dict[str, str]]:
        return self.data.get("aliases") or {}

    def external(self, key: Optional[str]) -> Optional[str]:
        """The external effect of calling ``key`` (or of running it as a task), through
        its callees and enqueued tasks: "sends an email (send_mail)", else None."""
        return (self.data.get("external") or {}).get(key) if key else None

    def task_of(self, key: str, label: str) -> Optional[str]:
        """The task function that the enqueue ``label`` ("enqueues a task (x.delay)") of
        function ``key`` starts, when it resolves."""
        return ((self.data.get("tasks") or {}).get(key) or {}).get(label)
