"""Outbound network clients and their timeouts (BL501 missing-timeout).

The vocabulary: which calls go out over the network, how each spells its timeout (the
keyword, its position when it can be passed positionally, what its default is), which
of them block the thread (and so the event loop inside ``async def``), which receivers
are ``requests`` sessions or ``httpx`` clients, which URLs point at this machine, which
names say "a URL a user configured" (webhooks), and what caps a call from the outside
(Celery time limits, ``asyncio.wait_for``).

Defaults, as the libraries ship them:

- ``requests``: no timeout at all, functions and ``Session`` alike (a Session has no
  default timeout attribute; only a subclass or an adapter can add one);
- the standard library (``urlopen``, ``smtplib``, ``http.client``, ``socket``,
  ``ftplib``, ``imaplib``, ``poplib``): the socket default, which is no timeout unless
  ``socket.setdefaulttimeout()`` was called (it does not bound ``requests``, which passes
  its own ``None`` to every socket);
- ``httpx``: 5 s, turned off only by an explicit ``timeout=None``;
- ``aiohttp``: ``ClientTimeout(total=300, sock_connect=30)`` per session;
  ``ClientTimeout()`` itself has every field ``None`` (no limit at all).

The project fact ``outbound_timeouts`` (one collector, stdlib ``ast``) tells the rule what
other files define: project subclasses of ``requests.Session`` that set a timeout,
session factories, module-level session objects, ``socket.setdefaulttimeout()`` calls,
Celery time limits (global settings and per task).

Shared helpers a later rule may want (kept here for now): :func:`is_localhost`,
:func:`scope_bindings` / :func:`class_attribute_bindings` (what a local name or a
``self.<attr>`` was assigned from, in one scope).
"""

from __future__ import annotations

import ast
import re
from typing import Any, Dict, Iterable, List, NamedTuple, Optional

import libcst as cst

from backendlint.engine.facts import FactCollector, register
from backendlint.engine.pyast import AstImports, ast_dotted, nodes_of
from backendlint.knowledge.paths import is_test_path
from backendlint.syntax.literals import string_literal
from backendlint.syntax.walk import walk_local

FACT_KIND = "outbound_timeouts"

# -- requests -------------------------------------------------------------------------

REQUESTS_METHODS = ("get", "post", "put", "patch", "delete", "head", "options", "request")
REQUESTS_FUNCS = frozenset(
    [f"requests.{m}" for m in REQUESTS_METHODS] + [f"requests.api.{m}" for m in REQUESTS_METHODS]
)
REQUESTS_SESSIONS = frozenset({"requests.Session", "requests.session", "requests.sessions.Session",
                               "requests.sessions.session"})
# Sessions of other libraries that subclass ``requests.Session`` and add no default
# timeout (requests-oauthlib, authlib's ``default_timeout=None``, requests-cache,
# requests-toolbelt).
THIRD_PARTY_SESSIONS = frozenset({
    "requests_oauthlib.OAuth2Session", "requests_oauthlib.OAuth1Session",
    "requests_oauthlib.oauth2_session.OAuth2Session", "requests_oauthlib.oauth1_session.OAuth1Session",
    "authlib.integrations.requests_client.OAuth2Session", "authlib.integrations.requests_client.OAuth1Session",
    "requests_cache.CachedSession", "requests_cache.session.CachedSession",
    "requests_toolbelt.sessions.BaseUrlSession",
})
ALL_SESSIONS = REQUESTS_SESSIONS | THIRD_PARTY_SESSIONS
# Methods of a Session that send (``send`` takes ``timeout=`` too).
SESSION_METHODS = frozenset(REQUESTS_METHODS + ("send",))
# ``Session.request(method, url, params, data, headers, cookies, files, auth, timeout, ...)``
SESSION_REQUEST_TIMEOUT_POSITION = 8
REQUESTS_FIX = "timeout=(3.05, 27)"

# -- httpx (5 s default) --------------------------------------------------------------

HTTPX_METHODS = ("get", "post", "put", "patch", "delete", "head", "options", "request", "stream")
HTTPX_FUNCS = frozenset(f"httpx.{m}" for m in HTTPX_METHODS)
HTTPX_CLIENTS = frozenset({"httpx.Client", "httpx.AsyncClient"})
HTTPX_CLIENT_METHODS = frozenset(HTTPX_METHODS + ("send",))
HTTPX_TIMEOUT = frozenset({"httpx.Timeout"})

# -- aiohttp --------------------------------------------------------------------------

