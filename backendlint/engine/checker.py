"""Checking one file: read, prefilter, parse once, traverse once, locate, suppress."""

from __future__ import annotations

import ast
import io
import re
import threading
import tokenize
import traceback
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

from backendlint.engine.diagnostics import INTERNAL_ERROR, IO_ERROR, SYNTAX_ERROR, Diagnostic
from backendlint.engine.facts import CLAUSES, STATEMENT_FIELDS
from backendlint.engine.suppression import file_is_skipped, is_suppressed

# Vendored copies resolve to the library they copy.
IMPORT_ALIASES = {
    "requests.packages.urllib3": "urllib3",
    "pip._vendor.urllib3": "urllib3",
    "pip._vendor.requests": "requests",
    "botocore.vendored.requests": "requests",
}


@dataclass
class FileJob:
    path: str  # filesystem path
    display: str  # as reported
    relpath: str  # posix, relative to the project root
    module_name: str
    is_package: bool


def decode(data: bytes) -> str:
    """Decode Python source honouring a BOM and a PEP 263 coding cookie."""
    encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    text = data.decode(encoding)
    if text.startswith("\ufeff"):
        text = text[1:]
    return text


def _diag(job: FileJob, code_name: Tuple[str, str], message: str, line: int = 1, col: int = 1, source_line: str = "") -> Diagnostic:
    return Diagnostic(code_name[0], code_name[1], message, job.display, line, col, line, col, source_line)


def _line_text(lines: Sequence[str], line: int) -> str:
    return lines[line - 1] if 0 < line <= len(lines) else ""


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
    return _diag(job, SYNTAX_ERROR, f"SyntaxError: {message}", line, col, _line_text(lines, line))


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
    import libcst as cst

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


_IDENTIFIER = re.compile(r"\w+")  # identifiers may be non-ASCII


def select_rules(
    rule_classes: Sequence[type],
    source: str,
    rule_options: Dict[str, Dict[str, Any]],
    facts: Any = None,
    relpath: Optional[str] = None,
) -> List[type]:
    """Rules whose prefilter admits this file: the rule does not skip its path
    (``Rule.skips_path``), and one of its text tokens occurs, its ``requires_re``
    matches, or the file names one of the identifiers the project facts make relevant
    (``Rule.prefilter_names``)."""
    chosen = []
    identifiers = None
    for cls in rule_classes:
        if relpath is not None and cls.skips_path(relpath):
            continue
        options = rule_options.get(cls.name)
        req = cls.prefilter_tokens(options)
        pattern = cls.prefilter_pattern()
        if (not req and pattern is None) or any(token in source for token in req):
            chosen.append(cls)
            continue
        if pattern is not None and pattern.search(source):
            chosen.append(cls)
            continue
        names = _prefilter_names(cls, facts, options)
        if names is None:  # they could not be computed: the rule sees every file
            chosen.append(cls)
        elif names:
            if identifiers is None:
                identifiers = set(_IDENTIFIER.findall(source))
            if not names.isdisjoint(identifiers):
                chosen.append(cls)
    return chosen


def prepare_rules(rule_classes: Sequence[type], rule_options: Dict[str, Dict[str, Any]], facts: Any, prefilter: bool = True) -> None:
    """Compute the per-run values the rules derive from the facts (``Rule.prepare`` and
    the prefilter's names) now, before worker processes fork and would each build their
    own. A failure here is left for the file that needs the value to report."""
    if facts is None:
        return
    for cls in rule_classes:
        options = rule_options.get(cls.name)
        try:
            if prefilter:
                _prefilter_names(cls, facts, options)
            cls.prepare(facts, options)
        except Exception:  # noqa: BLE001 - reported where the value is used
            pass


def _prefilter_names(cls: type, facts: Any, options: Optional[Dict[str, Any]]) -> Optional[frozenset]:
    """The rule's ``prefilter_names``, once per run; None when they raised (a rule's bug
    must not stop the run, nor hide a file from the rule)."""
    if facts is None:
        return frozenset()
    memo = getattr(facts, "memo", None)
    key = f"prefilter_names:{cls.code}"
    if memo is not None and key in memo:
        return memo[key]
    try:
        names: Optional[frozenset] = frozenset(cls.prefilter_names(facts, options))
    except Exception:  # noqa: BLE001
        names = None
    if memo is not None:
        memo[key] = names
    return names


