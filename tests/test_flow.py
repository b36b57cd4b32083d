"""The statement-flow walker (syntax/flow.py): composition of blocks, branches and exits."""

import libcst as cst
import pytest

from backendlint.syntax.flow import BREAK, CONTINUE, NEXT, RAISE, RETURN, Flow, always_exits, outcomes
from backendlint.syntax.walk import statements


def body(code: str):
    return statements(cst.parse_module(code).body[0].body)


@pytest.mark.parametrize(
    "code, expected",
    [
        ("def f():\n    x = 1\n", {NEXT}),
        ("def f():\n    return 1\n    x = 2\n", {RETURN}),
        ("def f():\n    if a:\n        return 1\n", {NEXT, RETURN}),
        ("def f():\n    if a:\n        return 1\n    else:\n        raise E\n", {RETURN, RAISE}),
        ("def f():\n    if a:\n        return 1\n    elif b:\n        raise E\n", {NEXT, RETURN, RAISE}),
        ("def f():\n    while True:\n        pass\n", set()),
        ("def f():\n    while True:\n        if a:\n            break\n", {NEXT}),
        ("def f():\n    while x:\n        return 1\n", {NEXT, RETURN}),
        ("def f():\n    for x in y:\n        continue\n    else:\n        return 1\n", {RETURN}),
        ("def f():\n    for x in y:\n        break\n    else:\n        return 1\n", {NEXT, RETURN}),
        ("def f():\n    try:\n        return g()\n    except E:\n        raise\n", {RETURN, RAISE}),
        ("def f():\n    try:\n        return g()\n    finally:\n        cleanup()\n", {RETURN}),
        ("def f():\n    try:\n        g()\n    finally:\n        return 1\n", {RETURN}),
        ("def f():\n    try:\n        g()\n    except E:\n        pass\n    else:\n        return 1\n", {NEXT, RETURN}),
        ("def f():\n    with a:\n        raise E\n", {RAISE}),
        ("def f():\n    match x:\n        case 1:\n            return 1\n", {NEXT, RETURN}),
        ("def f():\n    break\n", {BREAK}),
        ("def f():\n    continue\n", {CONTINUE}),
        ("def f():\n    def g():\n        return 1\n", {NEXT}),
    ],
)
def test_outcomes(code, expected):
    assert outcomes(body(code)) == frozenset(expected)


def test_exit_calls_count_as_raise():
    code = "def f():\n    if a:\n        sys.exit(1)\n    else:\n        return 2\n"
    assert outcomes(body(code)) == {NEXT, RETURN}
    is_exit = lambda call: cst.Module([]).code_for_node(call.func) == "sys.exit"  # noqa: E731
    assert outcomes(body(code), is_exit) == {RAISE, RETURN}
    assert always_exits(body(code), is_exit)


class Assigned(Flow):
    """State: the frozenset of names assigned on some path (join: union)."""

    def join(self, a, b):
        return a | b

    def simple(self, stmt, state):
        if isinstance(stmt, cst.Assign):
            return state | {t.target.value for t in stmt.targets if isinstance(t.target, cst.Name)}
        return state

    def test(self, expr, state):
        if isinstance(expr, cst.Name) and expr.value == "True":
            return state, None
        return state, state


def test_state_flows_through_branches_and_exits():
    code = (
        "def f():\n"
        "    a = 1\n"
        "    if c:\n"
        "        b = 2\n"
        "        return\n"
        "    try:\n"
        "        d = 3\n"
        "    except E:\n"
        "        e = 4\n"
        "        raise\n"
        "    finally:\n"
        "        f = 5\n"
    )
    out = Assigned().block(body(code), frozenset())
    assert out.fall == {"a", "d", "f"}
    assert out.exits[RETURN] == {"a", "b"}
    assert out.exits[RAISE] == {"a", "e", "f"}


def test_while_true_falls_through_only_by_break():
    code = "def f():\n    while True:\n        x = 1\n        if c:\n            y = 2\n            break\n    z = 3\n"
    out = Assigned().block(body(code), frozenset())
    assert out.fall == {"x", "y", "z"}
    code = "def f():\n    while True:\n        x = 1\n    z = 3\n"
    assert Assigned().block(body(code), frozenset()).fall is None


def test_loop_may_run_no_round():
    code = "def f():\n    for i in y:\n        x = 1\n    z = 3\n"
    out = Assigned().block(body(code), frozenset())
    assert out.fall == {"x", "z"}  # union: some path assigned x
    out = Intersect().block(body(code), frozenset())
    assert out.fall == {"z"}  # every path: x only when the loop ran


class Intersect(Assigned):
    def join(self, a, b):
        return a & b
