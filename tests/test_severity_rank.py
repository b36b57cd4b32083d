"""The order of precedence of severity (catalog, "Severity")."""

from backendlint.analysis.severity import HIGH, LOW, MEDIUM, rank


def test_operator_and_test_context_are_low_whatever_else_holds():
    assert rank("operator", high="all rows of Order").severity == LOW
    assert rank("test", high="all rows of Order") == (LOW, "test", "test code")


def test_low_condition_beats_high():
    r = rank("request", low="a lookup table", high="all rows of Order")
    assert r == (LOW, "request", "request handler; a lookup table")


def test_high_then_medium():
    assert rank("request", high="all rows of Order") == (HIGH, "request", "request handler; all rows of Order")
    assert rank("task", medium="a relation of each row") == (MEDIUM, "task", "background task; a relation of each row")
    assert rank("library").severity == MEDIUM


def test_inherited_context_reads_in_the_why():
    r = rank("request", context_why="request: called from checkout() in shop/views.py:40", high="external effect")
    assert r.why == "request: called from checkout() in shop/views.py:40; external effect"
    assert r.as_report() == {"severity": HIGH, "context": "request", "why": r.why}
