"""SARIF output validates against the official SARIF 2.1.0 schema."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest

from backendlint.engine import registry
from backendlint.engine.diagnostics import Diagnostic
from backendlint.reporting import sarif

SCHEMA = Path(__file__).resolve().parents[2] / "shared" / "schemas" / "sarif-schema-2.1.0.json"


def diagnostics():
    return [
        Diagnostic("BL101", "unbounded-retry", "tenacity retry has no stop condition", "app/tasks.py", 4, 1, 4, 7, "@retry"),
        Diagnostic("BL000", "syntax-error", "SyntaxError: invalid syntax", "app/broken.py", 2, 7, 2, 7, "def f(:"),
        Diagnostic("BL101", "unbounded-retry", "x", "/abs/path with space/x.py", 1, 1, 1, 2, ""),
    ]


def test_sarif_has_rule_metadata_and_results():
    doc = json.loads(sarif(diagnostics(), rules=registry.all_rules()))
    run = doc["runs"][0]
    rules = {r["id"]: r for r in run["tool"]["driver"]["rules"]}
    assert {r.code for r in registry.all_rules()} <= set(rules)
    bl101 = rules["BL101"]
    assert bl101["name"] == "unbounded-retry"
    assert bl101["shortDescription"]["text"] and bl101["fullDescription"]["text"]
    assert bl101["help"]["markdown"].startswith("# BL101")
    results = run["results"]
    assert [r["ruleId"] for r in results] == ["BL101", "BL000", "BL101"]
    for result in results:
        assert run["tool"]["driver"]["rules"][result["ruleIndex"]]["id"] == result["ruleId"]
    region = results[0]["locations"][0]["physicalLocation"]["region"]
    assert region == {"startLine": 4, "startColumn": 1, "endLine": 4, "endColumn": 7}
    assert results[2]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "file:///abs/path%20with%20space/x.py"


SCHEMA_MISSING = (
    f"the SARIF 2.1.0 schema is not at {SCHEMA} (it comes with the shared checkout beside "
    "this repository: ../shared/schemas/); SARIF output was NOT validated against it"
)


def test_sarif_validates_against_the_official_schema():
    if not SCHEMA.is_file():
        # A skip alone is one "s" in the progress line: say why, in the warnings summary
        # that pytest always prints, too.
        warnings.warn(SCHEMA_MISSING, pytest.PytestWarning)
        pytest.skip(SCHEMA_MISSING)
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    for diags in (diagnostics(), []):
        doc = json.loads(sarif(diags, rules=registry.all_rules()))
        jsonschema.validate(doc, schema, cls=jsonschema.Draft4Validator)
    # and a document that breaks the schema is caught (the test can fail)
    bad = json.loads(sarif(diagnostics(), rules=registry.all_rules()))
    bad["runs"][0]["results"][0]["level"] = "fatal"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema, cls=jsonschema.Draft4Validator)