def check_source(
    job: FileJob,
    source: str,
    rule_classes: Sequence[type],
    rule_options: Dict[str, Dict[str, Any]],
    facts: Any,
    prefilter: bool = True,
) -> List[Diagnostic]:
    """Every unsuppressed diagnostic for one file's source."""
    if file_is_skipped(source):
        return []
    chosen = select_rules(rule_classes, source, rule_options, facts, job.relpath) if prefilter else list(rule_classes)
    if not chosen:
        return []

    import libcst as cst

    from backendlint.engine.context import FileContext

    try:
        module = parse(source)
    except SyntaxError as exc:  # from the nesting pre-check
        lines = source.splitlines()
        line = exc.lineno or 1
        return [_diag(job, SYNTAX_ERROR, f"SyntaxError: {exc.msg}", line, exc.offset or 1, _line_text(lines, line))]
    except cst.ParserSyntaxError as exc:
        return [syntax_error(job, source, exc)]
    except (RecursionError, MemoryError) as exc:
        return [_diag(job, SYNTAX_ERROR, f"file is too deeply nested to parse ({type(exc).__name__})")]
    except Exception as exc:  # noqa: BLE001 - the parser itself failed on this file
        return [_diag(job, INTERNAL_ERROR, f"parser failed on this file: {type(exc).__name__}: {exc}")]

    ctx = FileContext(
        path=job.display,
        relpath=job.relpath,
        module_name=job.module_name,
        is_package=job.is_package,
        source=source,
        module=module,
        facts=facts,
        import_aliases=IMPORT_ALIASES,
    )
    try:
        return _run_rules(job, source, module, ctx, chosen, rule_options)
    finally:
        ctx.release()


def _run_rules(job: FileJob, source: str, module, ctx, chosen: Sequence[type], rule_options) -> List[Diagnostic]:
    from backendlint.engine.traversal import Dispatcher

    rules = []
    diagnostics: List[Diagnostic] = []
    for cls in chosen:
        try:
            rules.append(cls(ctx, rule_options.get(cls.name)))
        except Exception as exc:  # noqa: BLE001
            diagnostics.append(_diag(job, INTERNAL_ERROR, f"rule {cls.code} ({cls.name}) failed to start: {type(exc).__name__}: {exc}"))
    dispatcher = Dispatcher(ctx, rules)
    try:
        dispatcher.run(module)
    except RecursionError:
        diagnostics.append(_diag(job, INTERNAL_ERROR, "file is too deeply nested to analyse"))

    wanted = list(ctx.reports)
    nodes = [(r.node, r.top, r.scope) for r in wanted] + [(e.node, None, ()) for e in dispatcher.errors]
    positions = _positions(module, nodes, source, ctx.memo) if nodes else {}
    lines = source.splitlines()
    for err in dispatcher.errors:
        start = positions.get(id(err.node))
        line = start[0] if start else 1
        where = "".join(traceback.format_exception_only(type(err.exc), err.exc)).strip()
        diagnostics.append(
            _diag(
                job,
                INTERNAL_ERROR,
                f"rule {err.rule.code} ({err.rule.name}) crashed at line {line}: {where}; "
                "the rule's other findings in this file are lost, please report this",
                line,
                1,
                _line_text(lines, line),
            )
        )
    seen = set()
    for report in wanted:
        pos = positions.get(id(report.node))
        if pos is None:
            line, col, end_line, end_col = 1, 1, 1, 1
        else:
            line, col, end_line, end_col = pos
        text = _line_text(lines, line)
        if is_suppressed(text, report.code):
            continue
        diag = Diagnostic(report.code, report.name, report.message, job.display, line, col, end_line, end_col, text)
        key = (diag.code, diag.line, diag.column, diag.message)
        if key in seen:
            continue
        seen.add(key)
        diagnostics.append(diag)
    diagnostics.sort(key=Diagnostic.sort_key)
    return diagnostics


