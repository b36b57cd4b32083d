"""Where a unit of work runs: request, task, library, operator or test (catalog, "Severity").

The vocabulary of roots: the decorators, base classes and registrations that give a
function a framework role, and the path words that classify functions with no role. A
function with a role keeps it wherever it lives; other functions take the hottest
context of their callers (``backendlint.analysis.contexts``), else their path's, else
*library*. The order of heat is request > task > library > operator > test.

Everything here works on qualified names (``rest_framework.decorators.api_view``) and
relative paths, so the index (stdlib ``ast``) and the rules (LibCST) share it.
"""

from __future__ import annotations

import re
from typing import Iterable, Optional

from backendlint.knowledge.paths import is_test_path

REQUEST = "request"
TASK = "task"
LIBRARY = "library"
OPERATOR = "operator"
TEST = "test"
SETTINGS = "settings"

HEAT = {TEST: 0, OPERATOR: 1, LIBRARY: 2, TASK: 3, REQUEST: 4, SETTINGS: 2}


def hottest(contexts: Iterable[str]) -> Optional[str]:
    best = None
    for context in contexts:
        if best is None or HEAT.get(context, 0) > HEAT.get(best, 0):
            best = context
    return best


# -- decorators -----------------------------------------------------------------------

# Route decorators of web frameworks: an attribute of an application, router or
# blueprint object (``@app.post``, ``@router.get``, ``@bp.route``, ``@routes.post``).
ROUTE_METHODS = frozenset({"route", "get", "post", "put", "patch", "delete", "head", "options",
                           "api_route", "websocket", "view", "add_route"})
# Receivers whose attribute decorators are not routes (``@requests.get`` does not exist,
# but ``@cache.get`` style helpers and ``@property.setter`` do).
_ROUTER = re.compile(r"^(app|application|router|api_router|bp|blueprint|api|routes|web|server|\w+_(router|bp|blueprint|app|api|routes))$")
_NOT_ROUTERS = ("requests", "httpx", "cache", "functools", "property", "dict", "os", "self")

_REQUEST_DECORATOR_MODULES = (
    "django.views.decorators.",
    "django.contrib.auth.decorators.",
    "django.contrib.admin.views.decorators.",
    "django.contrib.admin.",  # @admin.action, @admin.display, @admin.register
    "rest_framework.decorators.",
    "strawberry.",
    "ariadne.",
    "graphene.",
    "channels.",
)
_REQUEST_DECORATOR_NAMES = frozenset(
    {"api_view", "action", "login_required", "permission_required", "require_POST", "require_GET",
     "require_http_methods", "require_safe", "csrf_exempt", "staff_member_required", "superuser_required",
     "simple_tag", "inclusion_tag", "filter", "mutation", "resolver", "resolve_field"}
)
_TASK_DECORATOR_NAMES = frozenset({"shared_task", "task", "periodic_task", "db_task", "db_periodic_task",
                                   "actor", "job", "cron", "scheduled_job"})
_TASK_DECORATOR_MODULES = ("celery.", "dramatiq.", "rq.", "huey.", "arq.", "apscheduler.", "django_rq.")
_OPERATOR_DECORATOR_NAMES = frozenset({"command", "group", "main"})
_OPERATOR_DECORATOR_MODULES = ("click.", "typer.", "fire.")
SIGNAL_RECEIVERS = frozenset({"django.dispatch.receiver", "django.dispatch.dispatcher.receiver"})


def decorator_role(qualified: str) -> Optional[str]:
    """The context a decorator gives the function it decorates (None: no role).

    ``qualified`` is the decorator's name resolved through the file's imports when it
    can be (``celery.shared_task``), else as written (``app.task``)."""
    if not qualified or qualified == "?":
        return None
    owner, _, last = qualified.rpartition(".")
    if qualified in SIGNAL_RECEIVERS:
        return REQUEST  # a receiver runs where the code that saves runs (none known: request)
    if qualified.startswith(("pytest.", "_pytest.", "unittest.")):
        return TEST
    if qualified.startswith(_TASK_DECORATOR_MODULES) and last in _TASK_DECORATOR_NAMES | {"task"}:
        return TASK
    if qualified.startswith(_REQUEST_DECORATOR_MODULES):
        return REQUEST
    if qualified.startswith(_OPERATOR_DECORATOR_MODULES):
        return OPERATOR
    if qualified.startswith(("flask.", "fastapi.", "starlette.", "aiohttp.", "quart.", "sanic.")):
        return REQUEST if last in ROUTE_METHODS else None
    head = qualified.split(".", 1)[0]
    if owner and last in _TASK_DECORATOR_NAMES and last != "job" and ("celery" in owner.lower() or owner.split(".")[-1] in ("app", "huey", "broker", "scheduler")):
        return TASK  # @app.task, @celery_app.task, @huey.task
    if owner and last in ("command", "group") and owner.split(".")[-1] in ("cli", "app", "group", "manager", "commands"):
        return OPERATOR  # @app.cli.command, @cli.command, @manager.command, typer's @app.command
    if owner and last in ROUTE_METHODS and head not in _NOT_ROUTERS and _ROUTER.match(owner.rsplit(".", 1)[-1]):
        return REQUEST  # @app.post, @router.get, @bp.route, @routes.post, @api.route
    if last in ("api_view", "login_required", "csrf_exempt", "require_POST", "require_http_methods", "shared_task"):
        return TASK if last == "shared_task" else REQUEST
    return None


