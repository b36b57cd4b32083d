"""Severity in every output format, the threshold (command line and configuration) and
the summary line (catalog, "Severity": "Shown as")."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from backendlint.engine.config import ConfigError, load_config
from backendlint.engine.diagnostics import Diagnostic, split_by_severity
from backendlint.reporting import FORMATTERS, statistics
from tests.test_cli import BAD, cli, make


def diag(severity: str, code: str = "BL401", why: str = "", context: str = "", line: int = 3) -> Diagnostic:
    return Diagnostic(code, "n-plus-one", "reads order.customer per row", "shop/views.py", line, 5, line, 19,
                      "    for o in orders: o.customer", severity, context, why)


HIGH = diag("high", why="request handler; all rows of Order", context="request", line=3)
MEDIUM = diag("medium", context="task", line=5)
LOW = diag("low", why="management command", context="operator", line=7)
SYNTAX = Diagnostic("BL000", "syntax-error", "SyntaxError: invalid syntax", "shop/bad.py", 1, 7, 1, 7, "def f(:", "high")


def test_threshold_splits_and_engine_diagnostics_are_always_shown():
    shown, hidden = split_by_severity([HIGH, MEDIUM, LOW, SYNTAX], "medium")
    assert shown == [HIGH, MEDIUM, SYNTAX] and hidden == [LOW]
    shown, hidden = split_by_severity([HIGH, MEDIUM, LOW, SYNTAX], "high")
    assert shown == [HIGH, SYNTAX] and hidden == [MEDIUM, LOW]
    assert split_by_severity([HIGH, MEDIUM, LOW], "low") == ([HIGH, MEDIUM, LOW], [])
    low_syntax = Diagnostic("BL000", "syntax-error", "x", "a.py", 1, 1, 1, 1, "", "low")
    assert split_by_severity([low_syntax], "high") == ([low_syntax], [])


def test_json_and_json_lines_carry_severity_context_and_why():
    data = json.loads(FORMATTERS["json"]([HIGH, MEDIUM]))
    assert (data[0]["severity"], data[0]["context"], data[0]["why"]) == ("high", "request", "request handler; all rows of Order")
    assert (data[1]["severity"], data[1]["context"], data[1]["why"]) == ("medium", "task", None)
    line = json.loads(FORMATTERS["json-lines"]([LOW]).splitlines()[0])
    assert (line["severity"], line["context"], line["why"]) == ("low", "operator", "management command")
    assert "request handler" not in data[0]["message"]  # the why is not in the message


def test_sarif_levels():
    doc = json.loads(FORMATTERS["sarif"]([HIGH, MEDIUM, LOW]))
    results = doc["runs"][0]["results"]
    assert [r["level"] for r in results] == ["error", "warning", "note"]
    assert results[0]["properties"] == {"severity": "high", "context": "request", "why": "request handler; all rows of Order"}


def test_gitlab_severities_and_fingerprint_ignore_the_rank():
    report = json.loads(FORMATTERS["gitlab"]([HIGH, MEDIUM, LOW]))
    assert [r["severity"] for r in report] == ["major", "minor", "info"]
    again = json.loads(FORMATTERS["gitlab"]([diag("low", line=3)]))
    assert again[0]["fingerprint"] == report[0]["fingerprint"]  # only the ranking changed


def test_github_annotation_levels():
    lines = FORMATTERS["github"]([HIGH, MEDIUM, LOW]).splitlines()
    assert [ln.split(" ", 1)[0] for ln in lines] == ["::error", "::warning", "::notice"]


@pytest.mark.parametrize("fmt", ["full", "concise"])
def test_full_and_concise_show_severity_and_why_after_the_rule_name(fmt):
    text = FORMATTERS[fmt]([HIGH, MEDIUM])
    assert "BL401 [n-plus-one] (high: request handler; all rows of Order) reads order.customer per row" in text
    assert "BL401 [n-plus-one] (medium) reads order.customer per row" in text


def test_junit_has_one_case_per_shown_finding():
    tree = ET.fromstring(FORMATTERS["junit"]([HIGH, MEDIUM]))
    assert len(tree.findall("testsuite/testcase")) == 2


def test_statistics_count_per_rule_and_severity():
    rows = [row.split("\t") for row in statistics([HIGH, HIGH, LOW]).splitlines()]
    assert rows == [["    2", "BL401", "[n-plus-one]", "high"], ["    1", "BL401", "[n-plus-one]", "low"]]


def test_min_severity_in_configuration(tmp_path):
    path = tmp_path / "pyproject.toml"
    path.write_text('[tool.backendlint]\nmin-severity = "low"\n')
    assert load_config(path).min_severity == "low"
    path.write_text('[tool.backendlint]\nmin-severity = "hgih"\n')
    with pytest.raises(ConfigError, match="'min-severity' in \\[tool.backendlint\\] of .*must be one of 'low', 'medium', 'high', got 'hgih'"):
        load_config(path)
    path.write_text("[tool.backendlint]\n")
    assert load_config(path).min_severity == "medium"


def test_threshold_on_the_command_line_hides_and_does_not_fail(tmp_path):
    root = make(tmp_path, {"a.py": BAD})
    shown = cli("check", cwd=root)  # a medium finding: shown by default
    assert shown.returncode == 1 and "BL101 [unbounded-retry] (medium: " in shown.stdout
    hidden = cli("check", "--min-severity", "high", cwd=root)
    assert hidden.returncode == 0, hidden.stdout + hidden.stderr
    assert "All checks passed!" in hidden.stdout
    assert "1 low- or medium-severity finding hidden (--min-severity low shows it)." in hidden.stdout
    as_json = cli("check", "--min-severity", "high", "--output-format", "json", cwd=root)
    assert json.loads(as_json.stdout) == [] and "1 low- or medium-severity finding hidden" in as_json.stderr
    quiet = cli("check", "--min-severity", "high", "-q", "--output-format", "json", cwd=root)
    assert quiet.stderr == ""
    bad = cli("check", "--min-severity", "urgent", cwd=root)
    assert bad.returncode == 2 and "urgent" in bad.stderr


def test_threshold_from_configuration_and_the_command_line_wins(tmp_path):
    root = make(tmp_path, {"a.py": BAD, "pyproject.toml": '[tool.backendlint]\nmin-severity = "high"\n'})
    assert cli("check", cwd=root).returncode == 0
    assert cli("check", "--min-severity", "low", cwd=root).returncode == 1
