"""Irreversible side effects: payments, outbound HTTP, task enqueues, email, publishes.

Rule-agnostic: BL201 asks "does this POST handler do something that must not happen
twice?", BL302 asks "is this side effect executed inside a transaction?". Both classify
calls with :func:`classify_call`, given the local bindings of the function the call is
in (:func:`local_bindings`), so that ``s = requests.Session(); s.post(...)`` and
``msg = EmailMessage(...); msg.send()`` are recognised however the library is imported.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from typing import Dict, List, Optional

import libcst as cst

from backendlint.engine.pyast import ast_dotted
from backendlint.syntax.calls import kwarg_arg, positional
from backendlint.syntax.literals import string_literal
from backendlint.syntax.names import dotted_name, last_of
from backendlint.syntax.walk import walk

PAYMENT = "payment"
HTTP = "http"
TASK = "task"
EMAIL = "email"
PUBLISH = "publish"

# What each kind does, in the words of BL201's messages and of the effect summaries'
# labels ("charges a payment (stripe.Charge.create)").
EFFECT_VERB = {
    PAYMENT: "charges a payment",
    HTTP: "sends an outbound POST",
    TASK: "enqueues a task",
    EMAIL: "sends an email",
}


@dataclass(frozen=True)
class SideEffect:
    kind: str  # PAYMENT, HTTP, TASK, EMAIL, PUBLISH
    label: str  # what the call is, for messages: "stripe.Charge.create", "requests.post"
    method: str = ""  # HTTP method for HTTP effects ("POST"), else ""
    # The call passes an idempotency key to the provider (Stripe ``idempotency_key=``).
    idempotent: bool = False


# ----------------------------------------------------------------------------------
# local bindings: what a name was assigned from, inside one function
# ----------------------------------------------------------------------------------


class Bindings:
    """Values and annotations bound to local names in a function (all assignments)."""

    def __init__(self) -> None:
        self.values: Dict[str, List[cst.BaseExpression]] = {}
        self.annotations: Dict[str, List[cst.BaseExpression]] = {}

    def add(self, name: str, value: Optional[cst.BaseExpression]) -> None:
        if value is not None:
            self.values.setdefault(name, []).append(value)

    def annotate(self, name: str, annotation: cst.BaseExpression) -> None:
        self.annotations.setdefault(name, []).append(annotation)

    def of(self, name: str) -> List[cst.BaseExpression]:
        return self.values.get(name, [])


def _targets(target: cst.BaseExpression) -> List[str]:
    if isinstance(target, cst.Name):
        return [target.value]
    if isinstance(target, (cst.Tuple, cst.List)):
        out = []
        for el in target.elements:
            out.extend(_targets(el.value))
        return out
    return []


def local_bindings(func: cst.CSTNode) -> Bindings:
    """Assignments, ``with ... as x`` items and annotated parameters in ``func``."""
    b = Bindings()
    if isinstance(func, (cst.FunctionDef, cst.Lambda)):
        params = func.params
        for p in list(params.posonly_params) + list(params.params) + list(params.kwonly_params):
            if p.annotation is not None:
                b.annotate(p.name.value, p.annotation.annotation)
            if p.default is not None:
                b.add(p.name.value, p.default)
    for node in walk(func):
        if isinstance(node, cst.Assign):
            for t in node.targets:
                names = _targets(t.target)
                if len(names) == 1 and isinstance(t.target, cst.Name):
                    b.add(names[0], node.value)
                else:
                    for name in names:  # tuple unpacking: remember the whole value
                        b.add(name, node.value)
        elif isinstance(node, cst.AnnAssign):
            if isinstance(node.target, cst.Name):
                b.annotate(node.target.value, node.annotation.annotation)
                b.add(node.target.value, node.value)
        elif isinstance(node, cst.WithItem):
            if node.asname is not None:
                for name in _targets(node.asname.name):
                    b.add(name, node.item)
        elif isinstance(node, cst.NamedExpr):
            if isinstance(node.target, cst.Name):
                b.add(node.target.value, node.value)
    return b


def unwrap(expr: cst.BaseExpression) -> cst.BaseExpression:
    while isinstance(expr, cst.Await):
        expr = expr.expression
    return expr


def constructed_from(ctx, expr: cst.BaseExpression, bindings: Bindings, depth: int = 0) -> List[str]:
    """Qualified names of the callables ``expr`` may have been constructed by.

    ``requests.Session()`` -> ["requests.Session"]; a local name looks through its
    assignments and annotations; ``requests.Session().post`` receivers are calls too.
    """
    expr = unwrap(expr)
    if depth > 4:
        return []
    if isinstance(expr, cst.Call):
        name = ctx.qualified_callee(expr) or dotted_name(expr.func) or ""
        return [name] if name else []
    if isinstance(expr, cst.Name):
        out: List[str] = []
        for value in bindings.of(expr.value):
            out.extend(constructed_from(ctx, value, bindings, depth + 1))
        for ann in bindings.annotations.get(expr.value, []):
            name = ctx.qualified(ann) or dotted_name(ann) or ""
            if name:
                out.append(name)
        return out
    return []


# ----------------------------------------------------------------------------------
# classification
# ----------------------------------------------------------------------------------

_HTTP_METHODS = {"get", "post", "put", "patch", "delete", "head", "options", "request", "stream"}
_HTTP_MODULES = ("requests", "httpx", "aiohttp", "urllib3")
_HTTP_CLIENT_CLASSES = {
    "requests.Session", "requests.session", "requests.sessions.Session",
    "httpx.Client", "httpx.AsyncClient",
    "aiohttp.ClientSession", "aiohttp.client.ClientSession",
    "urllib3.PoolManager", "urllib3.poolmanager.PoolManager", "urllib3.HTTPConnectionPool",
    "urllib3.HTTPSConnectionPool", "urllib3.connectionpool.HTTPConnectionPool",
}

_DJANGO_MAIL_FUNCS = {
    "django.core.mail.send_mail", "django.core.mail.send_mass_mail",
    "django.core.mail.mail_admins", "django.core.mail.mail_managers",
}
_EMAIL_MESSAGE_CLASSES = {
    "django.core.mail.EmailMessage", "django.core.mail.EmailMultiAlternatives",
    "django.core.mail.message.EmailMessage", "django.core.mail.message.EmailMultiAlternatives",
}
_SMTP_CLASSES = {"smtplib.SMTP", "smtplib.SMTP_SSL", "smtplib.LMTP"}
_FLASK_MAIL = ("flask_mail.Mail", "flask_mailman.Mail")
_FASTAPI_MAIL = ("fastapi_mail.FastMail",)

# An outbound POST to an endpoint whose URL says it reads or is idempotent (OAuth token
# exchange, search, completions, ``/update``) is not a create.
IDEMPOTENT_URL = re.compile(
    r"token|oauth|login|logout|auth|search|query|update|refresh|unload|delete|remove|verify|validate|"
    r"check|status|health|ping|preview|render|embed|complet|chat|generat|predict|infer|transcri|"
    r"translat|models|graphql|lookup|introspect",
    re.IGNORECASE,
)


def idempotent_url(call: cst.Call) -> bool:
    """An outbound POST whose URL (the first positional or the ``url=`` argument: its
    strings, f-string text and names) says it reads or is idempotent."""
    url = None
    for arg in call.args:
        if arg.keyword is None or arg.keyword.value == "url":
            url = arg.value
            break
    if url is None:
        return False
    texts = []
    for sub in walk(url):
        if isinstance(sub, cst.SimpleString):
            texts.append(sub.value)
        elif isinstance(sub, cst.FormattedStringText):
            texts.append(sub.value)
        elif isinstance(sub, cst.Name):
            texts.append(sub.value)
    return bool(IDEMPOTENT_URL.search(" ".join(texts)))


def ast_idempotent_url(call: ast.Call) -> bool:
    """The ast twin (strings and names of the first positional or ``url=``)."""
    url = call.args[0] if call.args else next((k.value for k in call.keywords if k.arg == "url"), None)
    if url is None:
        return False
    texts = [n.value for n in ast.walk(url) if isinstance(n, ast.Constant) and isinstance(n.value, str)]
    texts += [n.id for n in ast.walk(url) if isinstance(n, ast.Name)]
    return bool(IDEMPOTENT_URL.search(" ".join(texts)))

_STRIPE_ACTIONS = {"create", "confirm", "capture", "pay", "create_and_confirm"}
_STRIPE_CLIENT_SERVICES = {
    "charges", "payment_intents", "refunds", "transfers", "payouts", "subscriptions",
    "invoices", "setup_intents",
}
_PAYMENT_SDKS = ("braintree", "paypalrestsdk", "paypalcheckoutsdk", "razorpay", "Adyen", "adyen", "square", "mollie", "checkout_sdk")


def _has_idempotency_kwarg(call: cst.Call) -> bool:
    for arg in call.args:
        if arg.keyword is not None and "idempot" in arg.keyword.value.lower():
            return True
    # headers={"Idempotency-Key": ...}
    headers = kwarg_arg(call, "headers")
    if headers is not None and isinstance(headers.value, cst.Dict):
        for el in headers.value.elements:
            key = getattr(el, "key", None)
            text = string_literal(key, concatenated=False) if key is not None else None
            if text and "idempot" in text.lower():
                return True
    return False


def classify_call(ctx, call: cst.Call, bindings: Optional[Bindings] = None) -> Optional[SideEffect]:
    """The irreversible side effect this call performs, if it is a known one."""
    bindings = bindings or Bindings()
    func = call.func
    qualified = ctx.qualified_callee(call)
    text = qualified or dotted_name(func) or ""
    last = text.rsplit(".", 1)[-1] if text else (func.attr.value if isinstance(func, cst.Attribute) else "")

    # -- payments ----------------------------------------------------------------
    if qualified and qualified.startswith("stripe."):
        parts = qualified.split(".")
        if last in _STRIPE_ACTIONS and len(parts) >= 3 and parts[-2][:1].isupper():
            return SideEffect(PAYMENT, qualified, idempotent=_has_idempotency_kwarg(call))
    if qualified and qualified.split(".", 1)[0] in _PAYMENT_SDKS:
        if last in ("sale", "create", "capture", "authorise", "authorize", "charge", "payments", "submit_for_settlement"):
            return SideEffect(PAYMENT, qualified, idempotent=_has_idempotency_kwarg(call))
    if isinstance(func, cst.Attribute):
        recv = func.value
        recv_text = dotted_name(recv) or ""
        recv_last = recv_text.rsplit(".", 1)[-1]
        # StripeClient style: client.payment_intents.create(...), client.v1.charges.create
        if last in _STRIPE_ACTIONS and recv_last in _STRIPE_CLIENT_SERVICES:
            root = recv_text.split(".", 1)[0]
            kinds = constructed_from(ctx, cst.Name(root), bindings) if root else []
            if any(k.startswith("stripe") for k in kinds) or (ctx.qualified(recv) or "").startswith("stripe"):
                return SideEffect(PAYMENT, f"{recv_text}.{last}", idempotent=_has_idempotency_kwarg(call))
        # braintree gateway: gateway.transaction.sale(...)
        if last == "sale" and recv_last == "transaction":
            return SideEffect(PAYMENT, f"{recv_text}.sale", idempotent=_has_idempotency_kwarg(call))

    # -- outbound HTTP -------------------------------------------------------------
    if qualified:
        head = qualified.split(".", 1)[0]
        if head in _HTTP_MODULES and last in _HTTP_METHODS and qualified.count(".") <= 2:
            if qualified.startswith(("httpx.", "requests.", "aiohttp.request", "urllib3.request")):
                method = _http_method(call, last)
                return SideEffect(HTTP, qualified, method)
    if isinstance(func, cst.Attribute) and last in _HTTP_METHODS:
        recv = func.value
        kinds = constructed_from(ctx, recv, bindings)
        if any(k in _HTTP_CLIENT_CLASSES for k in kinds):
            method = _http_method(call, last)
            recv_text = dotted_name(recv) or "client"
            return SideEffect(HTTP, f"{recv_text}.{last}", method)

    # -- task enqueue --------------------------------------------------------------
    if isinstance(func, cst.Attribute) and last in ("delay", "apply_async"):
        recv_text = dotted_name(func.value) or ""
        if recv_text or isinstance(func.value, cst.Call):
            return SideEffect(TASK, f"{recv_text or 'task'}.{last}")
    if isinstance(func, cst.Attribute) and last == "send_task":
        return SideEffect(TASK, (dotted_name(func) or "send_task"))
    if qualified in ("django_q.tasks.async_task", "django_q.tasks.schedule"):
        return SideEffect(TASK, qualified)
    if isinstance(func, cst.Attribute) and last in ("enqueue", "enqueue_call", "enqueue_in", "enqueue_at"):
        kinds = constructed_from(ctx, func.value, bindings)
        if any(k.startswith(("rq.", "django_rq")) for k in kinds) or (ctx.qualified(func.value) or "").startswith(("rq", "django_rq")):
            return SideEffect(TASK, dotted_name(func) or last)

    # -- email -----------------------------------------------------------------------
    if qualified in _DJANGO_MAIL_FUNCS:
        return SideEffect(EMAIL, qualified.rsplit(".", 1)[-1])
    if qualified and qualified.startswith("flask_mail") and last == "send_message":
        return SideEffect(EMAIL, last)
    if isinstance(func, cst.Attribute):
        recv = func.value
        kinds = constructed_from(ctx, recv, bindings)
        if last in ("send", "send_messages") and any(k in _EMAIL_MESSAGE_CLASSES for k in kinds):
            return SideEffect(EMAIL, f"{dotted_name(recv) or 'EmailMessage(...)'}.send")
        if last in ("sendmail", "send_message") and any(k in _SMTP_CLASSES for k in kinds):
            return SideEffect(EMAIL, f"{dotted_name(recv) or 'smtp'}.{last}")
        if last in ("send", "send_message"):
            recv_q = ctx.qualified(recv) or ""
            if any(k.startswith(_FLASK_MAIL + _FASTAPI_MAIL) for k in kinds) or recv_q.startswith(("flask_mail", "flask_mailman")):
                return SideEffect(EMAIL, f"{dotted_name(recv) or 'mail'}.{last}")
            # mail = Mail(app) at module level: the import table knows the module-level name
            arg = positional(call, 0)
            if arg is not None and any(k.startswith(("flask_mail.Message", "flask_mailman")) for k in constructed_from(ctx, arg, bindings)):
                return SideEffect(EMAIL, f"{dotted_name(recv) or 'mail'}.{last}")

    # -- publish (message brokers) -----------------------------------------------------
    if isinstance(func, cst.Attribute) and last in ("basic_publish",):
        return SideEffect(PUBLISH, dotted_name(func) or last)
    return None


def _http_method(call: cst.Call, last: str) -> str:
    if last in ("request", "stream"):
        first = positional(call, 0)
        method_arg = kwarg_arg(call, "method")
        value = string_literal(method_arg.value, concatenated=False) if method_arg is not None else string_literal(first, concatenated=False)
        return (value or "").upper()
    return last.upper()


# ----------------------------------------------------------------------------------
# the stdlib-ast twin (effect summaries: what a project function does)
# ----------------------------------------------------------------------------------


def ast_side_effect(call: ast.Call, qualified: Optional[str]) -> Optional[str]:
    """The label of the irreversible side effect of a call, as the effect summaries
    record it ("enqueues a task (send_receipt.delay)"), or None. Narrower than
    ``classify_call``: no local bindings (client objects, email messages) and only the
    module-level ``requests.post`` / ``httpx.post``; a task named as idempotent and a
    Stripe call with an idempotency key are not recorded."""
    func = call.func
    attr = func.attr if isinstance(func, ast.Attribute) else ""
    q = qualified
    if attr in ("delay", "apply_async") and isinstance(func, ast.Attribute):
        recv = ast_dotted(func.value) or ""
        if recv:
            label = f"{recv}.{attr}"
            if not is_idempotent_task_name(label):
                return f"{EFFECT_VERB[TASK]} ({label})"
        return None
    if q in _DJANGO_MAIL_FUNCS:
        return f"{EFFECT_VERB[EMAIL]} ({last_of(q)})"
    if q and q.startswith("stripe.") and attr in _STRIPE_ACTIONS and len(q.split(".")) >= 3 and q.split(".")[-2][:1].isupper():
        if not any(k.arg and "idempot" in k.arg.lower() for k in call.keywords):
            return f"{EFFECT_VERB[PAYMENT]} ({q})"
    if q and q.split(".", 1)[0] in _PAYMENT_SDKS and attr in ("sale", "charge", "capture", "submit_for_settlement"):
        return f"{EFFECT_VERB[PAYMENT]} ({q})"
    if q in ("requests.post", "httpx.post") and not ast_idempotent_url(call):
        return f"{EFFECT_VERB[HTTP]} ({q})"
    return None


# ----------------------------------------------------------------------------------
# external effects (severity: what a repeat does outside the database)
# ----------------------------------------------------------------------------------

# The catalog's *external* effects ("Severity", "Effect"), in a function body, on the
# stdlib ``ast``: what the effect summaries record per function so that an enqueued
# task or a called helper can say "this sends mail", whatever its guards. Wider than
# ``ast_side_effect`` (whose labels are BL201's messages): also PUT/PATCH/DELETE, SMS,
# push, subprocesses and ssh, mutating cloud-SDK calls.
_AST_HTTP_WRITES = {"post", "put", "patch", "delete"}
_AST_HTTP_MODULES = ("requests", "httpx")
_SUBPROCESS = frozenset({
    "subprocess.run", "subprocess.call", "subprocess.check_call", "subprocess.check_output", "subprocess.Popen",
    "os.system", "os.popen", "os.spawnv", "os.spawnl", "os.execv", "os.execvp",
    "asyncio.create_subprocess_exec", "asyncio.create_subprocess_shell",
})
_PUSH_PREFIXES = ("firebase_admin.messaging.send", "pywebpush.webpush", "pyfcm.", "apns2.", "exponent_server_sdk.",
                  "onesignal", "pusher.")
_SMS_PREFIXES = ("twilio.", "vonage.", "nexmo.", "plivo.", "messagebird.")
_MAIL_FUNCS = frozenset({"send_templated_mail", "send_html_mail"})
_NOT_MAIL_BACKENDS = ("telegram", "slack", "discord")
_MAIL_CLASSES = ("django.core.mail", "smtplib.", "flask_mail.", "flask_mailman.", "fastapi_mail.", "sendgrid.")
# Cloud and remote-execution clients, recognised by what built the receiver.
_REMOTE_CLIENTS = ("boto3.", "botocore.", "google.cloud.", "googleapiclient.", "azure.", "docker.", "kubernetes.",
                   "paramiko.", "fabric.", "openstack.", "digitalocean.", "hcloud.", "ansible_runner.")
_MUTATING_CALL = re.compile(
    r"^(create|put|run|start|stop|terminate|reboot|delete|update|invoke|send|publish|execute|exec|submit|deploy|"
    r"launch|modify|attach|detach|copy|upload|scale|restart|apply|patch)(_|$)"
)

EXTERNAL_VERB = {
    PAYMENT: "charges a card",
    HTTP: "sends an outbound {method}",
    EMAIL: "sends an email",
    "sms": "sends an SMS",
    "push": "sends a push notification",
    "subprocess": "runs a command",
    "cloud": "calls a remote service",
}


def ast_external_effect(call: ast.Call, qualified: Optional[str], receiver_class: Optional[str] = None) -> Optional[str]:
    """The label of the external effect of a call in a function body ("sends an email
    (send_mail)", "runs a command (subprocess.run)"), or None. ``receiver_class``: the
    qualified name of what built the receiver of a method call (``boto3.client``,
    ``django.core.mail.EmailMessage``), when the function knows it."""
    func = call.func
    attr = func.attr if isinstance(func, ast.Attribute) else ""
    q = qualified or ""
    last = last_of(q) if q else attr
    recv = receiver_class or ""
    if q in _DJANGO_MAIL_FUNCS or last in _MAIL_FUNCS:
        return f"{EXTERNAL_VERB[EMAIL]} ({last_of(q) or last})"
    if attr == "send_messages" and not q.startswith(_NOT_MAIL_BACKENDS):
        # Django's email backend API, whatever built the backend (``get_connection()``,
        # a project helper that picks the event's SMTP server)
        return f"{EXTERNAL_VERB[EMAIL]} (send_messages)"
    if recv and attr:
        found = external_of_receiver(recv, attr)
        if found:
            return found
    if q.startswith("stripe.") and attr in _STRIPE_ACTIONS and len(q.split(".")) >= 3 and q.split(".")[-2][:1].isupper():
        if not any(k.arg and "idempot" in k.arg.lower() for k in call.keywords):
            return f"{EXTERNAL_VERB[PAYMENT]} ({q})"
    if q.split(".", 1)[0] in _PAYMENT_SDKS and attr in ("sale", "charge", "capture", "submit_for_settlement"):
        return f"{EXTERNAL_VERB[PAYMENT]} ({q})"
    if q.split(".", 1)[0] in _AST_HTTP_MODULES and q.count(".") == 1 and last in _AST_HTTP_WRITES:
        if last != "post" or not ast_idempotent_url(call):
            return f"{EXTERNAL_VERB[HTTP].format(method=last.upper())} ({q})"
    if q in _SUBPROCESS:
        return f"{EXTERNAL_VERB['subprocess']} ({q})"
    if q.startswith(_PUSH_PREFIXES):
        return f"{EXTERNAL_VERB['push']} ({q})"
    if q.startswith(_SMS_PREFIXES):
        return f"{EXTERNAL_VERB['sms']} ({q})"
    return None


def external_of_receiver(receiver_class: str, attr: str) -> Optional[str]:
    """The external effect of calling method ``attr`` on an object built by
    ``receiver_class`` (a qualified class or factory: ``django.core.mail.EmailMessage``,
    ``boto3.client``, ``twilio.rest.Client``), or None. Also used for project subclasses
    of those, through their library base."""
    recv = receiver_class
    if attr in ("send", "send_messages", "sendmail", "send_message") and recv.startswith(_MAIL_CLASSES):
        return f"{EXTERNAL_VERB[EMAIL]} ({last_of(recv)}.{attr})"
    if recv.startswith(_SMS_PREFIXES) and attr in ("create", "send", "send_message"):
        return f"{EXTERNAL_VERB['sms']} ({recv}.{attr})"
    if recv.startswith(("paramiko.", "fabric.")) and attr in ("exec_command", "run", "sudo"):
        return f"{EXTERNAL_VERB['subprocess']} ({recv.split('.', 1)[0]} {attr})"
    if recv.startswith(_REMOTE_CLIENTS) and _MUTATING_CALL.match(attr):
        return f"{EXTERNAL_VERB['cloud']} ({recv.split('.', 1)[0]} {attr})"
    return None


# ----------------------------------------------------------------------------------
# tasks that are idempotent by name
# ----------------------------------------------------------------------------------

_IDEMPOTENT_TASK_VERBS = frozenset(
    {
        "invalidate", "refresh", "recalc", "recalculate", "recompute", "rebuild", "reindex",
        "clear", "purge", "cleanup", "clean", "expire", "warm", "sync", "synchronize", "resync",
        "update", "index", "reload", "prune", "evict", "flush", "revert", "delete", "remove",
        # state transitions: doing them twice leaves the same state
        "accept", "approve", "reject", "archive", "unarchive", "lock", "unlock", "enable",
        "disable", "activate", "deactivate", "publish", "unpublish", "mark", "cancel", "close",
        # caches and renders of data that exists
        "cache", "compute", "precompute", "render", "thumbnail",
    }
)
# the last word of a task name that says the same (``component_removal``, ``status_update``)
_IDEMPOTENT_TASK_NOUNS = frozenset(
    {"removal", "deletion", "delete", "cleanup", "update", "sync", "refresh", "invalidation", "reindex", "purge"}
)
_TASK_PREFIXES = ("task", "tasks", "do", "run", "async", "celery", "job", "bg", "background", "bulk", "batch")


def is_idempotent_task_name(label: str) -> bool:
    """A task whose name says it recomputes, invalidates or deletes
    (``invalidate_cache.delay``, ``component_removal.delay``): running it twice gives the
    same result."""
    parts = label.split(".")
    name = parts[-2] if len(parts) >= 2 else label
    words = [w.lower() for w in re.split(r"_+|(?<=[a-z])(?=[A-Z])", name) if w]
    while words and words[0] in _TASK_PREFIXES:
        words = words[1:]
    while words and words[-1] in _TASK_PREFIXES:
        words = words[:-1]
    return bool(words) and (words[0] in _IDEMPOTENT_TASK_VERBS or words[-1] in _IDEMPOTENT_TASK_NOUNS)
