"""Compatibility re-exports for BL301 until the lead repoints it (issue #15 merge).

The effect summaries moved: the collector, merge, resolver and reader to
``backendlint.index.effects``; the call-site resolution to ``backendlint.analysis.calls``.
This module imports upward (knowledge -> index/analysis) and is to be deleted once
``rules/bl301_write_outside_transaction.py`` imports from the new homes.
"""

from __future__ import annotations

from typing import Optional

from backendlint.analysis.calls import project_callee
from backendlint.index.effects import FACT_KIND, FACTS, EffectSummaries, merge_summaries, resolver, run_resolver  # noqa: F401


def handler_callee(ctx, call, bindings, class_key: Optional[str], self_key: Optional[str] = None, func=None):
    """(callee key, merged summaries) when ``call`` is resolved to a project function
    with a summary (the old shape; ``analysis.calls.project_callee`` gives the key)."""
    target = project_callee(ctx, call, bindings, class_key, self_key, func)
    if target is None:
        return None
    return target, ctx.facts.get(FACT_KIND)
