"""BL101's words and ranks: the message of each finding and its severity conditions.

``policy_message`` (library and celery policies), ``loop_message`` (hand-written loops,
with ``retries``: which ``try`` of a loop retries), the severity conditions of the
catalog's row BL101 (``io_reason``: high; ``loop_low``: low; ``NO_IO``: medium;
``RECURSION``: high for recursion). Rules own decisions and text; the analyses they read
return data.
"""

from __future__ import annotations

from typing import Optional

import libcst as cst

from backendlint.analysis.retry_loops import EXIT, RAISE, Operation, RetryLoop, TrySite
from backendlint.knowledge.retry import AUTORETRY, COUNTERS_UNLIMITED, LIMITS_NONE, STOP_NEVER, RetryPolicy
from backendlint.syntax.names import dotted_name

RETRIED_FOREVER = "so a failing operation is retried forever"
LOOP_SHAPES = {"true": "while True", "count": "for ... in itertools.count()"}


def policy_message(policy: RetryPolicy) -> str:
    """The finding for an unbounded library or celery policy: what is unbounded; how to bound it."""
    library, api, why, names = policy.library, policy.api, policy.why, policy.names
    if library == "tenacity":
        how = "uses stop=stop_never" if why == STOP_NEVER else "has no stop condition"
        return (f"tenacity {'@retry' if api == 'retry' else api + '(...)'} {how}, so it retries forever; "
                "add stop=stop_after_attempt(N) or stop=stop_after_delay(SECONDS)")
    if library == "backoff":
        how = {2: "sets max_tries and max_time to None", 0: "has neither max_tries nor max_time"}.get(len(names)) or (
            "sets max_tries=None and no max_time" if names[0] == "max_tries" else "sets max_time=None and no max_tries")
        return f"backoff.{api} {how}, so it retries forever; add max_tries=N or max_time=SECONDS"
    if library == "retrying":
        return (f"retrying {'@retry' if api == 'retry' else 'Retrying(...)'} has neither stop_max_attempt_number nor "
                "stop_max_delay, so it retries forever; add stop_max_attempt_number=N or stop_max_delay=MILLISECONDS")
    if library == "urllib3" and why == COUNTERS_UNLIMITED:
        return (f"urllib3 Retry(total=None) leaves {', '.join(names)} retries without a limit; "
                "give total a number (e.g. total=5), or give connect, read, status and other numbers")
    if library == "stamina" and why == LIMITS_NONE:
        return (f"stamina {api} with attempts=None and timeout=None retries forever; "
                "keep a limit: attempts=N or timeout=SECONDS (stamina's defaults are 10 attempts, 45 s)")
    if library == "celery" and api == "Task":
        return (f"celery Task class {names[0]} retries with max_retries = None, so its tasks retry forever; "
                "set max_retries = N (celery's default is 3)")
    how = "autoretry_for" if why == AUTORETRY else "self.retry()"
    where = "max_retries=None from its base class" if names else "max_retries=None"
    return f"celery task retries ({how}) with {where}, so it retries forever; set max_retries=N (celery's default is 3)"


# -- severity (catalog "Severity", row BL101; rules/BL101.md "Severity") -----------------

NO_IO = "no visible I/O in what it retries"
RECURSION = "the stack grows until RecursionError"


def call_text(call) -> str:
    """``requests.get(...)``, ``self._fetch(...)``: how a call reads in a why or a message."""
    func = call.func.func if isinstance(call.func, cst.Call) else call.func
    text = dotted_name(func) or " ".join(cst.Module([]).code_for_node(func).split())
    return f"{text if len(text) <= 60 else '...' + text[-57:]}(...)"


def caught_text(handlers) -> str:
    """```OSError`, `ValueError``` / ``any exception``: what the handlers that go round catch."""
    names = []
    for handler in handlers:
        if handler.type is None:
            return "any exception"
        elements = handler.type.elements if isinstance(handler.type, cst.Tuple) else [handler.type]
        for element in elements:
            value = element.value if isinstance(element, cst.Element) else element
            text = " ".join(cst.Module([]).code_for_node(value).split())
            if text not in names:
                names.append(text)
    return ", ".join(f"`{n}`" for n in names) or "an exception"


def io_reason(op: Operation) -> Optional[str]:
    """The high condition: the retried operation does I/O (a few words), else None."""
    if not op.io:
        return None
    if op.via is not None:
        return f"retries I/O ({call_text(op.call)} reaches it)"
    return f"retries I/O ({call_text(op.call)})"


def loop_low(found: RetryLoop, site: TrySite) -> Optional[str]:
    """The low conditions of a retry loop: a long-lived loop gated on a running/shutdown
    flag, an in-memory optimistic retry, a cancellable lock wait."""
    if found.lock_wait(site):
        return "cancellable lock wait"
    gate = found.running_gate
    if gate:
        op = found.operation(site)
        if op.call is not None and any(w in call_text(op.call).lower() for w in ("acquire", "lock")):
            return f"cancellable lock wait (`{gate}`)"
        return f"long-lived loop gated on `{gate}`"
    if found.optimistic(site):
        return "in-memory optimistic retry (RuntimeError)"
    return None


def retries(site: TrySite) -> bool:
    """The ``try`` retries: an except branch goes round again (not: it re-raises, breaks or
    returns); success leaves the loop (not: a supervisor loop that keeps a consumer
    running), unconditionally or as a wait-until-it-works poll (not: pagination or a
    consumer's conditional exit); and an error does not move the loop on to other work."""
    if not site.goes_round:
        return False
    success = site.success
    if EXIT not in success:
        return False
    if not success <= {EXIT, RAISE} and not site.polls:
        return False
    return not site.moves_on


def loop_message(found: RetryLoop) -> Optional[str]:
    """The finding for a hand-written retry loop, or None when it is not reported."""
    site = next((s for s in found.sites if retries(s)), None)
    if site is None:
        return None
    if found.work_list or found.asks_person(site) or found.time_boxed or found.bounded or site.fails_over:
        return None  # a work list; re-asks a person; inside asyncio.timeout(); a compared counter or deadline;
        # fails over to the next of a finite iterator
    shape = LOOP_SHAPES.get(found.shape.kind) or f"while {found.shape.test}"
    op = found.operation(site)
    what = f"retries `{call_text(op.call)}` after" if op.call is not None else "goes round again after"
    caught = caught_text(site.round_handlers)
    unused = found.unchecked_counters
    if unused:
        return (
            f"retry loop ({shape}) {what} {caught} and counts attempts in `{unused[0]}` but never compares it, "
            f"{RETRIED_FOREVER}; stop after N attempts (e.g. `if {unused[0]} >= N: raise`) or use `for attempt in range(N):`"
        )
    return (
        f"retry loop ({shape}) {what} {caught} with no attempt limit or deadline, {RETRIED_FOREVER}; "
        "use `for attempt in range(N):` and re-raise after the last attempt, or stop at a deadline"
    )
