"""End to end: the installed ``backendlint`` command in a subprocess."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

BIN = shutil.which("backendlint", path=str(Path(sys.executable).parent)) or shutil.which("backendlint")

BAD = """\
from tenacity import retry


@retry
def call_billing():
    pass
"""
GOOD = """\
from tenacity import retry, stop_after_attempt


@retry(stop=stop_after_attempt(3))
def call_billing():
    pass
"""


def cli(*args, cwd, stdin=None, env=None):
    assert BIN, "the backendlint command is not installed"
    full_env = dict(os.environ, NO_COLOR="1")
    full_env.update(env or {})
    return subprocess.run(
        [BIN, *args], cwd=cwd, input=stdin, capture_output=True, text=True, timeout=120, env=full_env
    )


def make(tmp_path: Path, files: dict, pyproject: str = "[project]\nname = 'demo'\n") -> Path:
    (tmp_path / "pyproject.toml").write_text(pyproject)
    for name, text in files.items():
        p = tmp_path / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(text))
    return tmp_path


def test_version_and_help(tmp_path):
    out = cli("--version", cwd=tmp_path)
    assert out.returncode == 0 and out.stdout.startswith("backendlint ")
    out = cli("check", "--help", cwd=tmp_path)
    assert out.returncode == 0 and "--output-format" in out.stdout


def test_version_does_not_import_libcst(tmp_path):
    code = "import sys; from backendlint.cli import main; sys.argv=['backendlint','--version']\n" \
           "try:\n    main()\nexcept SystemExit:\n    pass\nprint('libcst' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert out.stdout.strip().endswith("False")


def test_exit_codes(tmp_path):
    root = make(tmp_path, {"good.py": GOOD})
    assert cli("check", cwd=root).returncode == 0
    (root / "bad.py").write_text(BAD)
    out = cli("check", cwd=root)
    assert out.returncode == 1, out.stderr
    assert cli("check", "--exit-zero", cwd=root).returncode == 0
    assert cli("check", "--select", "BL99999", cwd=root).returncode == 2
    assert cli("check", "--output-format", "xml", cwd=root).returncode == 2


def test_full_output_shows_the_source_line(tmp_path):
    root = make(tmp_path, {"app/tasks.py": BAD})
    out = cli("check", "--no-cache", cwd=root)
    assert "app/tasks.py:4:1: BL101 [unbounded-retry]" in out.stdout
    assert "    4 | @retry" in out.stdout and "^" in out.stdout
    assert "Found 1 problem" in out.stdout


def test_concise_and_paths_relative_to_cwd(tmp_path):
    root = make(tmp_path, {"app/tasks.py": BAD})
    out = cli("check", "--output-format", "concise", "--quiet", "app", cwd=root)
    assert out.stdout.splitlines()[0].startswith("app/tasks.py:4:1: BL101 [unbounded-retry] ")
    out = cli("check", "--output-format", "concise", "--quiet", ".", cwd=root / "app")
    assert out.stdout.startswith("tasks.py:4:1: BL101")


def test_json_has_ruffs_shape(tmp_path):
    root = make(tmp_path, {"a.py": BAD, "b.py": BAD + "\n\n@retry()\ndef other():\n    pass\n"})
    out = cli("check", "--output-format", "json", cwd=root)
    data = json.loads(out.stdout)
    assert [(d["filename"], d["location"]["row"]) for d in data] == [("a.py", 4), ("b.py", 4), ("b.py", 9)]
    first = data[0]
    assert set(first) >= {"code", "name", "message", "filename", "location", "end_location", "url", "fix"}
    assert first["code"] == "BL101" and first["name"] == "unbounded-retry"
    assert first["location"] == {"row": 4, "column": 1} and first["fix"] is None
    lines = cli("check", "--output-format", "json-lines", cwd=root).stdout.splitlines()
    assert [json.loads(l)["filename"] for l in lines] == ["a.py", "b.py", "b.py"]


def test_noqa_is_not_counted_in_json_or_statistics(tmp_path):
    root = make(tmp_path, {"a.py": BAD.replace("@retry\n", "@retry  # noqa: BL101\n"), "b.py": BAD})
    data = json.loads(cli("check", "--output-format", "json", cwd=root).stdout)
    assert [d["filename"] for d in data] == ["b.py"]
    stats = cli("check", "--statistics", cwd=root)
    assert stats.stdout.split() == ["1", "BL101", "[unbounded-retry]", "medium"]
    assert stats.returncode == 1


def test_github_gitlab_junit(tmp_path):
    root = make(tmp_path, {"a.py": BAD})
    gh = cli("check", "--output-format", "github", cwd=root).stdout
    assert gh.startswith("::warning title=backendlint (BL101),file=a.py,line=4,col=1,")  # medium: a warning
    gl = json.loads(cli("check", "--output-format", "gitlab", cwd=root).stdout)
    assert gl[0]["check_name"] == "BL101" and gl[0]["location"] == {"path": "a.py", "lines": {"begin": 4, "end": 4}}
    assert gl[0]["severity"] in ("info", "minor", "major", "critical", "blocker") and len(gl[0]["fingerprint"]) == 32
    import xml.etree.ElementTree as ET

    tree = ET.fromstring(cli("check", "--output-format", "junit", cwd=root).stdout)
    case = tree.find("testsuite/testcase")
    assert case is not None and case.find("failure").get("type") == "BL101"


def test_output_file(tmp_path):
    root = make(tmp_path, {"a.py": BAD})
    out = cli("check", "--output-format", "json", "-o", "report.json", cwd=root)
    assert out.returncode == 1 and out.stdout == ""
    assert json.loads((root / "report.json").read_text())[0]["code"] == "BL101"


def test_stdin_with_filename(tmp_path):
    root = make(tmp_path, {})
    out = cli("check", "--stdin-filename", "app/tasks.py", "--output-format", "concise", "-", cwd=root, stdin=BAD)
    assert out.returncode == 1
    assert out.stdout.startswith("app/tasks.py:4:1: BL101")
    out = cli("check", "-", cwd=root, stdin=GOOD)
    assert out.returncode == 0


def test_config_in_pyproject_and_cli_wins(tmp_path):
    root = make(tmp_path, {"a.py": BAD}, "[tool.backendlint]\nignore = ['BL101']\n")
    assert cli("check", cwd=root).returncode == 0
    # from a subdirectory: the pyproject above is found
    (root / "sub").mkdir()
    (root / "sub" / "b.py").write_text(BAD)
    assert cli("check", ".", cwd=root / "sub").returncode == 0
    # the command line wins over the file
    assert cli("check", "--select", "BL101", cwd=root).returncode == 1


def test_per_file_ignores_from_config(tmp_path):
    root = make(
        tmp_path,
        {"tests/test_a.py": BAD, "app.py": BAD},
        "[tool.backendlint.per-file-ignores]\n'tests/*' = ['BL101']\n",
    )
    out = cli("check", "--output-format", "concise", "-q", cwd=root)
    assert [l.split(":")[0] for l in out.stdout.splitlines()] == ["app.py"]


@pytest.mark.parametrize(
    "pyproject,expected",
    [
        ("[tool.backendlint]\nselct = ['BL101']\n", "unknown key 'selct' in [tool.backendlint] of pyproject.toml; did you mean 'select'?"),
        ("[tool.backendlint]\nselect = 'BL101'\n", "'select' in [tool.backendlint] of pyproject.toml must be a list of strings"),
        ("[tool.backendlint]\nselect = ['BL1O1']\n", "unknown rule selector 'BL1O1'"),
        ("[tool.backendlint]\nrespect-gitignore = 'yes'\n", "'respect-gitignore' in [tool.backendlint] of pyproject.toml must be true or false"),
        ("[tool.backendlint.rules.unbounded-retri]\nx = 1\n", "unknown rule 'unbounded-retri' in [tool.backendlint.rules] of pyproject.toml; did you mean 'unbounded-retry'?"),
        ("[tool.backendlint.rules.unbounded-retry]\nnope = 1\n", "unknown option 'nope' in [tool.backendlint.rules.unbounded-retry] of pyproject.toml"),
        ("[tool.backendlint.per-file-ignores]\n'tests/*' = ['BL9x']\n", "unknown rule selector 'BL9x'"),
        ("[tool.backendlint\n", "pyproject.toml: invalid TOML"),
    ],
)
def test_bad_configuration_exits_2_with_a_precise_message(tmp_path, pyproject, expected):
    root = make(tmp_path, {"a.py": GOOD}, pyproject)
    out = cli("check", cwd=root)
    assert out.returncode == 2
    assert expected in out.stderr, out.stderr


def test_config_option_and_missing_config(tmp_path):
    root = make(tmp_path, {"a.py": BAD})
    (root / "lint.toml").write_text("ignore = ['BL1']\n")
    assert cli("check", "--config", "lint.toml", cwd=root).returncode == 0
    out = cli("check", "--config", "missing.toml", cwd=root)
    assert out.returncode == 2 and "missing.toml" in out.stderr


def test_unknown_rule_on_the_command_line(tmp_path):
    root = make(tmp_path, {"a.py": GOOD})
    out = cli("check", "--select", "unbounded-retri", cwd=root)
    assert out.returncode == 2 and "did you mean 'unbounded-retry'?" in out.stderr


def test_missing_path_exit_2_but_others_checked(tmp_path):
    root = make(tmp_path, {"a.py": BAD})
    out = cli("check", "--output-format", "concise", "nope", "a.py", cwd=root)
    assert out.returncode == 2
    assert "nope: no such file or directory" in out.stderr
    assert "a.py:4:1: BL101" in out.stdout


def test_syntax_error_exit_1_and_other_files_checked(tmp_path):
    root = make(tmp_path, {"broken.py": "from tenacity import retry\ndef f(:\n", "a.py": BAD})
    out = cli("check", "--output-format", "concise", "-q", cwd=root)
    assert out.returncode == 1
    lines = out.stdout.splitlines()
    assert lines[0].startswith("a.py:4:1: BL101")
    assert lines[1].startswith("broken.py:2:7: BL000 [syntax-error]")


def test_rule_and_rules_commands(tmp_path):
    out = cli("rules", cwd=tmp_path)
    assert out.returncode == 0 and "BL101  unbounded-retry" in out.stdout
    page = cli("rule", "BL101", cwd=tmp_path)
    assert page.returncode == 0 and page.stdout.startswith("# BL101 unbounded-retry")
    assert cli("rule", "unbounded-retry", cwd=tmp_path).stdout == page.stdout
    bad = cli("rule", "BL1011", cwd=tmp_path)
    assert bad.returncode == 2 and "unknown rule" in bad.stderr


def test_cache_is_written_and_reused(tmp_path):
    root = make(tmp_path, {"a.py": BAD})
    first = cli("check", "--output-format", "json", cwd=root)
    assert (root / ".backendlint_cache" / ".gitignore").is_file()
    second = cli("check", "--output-format", "json", cwd=root)
    assert first.stdout == second.stdout
    assert cli("check", "--no-cache", "--output-format", "json", cwd=root).stdout == first.stdout


def test_jobs_give_identical_output(tmp_path):
    files = {f"pkg/m{i}.py": (BAD if i % 2 else GOOD) for i in range(30)}
    root = make(tmp_path, files)
    one = cli("check", "--no-cache", "--jobs", "1", "--output-format", "json", cwd=root)
    two = cli("check", "--no-cache", "--jobs", "2", "--output-format", "json", cwd=root)
    assert one.stdout == two.stdout and len(json.loads(one.stdout)) == 15


def test_max_file_size_from_config(tmp_path):
    root = make(tmp_path, {"a.py": BAD}, "[tool.backendlint]\nmax-file-size = 10\n")
    out = cli("check", cwd=root)
    assert out.returncode == 0 and "skipped a.py" in out.stderr
    (tmp_path / "two").mkdir()
    root2 = make(tmp_path / "two", {"a.py": BAD}, "[tool.backendlint]\nmax-file-size = '1MB'\n")
    out = cli("check", cwd=root2)
    assert out.returncode == 2 and "'max-file-size' in [tool.backendlint] of pyproject.toml must be a positive integer" in out.stderr


def test_output_format_choices_are_the_formatters():
    from backendlint.cli import FORMATS
    from backendlint.reporting import FORMATTERS

    assert FORMATS == list(FORMATTERS)
