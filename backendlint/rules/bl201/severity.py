"""BL201's severity (catalog "Severity", row BL201).

The effect of a finding is the strongest effect among what it reports (``Finding.effect``,
set by the walk from ``effect_of_*`` below): *external* (a charge, an outbound POST, an
email, an enqueued task whose body, through the effect summaries, does one of those or
runs a command or a cloud call), *log* (rows of log, token, session and cache models),
else *row*. Then, after the context (operator and test code: low):

- low: every reported effect is a log row; or the handler is one whose repetition is the
  point (a test message, a verification, a resend, a throttled login code), admin-only or
  development-only, and nothing it reports is external;
- high: an external effect;
- medium: rows (independent or holding together).

A create that sets a unique field from request data (a repeat gets an IntegrityError, no
second row) is low in the catalog; it needs the model index's unique fields and is not
ranked here yet.
"""

from __future__ import annotations

import re
from typing import Iterable, List, Optional, Sequence, Tuple

import libcst as cst

from backendlint.analysis.contexts import context_of
from backendlint.analysis.severity import Rank, rank
from backendlint.index.effects import CreatePath, EffectIndex
from backendlint.knowledge import creates, handlers, impact, side_effects
from backendlint.rules.bl201.state import Finding
from backendlint.syntax.names import dotted_name, last_of
from backendlint.syntax.walk import walk

Effect = Tuple[str, str]  # (knowledge.impact effect, what it is in a few words)
# The catalog's ``*Token`` and ``*Session`` match the bare names too (it excludes only a
# bare ``Event``): an API token reset twice leaves one valid token.
_BARE_LOG_NAMES = frozenset({"Token", "Session"})


# -- the effect of what a finding reports ----------------------------------------------
def effect_of_row(model: str, log_models: Sequence[str] = ()) -> Effect:
    """A created row: a log row (log, audit, token, session, cache models and the
    ``log-models`` option) or a row."""
    name = model.rsplit(".", 1)[-1]
    if impact.is_log_model(name, log_models) or creates.is_log_model(name) or name in _BARE_LOG_NAMES:
        return impact.LOG, f"a log row ({name})"
    return impact.ROW, f"a row ({name})"


def effect_of_side_effect(effect: side_effects.SideEffect, task: Optional[str], index: EffectIndex) -> Effect:
    """A side effect in the handler itself; ``task``: the project function an enqueue
    starts, when it resolves."""
    if effect.kind == side_effects.TASK:
        return effect_of_task(task, effect.label, index)
    if effect.kind == side_effects.PAYMENT:
        return impact.EXTERNAL, f"charges a card ({effect.label})"
    if effect.kind == side_effects.HTTP:
        return impact.of_side_effect("http", effect.method), f"an outbound {effect.method} ({effect.label})"
    if effect.kind == side_effects.EMAIL:
        return impact.EXTERNAL, f"sends an email ({effect.label})"
    return impact.ROW, effect.label


def effect_of_task(task: Optional[str], label: str, index: EffectIndex) -> Effect:
    """An enqueued task takes the strongest effect of its body (the effect summaries);
    one that does not resolve (a string name, ``send_task``) is a row."""
    external = index.external(task)
    if task and external:
        return impact.EXTERNAL, f"enqueues {last_of(task)}(), which {external}"
    return impact.ROW, f"enqueues a task ({label})"


def effect_of_callee(index: EffectIndex, path: CreatePath, label: str, log_models: Sequence[str] = ()) -> Effect:
    """What a project function the handler calls was found to do (an exported label of
    the effect summaries: "creates Order", "sends an email (send_mail)", ...)."""
    first = last_of(path.functions[0])
    if label.startswith("creates "):
        effect, what = effect_of_row(label.split()[1], log_models)
        return effect, f"calls {first}(), {what}"
    if label.startswith("enqueues a task"):
        task = index.task_of(path.functions[-1], label)
        effect, what = effect_of_task(task, label[len("enqueues a task ("):-1], index)
        return effect, f"calls {first}(), which {what}"
    if label.startswith(("charges", "sends an email", "sends an outbound POST")):
        return impact.EXTERNAL, f"calls {first}(), which {label}"
    return impact.ROW, f"calls {first}(), which {label}"


def strongest(findings: Iterable[Finding]) -> Optional[Finding]:
    """The first reported finding of the strongest effect."""
    best = None
    for found in findings:
        if best is None or impact.ORDER[found.effect] > impact.ORDER[best.effect]:
            best = found
    return best


# -- what the handler is for -------------------------------------------------------------
_REPEAT = re.compile(r"^(send_)?test($|_)|^verify|^resend")
_LOGIN_CODE = frozenset({"login", "code", "otp", "magic", "passwordless", "signin"})
_THROTTLE = frozenset({"throttle", "throttles", "throttled", "ratelimit", "ratelimited", "limit", "limiter", "limits"})
_ADMIN = frozenset({"admin", "superuser", "staff"})
_DEV = frozenset({"debug", "dev", "devel", "development", "devtools"})


def _names(func: cst.FunctionDef, classes: Sequence[cst.ClassDef], routes: List[str]) -> List[str]:
    """The handler's names in snake case: function, class, route path segments."""
    names = [func.name.value] + ([classes[-1].name.value] if classes else [])
    for route in routes:
        names += [seg for seg in re.split(r"[/.]", route) if seg and not seg.startswith(("<", "{", ":"))]
    return ["_".join(handlers.name_words(n)) for n in names]


def purpose(ctx, func: cst.FunctionDef, classes: Sequence[cst.ClassDef], stack: Sequence[cst.CSTNode]) -> Optional[str]:
    """Why repeating this handler is harmless by what it is for (the catalog's low
    conditions that yield to an external effect), in a few words, else None."""
    routes = handlers.route_paths(ctx, func, classes)
    names = _names(func, classes, routes)
    for name in names:
        if _REPEAT.search(name):
            return f"repeating it is the point ({name})"
    guards = handlers.decorator_names(ctx, func, classes)
    guard_words = [set(handlers.name_words(g)) for g in guards]
    if any(words & _THROTTLE for words in guard_words):
        for name in names:
            if set(name.split("_")) & _LOGIN_CODE:
                return f"a throttled login code ({name})"
    for guard, words in zip(guards, guard_words):
        if words & _ADMIN and not ("or" in words and not words & {"read", "readonly"}):
            return f"admin only ({guard})"
    for name in names:
        if set(name.split("_")) & _DEV:
            return f"development only ({name})"
    if any(isinstance(node, cst.If) and _debug_test(node.test) for node in stack):
        return "development only (under a DEBUG test)"
    return None


def _debug_test(test: cst.BaseExpression) -> bool:
    """``if settings.DEBUG:``, ``if app.debug:``, ``if DEBUG:``."""
    for sub in walk(test):
        text = dotted_name(sub) if isinstance(sub, (cst.Name, cst.Attribute)) else None
        if text and last_of(text) in ("DEBUG", "debug"):
            return True
    return False


# -- the rank -------------------------------------------------------------------------------
def rank_finding(ctx, func: cst.FunctionDef, classes: Sequence[cst.ClassDef], reported: List[Finding]) -> Rank:
    stack = list(ctx.stack) + [func]
    context = context_of(ctx, stack)
    top = strongest(reported)
    effect = top.effect if top is not None else impact.ROW
    what = top.what if top is not None else ""
    low = None
    if effect == impact.LOG:
        low = what
    elif effect != impact.EXTERNAL:
        low = purpose(ctx, func, classes, ctx.stack)
    return rank(context.name, context_why=context.describe(), low=low,
                high=what if effect == impact.EXTERNAL else None, medium=what)
