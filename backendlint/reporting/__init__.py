"""Output formats. Each takes the sorted diagnostics and returns the text to print."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from typing import Callable, Dict, List, Sequence

from backendlint import __version__
from backendlint.engine.diagnostics import Diagnostic

def _json_obj(d: Diagnostic) -> dict:
    # ruff's JSON shape, so tools that read ruff's output read ours.
    return {
        "code": d.code,
        "name": d.name,
        "message": d.message,
        "filename": d.path,
        "location": {"row": d.line, "column": d.column},
        "end_location": {"row": d.end_line, "column": d.end_column},
        "url": d.url,
        "fix": None,
        "noqa_row": d.line,
        "severity": d.severity,
        "context": d.context or None,
        "why": d.why or None,
    }


def _rank(d: Diagnostic) -> str:
    """``(high: request handler; all rows of Order)``: the severity and why, after the rule name."""
    return f"({d.severity}: {d.why})" if d.why else f"({d.severity})"


_COLORS = {"high": "1;31", "medium": "1;33", "low": "1;36"}


def concise(diags: Sequence[Diagnostic], **_) -> str:
    return "".join(f"{d.path}:{d.line}:{d.column}: {d.code} [{d.name}] {_rank(d)} {d.message}\n" for d in diags)


def full(diags: Sequence[Diagnostic], color: bool = False, **_) -> str:
    out = []
    for d in diags:
        head = f"{d.path}:{d.line}:{d.column}: {d.code} [{d.name}] {_rank(d)} {d.message}"
        if color:
            tint = _COLORS.get(d.severity, "1;31")
            head = f"\x1b[1m{d.path}\x1b[0m:{d.line}:{d.column}: \x1b[{tint}m{d.code}\x1b[0m [{d.name}] {_rank(d)} {d.message}"
        out.append(head)
        if d.source_line:
            text = d.source_line.expandtabs(4).rstrip()
            gutter = f"{d.line:>5} | "
            out.append(f"{gutter}{text}")
            prefix = d.source_line[: max(0, d.column - 1)].expandtabs(4)
            width = len(text) - len(prefix) if d.end_line == d.line else 1
            if d.end_line == d.line:
                width = max(1, len(d.source_line[: max(0, d.end_column - 1)].expandtabs(4)) - len(prefix))
            out.append(" " * (len(gutter) - 2) + "| " + " " * len(prefix) + "^" * max(1, width))
        out.append("")
    return "\n".join(out) + ("\n" if out else "")


def json_format(diags: Sequence[Diagnostic], **_) -> str:
    return json.dumps([_json_obj(d) for d in diags], indent=2) + "\n"


def json_lines(diags: Sequence[Diagnostic], **_) -> str:
    return "".join(json.dumps(_json_obj(d)) + "\n" for d in diags)


def github(diags: Sequence[Diagnostic], **_) -> str:
    def esc(text: str) -> str:
        return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")

    def esc_prop(text: str) -> str:
        return esc(text).replace(":", "%3A").replace(",", "%2C")

    return "".join(
        f"::{_GITHUB_LEVEL.get(d.severity, 'error') if not d.is_error else 'error'} title={esc_prop('backendlint (' + d.code + ')')},file={esc_prop(d.path)},"
        f"line={d.line},col={d.column},endLine={d.end_line},endColumn={d.end_column}"
        f"::{esc(d.code + ' ' + d.message)}\n"
        for d in diags
    )


_GITHUB_LEVEL = {"high": "error", "medium": "warning", "low": "notice"}
_GITLAB_SEVERITY = {"high": "major", "medium": "minor", "low": "info"}
_SARIF_LEVEL = {"high": "error", "medium": "warning", "low": "note"}


def _fingerprint(d: Diagnostic) -> str:
    # Stable across unrelated edits: no line number, but the code, file, message and text.
    blob = "\0".join([d.code, d.path, d.message, d.source_line.strip()])
    return hashlib.md5(blob.encode("utf-8")).hexdigest()


def gitlab(diags: Sequence[Diagnostic], **_) -> str:
    # GitLab code quality report (a subset of the Code Climate spec).
    report = []
    seen: Counter = Counter()
    for d in diags:
        fp = _fingerprint(d)
        seen[fp] += 1
        if seen[fp] > 1:
            fp = hashlib.md5(f"{fp}:{seen[fp]}".encode()).hexdigest()
        report.append(
            {
                "description": f"{d.code} {d.message}",
                "check_name": d.code,
                "fingerprint": fp,
                "severity": "critical" if d.is_error else _GITLAB_SEVERITY.get(d.severity, "major"),
                "location": {"path": d.path, "lines": {"begin": d.line, "end": d.end_line}},
            }
        )
    return json.dumps(report, indent=2) + "\n"


def junit(diags: Sequence[Diagnostic], **_) -> str:
    from xml.sax.saxutils import escape, quoteattr  # only for this format (a slow import)

    by_file: Dict[str, List[Diagnostic]] = {}
    for d in diags:
        by_file.setdefault(d.path, []).append(d)
    lines = ['<?xml version="1.0" encoding="UTF-8"?>']
    # Engine errors (BL998 a file not checked, BL999 a crash) are JUnit errors (the
    # check could not run), findings are failures.
    errors = sum(1 for d in diags if d.is_error)
    lines.append(f'<testsuites name="backendlint" tests="{len(diags)}" failures="{len(diags) - errors}" errors="{errors}">')
    for path, items in by_file.items():
        bad = sum(1 for d in items if d.is_error)
        lines.append(f'  <testsuite name={quoteattr(path)} tests="{len(items)}" failures="{len(items) - bad}" errors="{bad}">')
        for d in items:
            name = f"{d.code}:{d.line}:{d.column}"
            tag = "error" if d.is_error else "failure"
            lines.append(f"    <testcase name={quoteattr(name)} classname={quoteattr(path)} line=\"{d.line}\">")
            lines.append(
                f"      <{tag} message={quoteattr(d.message)} type={quoteattr(d.code)}>"
                f"{escape(f'{d.path}:{d.line}:{d.column}: {d.code} {d.message}')}</{tag}>"
            )
            lines.append("    </testcase>")
        lines.append("  </testsuite>")
    lines.append("</testsuites>")
    return "\n".join(lines) + "\n"


def sarif(diags: Sequence[Diagnostic], rules: Sequence[type] = (), **_) -> str:
    from backendlint.docs import rule_page

    descriptors = []
    index: Dict[str, int] = {}
    for rule in rules:
        index[rule.code] = len(descriptors)
        page = rule_page(rule) or rule.summary
        descriptor = {
            "id": rule.code,
            "name": rule.name,
            "shortDescription": {"text": rule.summary},
            "fullDescription": {"text": _first_paragraph(page) or rule.summary},
            "help": {"text": page, "markdown": page},
            "defaultConfiguration": {"level": "error"},
            "properties": {"tags": ["backendlint", rule.name]},
        }
        descriptors.append(descriptor)
    for d in diags:  # engine diagnostics (BL000, BL999...) get a descriptor too
        if d.code not in index:
            index[d.code] = len(descriptors)
            descriptors.append(
                {"id": d.code, "name": d.name, "shortDescription": {"text": d.name.replace("-", " ")}}
            )
    results = []
    for d in diags:
        results.append(
            {
                "ruleId": d.code,
                "ruleIndex": index[d.code],
                "level": _SARIF_LEVEL.get(d.severity, "error"),
                "message": {"text": d.message},
                "locations": [
                    {
                        "physicalLocation": {
                            "artifactLocation": {"uri": _uri(d.path)},
                            "region": {
                                "startLine": d.line,
                                "startColumn": d.column,
                                "endLine": d.end_line,
                                "endColumn": d.end_column,
                            },
                        }
                    }
                ],
                "partialFingerprints": {"backendlint/v1": _fingerprint(d)},
                "properties": {k: v for k, v in (("severity", d.severity), ("context", d.context), ("why", d.why)) if v},
            }
        )
    doc = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "backendlint",
                        "version": __version__,
                        "informationUri": "https://pypi.org/project/backendlint/",
                        "rules": descriptors,
                    }
                },
                "results": results,
            }
        ],
    }
    return json.dumps(doc, indent=2) + "\n"


def _uri(path: str) -> str:
    from urllib.parse import quote

    if path.startswith("/"):
        return "file://" + quote(path)
    return quote(path)


def _first_paragraph(page: str) -> str:
    for block in page.split("\n\n"):
        text = block.strip()
        if text and not text.startswith("#"):
            return " ".join(text.split())
    return ""


FORMATTERS: Dict[str, Callable[..., str]] = {
    "full": full,
    "concise": concise,
    "json": json_format,
    "json-lines": json_lines,
    "sarif": sarif,
    "github": github,
    "gitlab": gitlab,
    "junit": junit,
}


def statistics(diags: Sequence[Diagnostic], output_format: str = "full") -> str:
    """A count per rule and severity, most first: text, or for ``json`` (and
    ``json-lines``) ruff's ``--statistics --output-format json`` shape
    ``[{code, name, count, fixable}]`` with the severity added."""
    counts = Counter((d.code, d.name, d.severity) for d in diags)
    order = {"high": 0, "medium": 1, "low": 2}
    rows = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0][0], order.get(kv[0][2], 3)))
    if output_format in ("json", "json-lines"):
        items = [{"code": code, "name": name, "severity": severity, "count": n, "fixable": False}
                 for (code, name, severity), n in rows]
        if output_format == "json-lines":
            return "".join(json.dumps(item) + "\n" for item in items)
        return json.dumps(items, indent=2) + "\n"
    return "".join(f"{n:>5}\t{code}\t[{name}]\t{severity}\n" for (code, name, severity), n in rows)
