"""The retry vocabulary's stdlib-ast readers agree with their LibCST twins.

The project index reads celery Task classes in other files with ``ast``
(``ast_class_config``); the rule reads the classes of the file it checks with LibCST
(``class_config``). Both must give the same settings for the same class body.
"""

from __future__ import annotations

import ast
import textwrap

import libcst as cst
import pytest

from backendlint.knowledge.retry.celery import CeleryRetryConfig, ast_class_config, class_config

CLASSES = [
    # (class source, the settings both readers find)
    ("class T(Task):\n    pass\n", CeleryRetryConfig()),
    ("class T(Task):\n    max_retries = None\n", CeleryRetryConfig(max_retries="none")),
    ("class T(Task):\n    max_retries = 5\n", CeleryRetryConfig(max_retries="set")),
    ("class T(Task):\n    max_retries = LIMIT\n", CeleryRetryConfig(max_retries="set")),
    ("class T(Task):\n    autoretry_for = (ConnectionError,)\n", CeleryRetryConfig(autoretry=True)),
    ("class T(Task):\n    autoretry_for = ()\n", CeleryRetryConfig(autoretry=False)),
    ("class T(Task):\n    autoretry_for = []\n", CeleryRetryConfig(autoretry=False)),
    ("class T(Task):\n    autoretry_for = None\n", CeleryRetryConfig(autoretry=False)),
    ("class T(Task):\n    autoretry_for = ERRORS\n", CeleryRetryConfig(autoretry=True)),
    ("class T(Task):\n    retry_kwargs = {'max_retries': None}\n", CeleryRetryConfig(retry_kwargs_max="none")),
    ("class T(Task):\n    retry_kwargs = {'max_retries': 4, 'countdown': 5}\n", CeleryRetryConfig(retry_kwargs_max="set")),
    ("class T(Task):\n    retry_kwargs = {'countdown': 5}\n", CeleryRetryConfig()),
    ("class T(Task):\n    retry_kwargs = {**DEFAULTS}\n", CeleryRetryConfig(retry_kwargs_max="unknown")),
    ("class T(Task):\n    retry_kwargs = KWARGS\n", CeleryRetryConfig(retry_kwargs_max="unknown")),
    (
        "class T(Task):\n    max_retries = None; autoretry_for = (OSError,)\n",
        CeleryRetryConfig(max_retries="none", autoretry=True),
    ),
    (
        "class T(Task):\n    def run(self):\n        self.retry(countdown=5)\n",
        CeleryRetryConfig(self_retry="unbounded"),
    ),
    (
        "class T(Task):\n    def run(self):\n        raise self.retry(exc=e, max_retries=None)\n",
        CeleryRetryConfig(self_retry="unbounded"),
    ),
    (
        "class T(Task):\n    def run(self):\n        self.retry(max_retries=3)\n",
        CeleryRetryConfig(self_retry="bounded"),
    ),
    (
        "class T(Task):\n    def run(self, **kw):\n        self.retry(**kw)\n",
        CeleryRetryConfig(self_retry="bounded"),
    ),
    (
        "class T(Task):\n    async def run(task):\n        task.retry(max_retries=2)\n        task.retry()\n",
        CeleryRetryConfig(self_retry="unbounded"),
    ),
    (
        "class T(Task):\n    def a(self):\n        self.retry()\n    def b(self):\n        self.retry(max_retries=1)\n",
        CeleryRetryConfig(self_retry="unbounded"),
    ),
    (
        "class T(Task):\n    def run(self):\n        other.retry()\n",
        CeleryRetryConfig(),
    ),
    (
        "class T(Task):\n    max_retries: int = None\n    retry_kwargs = {'max_retries': None}\n    def run(self):\n        self.retry(max_retries=2)\n",
        CeleryRetryConfig(retry_kwargs_max="none", self_retry="bounded"),
    ),
]


def _cst_class(source: str) -> cst.ClassDef:
    node = cst.parse_module(source).body[0]
    assert isinstance(node, cst.ClassDef)
    return node


def _ast_class(source: str) -> ast.ClassDef:
    node = ast.parse(source).body[0]
    assert isinstance(node, ast.ClassDef)
    return node


@pytest.mark.parametrize("source, expected", CLASSES)
def test_celery_class_config_twins_agree(source, expected):
    source = textwrap.dedent(source)
    from_cst, _anchors = class_config(_cst_class(source))
    from_ast = ast_class_config(_ast_class(source))
    assert from_cst == expected
    assert from_ast == expected
    assert from_cst.to_json() == from_ast.to_json()


def test_class_config_anchors_point_at_the_settings():
    source = "class T(Task):\n    autoretry_for = (E,)\n    max_retries = None\n    def run(self):\n        self.retry()\n"
    config, anchors = class_config(_cst_class(source))
    assert config.retries_forever
    assert isinstance(anchors["max_retries"], cst.Assign)
    assert isinstance(anchors["autoretry_for"], cst.Assign)
    assert isinstance(anchors["self_retry"], cst.Name) and anchors["self_retry"].value == "run"
