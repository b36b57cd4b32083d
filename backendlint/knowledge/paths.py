"""What a file's path says about its code: test code, migrations.

One definition for every rule that leaves tests alone (BL201, BL301, BL401, BL402):
handlers in fake apps are scaffolding, not endpoints, and tests run on a handful of rows.
"""

from __future__ import annotations

_TEST_DIRS = ("tests", "test", "testing")
_TEST_FILES = ("tests.py", "conftest.py")


def is_test_path(relpath: str) -> bool:
    """``tests/``, ``test/`` or ``testing/`` anywhere above the file, or a file named
    ``test_*.py``, ``*_test.py``, ``*_tests.py``, ``tests.py`` or ``conftest.py``."""
    parts = relpath.replace("\\", "/").split("/")
    name = parts[-1]
    if any(part in _TEST_DIRS for part in parts[:-1]):
        return True
    return name.startswith("test_") or name.endswith(("_test.py", "_tests.py")) or name in _TEST_FILES


def is_migration_path(relpath: str, source: str = None) -> bool:
    """Django ``migrations/`` anywhere above the file, or alembic ``versions/`` (a
    ``versions`` directory under ``alembic``, or, when the source is given, whose file
    speaks of alembic revisions)."""
    dirs = relpath.replace("\\", "/").split("/")[:-1]
    if "migrations" in dirs:
        return True
    if "versions" not in dirs:
        return False
    return "alembic" in dirs or (source is not None and ("revision" in source or "alembic" in source))
