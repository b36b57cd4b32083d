"""Reading and parsing one file: decoding, the LibCST parse on a big stack, syntax errors."""

from __future__ import annotations

import ast
import io
import re
import threading
import tokenize

from backendlint.engine.diagnostics import SYNTAX_ERROR, Diagnostic, FileJob, job_diagnostic, line_text


def decode(data: bytes) -> str:
    """Decode Python source honouring a BOM and a PEP 263 coding cookie."""
    encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    text = data.decode(encoding)
    if text.startswith("\ufeff"):
        text = text[1:]
    return text


def syntax_error(job: FileJob, source: str, exc: Exception) -> Diagnostic:
    """One BL000 diagnostic; the standard parser usually locates the error more precisely."""
    line = getattr(exc, "raw_line", 1) or 1
    col = (getattr(exc, "raw_column", 0) or 0) + 1
    message = getattr(exc, "message", None) or str(exc).splitlines()[0]
    try:
        ast.parse(source)
    except SyntaxError as err:
        line = err.lineno or line
        col = err.offset or col
        message = err.msg
    except (RecursionError, MemoryError, ValueError):
        pass
    lines = source.splitlines()
    return job_diagnostic(job, SYNTAX_ERROR, f"SyntaxError: {message}", line, col, line_text(lines, line))


_BRACKETS = re.compile(r"[()\[\]{}]")
# CPython refuses more than 200 nested brackets; LibCST's native parser recurses on the
# C stack and can crash the process on such input instead of raising.
MAX_NESTING = 200
PARSER_STACK = 256 * 1024 * 1024
_LONG_LINE = re.compile(r"^[^\n]{10000}", re.M)


def _bracket_depth(source: str) -> int:
    depth = best = 0
    for match in _BRACKETS.finditer(source):
        if match.group() in "([{":
            depth += 1
            if depth > best:
                best = depth
        elif depth:
            depth -= 1
    return best


_STACK = threading.local()


def on_big_stack(fn, *args):
    """Run ``fn(*args)`` in a thread with a large C stack (at once if already in one).

    LibCST's native parser recurses on the C stack; deeply nested but legal code can
    overflow the 8 MB main-thread stack and kill the process. Starting a thread costs
    about a millisecond, so the engine runs whole batches of files in one such thread
    rather than one thread per parse.
    """
    if getattr(_STACK, "big", False):
        return fn(*args)
    outcome: list = []

    def target() -> None:
        _STACK.big = True
        try:
            outcome.append((True, fn(*args)))
        except BaseException as exc:  # noqa: BLE001 - re-raised in the calling thread
            outcome.append((False, exc))

    old = threading.stack_size(PARSER_STACK)
    try:
        thread = threading.Thread(target=target, name="backendlint-big-stack", daemon=True)
        thread.start()
    finally:
        threading.stack_size(old)
    thread.join()
    ok, value = outcome[0]
    if ok:
        return value
    raise value


def parse(source: str):
    """Parse with LibCST without risking the process on pathological nesting.

    Sources nested deeper than CPython accepts are checked by the standard parser first
    (which raises SyntaxError safely); the LibCST parse itself runs on a large stack
    (``on_big_stack``) so that deep but legal nesting cannot overflow the C stack.
    """

    if _bracket_depth(source) > MAX_NESTING or _LONG_LINE.search(source):
        # CPython rejects these (too many nested brackets, or a chain of thousands of
        # operators: RecursionError) at once, where LibCST can take minutes or overflow.
        try:
            ast.parse(source)
        except RecursionError:
            raise SyntaxError("too complex to parse (CPython refuses it too: expression nested too deeply)") from None
    return on_big_stack(_parse_module_unvalidated, source)


def _no_validation(self) -> None:
    pass


_VALIDATION = threading.Lock()


def _parse_module_unvalidated(source: str):
    """``libcst.parse_module`` without LibCST's per-node validation.

    Every LibCST node checks its fields when it is built (``CSTNode.__post_init__``
    calls ``_validate``). That guards trees built by hand; the parser's output is valid
    by construction, and the checks cost about a sixth of the parse (LibCST marks this
    as a PERF todo in ``__post_init__``). They also reject some valid code (LibCST
    issue #1061: ``() if 0 else(lambda:())`` raises TypeError). So they are switched off
    for the parse only, and back on afterwards for any node built by hand. If a LibCST
    release moves validation elsewhere, this is a plain parse.
    """
    import libcst as cst

    node = cst.CSTNode
    with _VALIDATION:
        saved = node.__dict__.get("__post_init__")
        if saved is None:
            return cst.parse_module(source)
        node.__post_init__ = _no_validation
        try:
            return cst.parse_module(source)
        finally:
            node.__post_init__ = saved


