"""What hand-written retry loops are made of: the calls that read a clock, wait, log, ask
a person, end the process, or put a time box around a block.

Each table is defined here once; ``backendlint.analysis.retry_loops`` reads them.
"""

from __future__ import annotations

import libcst as cst

from backendlint.syntax.names import last_name
from backendlint.syntax.walk import walk_local

# Last names of calls that read a clock (``time.monotonic()``, ``datetime.now()``): an
# expression that mentions one is a deadline or an elapsed time.
CLOCK_CALLS = frozenset({"time", "monotonic", "perf_counter", "monotonic_ns", "time_ns", "perf_counter_ns", "now", "utcnow"})
# Last names of context managers that time-box their block (asyncio / async_timeout / anyio / trio).
TIMEOUT_SCOPES = frozenset({"timeout", "timeout_at", "fail_after", "fail_at", "move_on_after", "move_on_at"})
# Qualified calls that ask a person; re-asking after a bad answer is not a retry storm.
PROMPT_CALLS = frozenset({"getpass.getpass", "click.prompt", "click.confirm", "typer.prompt", "typer.confirm"})
# Modules whose calls ask a person (``prompt_toolkit.prompt``, ``PromptSession().prompt``).
PROMPT_MODULES = ("prompt_toolkit", "questionary", "inquirer", "rich.prompt")
# Exceptions a person raises (Ctrl-C, Ctrl-D): a handler that catches only these and goes
# round resumes an interactive or event loop; it does not retry a failed operation.
INTERRUPTS = frozenset({"KeyboardInterrupt", "EOFError"})
# Builtins that ask a person (when not shadowed or imported under that name).
PROMPT_BUILTINS = frozenset({"input", "raw_input"})
# Last names of logging / printing calls: bookkeeping, not work.
LOG_CALLS = frozenset({"debug", "info", "warning", "warn", "error", "exception", "critical", "log", "print", "secho", "echo"})
# Calls that never return (dotted as written, or qualified).
EXIT_CALLS = frozenset({"sys.exit", "os._exit", "exit", "quit"})
# Last name of a call that waits (``time.sleep``, ``asyncio.sleep``, ``gevent.sleep``).
SLEEP_CALL = "sleep"
# Calls that keep arithmetic on the loop's own numbers (``delay = min(delay * 2, 60)``).
ARITHMETIC_CALLS = frozenset({"min", "max"})


def is_clock_call(node: cst.CSTNode) -> bool:
    return isinstance(node, cst.Call) and last_name(node.func) in CLOCK_CALLS


def mentions_clock(expr: cst.CSTNode) -> bool:
    return any(is_clock_call(n) for n in walk_local(expr))


def is_sleep(node: cst.CSTNode) -> bool:
    return isinstance(node, cst.Call) and last_name(node.func) == SLEEP_CALL


def is_log_call(node: cst.CSTNode) -> bool:
    return isinstance(node, cst.Call) and last_name(node.func) in LOG_CALLS


def is_timeout_scope(node: cst.CSTNode) -> bool:
    return isinstance(node, cst.Call) and last_name(node.func) in TIMEOUT_SCOPES


def is_prompt(qualified) -> bool:
    """A qualified call that asks a person."""
    if not qualified:
        return False
    return qualified in PROMPT_CALLS or any(qualified == m or qualified.startswith(m + ".") for m in PROMPT_MODULES)


def caught_names(expr) -> list:
    """The exception names an ``except`` clause catches, as written (``[]`` for a bare one)."""
    if expr is None:
        return []
    elements = expr.elements if isinstance(expr, cst.Tuple) else [expr]
    return [last_name(e.value if isinstance(e, cst.Element) else e) for e in elements]


def only_interrupts(expr) -> bool:
    """``except KeyboardInterrupt:`` (or with ``EOFError``) and nothing else."""
    names = caught_names(expr)
    return bool(names) and all(n in INTERRUPTS for n in names)
