"""Web handlers: which functions are Django views, and which handle POST requests.

Shared by the rules (BL201 needs POST handlers, BL301 needs Django views for
ATOMIC_REQUESTS). Everything here works on LibCST nodes plus the file's import table
(``ctx.qualified``); nothing needs a metadata provider.

Definitions follow the rule catalog's shared definitions "View (Django)" and
"POST handler".
"""

from __future__ import annotations

import re
from typing import Iterable, List, Optional, Sequence

import libcst as cst

from backendlint.syntax.calls import kwarg, positional
from backendlint.syntax.literals import string_literal
from backendlint.syntax.names import dotted_name, last_of
from backendlint.syntax.walk import walk

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

def decorator_callee(dec: cst.Decorator) -> cst.BaseExpression:
    expr = dec.decorator
    return expr.func if isinstance(expr, cst.Call) else expr


def expr_name(ctx, expr: cst.BaseExpression) -> str:
    """Qualified name of a Name/Attribute through the imports, else its dotted text."""
    return ctx.qualified(expr) or dotted_name(expr) or ""


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
        if last_of(expr_name(ctx, decorator_callee(dec))) == "staticmethod":
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
    last = last_of(text)
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
    if last.endswith("Resource") and last != "ModelResource":
        return RESOURCE  # flask-restful style project bases (AuthenticatedResource)
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
        last = last_of(qualified)
        if qualified.startswith(_VIEW_DECORATOR_MODULES):
            return True
        if qualified.startswith("django.utils.decorators") and last == "method_decorator":
            return False
        if last in VIEW_DECORATOR_NAMES and last not in _GENERIC_DECORATOR_NAMES:
            # a project re-export of a Django decorator (``from .auth import login_required``)
            return not qualified.startswith(("flask", "flask_login", "fastapi", "starlette"))
        return False
    name = dotted_name(callee) or ""
    last = last_of(name)
    return last in VIEW_DECORATOR_NAMES and last not in _GENERIC_DECORATOR_NAMES


def _has_action_decorator(ctx, func: cst.FunctionDef) -> bool:
    for dec in func.decorators:
        callee = decorator_callee(dec)
        qualified = ctx.qualified(callee)
        name = qualified or dotted_name(callee) or ""
        if last_of(name) in ("action", "detail_route", "list_route"):
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


# ----------------------------------------------------------------------------------
# POST handlers
# ----------------------------------------------------------------------------------

POST_ONLY = "post"  # the whole function handles POST requests (only)
MIXED = "mixed"  # the function handles POST and other methods: its POST branches, or all of it
VIEW = "view"  # a Django view that may handle POST: only its POST branches count

_QUIET_METHODS = {"HEAD", "OPTIONS"}


def _string_list(expr: Optional[cst.BaseExpression]) -> Optional[List[str]]:
    """Upper-cased strings of a list/tuple/set literal (or a lone string), else None."""
    if expr is None:
        return None
    if isinstance(expr, cst.SimpleString):
        value = string_literal(expr)
        return [value.upper()] if value is not None else None
    if isinstance(expr, (cst.List, cst.Tuple, cst.Set)):
        out = []
        for el in expr.elements:
            if not isinstance(el, cst.Element):
                return None
            sub = _string_list(el.value)
            if sub is None:
                return None
            out.extend(sub)
        return out
    return None


def methods_kind(methods: Optional[List[str]]) -> Optional[str]:
    """POST_ONLY / MIXED for a list of HTTP methods that includes POST, else None."""
    if not methods or "POST" not in methods:
        return None
    others = {m for m in methods if m != "POST"} - _QUIET_METHODS
    return MIXED if others else POST_ONLY


_ROUTE_POST_DECORATORS = {"post"}
_ROUTE_METHOD_DECORATORS = {"route", "api_route", "expose"}


def decorator_post_kind(ctx, dec: cst.Decorator) -> Optional[str]:
    """What a decorator says about the POST requests the function handles."""
    expr = dec.decorator
    callee = expr.func if isinstance(expr, cst.Call) else expr
    qualified = ctx.qualified(callee)
    name = qualified or dotted_name(callee) or ""
    last = last_of(name)
    call = expr if isinstance(expr, cst.Call) else None
    # Django
    if last == "require_POST" and (qualified is None or qualified.startswith("django") or "decorators" in name):
        return POST_ONLY
    if last == "require_http_methods" and call is not None:
        return methods_kind(_string_list(positional(call, 0) or kwarg(call, "request_method_list")))
    # DRF
    if last == "api_view" and (qualified is None or qualified.startswith("rest_framework")):
        if call is None:
            return None  # GET only
        return methods_kind(_string_list(positional(call, 0) or kwarg(call, "http_method_names")))
    if last in ("action", "detail_route", "list_route") and (qualified is None or qualified.startswith("rest_framework")):
        if call is None:
            return None
        return methods_kind(_string_list(kwarg(call, "methods")))
    # Flask / FastAPI / Starlette / aiohttp / Sanic / Quart / Litestar: X.post(...), X.route(..., methods=[...])
    if isinstance(callee, cst.Attribute):
        if last in _ROUTE_POST_DECORATORS:
            return POST_ONLY
        if last in _ROUTE_METHOD_DECORATORS and call is not None:
            return methods_kind(_string_list(kwarg(call, "methods")))
        if last == "view" and call is not None:  # aiohttp routes.view is class based
            return None
    elif qualified and qualified.startswith(("litestar", "starlite")) and last == "post":
        return POST_ONLY
    elif last == "expose" and call is not None and (qualified is None or qualified.startswith("flask_appbuilder")):
        return methods_kind(_string_list(kwarg(call, "methods")))
    return None