def _positions(module, nodes, source: str = "", memo: Optional[dict] = None) -> Dict[int, Tuple[int, int, int, int]]:
    """1-based (line, col, end_line, end_col) of the given nodes, by id.

    ``nodes`` holds (node, top, scope): the top-level statement and the enclosing
    def/class statements known when the node was reported (None and () when unknown).

    Positions come from LibCST's own position-recording code generation
    (``PositionProvidingCodegenState``, what ``PositionProvider`` runs), called directly
    on as small a piece of the tree as is safe: the ``MetadataWrapper`` route adds a
    second full visit of the tree, and generating a whole 2,000-line class to locate one
    call costs more than parsing it. The piece is the innermost ``def``/``class``
    around the node, else the top-level ``def``/``class``, when it can be placed in the
    source unambiguously: its generated code matches the source text at exactly one
    ``def NAME``/``class NAME`` line (``_place_by_text``), or, for a nested one, the
    standard library's ``ast`` places it; else the whole module. Generated tables are
    kept in ``memo`` for the rest of the file.
    """
    import libcst as cst

    wanted = {id(n): n for n, _, _ in nodes}
    tops = {id(n): top for n, top, _ in nodes if top is not None}
    scopes = {id(n): scope for n, _, scope in nodes if scope}
    memo = {} if memo is None else memo
    out: Dict[int, Tuple[int, int, int, int]] = {}

    try:
        if source and source.count("\r") == source.count("\r\n"):  # "\r" alone is a newline too
            stmts = {id(stmt): stmt for stmt in module.body}
            groups: Dict[int, list] = {}
            unknown = set()
            for key in wanted:
                top = tops.get(key)
                if top is None and key in scopes:
                    top = scopes[key][0]
                if top is not None and id(top) in stmts:
                    groups.setdefault(id(top), []).append(key)
                else:
                    unknown.add(key)
            if unknown:
                where = _scope_index(module, memo)
                for key in unknown:
                    found = where.get(key)
                    if found is not None:
                        groups.setdefault(id(found[0]), []).append(key)
            for stmt_id, inside in groups.items():
                stmt = stmts[stmt_id]
                rest = _locate_in_units(module, stmt, inside, wanted, scopes, source, memo, out)
                if not rest:
                    continue
                if not isinstance(stmt, (cst.FunctionDef, cst.ClassDef)):
                    continue  # left for the whole-module fallback
                table, _ = _table(stmt, module, memo)
                anchor = table.get(stmt.name)
                if anchor is None:
                    continue
                place = _place_by_text(stmt, module, anchor.start.line, source, memo)
                if place is None or place[1] != 0:
                    continue
                _record(out, table, wanted, rest, place[0] - anchor.start.line)
        missing = [key for key in wanted if key not in out]
        if missing:
            table, _ = _table(module, module, memo)
            _record(out, table, wanted, missing, 0)
    except (RecursionError, KeyError):
        # Very long expressions exhaust the Python stack in code generation; LibCST's
        # position recorder then fails in its ``finally`` blocks with a KeyError. The
        # nodes not located are reported at line 1 rather than losing the file.
        pass
    return out


def _record(out, table, wanted, keys, offset: int, indent: int = 0, indented=frozenset()) -> None:
    """Positions of ``keys`` from a generated table: lines shifted by ``offset``; columns
    shifted by ``indent`` on lines that the generator began with indentation (lines that
    continue a bracket or a string are copied verbatim, so their columns are right)."""
    for key in keys:
        rng = table.get(wanted[key])
        if rng is not None:
            start, end = rng.start, rng.end
            out[key] = (
                start.line + offset,
                start.column + 1 + (indent if start.line in indented else 0),
                end.line + offset,
                end.column + 1 + (indent if end.line in indented else 0),
            )


def _locate_in_units(module, stmt, keys, wanted, scopes, source, memo, out) -> list:
    """Locate the nodes that sit inside a def/class nested in ``stmt`` by generating that
    def/class alone; returns the keys left for the top-level statement."""
    import libcst as cst

    if not isinstance(stmt, (cst.FunctionDef, cst.ClassDef)):
        return keys
    if any(key not in scopes for key in keys):
        where = _scope_index(module, memo)
        scopes = {**{key: where[key][1] for key in keys if key in where}, **scopes}
    rest = []
    units: Dict[int, tuple] = {}
    by_unit: Dict[int, list] = {}
    for key in keys:
        scope = scopes.get(key, ())
        if len(scope) < 2 or scope[0] is not stmt:
            rest.append(key)
            continue
        units[id(scope[-1])] = scope
        by_unit.setdefault(id(scope[-1]), []).append(key)
    if not by_unit:
        return rest
    for unit_id, inside in by_unit.items():
        scope = units[unit_id]
        unit = scope[-1]
        table, indented = _table(unit, module, memo)
        anchor = table.get(unit.name)
        if anchor is None or anchor.start.line not in indented:
            rest.extend(inside)
            continue
        place = _place_by_text(unit, module, anchor.start.line, source, memo)
        if place is None:
            index = _def_index(source, memo)
            place = index.get(tuple(n.name.value for n in scope)) if index is not None else None
        if place is None:
            rest.extend(inside)
            continue
        line, indent = place
        _record(out, table, wanted, inside, line - anchor.start.line, indent, indented)
        rest.extend(key for key in inside if key not in out)
    return rest


