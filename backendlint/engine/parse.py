"""Reading and parsing one file: decoding, the LibCST parse on a big stack, syntax errors."""

from __future__ import annotations

import ast
import errno
import io
import os
import stat
import re
import threading
import tokenize

from backendlint.engine.budget import PARSING, watch
from backendlint.engine.diagnostics import IO_ERROR, SYNTAX_ERROR, Diagnostic, FileJob, job_diagnostic, line_text


def read_bytes(path: str) -> bytes:
    """The bytes of a regular file; OSError for anything else (a FIFO or a device would
    block the read, or never end). Opened without blocking, then checked."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file (a FIFO, socket or device)")
        with os.fdopen(fd, "rb", closefd=False) as fh:
            return fh.read()
    finally:
        os.close(fd)


def decode(data: bytes) -> str:
    """Decode Python source honouring a BOM and a PEP 263 coding cookie."""
    encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    text = data.decode(encoding)
    if text.startswith("\ufeff"):
        text = text[1:]
    return text


def syntax_error(job: FileJob, source: str, exc: Exception) -> Diagnostic:
    """One BL000 diagnostic; the standard parser usually locates the error more precisely.

    When the standard parser accepts the file, LibCST hit a limit of its own (5,000
    implicitly concatenated strings, say): that is no syntax error in the user's file,
    but a BL998 saying the file could not be checked."""
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
    else:
        return job_diagnostic(
            job,
            IO_ERROR,
            f"not checked: the LibCST parser cannot read this file, which Python accepts (a parser limit: {message} at line {line})",
        )
    lines = source.splitlines()
    return job_diagnostic(job, SYNTAX_ERROR, f"SyntaxError: {message}", line, col, line_text(lines, line))


_BRACKETS = re.compile(r"[()\[\]{}]")
# CPython refuses more than 200 nested brackets; LibCST's native parser recurses on the
# C stack and can crash the process on such input instead of raising.
MAX_NESTING = 200
PARSER_STACK = 256 * 1024 * 1024
_LONG_LINE = re.compile(r"^[^\n]{10000}", re.M)
# A chain of binary operators over many lines (``a +\n b +\n ...``): CPython refuses
# one of about 3,000 terms (RecursionError); LibCST's time grows with its square (5 s
# at 4,000 terms, minutes at 20,000). Files with that many lines ending or starting
# with an operator are checked by the standard parser first.
CHAIN_LINES = 2500
_OPERATOR_LINE = re.compile(r"[-+*/%|&^@][ \t]*\r?\n|\n[ \t]*[-+*/%|&^@]")


def _long_chain(source: str) -> bool:
    if source.count("\n") < CHAIN_LINES:
        return False
    count = 0
    for _ in _OPERATOR_LINE.finditer(source):
        count += 1
        if count >= CHAIN_LINES:
            return True
    return False


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
    while thread.is_alive():
        thread.join(0.2)
        watch()  # the per-file time budget of the work in the thread
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

    if _bracket_depth(source) > MAX_NESTING or _LONG_LINE.search(source) or _long_chain(source):
        # CPython rejects these (too many nested brackets, or a chain of thousands of
        # operators: RecursionError) at once, where LibCST can take minutes or overflow.
        try:
            ast.parse(source)
        except RecursionError:
            raise SyntaxError("too complex to parse (CPython refuses it too: expression nested too deeply)") from None
    return on_big_stack(_parse_module_unvalidated, source)


def _no_validation(self) -> None:
    pass


_VALIDATION = PARSING  # the budget never interrupts a parse with validation off


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




# -- the standard library's parser, for any grammar --------------------------------

import sys as _sys

# ``target-version`` values, as in ruff.
TARGET_VERSIONS = {f"py3{minor}": (3, minor) for minor in range(9, 14)}
RUNNING = _sys.version_info[:2]


def ast_parse(source: str, target=None):
    """``(tree, error)``: an ``ast`` tree of ``source`` (or None) and the syntax error the
    file has for ``target`` (a ``(3, minor)`` tuple; None: the newest grammar known), as
    ``(line, column, message)``, or None.

    The standard parser reads the grammar of the running Python only: on 3.11 a PEP 695
    ``type X = int`` or, on 3.9, a ``match`` statement is a SyntaxError although the
    file is valid for newer Pythons. Then LibCST, which knows those grammars, parses
    the file; the statements ``ast`` cannot read are blanked out (line and column
    preserving: ``except*`` becomes ``except``, ``def f[T]`` loses its ``[T]``, a
    ``type`` alias or a ``match`` statement becomes ``pass``), and the rest is parsed
    again with ``ast``, which still finds any other syntax error. Facts inside a blanked
    ``match`` statement are lost; the rest of the file's are kept.
    """
    feature = target if target is not None and target < RUNNING else None
    try:
        return ast.parse(source, feature_version=feature), None
    except SyntaxError as err:
        error = (err.lineno or 1, err.offset or 1, err.msg)
    except (RecursionError, MemoryError):
        return None, (1, 1, "too complex to parse (CPython refuses it too: expression nested too deeply)")
    except ValueError as err:  # null bytes (before 3.12)
        return None, (1, 1, str(err))
    if feature is not None:
        # A syntax error for the target; the facts still come from the running grammar.
        try:
            return ast.parse(source), error
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            pass
    readable, tree = _ast_of_newer_grammar(source)
    if not readable:
        return None, error
    # The file needs a newer grammar than this Python's (LibCST reads it; a PEP 701
    # f-string, say, leaves no statement to blank, and no tree): an error only if the
    # target is this Python or older (it was parsed with the target's feature version).
    return tree, (error if target is not None and target <= RUNNING else None)


def _ast_of_newer_grammar(source: str):
    """``(readable, tree)``: whether the file is valid in a newer grammar (LibCST parses
    it and, with the statements of newer grammars blanked out, ``ast`` parses the rest,
    or nothing can be blanked), and the ``ast`` of the rest (None if none)."""
    import libcst as cst
    from libcst.metadata import MetadataWrapper, PositionProvider

    try:
        module = on_big_stack(_parse_module_unvalidated, source)
    except Exception:  # noqa: BLE001 - not parseable by LibCST either
        return False, None
    wrapper = MetadataWrapper(module, unsafe_skip_copy=True)
    try:
        positions = wrapper.resolve(PositionProvider)
    except Exception:  # noqa: BLE001
        return True, None
    lines = source.splitlines(keepends=True)
    edits = []  # (start (line, col), end (line, col), replacement kind)
    statements = []  # (start, end) of every statement, for errors with no known node
    for node, pos in positions.items():
        start = (pos.start.line, pos.start.column)
        end = (pos.end.line, pos.end.column)
        if isinstance(node, (cst.SimpleStatementLine, cst.BaseCompoundStatement)):
            statements.append((start, end))
        if isinstance(node, (cst.TypeAlias, cst.Match)):
            edits.append((start, end, "pass"))
        elif isinstance(node, cst.TypeParameters):
            edits.append((start, end, ""))
        elif isinstance(node, cst.ExceptStarHandler):
            edits.append((start, end, "star"))
    chars = [list(line) for line in lines]
    _blank(chars, edits)
    # Other syntax of newer grammars (a PEP 701 f-string, say): the innermost statement
    # on the line the standard parser stops at is blanked, a few times at most.
    for _ in range(20):
        try:
            return True, ast.parse("".join("".join(row) for row in chars))
        except SyntaxError as err:
            line = err.lineno or 0
        except (ValueError, RecursionError, MemoryError):
            return True, None
        around = [(start, end) for start, end in statements if start[0] <= line <= end[0]]
        if not around:
            return True, None
        start, end = min(around, key=lambda se: (se[1][0] - se[0][0], -se[0][0]))
        text = "".join("".join(row) for row in chars[start[0] - 1 : end[0]])
        if not _FSTRING.search(text):
            return False, None  # no newer syntax known there: a real syntax error
        if all(ch in " \t\r\n" for ch in chars[start[0] - 1][start[1] : start[1] + 4]):
            return True, None  # blanked already: no progress
        _blank(chars, [(start, end, "pass")])
    return True, None


# PEP 701 f-strings (3.12: nested quotes, backslashes, comments) have no node of
# their own: a statement the standard parser refuses is blanked only if it has one.
_FSTRING = re.compile(r"(?<![\w])(?:[fF][rR]?|[rR][fF])['\"]")


def _blank(chars, edits) -> None:
    """Apply ``(start, end, kind)`` edits to the rows of characters, in place."""
    # outermost first; nested edits inside a blanked statement are dropped
    edits.sort()
    done_until = (0, 0)
    for start, end, kind in edits:
        if kind in ("pass", "") and start < done_until:
            continue
        (l1, c1), (l2, c2) = start, end
        if kind == "star":
            row = chars[l1 - 1]
            col = c1 + len("except")
            while col < len(row) and row[col] in " \t":
                col += 1
            if col < len(row) and row[col] == "*":
                row[col] = " "
            continue
        for line in range(l1, l2 + 1):
            row = chars[line - 1]
            lo = c1 if line == l1 else 0
            hi = c2 if line == l2 else len(row)
            for i in range(lo, min(hi, len(row))):
                if row[i] not in "\r\n":
                    row[i] = " "
        if kind == "pass":
            chars[l1 - 1][c1 : c1 + 4] = list("pass")
        done_until = max(done_until, end)


def parse_target(value: str):
    """``py39`` -> (3, 9); None for an unknown value."""
    return TARGET_VERSIONS.get(value.strip().lower()) if isinstance(value, str) else None
