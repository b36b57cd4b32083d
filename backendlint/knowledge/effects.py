"""Compatibility names for BL301 until the lead repoints it (issue #15 merge); delete then.

The effect summaries moved: the collector, merge, resolver and reader to
``backendlint.index.effects``; the call-site resolution to ``backendlint.analysis.calls``
(``project_callee``). The names BL301 uses are resolved on first access (PEP 562), not at
import: knowledge/ is imported by the index, so an import of the index here would close a
circle.
"""

from __future__ import annotations

import importlib
from typing import Optional

_MOVED = {
    "FACT_KIND": "backendlint.index.effects",
    "FACTS": "backendlint.index.effects",
    "EffectSummaries": "backendlint.index.effects",
    "merge_summaries": "backendlint.index.effects",
    "run_resolver": "backendlint.index.effects",
    "resolver": "backendlint.index.effects",
    "project_callee": "backendlint.analysis.calls",
}


def __getattr__(name: str):
    if name in _MOVED:
        return getattr(importlib.import_module(_MOVED[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def handler_callee(ctx, call, bindings, class_key: Optional[str], self_key: Optional[str] = None, func=None):
    """(callee key, merged summaries) when ``call`` is resolved to a project function
    with a summary (the old shape; ``analysis.calls.project_callee`` gives the key)."""
    target = __getattr__("project_callee")(ctx, call, bindings, class_key, self_key, func)
    if target is None:
        return None
    return target, ctx.facts.get(__getattr__("FACT_KIND"))
