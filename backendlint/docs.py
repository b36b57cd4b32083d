"""Rule pages: ``rules/<CODE>.md`` in the repository, shipped in the wheel as ``backendlint/_rule_pages``."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

_HERE = Path(__file__).resolve().parent


def pages_dirs() -> List[Path]:
    return [_HERE / "_rule_pages", _HERE.parent / "rules"]


def page_path(code: str) -> Optional[Path]:
    for directory in pages_dirs():
        candidate = directory / f"{code}.md"
        if candidate.is_file():
            return candidate
    return None


def rule_page(rule: type) -> str:
    path = page_path(rule.code)
    if path is None:
        return ""
    return path.read_text(encoding="utf-8")