AIOHTTP_TIMEOUTS = frozenset({"aiohttp.ClientTimeout", "aiohttp.client.ClientTimeout", "aiohttp.timeout.ClientTimeout"})
AIOHTTP_TIMEOUT_FIELDS = ("total", "connect", "sock_read", "sock_connect", "ceil_threshold")

# -- the standard library (socket default: none) ---------------------------------------


class StdClient(NamedTuple):
    label: str  # how the message names it
    position: Optional[int]  # where ``timeout`` may be passed positionally (None: keyword only)
    fix: str  # the fix, spelled for this client
    host_position: Optional[int] = 0  # where the URL or host is


STDLIB_CLIENTS: Dict[str, StdClient] = {
    "urllib.request.urlopen": StdClient("urllib.request.urlopen()", 2, "pass timeout=10 to urlopen(...)"),
    "six.moves.urllib.request.urlopen": StdClient("urlopen()", 2, "pass timeout=10 to urlopen(...)"),
    "smtplib.SMTP": StdClient("smtplib.SMTP()", 3, "pass timeout= to SMTP(...) (e.g. timeout=10)"),
    "smtplib.SMTP_SSL": StdClient("smtplib.SMTP_SSL()", None, "pass timeout= to SMTP_SSL(...) (e.g. timeout=10)"),
    "smtplib.LMTP": StdClient("smtplib.LMTP()", 4, "pass timeout= to LMTP(...) (e.g. timeout=10)"),
    "http.client.HTTPConnection": StdClient("http.client.HTTPConnection()", 2, "pass timeout= to HTTPConnection(...) (e.g. timeout=10)"),
    "http.client.HTTPSConnection": StdClient("http.client.HTTPSConnection()", None, "pass timeout= to HTTPSConnection(...) (e.g. timeout=10)"),
    "socket.create_connection": StdClient("socket.create_connection()", 1, "pass a timeout as its second argument (e.g. timeout=10)"),
    "ftplib.FTP": StdClient("ftplib.FTP()", 4, "pass timeout= to FTP(...) (e.g. timeout=30)"),
    "ftplib.FTP_TLS": StdClient("ftplib.FTP_TLS()", None, "pass timeout= to FTP_TLS(...) (e.g. timeout=30)"),
    "imaplib.IMAP4": StdClient("imaplib.IMAP4()", 2, "pass timeout= to IMAP4(...) (Python 3.9+, e.g. timeout=30)"),
    "imaplib.IMAP4_SSL": StdClient("imaplib.IMAP4_SSL()", None, "pass timeout= to IMAP4_SSL(...) (Python 3.9+, e.g. timeout=30)"),
    "poplib.POP3": StdClient("poplib.POP3()", 2, "pass timeout= to POP3(...) (e.g. timeout=30)"),
    "poplib.POP3_SSL": StdClient("poplib.POP3_SSL()", None, "pass timeout= to POP3_SSL(...) (e.g. timeout=30)"),
}
# What a silent server does to each family, for messages.
STDLIB_HANG = {
    "smtplib": "connecting and every SMTP command wait forever on a mail server that stops answering",
    "imaplib": "connecting and every command wait forever on a mail server that stops answering",
    "poplib": "connecting and every command wait forever on a mail server that stops answering",
    "ftplib": "connecting and every transfer wait forever on a server that stops answering",
}
STDLIB_HANG_DEFAULT = "it waits forever for a server that accepts the connection and never answers"

# A module that appears in the qualified name of a client whose calls block the thread.
BLOCKING_ROOTS = ("requests.", "urllib.", "six.", "smtplib.", "http.client.", "socket.", "ftplib.",
                  "imaplib.", "poplib.")

# Calls that bound an awaited call from the outside.
ASYNC_CAPS = frozenset({"asyncio.wait_for", "asyncio.timeout", "asyncio.timeout_at", "async_timeout.timeout",
                        "anyio.fail_after", "anyio.move_on_after", "trio.fail_after", "trio.move_on_after"})

# Celery: a time limit for every task, from the settings or the app's configuration.
CELERY_GLOBAL_LIMITS = frozenset({"CELERY_TASK_TIME_LIMIT", "CELERY_TASK_SOFT_TIME_LIMIT", "CELERYD_TASK_TIME_LIMIT",
                                  "CELERYD_TASK_SOFT_TIME_LIMIT", "task_time_limit", "task_soft_time_limit"})
CELERY_TASK_LIMITS = ("time_limit", "soft_time_limit")

# -- URLs -------------------------------------------------------------------------------

