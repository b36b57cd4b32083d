"""Finding the rules and resolving ``--select`` / ``--ignore`` selectors."""

from __future__ import annotations

import difflib
from typing import Dict, Iterable, List, Optional, Sequence

from backendlint.engine.rule import Rule

_RULES: Optional[List[type]] = None


def install(rules) -> None:
    """Make ``rules`` (Rule subclasses) the rules of this process. The top floor does it
    (``backendlint.plugins.load``): the engine imports no rule, so no import circle
    runs through it."""
    global _RULES
    found: Dict[str, type] = {}
    for rule in rules:
        if isinstance(rule, type) and issubclass(rule, Rule) and rule is not Rule and rule.code:
            found[rule.code] = rule
    _RULES = [found[code] for code in sorted(found)]


def all_rules() -> List[type]:
    """Every rule class, sorted by code."""
    if _RULES is None:
        raise RuntimeError("no rules are installed: import backendlint.plugins and call load() first")
    return _RULES


def find_rule(key: str) -> Optional[type]:
    key = key.strip()
    for rule in all_rules():
        if rule.code.upper() == key.upper() or rule.name == key.lower():
            return rule
    return None


class SelectorError(ValueError):
    pass


def _matches(selector: str, rule: type) -> bool:
    sel = selector.strip()
    if sel.upper() == "ALL":
        return True
    if sel.lower() == rule.name:
        return True
    return rule.code.upper().startswith(sel.upper()) and sel.upper().startswith("BL")


def check_selector(selector: str) -> None:
    """Raise SelectorError for a selector that matches no rule, with a suggestion."""
    rules = all_rules()
    if any(_matches(selector, r) for r in rules):
        return
    candidates = [r.code for r in rules] + [r.name for r in rules] + ["ALL"]
    close = difflib.get_close_matches(selector, candidates, n=1, cutoff=0.5)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    raise SelectorError(f"unknown rule selector '{selector}'{hint} (see `backendlint rules`)")


def resolve(select: Optional[Sequence[str]], ignore: Iterable[str] = (), extend_select: Iterable[str] = ()) -> List[type]:
    """Rules enabled by the selectors, ruff style: select (default ALL) + extend-select - ignore.

    A more specific ignore beats a less specific select and vice versa, as in ruff:
    ``--select BL4 --ignore BL402`` keeps BL401; ``--ignore BL4 --extend-select BL401`` keeps BL401.
    """
    rules = all_rules()
    select = list(select) if select else ["ALL"]
    for sel in list(select) + list(ignore) + list(extend_select):
        check_selector(sel)

    def specificity(sel: str) -> int:
        if sel.upper() == "ALL":
            return 0
        if not sel.upper().startswith("BL"):
            return 5  # a rule name is as specific as its full code
        return len(sel)

    enabled = []
    for rule in rules:
        best_on = max((specificity(s) for s in list(select) + list(extend_select) if _matches(s, rule)), default=-1)
        best_off = max((specificity(s) for s in ignore if _matches(s, rule)), default=-1)
        if best_on >= 0 and best_on > best_off:
            enabled.append(rule)
    return enabled
