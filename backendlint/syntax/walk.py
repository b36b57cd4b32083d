"""Walking subtrees: all of it, or without entering nested scopes; a block's statements."""

from __future__ import annotations

from typing import Iterator, List, Optional

import libcst as cst

from backendlint.engine.traversal import children_of, walk

__all__ = ["walk", "walk_local", "statements", "SCOPE_TYPES"]

SCOPE_TYPES = (cst.FunctionDef, cst.ClassDef, cst.Lambda)


def walk_local(node: cst.CSTNode) -> Iterator[cst.CSTNode]:
    """Pre-order walk of ``node`` that does not enter nested functions, classes, lambdas.

    The nested def/class/lambda node itself is yielded (its name binds here), its body
    is not. Iterative, trivia skipped.
    """
    work = [node]
    first = True
    while work:
        current = work.pop()
        yield current
        if not first and isinstance(current, SCOPE_TYPES):
            continue
        first = False
        work.extend(reversed(children_of(current)))


def statements(suite: Optional[cst.CSTNode]) -> List[cst.CSTNode]:
    """The statements of a block, with simple statement lines split into small statements.

    ``suite`` may be a block, or a clause that holds one (else, finally, except, case).
    """
    if suite is None:
        return []
    if isinstance(suite, (cst.Else, cst.Finally, cst.ExceptHandler, cst.ExceptStarHandler, cst.MatchCase)):
        suite = suite.body
    if isinstance(suite, cst.SimpleStatementSuite):
        return list(suite.body)
    if not isinstance(suite, cst.IndentedBlock):
        return []
    out: List[cst.CSTNode] = []
    for stmt in suite.body:
        if isinstance(stmt, cst.SimpleStatementLine):
            out.extend(stmt.body)
        else:
            out.append(stmt)
    return out