_LOCAL_HOSTS = ("localhost", "127.", "::1", "[::1]", "0.0.0.0", "host.docker.internal")
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")


def is_localhost(text: Optional[str]) -> bool:
    """A URL or host literal that points at this machine (``http://localhost:8000/x``,
    ``127.0.0.1``, ``[::1]``, ``unix://``)."""
    if not text:
        return False
    text = text.strip()
    if text.startswith(("unix:", "http+unix:")):
        return True
    host = _SCHEME.sub("", text)
    host = host.split("@", 1)[-1]
    return host.startswith(_LOCAL_HOSTS) and (
        not host.startswith("localhost") or host[len("localhost"):][:1] in ("", ":", "/")
    )


# Names that say "a URL someone configured", not one the code chose.
USER_URL_WORDS = re.compile(r"webhook|callback|hook|target_url", re.IGNORECASE)
# Receivers whose attributes are configuration, not rows.
_NOT_ROWS = frozenset({"self", "cls", "settings", "config", "conf", "cfg", "app", "current_app", "os", "request",
                       "options", "opts", "args", "kwargs", "env", "environ", "constants", "const"})


def user_configured_url(ctx, expr: Optional[cst.BaseExpression]) -> Optional[str]:
    """Why the URL ``expr`` looks user-configured (a name with webhook/callback/hook/
    target_url, or an attribute of an object held in a local name: an ORM row such as
    ``endpoint.url``), else None."""
    if expr is None:
        return None
    for node in walk_local(expr):
        if isinstance(node, (cst.Name, cst.Attribute)):
            text = _dotted(node)
            if text and USER_URL_WORDS.search(text):
                return f"the URL comes from {text}"
        elif isinstance(node, cst.SubscriptElement) and isinstance(node.slice, cst.Index):
            key = string_literal(node.slice.value)
            if key and USER_URL_WORDS.search(key):
                return f"the URL comes from [{key!r}]"
    for node in walk_local(expr):
        if isinstance(node, cst.Attribute) and isinstance(node.value, cst.Name) and _URL_FIELD.search(node.attr.value):
            base = node.value.value
            if base in _NOT_ROWS or base.isupper() or _RESPONSES.match(base) or ctx.qualified(node.value):
                continue  # configuration, a module, a constant, the previous response
            return f"the URL is {base}.{node.attr.value} (a stored row)"
    return None


# Fields of a row that hold where to connect; objects that are responses, not rows.
_URL_FIELD = re.compile(r"url|uri|endpoint|host|domain|address|server", re.IGNORECASE)
_RESPONSES = re.compile(r"^(r|res|resp|response|result|data|page|json|body|link|links)$|_(response|resp|result)$")


def _dotted(node: cst.CSTNode) -> Optional[str]:
    parts = []
    while isinstance(node, cst.Attribute):
        parts.append(node.attr.value)
        node = node.value
    if isinstance(node, cst.Name):
        parts.append(node.value)
        return ".".join(reversed(parts))
    return None


def literal_text(expr: Optional[cst.BaseExpression]) -> Optional[str]:
    """The literal text of a str literal or f-string (its fields left out)."""
    if expr is None:
        return None
    return string_literal(expr, fstring_text=True)


# -- bindings: what a name was assigned from, in one scope ------------------------------


def scope_bindings(scope: cst.CSTNode) -> Dict[str, List[cst.BaseExpression]]:
    """Values bound to plain names in ``scope`` (a function or the module), nested
    functions and classes left out: assignments, ``with ... as x``, walrus."""
    out: Dict[str, List[cst.BaseExpression]] = {}

    def add(target: cst.CSTNode, value: Optional[cst.BaseExpression]) -> None:
        if value is not None and isinstance(target, cst.Name):
            out.setdefault(target.value, []).append(value)

    for node in walk_local(scope):
        if isinstance(node, cst.Assign):
            for t in node.targets:
                add(t.target, node.value)
        elif isinstance(node, cst.AnnAssign):
            add(node.target, node.value)
        elif isinstance(node, cst.WithItem) and node.asname is not None:
            add(node.asname.name, node.item)
        elif isinstance(node, cst.NamedExpr):
            add(node.target, node.value)
    return out


