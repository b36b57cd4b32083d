"""Message text shared by BL401 and BL402 (both name the query a loop runs over)."""

from __future__ import annotations


def short(desc: str) -> str:
    """``A.objects.filter(...).filter(...).order_by(...)`` -> ``A.objects.filter(...)...order_by(...)``."""
    if len(desc) <= 60:
        return desc
    calls = [i for i, ch in enumerate(desc) if ch == ")" and (i + 1 == len(desc) or desc[i + 1] == ".")]
    if len(calls) < 3:
        return desc[:57] + "..."
    head = desc[: calls[0] + 1]
    tail = desc[calls[-2] + 2:]
    return f"{head}...{tail}"
