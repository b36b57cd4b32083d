"""The catalog's order of precedence for a finding's severity ("Severity"):

1. BL304 has its own rule (its module decides);
2. operator or test context: low;
3. a low condition of the rule's row: low;
4. a high condition: high;
5. otherwise medium.

Rules decide their conditions (they know what they found) and call ``rank``; the result
is data (severity, context, why) that ``Rule.report`` takes as is.
"""

from __future__ import annotations

from typing import NamedTuple, Optional

from backendlint.knowledge.contexts import LABEL, OPERATOR, TEST

HIGH = "high"
MEDIUM = "medium"
LOW = "low"


class Rank(NamedTuple):
    severity: str
    context: str
    why: str

    def as_report(self) -> dict:
        """Keyword arguments for ``Rule.report``."""
        return {"severity": self.severity, "context": self.context, "why": self.why}


def rank(context: str, *, context_why: Optional[str] = None, low: Optional[str] = None,
         high: Optional[str] = None, medium: Optional[str] = None) -> Rank:
    """Severity by precedence. ``low``/``high``: the reason (a few words) when the rule's
    low or high condition holds, else None; ``medium``: what to say otherwise;
    ``context_why``: how the context reads (``request: called from checkout() in
    shop/views.py:40``; default: the context's label)."""
    where = context_why or LABEL.get(context, context)
    if context in (OPERATOR, TEST):
        return Rank(LOW, context, where)
    if low:
        return Rank(LOW, context, f"{where}; {low}")
    if high:
        return Rank(HIGH, context, f"{where}; {high}")
    return Rank(MEDIUM, context, f"{where}; {medium}" if medium else where)
