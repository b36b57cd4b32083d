"""Checking one file: read, prefilter, parse once, traverse once, locate, suppress."""

from __future__ import annotations

import re
import traceback
from typing import Any, Dict, List, Optional, Sequence, Tuple

from backendlint.engine.diagnostics import INTERNAL_ERROR, IO_ERROR, SYNTAX_ERROR, Diagnostic, FileJob, job_diagnostic as _diag, line_text as _line_text
from backendlint.engine.parse import ast_parse, decode, parse, read_bytes, syntax_error
from backendlint.engine.positions import positions as _positions
from backendlint.engine.suppression import file_is_skipped, is_suppressed, unknown_noqa_codes

# Vendored copies resolve to the library they copy.
IMPORT_ALIASES = {
    "requests.packages.urllib3": "urllib3",
    "pip._vendor.urllib3": "urllib3",
    "pip._vendor.requests": "requests",
    "botocore.vendored.requests": "requests",
}


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
    target = getattr(facts, "target", None)
    if not chosen:
        # No rule can fire here, but a file that does not parse still gets its BL000:
        # the project index usually parsed it already (``facts.parsed``), else ``ast``
        # does (several times faster than LibCST).
        return _grammar_errors(job, source, facts, target)

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
    if target is not None:
        # LibCST reads every grammar: with a target version, the file must also parse
        # with that version's grammar.
        errors = _grammar_errors(job, source, facts, target)
        if errors:
            return errors

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


def _grammar_errors(job: FileJob, source: str, facts: Any, target) -> List[Diagnostic]:
    """The file's BL000 when it does not parse (for ``target``, a ``(3, minor)`` tuple,
    or the newest grammar known), from the index's parse when it made one."""
    known = getattr(facts, "parsed", None) or {}
    status = known.get(job.relpath)
    if status is None:
        _, error = ast_parse(source, target)
        if error is None:
            return []
        status = list(error)
    if status is True or not isinstance(status, list) or len(status) != 3:
        return []
    line, col, message = status
    lines = source.splitlines()
    return [_diag(job, SYNTAX_ERROR, f"SyntaxError: {message}", line, col, _line_text(lines, line))]


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
        diag = Diagnostic(
            report.code, report.name, report.message, job.display, line, col, end_line, end_col, text,
            report.severity, report.context, report.why,
        )
        key = (diag.code, diag.line, diag.column, diag.message)
        if key in seen:
            continue
        seen.add(key)
        diagnostics.append(diag)
    diagnostics.sort(key=Diagnostic.sort_key)
    return diagnostics


def check_file(job: FileJob, rule_classes, rule_options, facts, prefilter: bool = True) -> Tuple[List[Diagnostic], Optional[str], List[str]]:
    """Diagnostics for a file on disk, the sha256 of its bytes (None if unreadable) and
    warnings about the file (unknown codes in ``# noqa``)."""
    import hashlib

    try:
        data = read_bytes(job.path)
    except OSError as exc:
        return [_diag(job, IO_ERROR, f"cannot read file: {exc.strerror or exc}")], None, []
    digest = hashlib.sha256(data).hexdigest()
    try:
        source = decode(data)
    except (UnicodeDecodeError, SyntaxError, LookupError) as exc:
        return [_diag(job, IO_ERROR, f"cannot decode file: {exc}")], digest, []
    diagnostics = check_source(job, source, rule_classes, rule_options, facts, prefilter)
    if len(data) >= TRIM_AFTER:
        release_memory()
    return diagnostics, digest, noqa_warnings(job, source)


def noqa_warnings(job: FileJob, source: str) -> List[str]:
    """A warning per unknown ``BL`` code in a ``# noqa:`` comment, naming file and line."""
    from backendlint.engine import registry

    known = {r.code for r in registry.all_rules()} | {SYNTAX_ERROR[0], IO_ERROR[0], INTERNAL_ERROR[0]}
    return [
        f"{job.display}:{line}: unknown code '{code}' in '# noqa' (no such rule, it suppresses nothing; see `backendlint rules`)"
        for line, code in unknown_noqa_codes(source, known)
    ]


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
