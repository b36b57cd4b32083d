"""Worker processes: the pool that checks files, and one-off child processes.

Both fork where the platform can, so workers inherit the rules and the project facts
instead of unpickling them.
"""

from __future__ import annotations

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
    the facts kept the parent's memory high for the whole run.
    """
    context = _context()
    if context is None:  # pragma: no cover
        return None
    receiver, sender = context.Pipe(duplex=False)

    def target() -> None:
        try:
            result = ("ok", fn())
        except BaseException as exc:  # noqa: BLE001 - the parent falls back
            result = ("error", repr(exc))
        try:
            sender.send(result)
        finally:
            sender.close()

    child = context.Process(target=target, name="backendlint-index")
    try:
        child.start()
    except OSError:
        return None
    sender.close()
    try:
        status, value = receiver.recv()
    except (EOFError, OSError):
        status, value = "error", None
    finally:
        receiver.close()
        child.join()
    return value if status == "ok" else None