def _class_post_kind(ctx, func: cst.FunctionDef, cls: cst.ClassDef) -> Optional[str]:
    kinds = class_kinds(ctx, cls)
    if not kinds and any(_is_resource_route(ctx, dec) for dec in cls.decorators):
        kinds = [RESOURCE]
    if not kinds:
        return None
    name = func.name.value
    if name == "post":
        return POST_ONLY
    if DRF_VIEWSET in kinds and name == "create":
        return POST_ONLY
    if DRF_VIEW in kinds and name == "create":
        bases = [last_of(dotted_name(a.value) or "") for a in cls.bases]
        if any("Create" in b or "Generic" in b for b in bases):
            return POST_ONLY
    return None


def _is_resource_route(ctx, dec: cst.Decorator) -> bool:
    """``@ns.route("/x")`` on a class: a Flask-RESTX resource."""
    expr = dec.decorator
    callee = expr.func if isinstance(expr, cst.Call) else expr
    return isinstance(callee, cst.Attribute) and callee.attr.value == "route"


def post_handler_kind(ctx, func: cst.FunctionDef, classes: Sequence[cst.ClassDef]) -> Optional[str]:
    """POST_ONLY, MIXED, VIEW (Django view: only POST branches) or None (not a POST handler).

    ``classes`` are the enclosing ClassDef nodes, outermost first.
    """
    best: Optional[str] = None
    for dec in func.decorators:
        kind = decorator_post_kind(ctx, dec)
        if kind == POST_ONLY:
            return POST_ONLY
        if kind == MIXED:
            best = MIXED
    if best:
        return best
    if classes and is_method_of(func, classes[-1]):
        kind = _class_post_kind(ctx, func, classes[-1])
        if kind:
            return kind
    if is_view(ctx, func, classes):
        return VIEW
    return None


# -- request.method tests ------------------------------------------------------------


def _is_method_attr(expr: cst.BaseExpression) -> bool:
    """``request.method``, ``self.request.method``, ``req.method`` (optionally .upper()/.lower())."""
    if isinstance(expr, cst.Call) and isinstance(expr.func, cst.Attribute) and expr.func.attr.value in ("upper", "lower") and not expr.args:
        expr = expr.func.value
    if not isinstance(expr, cst.Attribute) or expr.attr.value != "method":
        return False
    owner = dotted_name(expr.value) or ""
    return owner.rsplit(".", 1)[-1] in ("request", "req", "r")


def method_test(test: cst.BaseExpression) -> Optional[tuple]:
    """(methods, positive) for ``request.method == "POST"`` style tests, else None.

    ``positive`` is True when the test is true for exactly ``methods``; False when it is
    true for every method except them (``!=``, ``not in``). ``not (...)`` flips it.
    """
    if isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not):
        inner = method_test(test.expression)
        return (inner[0], not inner[1]) if inner else None
    if not isinstance(test, cst.Comparison) or len(test.comparisons) != 1:
        return None
    comp = test.comparisons[0]
    left, right, op = test.left, comp.comparator, comp.operator
    if _is_method_attr(right) and not _is_method_attr(left):
        left, right = right, left
    if not _is_method_attr(left):
        return None
    methods = _string_list(right)
    if methods is None:
        return None
    if isinstance(op, (cst.Equal, cst.In, cst.Is)):
        return (methods, True)
    if isinstance(op, (cst.NotEqual, cst.NotIn, cst.IsNot)):
        return (methods, False)
    return None


def post_branch_test(test: cst.BaseExpression) -> Optional[bool]:
    """True when the test holds only for POST-ish requests (its body is a POST branch),
    False when it holds only for non-POST requests (its else, and the code after an
    early return, is the POST branch), None when it says nothing about POST."""
    found = method_test(test)
    if found is not None:
        methods, positive = found
        if "POST" in methods:
            return positive
        return None
    if isinstance(test, cst.BooleanOperation) and isinstance(test.operator, cst.And):
        # ``request.method == "POST" and form.is_valid()``: the body runs only for POST
        for side in (test.left, test.right):
            if post_branch_test(side) is True:
                return True
    if isinstance(test, cst.BooleanOperation) and isinstance(test.operator, cst.Or):
        # ``request.method != "POST" or not form.is_valid()``: the rest runs only for POST
        for side in (test.left, test.right):
            if post_branch_test(side) is False:
                return False
    return None


