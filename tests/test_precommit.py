"""The hook as users run it: the real pre-commit tool, ``try-repo`` against this checkout."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PRE_COMMIT = shutil.which("pre-commit", path=str(Path(sys.executable).parent)) or shutil.which("pre-commit")

pytestmark = pytest.mark.skipif(PRE_COMMIT is None, reason="pre-commit is not installed (pip install -e '.[test]')")


def git(*args, cwd):
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.com", GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.com")
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, env=env)


def test_hook_fails_on_a_finding_and_passes_on_clean_code(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    git("init", "-q", cwd=work)
    (work / "pyproject.toml").write_text("[tool.backendlint]\nextend-exclude = ['legacy']\n")
    (work / "clean.py").write_text("from tenacity import retry, stop_after_attempt\n\n@retry(stop=stop_after_attempt(3))\ndef f():\n    pass\n")
    (work / "legacy").mkdir()
    (work / "legacy" / "old.py").write_text("from tenacity import retry\n\n@retry\ndef f():\n    pass\n")
    git("add", ".", cwd=work)
    env = dict(
        os.environ,
        PRE_COMMIT_HOME=str(tmp_path / "pre-commit-home"),
        GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.com", GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.com",
    )

    def try_repo(*files):
        return subprocess.run(
            [PRE_COMMIT, "try-repo", str(REPO), "backendlint", "--verbose", "--files", *files],
            cwd=work, capture_output=True, text=True, env=env, timeout=600,
        )

    ok = try_repo("clean.py", "legacy/old.py")
    assert ok.returncode == 0, ok.stdout + ok.stderr  # legacy/ excluded even though named (--force-exclude)
    (work / "bad.py").write_text(textwrap.dedent("""\
        from tenacity import retry

        @retry
        def charge():
            pass
        """))
    git("add", "bad.py", cwd=work)
    failed = try_repo("clean.py", "bad.py")
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "bad.py:3:1: BL101" in failed.stdout
