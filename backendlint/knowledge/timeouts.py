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

import re
from typing import Dict, List, NamedTuple, Optional

import libcst as cst

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
