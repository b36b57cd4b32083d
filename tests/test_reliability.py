"""Issue #22: nothing silently skipped, nothing hangs, nothing blows up.

Every input here is generated; timing-sensitive behaviour is measured in
``bench/scaling.py``, never asserted on time.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import libcst as cst
import pytest

from backendlint.engine import registry
from backendlint.engine.cache import Store
from backendlint.engine.config import Config, ConfigError, load_config
from backendlint.engine.context import Source
from backendlint.engine.parse import RUNNING, ast_parse
from backendlint.engine.rule import Rule
from backendlint.engine.run import RunOptions, run, worker_count

REPO = Path(__file__).resolve().parents[1]
BAD = "def f(:\n    pass\n"


def project(tmp_path: Path, files: dict) -> Path:
    (tmp_path / "pyproject.toml").write_text("[project]\nname='x'\n")
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(textwrap.dedent(text))
    return tmp_path


def cli(*args, cwd, stdin=None, timeout=120):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run(
        [sys.executable, "-m", "backendlint", *args],
        cwd=cwd, input=stdin, capture_output=True, timeout=timeout, env=env,
    )


def check(root: Path, paths=None, jobs=1, cache=False, config=None, **kw):
    cwd = os.getcwd()
    os.chdir(root)
    try:
        return run([Path(p) for p in (paths or ["."])], config or Config(base=root), RunOptions(jobs=jobs, use_cache=cache, **kw))
    finally:
        os.chdir(cwd)


# -- a file that does not parse always gets its BL000 -----------------------------------


def test_a_syntax_error_no_prefilter_admits_is_reported(tmp_path):
    project(tmp_path, {"bad.py": BAD})
    done = cli("check", "bad.py", cwd=tmp_path)
    out = done.stdout.decode()
    assert done.returncode == 1, out + done.stderr.decode()
    assert "bad.py:1:7: BL000" in out and "All checks passed" not in out


@pytest.mark.parametrize("jobs", [1, 2])
def test_syntax_errors_whatever_the_prefilter_and_the_index_say(tmp_path, jobs):
    # models.py is parsed by the index (a collector wants it), helpers.py by no one.
    files = {
        "shop/__init__.py": "",
        "shop/models.py": "from django.db import models\nclass A(models.Model):\n    x = (\n",
        "shop/helpers.py": "x = 1\ny = (\n",
        "shop/fine.py": "x = 1\n",
    }
    root = project(tmp_path, files)
    for cache in (False, True, True):  # the cache (cold, then warm) hides nothing
        got = [(d.path, d.line, d.code) for d in check(root, jobs=jobs, cache=cache).diagnostics]
        assert got == [("shop/helpers.py", 2, "BL000"), ("shop/models.py", 3, "BL000")]


def test_a_syntax_error_on_standard_input(tmp_path):
    project(tmp_path, {})
    done = cli("check", "--stdin-filename", "x.py", "-", cwd=tmp_path, stdin=BAD.encode())
    assert done.returncode == 1 and "x.py:1:7: BL000" in done.stdout.decode()


# -- facts do not depend on the running Python's grammar ---------------------------------


NEWER = """\
from django.db import models

type OrderId = int

def first[T](items: list[T]) -> T:
    return items[0]

try:
    pass
except* ValueError:
    pass

class Order(models.Model):
    number = models.IntegerField()

def kind(x):
    match x:
        case 1:
            return "one"
    return "other"