def _scope_index(module, memo: dict) -> Dict[int, tuple]:
    """{id(node): (top-level statement, enclosing def/class statements)} for every node
    of the module but the module itself, from one walk kept for the rest of the file
    (for nodes that rules name after the traversal, such as the lines in a message)."""
    if "scope_index" in memo:
        return memo["scope_index"]
    import libcst as cst

    from backendlint.engine.traversal import children_of

    index: Dict[int, tuple] = {}
    for stmt in module.body:
        work = [(stmt, ())]
        while work:
            node, scope = work.pop()
            index[id(node)] = (stmt, scope)
            if type(node) is cst.FunctionDef or type(node) is cst.ClassDef:
                scope = scope + (node,)
            for child in children_of(node):
                work.append((child, scope))
    memo["scope_index"] = index
    return index


def _place_by_text(unit, module, anchor_line: int, source: str, memo: dict) -> Optional[Tuple[int, int]]:
    """(line, indent) of ``unit``'s ``def NAME``/``class NAME`` line: the one place in
    the source where the unit's generated code is the source text, line for line (lines
    the generator indented carry the def line's indentation in front). None if there is
    not exactly one such place; then the standard library's parser decides (``_def_index``).

    Exactly one: a copy of the unit's text elsewhere (in a docstring) would match as
    well, and the unit's own place always matches (LibCST generates what it parsed)
    unless its name is not on the keyword's line, and then no copy of it matches either.
    """
    import libcst as cst

    heads, lines = _def_lines(source, memo)
    key = ("def" if isinstance(unit, cst.FunctionDef) else "class", unit.name.value)
    code, indented = _code_lines(unit, module, memo)
    found = None
    for line, outer in heads.get(key, ()):
        offset = line - anchor_line
        if offset < 0 or offset + len(code) > len(lines):
            continue
        if all(
            lines[offset + number - 1] == (outer + text if number in indented else text)
            for number, text in enumerate(code, 1)
        ):
            if found is not None:
                return None
            found = (line, len(outer))
    return found


_DEF_WORD = re.compile(r"(def|class)[ \t]+(\w+)")
_DEF_HEAD = re.compile(r"([ \t]*)(?:async[ \t]+)?")


def _def_lines(source: str, memo: dict) -> Tuple[Dict[Tuple[str, str], List[Tuple[int, str]]], List[str]]:
    """({("def"|"class", name): [(line, indentation)]} of every line of the source that
    reads like a def/class header (``[async] def NAME``/``class NAME`` after nothing but
    indentation), strings and comments included, the source's lines); once per file."""
    found = memo.get("def_lines")
    if found is not None:
        return found
    heads: Dict[Tuple[str, str], List[Tuple[int, str]]] = {}
    lines = source.split("\n")  # the newlines the tokenizer counts
    starts = [0]
    for text in lines[:-1]:
        starts.append(starts[-1] + len(text) + 1)
    line = 1
    for match in _DEF_WORD.finditer(source):
        begin = match.start()
        while line < len(starts) and starts[line] <= begin:
            line += 1
        head = _DEF_HEAD.fullmatch(source, starts[line - 1], begin)
        if head is None or (match.group(1) == "class" and head.end(1) != begin):
            continue
        heads.setdefault((match.group(1), match.group(2)), []).append((line, head.group(1)))
    found = memo["def_lines"] = (heads, lines)
    return found


