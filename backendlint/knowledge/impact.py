"""What writes and calls do to the world (catalog, "Severity", "Effect").

- *external*: a payment or charge, an outbound POST/PUT/PATCH/DELETE, email/SMS/push to
  people, a subprocess/ssh call or a mutating cloud-SDK call; an enqueued task takes the
  strongest effect of its body (an enqueue that cannot be resolved is *row*);
- *invariant*: writes that must hold together: rows linked by a non-null foreign key (a
  parent and its required child), an arithmetic update beside another write, a
  just-written row or its id stored in another row, a counter or pointer field
  (``*_count``, ``num_*``, ``total*``, ``last_*``, ``latest_*``) written beside another
  write, a state field (``status``, ``state``, ``is_*``, ``*_at``) written together with
  another write or an external call;
- *log*: rows of log-like models (``Log``, ``LogEntry``, ``Audit*``, ``Activity``,
  ``History``, ``Hit``, ``PageView``, ``*Event`` but not a bare ``Event``, ``*Token``,
  ``*Session``, ``OTP``, or the ``log-models`` option), cache rows;
- *row*: everything else (one user-visible row, independent rows).

A finding's effect is the strongest among the writes or calls it reports.
"""

from __future__ import annotations

import re
from typing import Iterable, Optional, Sequence

EXTERNAL = "external"
INVARIANT = "invariant"
ROW = "row"
LOG = "log"

ORDER = {LOG: 0, ROW: 1, INVARIANT: 2, EXTERNAL: 3}

_LOG_EXACT = frozenset({"Log", "LogEntry", "Activity", "History", "Hit", "PageView", "OTP", "Otp"})
_LOG_PATTERN = re.compile(r"^(Audit\w*|\w+(Log|Logs|LogEntry|History|Hit|Hits|PageView|PageViews|Event|Events|Token|Tokens|Session|Sessions|Activity|Activities))$")

# Fields that count, total or point at other rows: written beside another write, they
# must agree with it.
_COUNTER_FIELD = re.compile(r"^(num_\w+|\w+_count|count|total\w*|\w+_total|last_\w+|latest_\w+|\w+_num)$")
_STATE_FIELD = re.compile(r"^(status|state|is_\w+|\w+_at|\w+_status|\w+_state)$")


def strongest(effects: Iterable[Optional[str]]) -> Optional[str]:
    best = None
    for e in effects:
        if e is not None and (best is None or ORDER[e] > ORDER[best]):
            best = e
    return best


def is_log_model(name: Optional[str], extra: Sequence[str] = ()) -> bool:
    """A model whose rows record that something happened (the catalog's log list, or the
    ``log-models`` option): a duplicated row there is noise, not a broken invariant."""
    if not name:
        return False
    last = name.rsplit(".", 1)[-1]
    if name in extra or last in extra:
        return True
    return last in _LOG_EXACT or bool(_LOG_PATTERN.match(last))


_NAME_FIELD = re.compile(r"^(last|first|middle)_name$")


def is_counter_field(field: str) -> bool:
    """``reply_count``, ``num_items``, ``total``, ``last_post``, ``latest_version`` (not
    ``last_name``: a name, not a pointer)."""
    return bool(_COUNTER_FIELD.match(field)) and not _NAME_FIELD.match(field)


# Timestamps and bookkeeping that every save touches: they match the counter/pointer
# (``last_*``) and state (``*_at``) patterns but tie no two rows together.
_BOOKKEEPING_FIELD = re.compile(
    r"^(created|updated|modified|changed|edited|touched)(_at|_on|_date|_time)?$"
    r"|^(date|time)_(created|updated|modified|changed)$"
    r"|^last_(login|seen|used|activity|active|modified|updated|changed|accessed|access|sync|synced|checked|run|ran|ping|heartbeat|visit|visited)(_at|_on|_date|_time)?$"
)


def is_bookkeeping_field(field: str) -> bool:
    """``updated_at``, ``modified``, ``last_login``, ``last_seen_at``: touched by every
    save, read by no invariant."""
    return bool(_BOOKKEEPING_FIELD.match(field))


def is_state_field(field: str) -> bool:
    """``status``, ``state``, ``is_paid``, ``paid_at``."""
    return bool(_STATE_FIELD.match(field))


# Side-effect kinds (knowledge/side_effects.py) that change the world outside the database.
EXTERNAL_KINDS = frozenset({"payment", "http", "email", "sms", "push", "subprocess", "cloud"})


def of_side_effect(kind: str, method: str = "") -> str:
    """The effect of a side effect of ``kind`` (``method``: the HTTP method, for http):
    an outbound GET changes nothing; an enqueue is judged by the task's body elsewhere
    (here: row, as for an enqueue that cannot be resolved)."""
    if kind == "http":
        return EXTERNAL if method.upper() not in ("GET", "HEAD", "OPTIONS") else ROW
    if kind in EXTERNAL_KINDS:
        return EXTERNAL
    return ROW
