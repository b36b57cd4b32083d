"""The per-file time budget (``file-timeout``): a file that takes longer is given up.

Files are checked in a thread with a big C stack (``parse.on_big_stack``) while the
thread that started it waits; the waiting thread watches the clock of the file being
checked and, once it is over budget, raises ``FileTimeout`` in the checking thread
(``PyThreadState_SetAsyncExc``). The exception arrives at the next Python bytecode:
native code (LibCST's parser, a regular expression) is not interrupted, it is given up
when it returns to Python. It is never raised while LibCST's validation switch is
flipped (``parse._VALIDATION`` held), so the parse leaves LibCST as it found it. A
pending exception is cancelled when the file ends in time. No signals are used, so
this works in worker processes, in threads and on every platform CPython runs on.
"""

from __future__ import annotations

import ctypes
import threading
import time
from typing import Callable, List, Optional, Sequence, TypeVar

T = TypeVar("T")
J = TypeVar("J")


# Held while LibCST parses with its node validation switched off (engine/parse.py): a
# timeout raised in there would leave validation off, so it waits for the next tick.
PARSING = threading.Lock()


class FileTimeout(BaseException):
    """Raised in the checking thread when its file is over the time budget. A
    BaseException, as KeyboardInterrupt is: the engine's ``except Exception`` around each
    rule (a crash is BL999) must not catch it."""


class _Clock:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.thread: Optional[int] = None
        self.deadline = 0.0
        self.fired = False

    def start(self, seconds: Optional[float]) -> None:
        with self.lock:
            self.thread = threading.get_ident() if seconds else None
            self.deadline = time.monotonic() + (seconds or 0)
            self.fired = False

    def stop(self) -> None:
        with self.lock:
            if self.fired and self.thread is not None:
                _async_raise(self.thread, None)  # cancel it if not yet delivered
            self.thread = None
            self.fired = False

    def check(self) -> None:
        """Called by the waiting thread: raise FileTimeout in the checking thread when
        its file is over budget (once per file)."""
        with self.lock:
            if self.thread is None or self.fired or time.monotonic() < self.deadline:
                return
            if PARSING.locked():
                return  # inside LibCST's parse: at the next tick
            self.fired = True
            _async_raise(self.thread, FileTimeout)


_CLOCK = _Clock()


def _async_raise(thread_id: int, exc: Optional[type]) -> None:
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), ctypes.py_object(exc) if exc else None)


def watch() -> None:
    """One tick of the watcher (the thread waiting for the checking thread)."""
    _CLOCK.check()


def each_within(items: Sequence[J], fn: Callable[[J], T], seconds: Optional[float], gave_up: Callable[[J, float], T]) -> List[T]:
    """``[fn(item) for item in items]``, where an item that takes more than ``seconds``
    (None: no limit) gives ``gave_up(item, seconds)`` instead."""
    out: List[T] = []
    for item in items:
        try:
            _CLOCK.start(seconds)
            try:
                result = fn(item)
            finally:
                _CLOCK.stop()
        except FileTimeout:
            result = gave_up(item, seconds or 0)
        out.append(result)
    return out