def _def_index(source: str, memo: dict):
    """{(name, name, ...): (line, indent)} of each def/class whose path of enclosing
    names is unique in the file, from the standard library's parser (None if it fails)."""
    if "def_index" in memo:
        return memo["def_index"]
    index: Optional[Dict[tuple, Tuple[int, int]]] = {}
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        index = None
    else:
        lines = source.splitlines()
        seen: Dict[tuple, int] = {}
        work: list = [(tree, ())]
        while work:
            node, path = work.pop()
            for child in _child_statements(node):
                if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    here = path + (child.name,)
                    seen[here] = seen.get(here, 0) + 1
                    text = lines[child.lineno - 1] if child.lineno <= len(lines) else ""
                    # The name must be on the keyword's line, which starts at col_offset
                    # and holds nothing else before it (ast columns count UTF-8 bytes).
                    head = text.encode("utf-8")[child.col_offset:].decode("utf-8", "replace")
                    if text[: len(text) - len(text.lstrip())] == text[: child.col_offset] and re.match(
                        r"(?:async[ \t]+)?(?:def|class)[ \t]+" + re.escape(child.name) + r"\b", head
                    ):
                        index[here] = (child.lineno, child.col_offset)
                    else:
                        seen[here] += 1
                    work.append((child, here))
                else:
                    work.append((child, path))
        for path, count in seen.items():
            if count > 1:
                index.pop(path, None)
    memo["def_index"] = index
    return index


def _child_statements(node):
    """The statements directly inside a statement (defs and classes are statements, so
    no expression needs visiting to find them all)."""
    for name in STATEMENT_FIELDS:
        for item in getattr(node, name, ()) or ():
            if isinstance(item, CLAUSES):
                yield from item.body
            elif isinstance(item, ast.stmt):
                yield item


def _table(node, module, memo: dict):
    """(positions by node, lines the generator began with indentation) for ``node``."""
    return _generated(node, module, memo)[1:3]


def _code_lines(node, module, memo: dict):
    """(the lines of ``node``'s generated code, lines the generator began with
    indentation)."""
    _, _, indented, tokens = _generated(node, module, memo)
    lines = "".join(tokens).split("\n")
    if lines[-1] == "":
        lines.pop()  # after the last newline
    return lines, indented


def _generated(node, module, memo: dict):
    """(node, positions by node, indented lines, code tokens), generated once."""
    tables = memo.setdefault("position_tables", {})
    key = id(node)
    if key not in tables:
        tables[key] = (node, *_codegen_positions(node, module))
    return tables[key]


def _codegen_positions(node, module):
    from libcst.metadata.position_provider import PositionProvider, PositionProvidingCodegenState

    class State(PositionProvidingCodegenState):
        __slots__ = ("indented",)

        def add_indent_tokens(self) -> None:
            self.indented.add(self.line)
            super().add_indent_tokens()

    provider = PositionProvider()
    state = State(default_indent=module.default_indent, default_newline=module.default_newline, provider=provider)
    state.indented = set()
    node._codegen(state)
    return provider._computed, state.indented, state.tokens


def check_file(job: FileJob, rule_classes, rule_options, facts, prefilter: bool = True) -> Tuple[List[Diagnostic], Optional[str]]:
    """Diagnostics for a file on disk, and the sha256 of its bytes (None if unreadable)."""
    import hashlib

    try:
        with open(job.path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        return [_diag(job, IO_ERROR, f"cannot read file: {exc.strerror or exc}")], None
    digest = hashlib.sha256(data).hexdigest()
    try:
        source = decode(data)
    except (UnicodeDecodeError, SyntaxError, LookupError) as exc:
        return [_diag(job, IO_ERROR, f"cannot decode file: {exc}")], digest
    diagnostics = check_source(job, source, rule_classes, rule_options, facts, prefilter)
    if len(data) >= TRIM_AFTER:
        release_memory()
    return diagnostics, digest


# A LibCST tree takes about 300 bytes per byte of source, and the C allocator keeps
# the freed memory of a big file's tree: without giving it back, a process's memory
# stays at the high-water mark of the largest file it has checked.
TRIM_AFTER = 64 * 1024
_TRIM: list = []


def release_memory() -> None:
    """Return freed heap memory to the system (glibc's malloc_trim; elsewhere nothing)."""
    if not _TRIM:
        try:
            import ctypes

            _TRIM.append(ctypes.CDLL(None).malloc_trim)
        except (OSError, AttributeError):
            _TRIM.append(None)
    trim = _TRIM[0]
    if trim is not None:
        trim(0)
