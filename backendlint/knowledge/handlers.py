"""Web handlers: which functions are Django views, and which handle POST requests.

Shared by the rules (BL201 needs POST handlers, BL301 needs Django views for
ATOMIC_REQUESTS). Everything here works on LibCST nodes plus the file's import table
(``ctx.qualified``); nothing needs a metadata provider.

Definitions follow the rule catalog's shared definitions "View (Django)" and
"POST handler".
"""

from __future__ import annotations

from typing import Iterable, List, Optional, Sequence

import libcst as cst

from backendlint.engine.imports import dotted_name

# ----------------------------------------------------------------------------------
# small helpers
# ----------------------------------------------------------------------------------

HTTP_METHOD_NAMES = ("get", "post", "put", "patch", "delete")
VIEWSET_ACTIONS = ("create", "update", "partial_update", "destroy", "list", "retrieve")

# Decorators that make a function a Django/DRF view (matched on the qualified name when
# the import resolves, otherwise on the last component of the name).
VIEW_DECORATOR_NAMES = frozenset(
    {
        "require_POST", "require_GET", "require_safe", "require_http_methods",
        "login_required", "permission_required", "user_passes_test",
        "staff_member_required", "superuser_required",
        "csrf_exempt", "csrf_protect", "ensure_csrf_cookie", "requires_csrf_token",
        "api_view", "never_cache", "cache_page", "cache_control", "vary_on_headers",
        "vary_on_cookie", "xframe_options_exempt", "xframe_options_deny",
        "xframe_options_sameorigin", "sensitive_post_parameters", "condition",
        "etag", "last_modified", "gzip_page",
    }
)
_VIEW_DECORATOR_MODULES = (
    "django.views.decorators",
    "django.contrib.auth.decorators",
    "django.contrib.admin.views.decorators",
    "rest_framework.decorators",
)
# Names too generic to mean "view" on their own when they do not resolve to Django/DRF.
_GENERIC_DECORATOR_NAMES = frozenset({"condition", "etag", "last_modified", "cache_control"})

_FLASK_VIEW_PREFIXES = ("flask.views", "flask_restx", "flask_restful", "flask_restplus", "flask_smorest")


def decorator_callee(dec: cst.Decorator) -> cst.BaseExpression:
    expr = dec.decorator
    return expr.func if isinstance(expr, cst.Call) else expr


def expr_name(ctx, expr: cst.BaseExpression) -> str:
    """Qualified name of a Name/Attribute through the imports, else its dotted text."""
    return ctx.qualified(expr) or dotted_name(expr) or ""


def last_part(name: str) -> str:
    return name.rsplit(".", 1)[-1]


def first_param_name(func: cst.FunctionDef, skip_self: bool) -> Optional[str]:
    params = list(func.params.posonly_params) + list(func.params.params)
    if skip_self:
        params = params[1:]
    if not params:
        return None
    return params[0].name.value


def is_method_of(func: cst.FunctionDef, cls: cst.ClassDef) -> bool:
    body = cls.body
    if not isinstance(body, cst.IndentedBlock):
        return False
    return any(stmt is func for stmt in body.body)


def _is_staticmethod(ctx, func: cst.FunctionDef) -> bool:
    for dec in func.decorators:
        if last_part(expr_name(ctx, decorator_callee(dec))) == "staticmethod":
            return True
    return False


# ----------------------------------------------------------------------------------
# class kinds
# ----------------------------------------------------------------------------------

DJANGO_VIEW = "django"  # django.views.View and generic views (and project subclasses)
DRF_VIEW = "drf"  # rest_framework APIView / generics
DRF_VIEWSET = "viewset"  # rest_framework viewsets
FLASK_VIEW = "flask"  # flask.views.View / MethodView
RESOURCE = "resource"  # Flask-RESTX / Flask-RESTful / flask-smorest MethodView resources


def base_kind(ctx, base: cst.BaseExpression) -> Optional[str]:
    """What a base class expression makes a class, as far as this file can tell."""
    if isinstance(base, cst.Subscript):  # Generic[...] style bases
        base = base.value
    qualified = ctx.qualified(base)
    text = qualified or dotted_name(base) or ""
    if not text:
        return None
    last = last_part(text)
    if qualified:
        if qualified.startswith(("flask_restx", "flask_restful", "flask_restplus")):
            return RESOURCE if last in ("Resource", "MethodResource") else None
        if qualified.startswith("flask_smorest") or qualified.startswith("flask.views"):
            return FLASK_VIEW if last in ("View", "MethodView") else None
        if qualified.startswith("rest_framework.viewsets"):
            return DRF_VIEWSET
        if qualified.startswith(("rest_framework.views", "rest_framework.generics")):
            return DRF_VIEW
        if qualified.startswith("rest_framework."):
            return None  # mixins, serializers, permissions ...
        if qualified.startswith("django.") and "views" in qualified.split("."):
            return DJANGO_VIEW if last[:1].isupper() and not last.endswith("Mixin") else None
        if qualified.startswith(("django.", "aiohttp.")):
            if qualified.startswith("aiohttp.web") and last == "View":
                return None  # aiohttp class-based views are not Django views
            return None
    # Project classes (or unresolved names): judge by the conventional suffixes.
    if last.endswith(("ViewSet", "Viewset", "ViewSetMixin")):
        return DRF_VIEWSET
    if last.endswith("APIView"):
        return DRF_VIEW
    if last.endswith("View") and last not in ("MethodView",):
        return DJANGO_VIEW
    if last == "MethodView":
        return FLASK_VIEW
    if last in ("Resource",):
        return RESOURCE
    return None