LABEL = f'{'nested quotes'}'
"""


def test_the_index_reads_files_of_a_newer_grammar(tmp_path):
    from backendlint.engine.discovery import discover, module_name
    from backendlint.engine.project import build_index
    from backendlint.engine.run import _relpath

    project(tmp_path, {"shop/__init__.py": "", "shop/models.py": NEWER})
    found = discover([tmp_path], Config(base=tmp_path)).files
    triples = [(str(p), _relpath(p, tmp_path), module_name(p, tmp_path)[0]) for p in found]
    facts, _ = build_index(triples, ["orm_models"], Store(None, "index.json", []), None)
    assert "Order" in json.dumps(facts.get("orm_models"))
    assert facts.parsed.get("shop/models.py") is True


def test_ast_parse_blanks_newer_statements_and_keeps_lines():
    tree, error = ast_parse(NEWER)
    assert error is None and tree is not None
    names = {node.name: node.lineno for node in tree.body if hasattr(node, "name")}
    assert names == {"first": 5, "Order": 13, "kind": 16}
    # what is left must still parse: a real error elsewhere is still found
    tree, error = ast_parse(NEWER + "def broken(:\n")
    assert tree is None and error is not None


def test_target_version_makes_newer_syntax_an_error(tmp_path):
    tree, error = ast_parse("match x:\n    case 1:\n        pass\n", (3, 9))
    assert tree is not None and error is not None and "Pattern matching" in error[2]
    assert ast_parse("match x:\n    case 1:\n        pass\n", (3, 10))[1] is None
    root = project(tmp_path, {"m.py": "match x:\n    case 1:\n        pass\n"})
    assert [d.code for d in check(root).diagnostics] == []
    got = check(root, target_version="py39").diagnostics
    assert [(d.path, d.code) for d in got] == [("m.py", "BL000")]
    (root / "pyproject.toml").write_text("[tool.backendlint]\ntarget-version = 'py39'\n")
    done = cli("check", "--no-cache", ".", cwd=root)
    assert done.returncode == 1 and "m.py:3:13: BL000" in done.stdout.decode()


def test_target_version_is_validated(tmp_path):
    config = tmp_path / "pyproject.toml"
    config.write_text("[tool.backendlint]\ntarget-version = 'py27'\n")
    with pytest.raises(ConfigError, match="'target-version' in \\[tool.backendlint\\] of .*py39, py310"):
        load_config(config)
    done = cli("check", ".", cwd=tmp_path)
    assert done.returncode == 2 and "target-version" in done.stderr.decode()
    config.write_text("[project]\nname='x'\n")
    done = cli("check", "--target-version", "3.11", ".", cwd=tmp_path)
    assert done.returncode == 2 and "--target-version must be one of" in done.stderr.decode()


# -- standard input ----------------------------------------------------------------------


def test_standard_input_decodes_as_files_do(tmp_path):
    latin = "# -*- coding: latin-1 -*-\nfrom tenacity import retry\n\n@retry\ndef f():\n    return 'caf\xe9'\n".encode("latin-1")
    root = project(tmp_path, {"l1.py": latin})
    from_disk = cli("check", "--no-cache", "l1.py", cwd=root)
    from_stdin = cli("check", "--stdin-filename", "l1.py", "-", cwd=root, stdin=latin)
    assert from_disk.returncode == from_stdin.returncode == 1
    assert from_stdin.stdout == from_disk.stdout
    assert b"BL999" not in from_stdin.stdout and b"BL101" in from_stdin.stdout
    bom = b"\xef\xbb\xbf" + latin.decode("latin-1").encode("utf-8").replace(b"latin-1", b"utf-8")
    assert b"BL101" in cli("check", "--stdin-filename", "b.py", "-", cwd=root, stdin=bom).stdout


def test_stdin_filename_without_the_dash_reads_standard_input(tmp_path):
    root = project(tmp_path, {"other.py": BAD})
    done = cli("check", "--stdin-filename", "x.py", cwd=root, stdin=b"x = 1\n")
    assert done.returncode == 0, done.stdout + done.stderr  # other.py is not checked
    assert b"1 file checked" in done.stdout
    done = cli("check", "--stdin-filename", "x.py", "other.py", cwd=root, stdin=b"x = 1\n")
    assert done.returncode == 2 and b"--stdin-filename" in done.stderr


# -- parser limits are not syntax errors -------------------------------------------------


def test_libcst_limits_are_reported_as_such_not_as_syntax_errors(tmp_path):
    many = "x = (\n" + "".join('    "a"\n' for _ in range(6000)) + ")\n"
    compile(many, "many.py", "exec")  # CPython accepts it
    root = project(tmp_path, {"many.py": many, "bad.py": "import os\n" + BAD})
    got = {d.path: (d.code, d.message) for d in check(root, prefilter=False).diagnostics}
    assert got["many.py"][0] == "BL998" and "parser limit" in got["many.py"][1]
    assert got["bad.py"][0] == "BL000"


def test_long_multi_line_operator_chains_get_what_cpython_says(tmp_path):
    chain = "x = (\n" + "".join(f"    a{i} +\n" for i in range(5000)) + "    0\n)\n"
    with pytest.raises(RecursionError):
        compile(chain, "chain.py", "exec")
    leading = "x = (\n    0\n" + "".join(f"    + a{i}\n" for i in range(5000)) + ")\n"
    root = project(tmp_path, {"chain.py": chain, "leading.py": leading})
    for prefilter in (True, False):
        got = check(root, prefilter=prefilter).diagnostics
        assert [(d.path, d.code) for d in got] == [("chain.py", "BL000"), ("leading.py", "BL000")]
        assert all("too complex" in d.message for d in got)


# -- paths, output formats, noqa ----------------------------------------------------------


def test_a_missing_path_is_an_error_and_not_all_passed(tmp_path):
    project(tmp_path, {"a.py": "x = 1\n"})
    done = cli("check", "a.py", "missing.py", cwd=tmp_path)
    assert done.returncode == 2
    assert b"missing.py: no such file or directory" in done.stderr
    assert b"All checks passed" not in done.stdout


def test_statistics_honour_json(tmp_path):
    project(tmp_path, {"a.py": BAD, "b.py": BAD})
    done = cli("check", "--statistics", "--output-format", "json", ".", cwd=tmp_path)
    assert json.loads(done.stdout) == [{"code": "BL000", "name": "syntax-error", "severity": "high", "count": 2, "fixable": False}]


def test_junit_reports_engine_errors_as_errors():
    from backendlint.engine.diagnostics import Diagnostic
    from backendlint.reporting import junit

    diags = [
        Diagnostic("BL101", "unbounded-retry", "m", "a.py", 1, 1, 1, 1),
        Diagnostic("BL998", "io-error", "cannot read", "b.py", 1, 1, 1, 1),
        Diagnostic("BL999", "internal-error", "crash", "b.py", 2, 1, 2, 1),
    ]
    xml = junit(diags)
    assert 'tests="3" failures="1" errors="2"' in xml
    assert xml.count("<error ") == 2 and xml.count("<failure ") == 1


def test_an_unknown_code_in_noqa_warns_with_file_and_line(tmp_path):
    root = project(tmp_path, {"a.py": "x = 1\ny = 2  # noqa: BL990, E501\nz = 3  # noqa: BL101\n"})
    for cache in (False, True, True):
        warnings = check(root, cache=cache).warnings
        assert [w for w in warnings if "noqa" in w] == [
            "a.py:2: unknown code 'BL990' in '# noqa' (no such rule, it suppresses nothing; see `backendlint rules`)"
        ]


# -- no hangs ------------------------------------------------------------------------------


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_a_fifo_never_hangs_the_run(tmp_path):
    project(tmp_path, {"a.py": BAD})
    os.mkfifo(tmp_path / "pipe.py")
    done = cli("check", ".", cwd=tmp_path, timeout=60)  # discovery skips it
    assert done.returncode == 1 and b"a.py:1:7: BL000" in done.stdout
    done = cli("check", "pipe.py", cwd=tmp_path, timeout=60)
    assert done.returncode == 2 and b"pipe.py: not a regular file" in done.stderr
    from backendlint.engine.parse import read_bytes

    with pytest.raises(OSError, match="not a regular file"):
        read_bytes(str(tmp_path / "pipe.py"))


def test_jobs_are_capped_with_a_warning():
    warnings = []
    cores = os.cpu_count() or 1
    assert worker_count(1000, 10_000, warnings) == cores * 2
    assert warnings and "--jobs 1000" in warnings[0]
    assert worker_count(1000, 3, []) == min(3, cores * 2)
    assert worker_count(None, 1, []) == 1
    extra = []
    assert worker_count(2, 100, extra) == 2 and not extra


def test_a_deeply_nested_cache_file_is_rebuilt(tmp_path):
    root = project(tmp_path, {"a.py": BAD})
    first = check(root, cache=True)
    cache = root / ".backendlint_cache"
    stores = sorted(cache.glob("*.json"))
    assert stores
    for store in stores:
        store.write_text("[" * 200_000 + "]" * 200_000)  # valid JSON, RecursionError on load
    again = check(root, cache=True)
    assert [d.code for d in again.diagnostics] == [d.code for d in first.diagnostics] == ["BL000"]
    broken = [w for w in again.warnings if "corrupt cache file" in w]
    assert len(broken) == len(stores) and "RecursionError" in broken[0]
    third = check(root, cache=True)  # rebuilt: read cleanly
    assert not [w for w in third.warnings if "cache" in w]


class Slow(Rule):
    """Spins (in Python) on files that name ``spin``."""

    code = "BL906"
    name = "slow-rule"
    summary = "test rule that never ends"
    requires = ("spin",)

    def visit_Module(self, node: cst.Module) -> None:
        if "spin" in self.ctx.source:
            end = time.monotonic() + 120
            while time.monotonic() < end:
                pass
            self.report(node.body[0], "never")


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_file_over_its_time_budget_is_given_up(tmp_path, monkeypatch, jobs):
    monkeypatch.setattr(registry, "_RULES", [Slow])
    root = project(tmp_path, {"a_slow.py": "spin = 1\n", "b.py": BAD, "c.py": "spun = 1\n"})
    config = Config(base=root)
    config.file_timeout = 0.5
    got = check(root, jobs=jobs, config=config).diagnostics
    assert [(d.path, d.code) for d in got] == [("a_slow.py", "BL998"), ("b.py", "BL000")]
    assert got[0].message == "not checked: gave up after 0.5 s (file-timeout in [tool.backendlint])"


def test_file_timeout_is_validated(tmp_path):
    config = tmp_path / "pyproject.toml"
    config.write_text("[tool.backendlint]\nfile-timeout = 30\n")
    assert load_config(config).file_timeout == 30.0
    config.write_text("[tool.backendlint]\nfile-timeout = -1\n")
    with pytest.raises(ConfigError, match="'file-timeout'.*positive number"):
        load_config(config)


# -- per-file work is linear ----------------------------------------------------------------


def test_source_questions_scan_the_source_once(monkeypatch):
    # ``":=" in ctx.source`` per function made a file of N functions cost N² scans.
    source = Source("x = 1\n" * 10)
    for _ in range(100):
        assert (":=" in source) is False
        assert ("x =" in source) is True
    assert sorted(source._found) == [":=", "x ="]  # each question answered once


def test_positions_count_newlines_once_per_file():
    from backendlint.engine.positions import positions

    class Counted(str):
        calls = 0

        def count(self, *args):
            Counted.calls += 1
            return str.count(self, *args)

    text = "".join(f"def f{i}():\n    return {i}\n" for i in range(50))
    module = cst.parse_module(text)
    source = Counted(text)
    memo: dict = {}
    for stmt in module.body:
        positions(module, [(stmt.name, stmt, ())], source, memo)
    assert Counted.calls <= 2  # "\r" and "\r\n", once per file (not per call)


def test_cached_noqa_warnings_name_the_file_as_this_run_shows_it(tmp_path):
    root = project(tmp_path, {"pkg/a.py": "y = 2  # noqa: BL990\n"})
    check(root, cache=True)
    cwd = os.getcwd()
    os.chdir(root / "pkg")
    try:
        again = run([Path("a.py")], Config(base=root), RunOptions(jobs=1, use_cache=True))
    finally:
        os.chdir(cwd)
    assert again.cache_hits == 1
    assert [w.split(" ", 1)[0] for w in again.warnings if "noqa" in w] == ["a.py:1:"]