# -- base classes ---------------------------------------------------------------------

_REQUEST_BASE_MODULES = (
    "django.views.", "django.contrib.admin.", "django.forms.", "django.contrib.auth.forms.",
    "django.contrib.auth.views.", "django.contrib.syndication.", "django.template.",
    "rest_framework.views.", "rest_framework.generics.", "rest_framework.viewsets.",
    "rest_framework.serializers.", "rest_framework.mixins.", "rest_framework.permissions.",
    "rest_framework.filters.", "rest_framework.pagination.", "django_filters.",
    "flask.views.", "flask_restful.", "flask_restx.", "flask_restplus.", "flask_smorest.",
    "flask_admin.", "wtforms.", "flask_wtf.",
    "graphene.", "graphene_django.", "strawberry.", "channels.", "starlette.middleware.",
    "starlette.endpoints.", "aiohttp.web.", "tornado.web.",
    "django.utils.deprecation.MiddlewareMixin", "ninja.",
)
_TASK_BASES = frozenset({"celery.Task", "celery.app.task.Task", "celery.app.Task", "celery.task.Task", "dramatiq.GenericActor"})
_OPERATOR_BASE_MODULES = ("django.core.management.",)
_TEST_BASE_MODULES = ("unittest.", "django.test.", "rest_framework.test.", "flask_testing.", "pytest.")


def base_role(qualified: str) -> Optional[str]:
    """The context a (resolved) base class gives its methods (None: no role)."""
    if not qualified:
        return None
    if qualified in _TASK_BASES:
        return TASK
    if qualified.startswith(_TEST_BASE_MODULES):
        return TEST
    if qualified.startswith(_OPERATOR_BASE_MODULES):
        return OPERATOR
    if qualified.startswith(_REQUEST_BASE_MODULES):
        return REQUEST
    # A base from a library that builds on the frameworks (i18nfield's
    # I18nAwareModelSerializer, re-exported by pretix), or one the imports do not resolve:
    # the framework's naming convention tells.
    last = qualified.rsplit(".", 1)[-1]
    if last.endswith(_REQUEST_BASE_SUFFIXES) and not last.startswith("Test"):
        return REQUEST
    if last in ("BaseCommand", "LabelCommand", "AppCommand"):
        return OPERATOR
    return None


_REQUEST_BASE_SUFFIXES = ("Serializer", "ViewSet", "APIView", "View", "ModelForm", "Form", "ModelAdmin",
                          "Middleware", "Mutation")


# -- model methods --------------------------------------------------------------------

# ``save()``/``delete()`` overrides of models run where the code that saves runs: the
# hottest caller, or request when none is known (catalog).
MODEL_HOOKS = frozenset({"save", "delete", "clean", "full_clean"})

# -- paths ----------------------------------------------------------------------------

_OPERATOR_DIRS = frozenset({"scripts", "script", "tools", "bin", "deploy", "docker", "docs", "migrations",
                            "fixtures", "commands", "devtools", "contrib_scripts"})
_OPERATOR_FILES = frozenset({"setup.py", "manage.py", "start.py", "wsgi.py", "asgi.py", "noxfile.py",
                             "fabfile.py", "tasks_dev.py", "conf.py"})
# Fake/seed/demo data generators (saleor's populatedb and random_data, label-studio's
# demo data), start-up waits (``wait_for_db``), entrypoints.
_OPERATOR_NAME = re.compile(
    r"(^|[_/-])(populatedb|populate|random_data|fake|faker|fakes|seed|seeds|seeding|demo|sample_data|"
    r"docker[_-]entrypoint|entrypoint|wait_for_\w+|bootstrap|fixtures?)([_.]|$)"
)


def is_operator_path(relpath: str) -> bool:
    """Code with no framework role that only people run: management commands, scripts,
    tools, deployment, docs, ``setup.py``, migrations, data generators, start-up waits."""
    parts = relpath.replace("\\", "/").split("/")
    name = parts[-1]
    dirs = parts[:-1]
    if "management" in dirs and "commands" in dirs:
        return True
    if any(d in _OPERATOR_DIRS for d in dirs) or name in _OPERATOR_FILES:
        return True
    return bool(_OPERATOR_NAME.search(name[:-3] if name.endswith(".py") else name))


def path_context(relpath: str) -> Optional[str]:
    """The context a path gives code with no role (None: the path says nothing)."""
    if is_test_path(relpath):
        return TEST
    if is_operator_path(relpath):
        return OPERATOR
    return None


# How a context reads in a message or a "why".
LABEL = {
    REQUEST: "request handler",
    TASK: "background task",
    LIBRARY: "library code with no known caller",
    OPERATOR: "operator code",
    TEST: "test code",
    SETTINGS: "settings",
}