def class_kinds(ctx, cls: cst.ClassDef) -> List[str]:
    kinds = []
    for arg in cls.bases:
        kind = base_kind(ctx, arg.value)
        if kind and kind not in kinds:
            kinds.append(kind)
    return kinds


def is_django_view_class(ctx, cls: cst.ClassDef) -> bool:
    kinds = class_kinds(ctx, cls)
    return any(k in (DJANGO_VIEW, DRF_VIEW, DRF_VIEWSET) for k in kinds) and FLASK_VIEW not in kinds


# ----------------------------------------------------------------------------------
# Django views
# ----------------------------------------------------------------------------------


def is_view_module(relpath: str, module_name: str = "") -> bool:
    """A module in a views/api package (``views.py``, ``views/orders.py``, ``api/x.py``)."""
    path = relpath.replace("\\", "/")
    parts = [p for p in path.split("/") if p]
    if not parts:
        return False
    stem = parts[-1]
    if stem.endswith(".py"):
        stem = stem[:-3]
    parts = parts[:-1] + [stem]
    for part in parts:
        if part in ("views", "api", "apis", "viewsets", "api_views"):
            return True
        if part.startswith("views_") or part.endswith("_views"):
            return True
    return False


def is_view_decorator(ctx, dec: cst.Decorator) -> bool:
    callee = decorator_callee(dec)
    qualified = ctx.qualified(callee)
    if qualified:
        last = last_part(qualified)
        if qualified.startswith(_VIEW_DECORATOR_MODULES):
            return True
        if qualified.startswith("django.utils.decorators") and last == "method_decorator":
            return False
        if last in VIEW_DECORATOR_NAMES and last not in _GENERIC_DECORATOR_NAMES:
            # a project re-export of a Django decorator (``from .auth import login_required``)
            return not qualified.startswith(("flask", "flask_login", "fastapi", "starlette"))
        return False
    name = dotted_name(callee) or ""
    last = last_part(name)
    return last in VIEW_DECORATOR_NAMES and last not in _GENERIC_DECORATOR_NAMES


def _has_action_decorator(ctx, func: cst.FunctionDef) -> bool:
    for dec in func.decorators:
        callee = decorator_callee(dec)
        qualified = ctx.qualified(callee)
        name = qualified or dotted_name(callee) or ""
        if last_part(name) in ("action", "detail_route", "list_route"):
            if qualified is None or qualified.startswith("rest_framework"):
                return True
    return False


def is_view(ctx, func: cst.FunctionDef, classes: Sequence[cst.ClassDef]) -> bool:
    """Whether ``func`` is a Django/DRF view (catalog: shared definition "View (Django)").

    ``classes`` are the ClassDef nodes enclosing ``func``, outermost first (as found on
    ``ctx.stack``). A method counts only when it is defined directly in the innermost
    class: the ``get/post/put/patch/delete`` methods of View / generic view / APIView
    subclasses, and DRF viewset actions (``create``, ``list`` ..., ``@action`` methods).
    A function counts when its first parameter is ``request`` and it lives in a
    views/api module or carries a Django/DRF view decorator. Services, tasks, signal
    handlers, model methods and management commands are not views.
    """
    if classes:
        cls = classes[-1]
        if not is_method_of(func, cls):
            return False
        if _is_staticmethod(ctx, func):
            return False
        kinds = class_kinds(ctx, cls)
        if FLASK_VIEW in kinds or RESOURCE in kinds:
            return False
        name = func.name.value
        if DJANGO_VIEW in kinds or DRF_VIEW in kinds or DRF_VIEWSET in kinds:
            if name in HTTP_METHOD_NAMES:
                return True
        if DRF_VIEWSET in kinds or DRF_VIEW in kinds:
            if name in VIEWSET_ACTIONS:
                return True
            if _has_action_decorator(ctx, func):
                return True
        return False
    if first_param_name(func, skip_self=False) != "request":
        return False
    if func.name.value.startswith("_"):
        return False
    if any(is_view_decorator(ctx, dec) for dec in func.decorators):
        return True
    return is_view_module(ctx.relpath, ctx.module_name)


def enclosing_classes(stack: Iterable[cst.CSTNode]) -> List[cst.ClassDef]:
    """The ClassDef nodes of an ancestor stack, outermost first."""
    return [node for node in stack if isinstance(node, cst.ClassDef)]