def handler_methods(ctx, func: cst.FunctionDef) -> Optional[List[str]]:
    """The HTTP methods a decorator lists for this function, if it lists them."""
    for dec in func.decorators:
        expr = dec.decorator
        if not isinstance(expr, cst.Call):
            continue
        name = dotted_name(expr.func) or ""
        last = last_of(name)
        if last == "require_http_methods":
            found = _string_list(positional(expr, 0) or kwarg(expr, "request_method_list"))
        elif last == "api_view":
            found = _string_list(positional(expr, 0) or kwarg(expr, "http_method_names"))
        elif last in ("action", "route", "api_route", "detail_route", "list_route", "expose"):
            found = _string_list(kwarg(expr, "methods"))
        else:
            continue
        if found:
            return found
    return None


# -- what a handler is for (severity) -------------------------------------------------

_ROUTE_DECORATORS = frozenset({"route", "api_route", "expose", "add_url_rule", "websocket"}) | frozenset(HTTP_METHOD_NAMES)


def route_paths(ctx, func: cst.FunctionDef, classes: Sequence[cst.ClassDef] = ()) -> List[str]:
    """The URL paths that route decorators give the handler (``@app.post("/test-email")``,
    ``@ns.route("/verify")`` on its resource class, DRF ``@action(url_path="resend")``)."""
    out: List[str] = []
    decorators = list(func.decorators) + (list(classes[-1].decorators) if classes else [])
    for dec in decorators:
        expr = dec.decorator
        if not isinstance(expr, cst.Call):
            continue
        callee = expr.func
        last = last_of(dotted_name(callee) or "")
        if isinstance(callee, cst.Attribute) and last in _ROUTE_DECORATORS:
            value = positional(expr, 0) or kwarg(expr, "path") or kwarg(expr, "rule")
        elif last in ("action", "detail_route", "list_route"):
            value = kwarg(expr, "url_path")
        else:
            continue
        text = string_literal(value) if value is not None else None
        if text:
            out.append(text)
    return out


def name_words(text: str) -> List[str]:
    """``SendTestEmailView`` / ``send-test_email`` -> ["send", "test", "email", "view"]."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", text)
    return [w for w in re.split(r"[^A-Za-z0-9]+|_", spaced.lower()) if w]


# Decorators whose arguments name permissions or throttles (``user_passes_test(lambda u:
# u.is_superuser)``, ``method_decorator(staff_member_required)``, ``@permission_classes([...])``).
_GUARD_DECORATOR_WORDS = frozenset({"permission", "permissions", "passes", "require", "required", "requires",
                                    "access", "only", "decorator", "throttle", "throttles", "ratelimit", "limit",
                                    "classes", "dependencies"})
_GUARD_KWARGS = ("permission_classes", "throttle_classes", "dependencies")


def decorator_names(ctx, func: cst.FunctionDef, classes: Sequence[cst.ClassDef] = ()) -> List[str]:
    """The names that guard the handler: its decorators and its class's
    (``staff_member_required``), the names in the arguments of permission and throttle
    decorators (``is_superuser`` in ``user_passes_test(lambda u: u.is_superuser)``,
    ``IsAdminUser`` in ``@permission_classes([IsAdminUser])``, DRF ``@action(
    permission_classes=...)``, FastAPI ``dependencies=[Depends(...)]``), FastAPI
    ``Depends(get_admin_user)`` parameters and the class's ``permission_classes`` /
    ``throttle_*`` attributes. Other arguments (``@extend_schema(responses=AdminSerializer)``,
    the blueprint of ``@admin_bp.post``) are no guard."""
    nodes: List[cst.CSTNode] = []
    out: List[str] = []
    for dec in list(func.decorators) + (list(classes[-1].decorators) if classes else []):
        expr = dec.decorator
        callee = expr.func if isinstance(expr, cst.Call) else expr
        last = last_of(dotted_name(callee) or "")
        route = isinstance(callee, cst.Attribute) and last in _ROUTE_DECORATORS
        if not route and last:
            out.append(last)
        if not isinstance(expr, cst.Call):
            continue
        for arg in expr.args:
            keyword = arg.keyword.value if arg.keyword is not None else ""
            if keyword in _GUARD_KWARGS or (not route and not keyword and set(name_words(last)) & _GUARD_DECORATOR_WORDS):
                nodes.append(arg.value)
    params = func.params
    for p in list(params.params) + list(params.kwonly_params):
        default = p.default
        if isinstance(default, cst.Call) and last_of(dotted_name(default.func) or "") in ("Depends", "Security"):
            nodes.append(default)
    if classes:
        cls = classes[-1]
        body = cls.body.body if isinstance(cls.body, cst.IndentedBlock) else []
        for stmt in body:
            if isinstance(stmt, cst.SimpleStatementLine):
                for small in stmt.body:
                    if isinstance(small, (cst.Assign, cst.AnnAssign)):
                        targets = [t.target for t in small.targets] if isinstance(small, cst.Assign) else [small.target]
                        if any(isinstance(t, cst.Name) and t.value.startswith(("permission_classes", "throttle")) for t in targets):
                            nodes.append(small)
    for node in nodes:
        for sub in walk(node):
            if isinstance(sub, cst.Name):
                out.append(sub.value)
            elif isinstance(sub, cst.Attribute):
                out.append(sub.attr.value)
    return out

