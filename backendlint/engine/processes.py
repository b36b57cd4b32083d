"""Worker processes: the pool that checks files, and one-off child processes.

Both fork where the platform can, so workers inherit the rules and the project facts
instead of unpickling them.
"""

from __future__ import annotations

import marshal
import os
import pickle
import sys
import tempfile
from typing import TYPE_CHECKING, Any, Callable, Optional

if TYPE_CHECKING:  # pragma: no cover
    from concurrent.futures import ProcessPoolExecutor


def _context():
    import multiprocessing

    try:
        return multiprocessing.get_context("fork")
    except ValueError:  # pragma: no cover - platforms without fork
        return None


def pool(jobs: int, initializer=None, initargs=()) -> "ProcessPoolExecutor":
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    context = _context() or multiprocessing.get_context()
    return ProcessPoolExecutor(max_workers=jobs, mp_context=context, initializer=initializer, initargs=initargs)


def in_child(fn: Callable[[], Any]) -> Optional[Any]:
    """``fn()`` run in a forked child process: its (picklable) result, or None when it
    raised, the child died, or the platform cannot fork (the caller then runs ``fn``
    itself).

    For work that leaves a big, fragmented heap behind: building the project index
    parses every file of the project with ``ast``, and the freed trees interleaved with
    the facts kept the parent's memory high for the whole run. The result travels
    through a temporary file that the parent reads once the child has exited, so the
    two heaps are never both at their largest.
    """
    context = _context()
    if context is None:  # pragma: no cover
        return None
    fd, path = tempfile.mkstemp(prefix="backendlint-", suffix=".result")
    os.close(fd)

    def target() -> None:
        try:
            result = fn()
            try:
                # marshal keeps the exact built-in types and, unlike pickle, no memo of
                # every object written (tens of MB for a big project's facts).
                tag, blob = b"M", marshal.dumps(result)
            except ValueError:
                tag, blob = b"P", pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)
            del result
            with open(path, "wb") as fh:
                fh.write(tag)
                fh.write(blob)
        except BaseException:  # noqa: BLE001 - the parent falls back
            sys.exit(1)

    try:
        child = context.Process(target=target, name="backendlint-child")
        child.start()
        child.join()
        if child.exitcode != 0:
            return None
        with open(path, "rb") as fh:
            blob = fh.read()
        return marshal.loads(memoryview(blob)[1:]) if blob[:1] == b"M" else pickle.loads(memoryview(blob)[1:])
    except (OSError, EOFError, ValueError, pickle.UnpicklingError):
        return None
    finally:
        try:
            os.unlink(path)
        except OSError:
            pass