def class_attribute_bindings(cls: cst.ClassDef) -> Dict[str, List[cst.BaseExpression]]:
    """Values bound to ``self.<attr>`` in any method of ``cls`` and to class attributes."""
    out: Dict[str, List[cst.BaseExpression]] = {}
    for stmt in cls.body.body if isinstance(cls.body, cst.IndentedBlock) else ():
        if isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                if isinstance(small, cst.Assign):
                    for t in small.targets:
                        if isinstance(t.target, cst.Name):
                            out.setdefault(t.target.value, []).append(small.value)
                elif isinstance(small, cst.AnnAssign) and isinstance(small.target, cst.Name) and small.value is not None:
                    out.setdefault(small.target.value, []).append(small.value)
        elif isinstance(stmt, cst.FunctionDef):
            params = list(stmt.params.posonly_params) + list(stmt.params.params)
            if not params:
                continue
            me = params[0].name.value
            for node in walk_local(stmt):
                targets: List[cst.CSTNode] = []
                value = None
                if isinstance(node, cst.Assign):
                    targets, value = [t.target for t in node.targets], node.value
                elif isinstance(node, cst.AnnAssign):
                    targets, value = [node.target], node.value
                for target in targets:
                    if (isinstance(target, cst.Attribute) and isinstance(target.value, cst.Name)
                            and target.value.value == me and value is not None):
                        out.setdefault(target.attr.value, []).append(value)
    return out


def mentions_timeout(text: str) -> bool:
    return "timeout" in text.lower()


# -- the project fact ---------------------------------------------------------------------


@register
class OutboundTimeouts(FactCollector):
    """Per file: classes whose code mentions a timeout (a ``request()``/``send()``
    override that sets a default, a timeout adapter), functions that return a
    ``requests.Session`` (factories) and module-level sessions, ``socket.setdefaulttimeout``
    calls outside tests, Celery time limits (global settings, per task decorator)."""

    kind = FACT_KIND
    requires = ("requests", "timeout", "Timeout", "TIME_LIMIT", "time_limit")
    version = 1

    def collect(self, tree: ast.Module, relpath: str, module_name: str, source: str):
        imports = AstImports(module_name, relpath.endswith("__init__.py"))
        for node in nodes_of(tree, (ast.Import, ast.ImportFrom)):
            imports.add(node)
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                imports.local(node.name)
        # A file in a namespace package (no __init__.py) is imported by its path from the
        # root ("app.http") but named by its directory ("http"): key it both ways.
        by_path = relpath[:-3].replace("/", ".") if relpath.endswith(".py") else ""
        if by_path.endswith(".__init__"):
            by_path = by_path[: -len(".__init__")]
        prefixes = [f"{module_name}." if module_name else ""]
        if by_path and by_path != module_name:
            prefixes.append(by_path + ".")
        lines = source.splitlines()
        part: Dict[str, Any] = {}

        def text_of(node: ast.AST) -> str:
            end = getattr(node, "end_lineno", None) or node.lineno
            return "\n".join(lines[node.lineno - 1:end])

        def is_session_ctor(value: Optional[ast.AST]) -> bool:
            return isinstance(value, ast.Call) and imports.resolve(ast_dotted(value.func)) in ALL_SESSIONS

        timeout_classes, factories, instances, capped = [], {}, {}, []
        for node in tree.body:
            if isinstance(node, ast.ClassDef):
                if mentions_timeout(text_of(node)):
                    timeout_classes.extend(prefix + node.name for prefix in prefixes)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                if _returns_session(node, is_session_ctor):
                    for prefix in prefixes:
                        factories[prefix + node.name] = mentions_timeout(text_of(node))
                for dec in node.decorator_list:
                    if isinstance(dec, ast.Call) and any(k.arg in CELERY_TASK_LIMITS for k in dec.keywords):
                        capped.extend(prefix + node.name for prefix in prefixes)
            elif isinstance(node, (ast.Assign, ast.AnnAssign)) and is_session_ctor(node.value):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for t in targets:
                    if isinstance(t, ast.Name):
                        for prefix in prefixes:
                            instances[prefix + t.id] = False
        if not is_test_path(relpath) and "setdefaulttimeout" in source:
            for call in nodes_of(tree, (ast.Call,)):
                if imports.resolve(ast_dotted(call.func)) == "socket.setdefaulttimeout" and not (
                    call.args and isinstance(call.args[0], ast.Constant) and call.args[0].value is None
                ):
                    part["sd"] = f"{relpath}:{call.lineno}"
                    break
        if ("TIME_LIMIT" in source or "time_limit" in source) and _global_celery_limit(tree):
            part["cl"] = relpath
        if timeout_classes:
            part["tc"] = timeout_classes
        if factories:
            part["fa"] = factories
        if instances:
            part["in"] = instances
        if capped:
            part["ca"] = capped
        return part or None

    def merge(self, parts: Dict[str, Any]) -> Dict[str, Any]:
        out: Dict[str, Any] = {"timeout_classes": [], "factories": {}, "instances": {}, "capped_tasks": [],
                               "setdefaulttimeout": "", "celery_limit": ""}
        for relpath in sorted(parts):
            part = parts[relpath]
            out["timeout_classes"].extend(part.get("tc", ()))
            out["factories"].update(part.get("fa", {}))
            out["instances"].update(part.get("in", {}))
            out["capped_tasks"].extend(part.get("ca", ()))
            if part.get("sd") and not out["setdefaulttimeout"]:
                out["setdefaulttimeout"] = part["sd"]
            if part.get("cl") and not out["celery_limit"]:
                out["celery_limit"] = part["cl"]
        return out


