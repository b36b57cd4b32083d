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


def _readme_precommit_blocks():
    import re

    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("## pre-commit", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```yaml\n(.*?)```", section, re.S)


def test_readme_snippets_pin_nothing_that_does_not_exist():
    import re

    blocks = _readme_precommit_blocks()
    assert len(blocks) == 2
    assert "repo: local" in blocks[0]
    revs = re.findall(r"rev:\s*(\S+)", "".join(blocks))
    # a commit SHA (a placeholder the reader replaces), never a release tag we never made
    assert revs and all(re.fullmatch(r"[0-9a-f]{40}", rev) for rev in revs), revs


def test_readme_local_hook_works_as_written(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    git("init", "-q", cwd=work)
    (work / ".pre-commit-config.yaml").write_text(_readme_precommit_blocks()[0])
    (work / "bad.py").write_text("from tenacity import retry\n\n@retry\ndef charge():\n    pass\n")
    git("add", ".", cwd=work)
    shim = tmp_path / "bin"
    shim.mkdir()
    exe = shim / "backendlint"  # this checkout's backendlint, as `pip install .` would put it
    exe.write_text(f"#!/bin/sh\nPYTHONPATH={REPO} exec {sys.executable} -m backendlint \"$@\"\n")
    exe.chmod(0o755)
    env = dict(os.environ, PRE_COMMIT_HOME=str(tmp_path / "home"), PATH=f"{shim}{os.pathsep}{os.environ['PATH']}")
    done = subprocess.run(
        [PRE_COMMIT, "run", "--files", "bad.py"], cwd=work, capture_output=True, text=True, env=env, timeout=600
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "bad.py:3:1: BL101" in done.stdout
