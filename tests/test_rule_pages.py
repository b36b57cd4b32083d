"""Every rule page's examples are tests.

Page format (``rules/<CODE>.md``): fenced ``python`` blocks under a heading that starts
with "Bad" or "Good". In a bad block each reported line ends with ``# <-- CODE``; the
rule must report exactly those lines (and nothing else). A good block must produce
nothing. A block may hold several files, each started by a line ``# file: path.py``
(default: ``example.py``). Each example also runs with the text prefilter off, which
must not change its result.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Dict, List, Tuple

import pytest

from backendlint.engine import registry
from helpers import lint

PAGES = Path(__file__).resolve().parent.parent / "rules"
MARK = re.compile(r"#\s*<--\s*(BL\d{3})(?:\s+(high|medium|low)\b)?")
FILE = re.compile(r"^#\s*file:\s*(\S+)\s*$")
FENCE = re.compile(r"^```(\w*)\s*$")


def parse_page(path: Path) -> List[Tuple[str, str, Dict[str, str]]]:
    """(kind, heading, files) for each example block of a page."""
    examples = []
    heading = ""
    lines = path.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("#") and not line.startswith("#!"):
            heading = line.lstrip("#").strip()
        match = FENCE.match(line)
        if match:
            lang = match.group(1)
            body = []
            i += 1
            while i < len(lines) and not lines[i].startswith("```"):
                body.append(lines[i])
                i += 1
            kind = heading.split()[0].lower().rstrip(":") if heading else ""
            if lang == "python" and kind in ("bad", "good"):
                examples.append((kind, heading, split_files(body)))
        i += 1
    return examples


def split_files(body: List[str]) -> Dict[str, str]:
    files: Dict[str, List[str]] = {}
    current = "example.py"
    for line in body:
        m = FILE.match(line)
        if m:
            current = m.group(1)
            files.setdefault(current, [])
            continue
        files.setdefault(current, []).append(line)
    return {name: "\n".join(lines) + "\n" for name, lines in files.items() if any(l.strip() for l in lines)}


def expected_marks(files: Dict[str, str]) -> List[Tuple[str, str, int]]:
    out = []
    for name, source in files.items():
        for number, line in enumerate(source.splitlines(), start=1):
            for code, _severity in MARK.findall(line):
                out.append((code, name, number))
    return sorted(out)


def expected_severities(files: Dict[str, str]) -> Dict[Tuple[str, int], str]:
    """{(file, line): severity} for marks that give one."""
    out = {}
    for name, source in files.items():
        for number, line in enumerate(source.splitlines(), start=1):
            for _code, severity in MARK.findall(line):
                if severity:
                    out[(name, number)] = severity
    return out


def cases():
    for rule in registry.all_rules():
        page = PAGES / f"{rule.code}.md"
        if not page.is_file():
            continue
        for index, (kind, heading, files) in enumerate(parse_page(page)):
            yield pytest.param(rule, kind, files, id=f"{rule.code}-{index}-{kind}-{heading[:40]}")


def test_every_rule_has_a_page_with_examples():
    for rule in registry.all_rules():
        page = PAGES / f"{rule.code}.md"
        assert page.is_file(), f"{rule.code} has no page {page}"
        kinds = [k for k, _, _ in parse_page(page)]
        assert "bad" in kinds and "good" in kinds, f"{page} needs bad and good examples"
        text = page.read_text(encoding="utf-8")
        assert text.startswith(f"# {rule.code} {rule.name}"), f"{page} must start with '# {rule.code} {rule.name}'"


@pytest.mark.parametrize("rule,kind,files", list(cases()))
def test_rule_page_example(tmp_path, rule, kind, files):
    expected = expected_marks(files)
    if kind == "bad":
        assert expected, "a bad example must mark its reported line(s) with '# <-- CODE'"
        assert all(code == rule.code for code, _, _ in expected), "a bad example marks only its own rule"
    else:
        assert not expected, "a good example has no marks"
    for prefilter in (True, False):
        sub = tmp_path / ("pre" if prefilter else "nopre")
        sub.mkdir()
        diags = lint(sub, files, select=[rule.code], prefilter=prefilter)
        got = sorted((d.code, d.path, d.line) for d in diags)
        assert got == expected, f"prefilter={prefilter}: {[f'{d.path}:{d.line} {d.code} {d.message}' for d in diags]}"
        severities = {(d.path, d.line): d.severity for d in diags}
        for place, severity in expected_severities(files).items():
            assert severities[place] == severity, f"{place}: {severity} expected, got {severities[place]} ({[d.why for d in diags]})"