def _returns_session(fn: ast.AST, is_session_ctor) -> bool:
    names = set()
    returns = []
    for node in ast.walk(fn):
        if isinstance(node, ast.Assign) and is_session_ctor(node.value):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.withitem) and is_session_ctor(node.context_expr):
            if isinstance(node.optional_vars, ast.Name):
                names.add(node.optional_vars.id)
        elif isinstance(node, ast.Return) and node.value is not None:
            returns.append(node.value)
    return any(is_session_ctor(v) or (isinstance(v, ast.Name) and v.id in names) for v in returns)


def _global_celery_limit(tree: ast.Module) -> bool:
    """``CELERY_TASK_TIME_LIMIT = 300`` (settings), ``app.conf.task_time_limit = 300``,
    ``app.conf.update(task_time_limit=300)`` / ``Celery(..., task_time_limit=300)``."""
    for node in ast.walk(tree):
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                name = t.id if isinstance(t, ast.Name) else t.attr if isinstance(t, ast.Attribute) else None
                if name in CELERY_GLOBAL_LIMITS and not _is_none(node.value):
                    return True
        elif isinstance(node, ast.Call):
            for k in node.keywords:
                if k.arg in CELERY_GLOBAL_LIMITS and not _is_none(k.value):
                    return True
        elif isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values):
                if isinstance(key, ast.Constant) and key.value in CELERY_GLOBAL_LIMITS and not _is_none(value):
                    return True
    return False


def _is_none(value: Optional[ast.AST]) -> bool:
    return value is None or (isinstance(value, ast.Constant) and value.value is None)


class Sessions:
    """What the project facts say about sessions (built once per run)."""

    def __init__(self, facts):
        data = (facts.get(FACT_KIND) if facts is not None else None) or {}
        summaries = (facts.get("effect_summaries") if facts is not None else None) or {}
        self.classes: Dict[str, List[str]] = summaries.get("classes", {})
        self.timeout_classes = frozenset(data.get("timeout_classes", ()))
        self.factories: Dict[str, bool] = data.get("factories", {})
        self.instances: Dict[str, bool] = data.get("instances", {})
        self.capped_tasks = frozenset(data.get("capped_tasks", ()))
        self.setdefaulttimeout: str = data.get("setdefaulttimeout", "")
        self.celery_limit: str = data.get("celery_limit", "")
        self._subclass: Dict[str, Optional[bool]] = {}

    def session_subclass(self, qualified: str) -> Optional[bool]:
        """For a project class: None when it is not a ``requests.Session`` subclass, else
        whether it (or a project class between it and Session) mentions a timeout."""
        if qualified in self._subclass:
            return self._subclass[qualified]
        found: Optional[bool] = None
        todo, seen, mentions = [qualified], set(), False
        while todo and len(seen) < 16:
            cls = todo.pop()
            if cls in seen:
                continue
            seen.add(cls)
            if cls in ALL_SESSIONS:
                found = True
                continue
            if cls not in self.classes:
                continue
            if cls in self.timeout_classes:
                mentions = True
            todo.extend(self.classes[cls])
        result = None if found is None else mentions
        self._subclass[qualified] = result
        return result

    def names(self) -> Iterable[str]:
        """Identifiers that may name a project session (for the prefilter)."""
        for key in list(self.factories) + list(self.instances):
            yield key.rsplit(".", 1)[-1]
        for cls in self.classes:
            if self.session_subclass(cls) is not None:
                yield cls.rsplit(".", 1)[-1]


def sessions(facts) -> Sessions:
    memo = getattr(facts, "memo", None)
    if memo is not None and "timeouts.sessions" in memo:
        return memo["timeouts.sessions"]
    found = Sessions(facts)
    if memo is not None:
        memo["timeouts.sessions"] = found
    return found
