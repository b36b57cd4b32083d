"""``# noqa`` handling, flake8/ruff style, matched by line."""

from __future__ import annotations

import re
from typing import List, Optional, Tuple

# ``# noqa``, ``# noqa: BL101``, ``# noqa: BL101, BL401`` (also ``#noqa:BL101 BL401``).
NOQA_RE = re.compile(
    r"#\s*noqa(?::[\s]?(?P<codes>[A-Z]+[0-9]+(?:[,\s]+[A-Z]+[0-9]+)*))?",
    re.IGNORECASE,
)
FILE_NOQA_RE = re.compile(r"#\s*backendlint\s*:\s*noqa\b", re.IGNORECASE)
GENERATED_RE = re.compile(r"@generated\b|DO NOT EDIT", re.IGNORECASE)
HEAD_LINES = 10


def head(source: str, lines: int = HEAD_LINES) -> str:
    count = 0
    index = 0
    while count < lines:
        index = source.find("\n", index)
        if index < 0:
            return source
        index += 1
        count += 1
    return source[:index]


def file_is_skipped(source: str) -> Optional[str]:
    """Why a file is not checked at all (``# backendlint: noqa``, generated), or None."""
    top = head(source)
    if FILE_NOQA_RE.search(top):
        return "backendlint: noqa"
    if GENERATED_RE.search(top):
        return "generated"
    return None


def is_suppressed(line_text: str, code: str) -> bool:
    for match in NOQA_RE.finditer(line_text):
        codes = match.group("codes")
        if not codes:
            return True
        wanted = {c.upper() for c in re.split(r"[,\s]+", codes.strip()) if c}
        if code.upper() in wanted:
            return True
    return False



_OURS = re.compile(r"BL[0-9]+", re.IGNORECASE)  # not BLE001 (flake8-blind-except)


def unknown_noqa_codes(source: str, known) -> List[Tuple[int, str]]:
    """(line, code) of each ``BL`` code in a ``# noqa:`` comment that names no rule
    (a typo such as ``BL99x`` would silently suppress nothing). Codes of other linters
    (``E501``) are not ours to judge."""
    if "noqa" not in source and "NOQA" not in source and "Noqa" not in source:
        return []
    out = []
    for match in NOQA_RE.finditer(source):
        codes = match.group("codes")
        if not codes:
            continue
        for code in re.split(r"[,\s]+", codes.strip()):
            if _OURS.fullmatch(code) and code.upper() not in known:
                out.append((source.count("\n", 0, match.start()) + 1, code))
    return out
