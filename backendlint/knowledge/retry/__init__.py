"""Retry policies: what bounds a retry, per library and for hand-written retries.

One model for every way Python code retries: a ``RetryPolicy`` says which library (or
which hand-written shape) retries, where, whether something caps it (``stop``), whether it
waits between attempts (``wait``), and, when it is unbounded, why (``why`` and the names
involved, as data: the rules word the messages). BL101 (unbounded-retry) reads ``stop``;
BL102 (retry-without-backoff) can read ``wait`` from the same vocabulary.

The package, one concept per module:

- ``libraries``: tenacity, backoff, retrying, urllib3 ``Retry``, stamina (their tables and
  ``LibraryPolicies``, the reader of their calls and decorators);
- ``celery``: a task's or Task class's retry settings (``CeleryRetryConfig``), their LibCST
  readers beside the stdlib-ast twins the project index uses, and ``CeleryPolicies``;
- ``loops``: the names hand-written retry loops are made of (clocks, sleeps, logging,
  prompts, process exits, timeout scopes).

The whole-loop analysis of hand-written retry loops and recursive retries is
``backendlint.analysis.retry_loops``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Tuple

import libcst as cst

BOUNDED = "bounded"
UNBOUNDED = "unbounded"
UNKNOWN = "unknown"  # cannot tell (kwargs passed through, a value from elsewhere): never reported

WAIT_NONE = "none"  # retries immediately
WAIT_SET = "set"  # some wait is configured
WAIT_ALWAYS = "always"  # the library always waits (backoff, stamina, celery countdown)
WAIT_UNKNOWN = "unknown"

# Why a policy is unbounded (``RetryPolicy.why``).
NO_STOP = "no-stop"  # no stop setting at all (tenacity, retrying, backoff)
STOP_NEVER = "stop-never"  # tenacity stop=stop_never
LIMITS_NONE = "limits-none"  # limits given as None (backoff max_tries/max_time, stamina attempts/timeout)
COUNTERS_UNLIMITED = "counters-unlimited"  # urllib3 Retry(total=None) with per-kind counters left at None
AUTORETRY = "autoretry"  # celery autoretry_for with max_retries None
SELF_RETRY = "self-retry"  # celery self.retry() with max_retries None


@dataclass
class RetryPolicy:
    """One retry policy found in the code.

    ``library``: tenacity, backoff, retrying, urllib3, stamina, celery. ``api``: the
    library's name for it (``retry``, ``Retrying``, ``on_exception``, ``task``, ``Task``).
    ``node``: where a finding about it is reported. ``stop``: BOUNDED / UNBOUNDED / UNKNOWN.
    ``wait``: WAIT_*. For an unbounded policy, ``why`` (NO_STOP, STOP_NEVER, ...) and
    ``names``: the settings or names involved (the limits set to None, the counters without
    a number, the Task class, a task's base class when its max_retries None comes from there).
    """

    library: str
    api: str
    node: cst.CSTNode
    stop: str
    wait: str = WAIT_UNKNOWN
    why: str = ""
    names: Tuple[str, ...] = ()

    @property
    def unbounded(self) -> bool:
        return self.stop == UNBOUNDED
