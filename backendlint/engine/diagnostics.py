"""The finding a rule produces, as every output format sees it."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Optional, Sequence, Tuple

# Rule pages ship inside the package (`backendlint rule CODE`); there is no hosted
# documentation site yet, so findings carry no URL (JSON `url` is null, as ruff allows).
DOCS_URL: Optional[str] = None

# Codes the engine itself reports (not rules).
SYNTAX_ERROR = ("BL000", "syntax-error")
INTERNAL_ERROR = ("BL999", "internal-error")
IO_ERROR = ("BL998", "io-error")


# How loudly a finding is shown (catalog, "Severity"): by default only medium and high.
SEVERITIES = ("low", "medium", "high")
DEFAULT_MIN_SEVERITY = "medium"
_RANK = {name: i for i, name in enumerate(SEVERITIES)}
ENGINE_CODES = (SYNTAX_ERROR[0], INTERNAL_ERROR[0], IO_ERROR[0])


def severity_rank(severity: str) -> int:
    return _RANK.get(severity, _RANK["medium"])


@dataclass(frozen=True)
class Diagnostic:
    code: str
    name: str
    message: str
    path: str  # as displayed: relative to the cwd when below it
    line: int  # 1-based
    column: int  # 1-based
    end_line: int
    end_column: int
    source_line: str = ""
    # Severity (low / medium / high), the context the code runs in (request, task,
    # library, operator, test, settings; "" when not known) and why, in a few words
    # ("request handler; all rows of Order"): kept out of the message, so that
    # fingerprints do not change when only the ranking does.
    severity: str = "medium"
    context: str = ""
    why: str = ""

    @property
    def url(self) -> Optional[str]:
        if DOCS_URL is None or self.code in ENGINE_CODES:
            return None
        return DOCS_URL.format(code=self.code)

    @property
    def is_error(self) -> bool:
        """Engine errors that make the run exit 2 (not findings)."""
        return self.code in (INTERNAL_ERROR[0], IO_ERROR[0])

    @property
    def is_engine(self) -> bool:
        """Reported by the engine (syntax, I/O, internal errors): always shown."""
        return self.code in ENGINE_CODES

    def shown_at(self, min_severity: str) -> bool:
        """Whether ``--min-severity min_severity`` shows this diagnostic."""
        return self.is_engine or severity_rank(self.severity) >= severity_rank(min_severity)

    def sort_key(self):
        return (self.path, self.line, self.column, self.code, self.message)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Diagnostic":
        return cls(**data)


def split_by_severity(diags, min_severity: str):
    """(shown, hidden) under ``--min-severity``; engine diagnostics are always shown."""
    shown, hidden = [], []
    for d in diags:
        (shown if d.shown_at(min_severity) else hidden).append(d)
    return shown, hidden


@dataclass
class FileJob:
    path: str  # filesystem path
    display: str  # as reported
    relpath: str  # posix, relative to the project root
    module_name: str
    is_package: bool


def job_diagnostic(job: FileJob, code_name: Tuple[str, str], message: str, line: int = 1, col: int = 1, source_line: str = "") -> Diagnostic:
    return Diagnostic(code_name[0], code_name[1], message, job.display, line, col, line, col, source_line, "high")


def line_text(lines: Sequence[str], line: int) -> str:
    return lines[line - 1] if 0 < line <= len(lines) else ""
