"""BL201 non-idempotent-post, and the knowledge it uses (handlers, creates, side effects)."""

from __future__ import annotations

import textwrap

import libcst as cst
import pytest

from backendlint.engine.context import FileContext, ProjectFacts
from backendlint.engine.traversal import Dispatcher
from backendlint.knowledge import handlers


def _context(source: str, relpath: str = "shop/views.py"):
    source = textwrap.dedent(source)
    module = cst.parse_module(source)
    module_name = relpath[:-3].replace("/", ".")
    ctx = FileContext(
        path=relpath, relpath=relpath, module_name=module_name, is_package=False,
        source=source, module=module, facts=ProjectFacts(),
    )
    Dispatcher(ctx, []).run(module)  # fills the import table
    return ctx, module


def _functions(module):
    """{name: (FunctionDef, enclosing classes)} for every def in the module."""
    out = {}

    def visit(node, classes):
        body = getattr(node, "body", None)
        stmts = body.body if isinstance(body, cst.IndentedBlock) else (body if isinstance(body, (list, tuple)) else [])
        for stmt in stmts:
            if isinstance(stmt, cst.FunctionDef):
                out[stmt.name.value] = (stmt, list(classes))
                visit(stmt, classes)
            elif isinstance(stmt, cst.ClassDef):
                visit(stmt, classes + [stmt])

    visit(module, [])
    return out


def _views(source: str, relpath: str = "shop/views.py"):
    ctx, module = _context(source, relpath)
    return sorted(name for name, (func, classes) in _functions(module).items() if handlers.is_view(ctx, func, classes))


# -- knowledge: handlers.is_view (catalog "View (Django)") ----------------------------

def test_is_view_function_views_and_class_methods():
    source = """
        from django.views import View
        from django.views.generic import CreateView as CV
        from django.views.decorators.http import require_POST
        from rest_framework import viewsets
        from rest_framework.views import APIView
        from rest_framework.decorators import action, api_view

        def index(request):
            return None

        def _helper(request):
            return None

        def not_a_view(order):
            return None

        class OrderView(View):
            def post(self, request):
                def inner(request):
                    return None
                return None
            def get_context(self, request):
                return None

        class Create(CV):
            def get(self, request):
                return None

        class Orders(APIView):
            def put(self, request, pk):
                return None

        class OrderViewSet(viewsets.ModelViewSet):
            def create(self, request):
                return None
            @action(detail=True, methods=["post"])
            def refund(self, request, pk=None):
                return None
            def helper(self):
                return None

        class Order:
            def save(self, request):
                return None
    """
    assert _views(source) == ["create", "get", "index", "post", "put", "refund"]


def test_is_view_function_outside_views_module_needs_a_view_decorator():
    source = """
        from django.views.decorators.http import require_POST
        from rest_framework.decorators import api_view
        from django.contrib.auth.decorators import login_required as lr

        @require_POST
        def checkout(request):
            return None

        @api_view(["POST"])
        def pay(request):
            return None

        @lr
        def profile(request):
            return None

        def send_receipt(request):
            return None
    """
    assert _views(source, "shop/services.py") == ["checkout", "pay", "profile"]
    assert _views("def send(request):\n    pass\n", "shop/tasks.py") == []
    assert _views("def send(request):\n    pass\n", "shop/api/orders.py") == ["send"]


def test_is_view_excludes_flask_method_views_and_plain_classes():
    source = """
        from flask.views import MethodView
        from flask_restx import Resource

        class Orders(MethodView):
            def post(self):
                return None

        class Items(Resource):
            def post(self):
                return None

        class OrderService:
            def create(self, request):
                return None
    """
    assert _views(source) == []
