"""BL501 missing-timeout: an outbound network call that can block forever.

The vocabulary (clients, timeout parameters and defaults, localhost, webhook words,
blocking clients) lives in ``backendlint.knowledge.timeouts``; this rule looks at every
call in a file that mentions a client and reports:

- ``requests`` functions and ``Session`` methods (a session in a local name, a ``with``
  target, a module-level name, ``self.<attr>`` set anywhere in the class, a project
  factory or subclass) with no ``timeout=`` or with ``timeout=None``;
- standard-library clients (``urlopen``, ``smtplib``, ``http.client``,
  ``socket.create_connection``, ``ftplib``, ``imaplib``, ``poplib``) with no timeout,
  unless the project calls ``socket.setdefaulttimeout()``;
- ``httpx`` functions, clients and client calls with an explicit ``timeout=None``;
- ``aiohttp.ClientTimeout()`` with no field, or with ``total=None`` alone;
- the project's own clients named in ``extra-clients``, with no ``timeout=``.

Not reported: a timeout passed in any other way (a variable, a setting, ``**kwargs``),
an httpx call without a timeout argument (5 s default), ``ClientSession(timeout=None)``
(aiohttp keeps its default), a project Session subclass or factory whose code mentions a
timeout, a session with a timeout adapter mounted (or ``request`` replaced) in the
function that builds it.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Tuple

import libcst as cst

from backendlint.analysis import contexts
from backendlint.analysis.contexts import context_map, context_of, unit_key
from backendlint.analysis.severity import rank
from backendlint.engine.rule import Option, Rule
from backendlint.index import timeouts as project_timeouts
from backendlint.knowledge import timeouts as tk
from backendlint.knowledge.contexts import REQUEST, TASK
from backendlint.syntax.calls import CallArgs
from backendlint.syntax.literals import is_none
from backendlint.syntax.names import dotted_name
from backendlint.syntax.walk import walk, walk_local

# Receiver kinds.
_REQUESTS = "requests"
_HTTPX = "httpx"


class MissingTimeout(Rule):
    code = "BL501"
    name = "missing-timeout"
    summary = "Outbound network call that can block forever: no timeout, or timeout=None"
    # Every finding names the client's module in an import (``requests``, ``smtplib``,
    # ``ftplib``, ``imaplib``, ``poplib``, ``httpx``) or the API itself (``urlopen``,
    # ``HTTPConnection``/``HTTPSConnection``, ``create_connection``, ``ClientTimeout``):
    # not "urllib" (``urllib.parse`` is everywhere) nor "socket" (websockets). A project
    # session, factory or client from another module is admitted through
    # ``prefilter_names`` / ``extra-clients``.
    requires = ("requests", "smtplib", "ftplib", "imaplib", "poplib", "httpx", "urlopen", "HTTPConnection",
                "HTTPSConnection", "create_connection", "ClientTimeout")
    facts = contexts.FACTS + (tk.FACT_KIND,)
    options = (
        Option(
            "extra-clients",
            list,
            [],
            "project functions that make outbound calls and accept timeout= (full dotted name, "
            "or the last name): a call without timeout= is reported as for requests",
        ),
    )

    @classmethod
    def prefilter_tokens(cls, options=None):
        """The client words, and the last name of each ``extra-clients`` entry (a file
        calls ``call_api`` imported from ``shop.api``, never ``shop.api.call_api``)."""
        extra = [e.rsplit(".", 1)[-1] for e in cls.typed(options).extra_clients if e]
        return tuple(cls.requires) + tuple(extra)

    @classmethod
    def prefilter_names(cls, facts, options=None):
        return frozenset(project_timeouts.sessions(facts).names())

    @classmethod
    def prepare(cls, facts, options=None) -> None:
        context_map(facts)
        project_timeouts.sessions(facts)

    def __init__(self, ctx, options=None):
        super().__init__(ctx, options)
        self.extra = tuple(self.opts.extra_clients)
        self.sessions = project_timeouts.sessions(ctx.facts)
        self._scopes: Dict[int, Dict[str, List[cst.BaseExpression]]] = {}
        self._fine: Dict[int, set] = {}
        self._classes: Dict[int, Dict[str, List[cst.BaseExpression]]] = {}

    # -- the one visit ------------------------------------------------------------------
    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if not isinstance(func, (cst.Name, cst.Attribute)):
            return
        qualified = self.ctx.qualified_callee(node) or ""
        if qualified in tk.REQUESTS_FUNCS:
            self._check_requests(node, qualified, qualified.replace("requests.api.", "requests.") + "()", None)
            return
        client = tk.STDLIB_CLIENTS.get(qualified)
        if client is not None:
            self._check_stdlib(node, qualified, client)
            return
        if qualified in tk.HTTPX_FUNCS or qualified in tk.HTTPX_CLIENTS:
            self._check_httpx(node, qualified + "()")
            return
        if qualified in tk.AIOHTTP_TIMEOUTS:
            self._check_aiohttp(node)
            return
        if self.extra and self._is_extra(node, qualified):
            self._check_requests(node, qualified or dotted_name(func) or "?", (dotted_name(func) or qualified) + "()",
                                 None, extra=True)
            return
        if isinstance(func, cst.Attribute):
            method = func.attr.value
            if method in tk.SESSION_METHODS or method in tk.HTTPX_CLIENT_METHODS:
                receiver = self._receiver(func.value)
                if receiver is None:
                    return
                kind, label, fine = receiver
                shown = f"{dotted_name(func.value) or label}.{method}()"
                if kind == _REQUESTS and method in tk.SESSION_METHODS and not fine:
                    position = tk.SESSION_REQUEST_TIMEOUT_POSITION if method == "request" else None
                    self._check_requests(node, f"{label}.{method}", shown, position, session=label)
                elif kind == _HTTPX and method in tk.HTTPX_CLIENT_METHODS:
                    self._check_httpx(node, shown)

    # -- the checks ---------------------------------------------------------------------
    def _check_requests(self, node: cst.Call, qualified: str, shown: str, position: Optional[int],
                        session: Optional[str] = None, extra: bool = False) -> None:
        args = CallArgs.of(node)
        given, value = args.get("timeout", position)
        if given and not is_none(value):
            return
        if not given and args.maybe_hidden(position):
            return  # **kwargs passed through: the caller decides
        if extra:
            what = f"{shown} (a project client that goes out over the network)"
        elif session == "requests.Session":
            what = f"{shown} on a requests.Session (which has no default timeout)"
        elif session:
            article = "an" if session[:1].lower() in "aeiou" else "a"
            what = f"{shown} on {article} {session} (a requests.Session subclass with no default timeout)"
        else:
            what = shown
        problem = "passes timeout=None" if given else "has no timeout"
        hang = ("requests waits forever for a server that accepts the connection and never answers"
                if not extra else "the call can wait forever for a server that never answers")
        message = f"{what} {problem}: {hang}"
        url = self._url(node, 1 if qualified.endswith(".request") and not extra else 0)
        self._report(node, message, f"pass {tk.REQUESTS_FIX} (connect, read seconds)", url, blocking=True)

    def _check_stdlib(self, node: cst.Call, qualified: str, client: tk.StdClient) -> None:
        args = CallArgs.of(node)
        given, value = args.get("timeout", client.position)
        if given and not is_none(value):
            return
        if not given and args.maybe_hidden(client.position):
            return
        if self.sessions.setdefaulttimeout and not given:
            return  # socket.setdefaulttimeout() bounds the standard library's sockets
        family = qualified.split(".", 1)[0]
        if family == "ftplib" and not args.positional and "host" not in args.keywords:
            return  # FTP() connects later: ftp.connect(host, timeout=...) takes its own
        hang = tk.STDLIB_HANG.get(family, tk.STDLIB_HANG_DEFAULT)
        problem = "passes timeout=None" if given else "is called without timeout"
        message = f"{client.label} {problem}: {hang} (the socket default is no timeout)"
        url = self._url(node, client.host_position) if client.host_position is not None else None
        self._report(node, message, client.fix, url, blocking=True)

    def _check_httpx(self, node: cst.Call, shown: str) -> None:
        value = _kw(node, "timeout")
        if not _no_limit_httpx(self.ctx, value):
            return
        message = (f"{shown} passes timeout=None, which turns off httpx's 5 s default: the call "
                   f"waits forever for a server that never answers")
        self._report(node, message, "unless this is a long stream on purpose, drop timeout=None or pass "
                     "timeout=httpx.Timeout(10.0)", None, blocking=False, deliberate=True)

    def _check_aiohttp(self, node: cst.Call) -> None:
        args = CallArgs.of(node)
        if args.star_args or args.star_kwargs:
            return
        given = dict(args.keywords)
        for index, value in enumerate(args.positional):
            if index < len(tk.AIOHTTP_TIMEOUT_FIELDS):
                given.setdefault(tk.AIOHTTP_TIMEOUT_FIELDS[index], value)
        fields = {k: v for k, v in given.items() if k != "ceil_threshold"}
        if not fields:
            what = "aiohttp.ClientTimeout() sets no field"
        elif list(fields) == ["total"] and is_none(fields["total"]):
            what = "aiohttp.ClientTimeout(total=None) sets no other field"
        else:
            return
        message = (f"{what}: every limit is None, so a session or request using it waits forever "
                   f"for a server that never answers (aiohttp's own default is total=300 s)")
        self._report(node, message, "pass total= (e.g. ClientTimeout(total=30)) or sock_read=", None,
                     blocking=False)

    # -- severity and the report -------------------------------------------------------
    def _report(self, node: cst.Call, message: str, fix: str, url: Optional[cst.BaseExpression],
                blocking: bool, deliberate: bool = False) -> None:
        context = context_of(self.ctx)
        in_async = blocking and self._in_async_def()
        if blocking:
            message += ", holding this worker" if context.name in (REQUEST, TASK) else ", and so does its caller"
        if in_async:
            message += ("; inside async def it also freezes the event loop, and every other request "
                        "served by it waits too")
            fix += " and run it off the loop (asyncio.to_thread) or use an async client"
        low = high = None
        text = tk.literal_text(url)
        if deliberate:
            low = "httpx timeout=None is usually deliberate (long streams)"
        elif text is not None and tk.is_localhost(text):
            low = "the target is this machine (localhost)"
        else:
            low = self._cap(context)
        if context.name == REQUEST:
            high = "a slow server holds a web worker for as long as it stays silent"
        elif in_async:
            high = "a blocking call inside async def freezes the event loop"
        elif context.name == TASK:
            why = tk.user_configured_url(self.ctx, url)
            if why:
                high = f"{why}: a user-configured URL can hang every worker"
        result = rank(context.name, context_why=context.describe(), low=low, high=high,
                      medium="no known cap on the call")
        self.report(node, f"{message}; {fix}", **result.as_report())

    def _cap(self, context) -> Optional[str]:
        """Why the call is bounded from the outside: an async cap around it in its function
        (looking through lambdas: ``wait_for(loop.run_in_executor(None, lambda: ...))``),
        a Celery time limit on its task (its own, or the task it is called from), or a
        global one."""
        for ancestor in reversed(self.ctx.stack):
            if isinstance(ancestor, cst.FunctionDef):
                break
            call = None
            if isinstance(ancestor, cst.Call):
                call = ancestor
            elif isinstance(ancestor, cst.With):
                for item in ancestor.items:
                    if isinstance(item.item, cst.Call) and self.ctx.qualified_callee(item.item) in tk.ASYNC_CAPS:
                        return f"under {self.ctx.qualified_callee(item.item)}()"
            if call is not None and self.ctx.qualified_callee(call) in tk.ASYNC_CAPS:
                return f"under {self.ctx.qualified_callee(call)}()"
        if context.name != TASK:
            return None
        if self.sessions.celery_limit:
            return f"a global Celery task time limit is set ({self.sessions.celery_limit})"
        key = unit_key(self.ctx.module_name, self.ctx.stack)
        found = context
        for _ in range(16):
            if key in self.sessions.capped_tasks:
                return f"the task {key.rsplit('.', 1)[-1]}() has a time limit"
            if not found.via:
                break
            key = found.via
            found = context_map(self.ctx.facts).of(key) or contexts.Context(TASK)
        return None

    def _in_async_def(self) -> bool:
        for ancestor in reversed(self.ctx.stack):
            if isinstance(ancestor, cst.Lambda):
                return False
            if isinstance(ancestor, cst.FunctionDef):
                return ancestor.asynchronous is not None
        return False

    def _url(self, node: cst.Call, position: Optional[int]) -> Optional[cst.BaseExpression]:
        args = CallArgs.of(node)
        for name in ("url", "host", "address"):
            if name in args.keywords:
                return args.keywords[name]
        if position is not None and position < len(args.positional):
            return args.positional[position]
        return None

    def _is_extra(self, node: cst.Call, qualified: str) -> bool:
        written = dotted_name(node.func) or ""
        last = written.rsplit(".", 1)[-1]
        for entry in self.extra:
            if entry in (qualified, written) or ("." not in entry and entry == last):
                return True
        return False

    # -- receivers: what a session or client object was built by ------------------------
    def _receiver(self, expr: cst.BaseExpression, depth: int = 0) -> Optional[Tuple[str, str, bool]]:
        """(kind, label, fine) of the object ``expr`` holds when it is a requests session
        or an httpx client; None otherwise."""
        if depth > 4:
            return None
        if isinstance(expr, cst.Call):
            return self._built_by(expr)
        if isinstance(expr, cst.Name):
            return self._name(expr, depth)
        if isinstance(expr, cst.Attribute) and isinstance(expr.value, cst.Name) and expr.value.value in ("self", "cls"):
            cls = self.ctx.enclosing(cst.ClassDef)
            if cls is None:
                return None
            table = self._classes.get(id(cls))
            if table is None:
                table = self._classes[id(cls)] = tk.class_attribute_bindings(cls)
                self._fine[id(cls)] = _timeout_configured(cls, attributes=True)
            return self._any(table.get(expr.attr.value, ()), depth, self._fine.get(id(cls), ()), expr.attr.value)
        return None

    def _name(self, expr: cst.Name, depth: int) -> Optional[Tuple[str, str, bool]]:
        name = expr.value
        for scope in reversed(self.ctx.stack):
            if not isinstance(scope, cst.FunctionDef):
                continue
            table = self._scope(scope)
            if name in table:
                return self._any(table[name], depth, self._fine.get(id(scope), ()), name)
            if name in _params(scope):
                return None
        table = self._scope(self.ctx.module)
        if name in table:
            return self._any(table[name], depth, self._fine.get(id(self.ctx.module), ()), name)
        qualified = self.ctx.qualified(expr)
        if qualified and qualified in self.sessions.instances:
            return (_REQUESTS, "requests.Session", False)
        return None

    def _any(self, values, depth: int, fine_names, name: Optional[str] = None) -> Optional[Tuple[str, str, bool]]:
        for value in values:
            found = self._value(value, depth)
            if found is not None:
                kind, label, fine = found
                return kind, label, fine or (name is not None and name in fine_names)
        return None

    def _value(self, value: cst.BaseExpression, depth: int) -> Optional[Tuple[str, str, bool]]:
        if isinstance(value, cst.Await):
            value = value.expression
        if isinstance(value, cst.BooleanOperation):
            return self._value(value.left, depth) or self._value(value.right, depth)
        if isinstance(value, cst.IfExp):
            return self._value(value.body, depth) or self._value(value.orelse, depth)
        return self._receiver(value, depth + 1)

    def _built_by(self, call: cst.Call) -> Optional[Tuple[str, str, bool]]:
        qualified = self.ctx.qualified_callee(call) or ""
        if qualified in tk.REQUESTS_SESSIONS:
            return (_REQUESTS, "requests.Session", False)
        if qualified in tk.THIRD_PARTY_SESSIONS:
            return (_REQUESTS, qualified.rsplit(".", 1)[-1], False)
        if qualified in tk.HTTPX_CLIENTS:
            return (_HTTPX, qualified, False)
        if not qualified:
            return None
        if qualified in self.sessions.factories:
            return (_REQUESTS, qualified.rsplit(".", 1)[-1], self.sessions.factories[qualified])
        subclass = self.sessions.session_subclass(qualified)
        if subclass is not None:
            return (_REQUESTS, qualified.rsplit(".", 1)[-1], subclass)
        return None

    def _scope(self, scope: cst.CSTNode) -> Dict[str, List[cst.BaseExpression]]:
        table = self._scopes.get(id(scope))
        if table is None:
            table = self._scopes[id(scope)] = tk.scope_bindings(scope)
            self._fine[id(scope)] = _timeout_configured(scope)
        return table


def _params(fn: cst.FunctionDef) -> set:
    p = fn.params
    names = {x.name.value for x in list(p.posonly_params) + list(p.params) + list(p.kwonly_params)}
    for star in (p.star_arg, p.star_kwarg):
        if isinstance(star, cst.Param):
            names.add(star.name.value)
    return names


def _timeout_configured(scope: cst.CSTNode, attributes: bool = False) -> set:
    """Names of sessions given a default timeout in this scope: ``s.mount(prefix, adapter)``
    with an adapter whose code mentions a timeout, ``s.request = partial(..., timeout=...)``.
    ``attributes``: the names of ``self.<attr>`` sessions instead, anywhere in a class."""
    out = set()
    module = cst.Module([])

    def held(receiver: cst.CSTNode) -> Optional[str]:
        if attributes:
            if isinstance(receiver, cst.Attribute) and isinstance(receiver.value, cst.Name):
                return receiver.attr.value
            return None
        return receiver.value if isinstance(receiver, cst.Name) else None

    for node in (walk(scope) if attributes else walk_local(scope)):
        if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) and node.func.attr.value == "mount":
            name = held(node.func.value)
            if name and any(tk.mentions_timeout(module.code_for_node(a.value)) for a in node.args):
                out.add(name)
        elif isinstance(node, cst.Assign):
            for t in node.targets:
                target = t.target
                if isinstance(target, cst.Attribute) and target.attr.value in ("request", "send"):
                    name = held(target.value)
                    if name:
                        out.add(name)
    return out


def _kw(node: cst.Call, name: str) -> Optional[cst.BaseExpression]:
    for arg in node.args:
        if arg.keyword is not None and arg.keyword.value == name:
            return arg.value
    return None


def _no_limit_httpx(ctx, value: Optional[cst.BaseExpression]) -> bool:
    """``timeout=None`` or ``timeout=httpx.Timeout(None)`` (no other field)."""
    if value is None:
        return False
    if is_none(value):
        return True
    if isinstance(value, cst.Call) and ctx.qualified_callee(value) in tk.HTTPX_TIMEOUT:
        return len(value.args) == 1 and value.args[0].keyword is None and not value.args[0].star and is_none(value.args[0].value)
    return False

