"""The engine, with rules of its own (so these tests do not depend on any real rule)."""

from __future__ import annotations

import ast
import json
import os
import textwrap
from pathlib import Path

import libcst as cst
import pytest

from backendlint.engine import registry
from backendlint.engine.config import Config
from backendlint.engine.facts import FactCollector, register
from backendlint.engine.imports import ImportTable
from backendlint.engine.rule import Option, Rule
from backendlint.engine.run import RunOptions, run


class Flag(Rule):
    """Reports every call to flag(); crashes on crash(); reads the fake fact."""

    code = "BL901"
    name = "flag-call"
    summary = "test rule"
    requires = ("flag", "crash", "known")
    requires_options = ("extra",)
    facts = ("fake_defs",)
    options = (Option("extra", list, [], "extra names to flag"),)

    def visit_Call(self, node: cst.Call) -> None:
        if isinstance(node.func, cst.Name):
            name = node.func.value
            if name == "flag" or name in self.opts["extra"]:
                self.report(node, f"flag called ({self.ctx.module_name})")
            elif name == "crash":
                raise ValueError("boom")
            elif name == "known" and "helper" in self.ctx.facts.get("fake_defs", []):
                self.report(node, "known helper")


class Other(Rule):
    code = "BL902"
    name = "other-call"
    summary = "second test rule"

    def visit_Call(self, node: cst.Call) -> None:
        if isinstance(node.func, cst.Name) and node.func.value in ("other", "crash"):
            self.report(node, "other called")


@register
class FakeDefs(FactCollector):
    kind = "fake_defs"
    requires = ("def ",)

    def collect(self, tree, relpath, module_name, source):
        return [n.name for n in tree.body if isinstance(n, ast.FunctionDef)]

    def merge(self, parts):
        return sorted({name for names in parts.values() for name in names})


@pytest.fixture(autouse=True)
def fake_rules(monkeypatch):
    monkeypatch.setattr(registry, "_RULES", [Flag, Other])


def project(tmp_path: Path, files: dict) -> Path:
    (tmp_path / "pyproject.toml").write_text("[project]\nname='x'\n")
    for name, text in files.items():
        p = tmp_path / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(text))
    return tmp_path


def check(root: Path, paths=None, jobs=1, cache=False, config=None, **kw):
    cwd = os.getcwd()
    os.chdir(root)
    try:
        return run([Path(p) for p in (paths or ["."])], config or Config(base=root), RunOptions(jobs=jobs, use_cache=cache, **kw))
    finally:
        os.chdir(cwd)


# -- imports ---------------------------------------------------------------------------


def table_for(source: str, module="pkg.sub.mod", is_package=False) -> ImportTable:
    table = ImportTable(module, is_package, {"requests.packages.urllib3": "urllib3"})
    for stmt in cst.parse_module(textwrap.dedent(source)).body:
        for small in getattr(stmt, "body", []):
            if isinstance(small, cst.Import):
                table.add_import(small)
            elif isinstance(small, cst.ImportFrom):
                table.add_import_from(small)
    return table


@pytest.mark.parametrize(
    "source,expr,expected",
    [
        ("import tenacity", "tenacity.retry", "tenacity.retry"),
        ("import tenacity as tc", "tc.retry", "tenacity.retry"),
        ("from tenacity import retry", "retry", "tenacity.retry"),
        ("from tenacity import retry as again", "again", "tenacity.retry"),
        ("import a.b.c", "a.b.c.f", "a.b.c.f"),
        ("import a.b.c as d", "d.f", "a.b.c.f"),
        ("from . import models", "models.Order", "pkg.sub.models.Order"),
        ("from .models import Order", "Order", "pkg.sub.models.Order"),
        ("from ..core import db", "db", "pkg.core.db"),
        ("from requests.packages.urllib3.util.retry import Retry", "Retry", "urllib3.util.retry.Retry"),
        ("import tenacity", "retry", None),
    ],
)
def test_import_table_resolves_every_spelling(source, expr, expected):
    table = table_for(source)
    assert table.resolve(cst.parse_expression(expr)) == expected


def test_relative_import_in_package_init():
    table = table_for("from .models import Order", module="shop", is_package=True)
    assert table.resolve(cst.parse_expression("Order")) == "shop.models.Order"


def test_local_definition_shadows_import(tmp_path):
    # Through the real traversal: a module-level def after the import rebinds the name.
    from backendlint.engine.checker import FileJob, check_source
    from backendlint.engine.context import ProjectFacts

    seen = {}

    class Probe(Rule):
        code = "BL903"
        name = "probe"

        def visit_Call(self, node):
            seen[node.func.value] = self.ctx.qualified(node.func)

    src = "from tenacity import retry, stop\ndef retry():\n    pass\nretry()\nstop()\n"
    check_source(FileJob("m.py", "m.py", "m.py", "m", False), src, [Probe], {}, ProjectFacts())
    assert seen == {"retry": "m.retry", "stop": "tenacity.stop"}


# -- findings, suppression -------------------------------------------------------------


def test_findings_are_sorted_and_located(tmp_path):
    root = project(tmp_path, {"b.py": "x = 1\nflag()\n", "a/c.py": "other()\n\n  # c\nflag(\n  1)\n"})
    result = check(root)
    got = [(d.path, d.line, d.column, d.code) for d in result.diagnostics]
    assert got == [("a/c.py", 1, 1, "BL902"), ("a/c.py", 4, 1, "BL901"), ("b.py", 2, 1, "BL901")]


@pytest.mark.parametrize(
    "line,suppressed",
    [
        ("flag()  # noqa", True),
        ("flag()  # noqa: BL901", True),
        ("flag()  # noqa:BL901", True),
        ("flag()  # noqa: BL902, BL901", True),
        ("flag()  # NOQA: bl901", True),
        ("flag()  # noqa: BL902", False),
        ("flag()  # noqa: BL9011", False),
        ("flag()  # some comment", False),
    ],
)
def test_noqa(tmp_path, line, suppressed):
    root = project(tmp_path, {"m.py": line + "\n"})
    assert (not check(root).diagnostics) is suppressed


def test_noqa_on_reported_line_of_multiline_call_and_comprehension(tmp_path):
    root = project(
        tmp_path,
        {
            "m.py": """\
            x = [
                flag(i)  # noqa: BL901
                for i in range(3)
            ]
            y = flag(  # noqa: BL901
                1,
            )
            z = flag(
                2,  # noqa: BL901 (not the reported line)
            )
            """
        },
    )
    assert [d.line for d in check(root).diagnostics] == [8]


def test_file_level_noqa_and_generated_files_are_skipped(tmp_path):
    root = project(
        tmp_path,
        {
            "skip.py": "# backendlint: noqa\nflag()\n",
            "gen.py": "# @generated by protoc\nflag()\n",
            "gen2.py": "# Code generated by tool. DO NOT EDIT.\nflag()\n",
            "late.py": "\n" * 20 + "# @generated\nflag()\n",
        },
    )
    assert [d.path for d in check(root).diagnostics] == ["late.py"]


def test_rule_options_reach_the_rule(tmp_path):
    root = project(tmp_path, {"m.py": "mark()\n"})
    assert check(root).diagnostics == []
    config = Config(base=root, rules={"flag-call": {"extra": ["mark"]}})
    assert [d.code for d in check(root, config=config).diagnostics] == ["BL901"]


def test_select_and_ignore(tmp_path):
    root = project(tmp_path, {"m.py": "flag()\nother()\n"})
    assert [d.code for d in check(root, select=["BL902"]).diagnostics] == ["BL902"]
    assert [d.code for d in check(root, ignore=["BL901"]).diagnostics] == ["BL902"]
    assert [d.code for d in check(root, select=["flag-call"]).diagnostics] == ["BL901"]
    assert [d.code for d in check(root, select=["BL9"], ignore=["BL902"]).diagnostics] == ["BL901"]
    assert [d.code for d in check(root, ignore=["BL9"], extend_select=["BL902"]).diagnostics] == ["BL902"]


def test_per_file_ignores(tmp_path):
    root = project(tmp_path, {"tests/test_x.py": "flag()\nother()\n", "app.py": "flag()\n"})
    config = Config(base=root, per_file_ignores={"tests/*": ["BL901"]})
    got = [(d.path, d.code) for d in check(root, config=config).diagnostics]
    assert got == [("app.py", "BL901"), ("tests/test_x.py", "BL902")]


# -- errors do not stop the run --------------------------------------------------------


def test_syntax_error_is_one_diagnostic_and_the_run_goes_on(tmp_path):
    root = project(tmp_path, {"bad.py": "def f(:\n    flag()\n", "good.py": "flag()\n"})
    diags = check(root).diagnostics
    assert [(d.path, d.code, d.line, d.column) for d in diags] == [
        ("bad.py", "BL000", 1, 7),
        ("good.py", "BL901", 1, 1),
    ]
    assert diags[0].name == "syntax-error"


def test_rule_crash_is_an_internal_error_and_other_rules_still_run(tmp_path):
    root = project(tmp_path, {"m.py": "x = 1\ncrash()\n", "n.py": "flag()\n"})
    diags = check(root).diagnostics
    internal = [d for d in diags if d.code == "BL999"]
    assert len(internal) == 1
    assert internal[0].path == "m.py" and internal[0].line == 2
    assert "BL901" in internal[0].message and "ValueError: boom" in internal[0].message
    assert ("m.py", "BL902") in [(d.path, d.code) for d in diags]  # the other rule reported
    assert ("n.py", "BL901") in [(d.path, d.code) for d in diags]  # the other file was checked


def test_deep_nesting_does_not_kill_the_run(tmp_path):
    deep = "x = " + "[" * 120 + "flag()" + "]" * 120 + "\n"
    deeper = "x = " + "(" * 5000 + ")" * 5000 + "\n"
    root = project(tmp_path, {"deep.py": deep, "deeper.py": deeper, "ok.py": "flag()\n"})
    diags = check(root).diagnostics
    assert ("ok.py", "BL901") in [(d.path, d.code) for d in diags]
    assert ("deep.py", "BL901") in [(d.path, d.code) for d in diags]
    # The 5000-deep file may not parse; then it is reported, not fatal.
    assert all(d.code in ("BL901", "BL000", "BL999") for d in diags)


def test_undecodable_and_unreadable_files_are_named(tmp_path):
    root = project(tmp_path, {"ok.py": "flag()\n"})
    (root / "latin.py").write_bytes(b"# -*- coding: latin-1 -*-\nflag()  # caf\xe9\n")
    (root / "bad.py").write_bytes(b"flag()  # \xff\xfe broken\n")
    diags = check(root).diagnostics
    got = {(d.path, d.code) for d in diags}
    assert ("latin.py", "BL901") in got  # PEP 263 cookie honoured
    assert ("ok.py", "BL901") in got
    bad = [d for d in diags if d.path == "bad.py"]
    assert bad and bad[0].code == "BL998" and "decode" in bad[0].message


def test_missing_path_is_an_error_and_other_paths_are_checked(tmp_path):
    root = project(tmp_path, {"ok.py": "flag()\n"})
    result = check(root, paths=["nope.py", "ok.py"])
    assert result.errors == ["nope.py: no such file or directory"]
    assert [d.path for d in result.diagnostics] == ["ok.py"]


def test_symlink_loop_does_not_hang(tmp_path):
    root = project(tmp_path, {"pkg/ok.py": "flag()\n"})
    os.symlink(root / "pkg", root / "pkg" / "loop")
    os.symlink(root / "a", root / "b")
    os.symlink(root / "b", root / "a")
    result = check(root, paths=[".", "a"])
    assert [d.path for d in result.diagnostics] == ["pkg/ok.py"]
    assert len(result.errors) == 1 and result.errors[0].startswith("a: ")


# -- discovery ---------------------------------------------------------------------


def test_discovery_skips_default_excludes_virtualenvs_and_gitignored(tmp_path):
    root = project(
        tmp_path,
        {
            "app/views.py": "flag()\n",
            "app/stubs.pyi": "flag()\n",
            "app/notes.txt": "flag()\n",
            "node_modules/x.py": "flag()\n",
            "build/x.py": "flag()\n",
            ".git/x.py": "flag()\n",
            "myenv/pyvenv.cfg": "home = /usr\n",
            "myenv/lib/x.py": "flag()\n",
            "ignored/x.py": "flag()\n",
            "app/gen_out.py": "flag()\n",
            "app/sub/.gitignore": "local_*.py\n",
            "app/sub/local_x.py": "flag()\n",
            "app/sub/kept.py": "flag()\n",
            ".gitignore": "ignored/\n*_out.py\n",
        },
    )
    got = sorted({d.path for d in check(root).diagnostics})
    assert got == ["app/stubs.pyi", "app/sub/kept.py", "app/views.py"]
    no_git = Config(base=root, respect_gitignore=False)
    got = sorted({d.path for d in check(root, config=no_git).diagnostics})
    assert "ignored/x.py" in got and "app/sub/local_x.py" in got


def test_exclude_and_explicit_files(tmp_path):
    root = project(tmp_path, {"app/a.py": "flag()\n", "legacy/b.py": "flag()\n"})
    config = Config(base=root, extend_exclude=["legacy"])
    assert [d.path for d in check(root, config=config).diagnostics] == ["app/a.py"]
    # Named explicitly: checked, unless --force-exclude.
    assert [d.path for d in check(root, paths=["legacy/b.py"], config=config).diagnostics] == ["legacy/b.py"]
    assert check(root, paths=["legacy/b.py"], config=config, force_exclude=True).diagnostics == []


# -- cache, facts, parallel --------------------------------------------------------


def test_cache_reuses_results_and_sees_changes(tmp_path):
    root = project(tmp_path, {"a.py": "flag()\n", "b.py": "x = 1\n"})
    first = check(root, cache=True)
    assert first.cache_hits == 0
    assert (root / ".backendlint_cache" / ".gitignore").is_file()
    second = check(root, cache=True)
    assert second.cache_hits == 2
    assert second.diagnostics == first.diagnostics
    (root / "b.py").write_text("flag()\nflag()\n")
    third = check(root, cache=True)
    assert third.cache_hits == 1
    assert [d.path for d in third.diagnostics] == ["a.py", "b.py", "b.py"]


def test_changed_fact_invalidates_files_that_read_it(tmp_path):
    root = project(tmp_path, {"views.py": "known()\n", "lib.py": "x = 1\n"})
    assert check(root, cache=True).diagnostics == []
    (root / "lib.py").write_text("def helper():\n    pass\n")
    result = check(root, cache=True)
    assert [d.path for d in result.diagnostics] == ["views.py"]


def test_warm_run_neither_merges_nor_reads_facts(tmp_path, monkeypatch):
    merges = []
    original = FakeDefs.merge
    monkeypatch.setattr(FakeDefs, "merge", lambda self, parts: merges.append(1) or original(self, parts))
    root = project(tmp_path, {"views.py": "known()\n", "lib.py": "def helper():\n    pass\n"})
    first = check(root, cache=True)
    assert [d.path for d in first.diagnostics] == ["views.py"] and merges == [1]
    facts_file = root / ".backendlint_cache" / "facts.json"
    facts_file.write_text("not json: a warm run must not even read this")
    second = check(root, cache=True)
    assert second.cache_hits == 2 and second.diagnostics == first.diagnostics
    assert merges == [1] and second.warnings == []
    # A change that leaves every file's facts as they were keeps the other results.
    (root / "lib.py").write_text("def helper():\n    return 1\n")
    third = check(root, cache=True)
    assert third.cache_hits == 1 and third.diagnostics == first.diagnostics
    assert merges == [1]


def test_lost_fact_parts_are_collected_again(tmp_path):
    root = project(tmp_path, {"views.py": "known()\n", "lib.py": "def helper():\n    pass\n"})
    first = check(root, cache=True)
    assert [d.path for d in first.diagnostics] == ["views.py"]
    cache = root / ".backendlint_cache"
    assert json.loads((cache / "parts.json").read_text())["lib.py"]["parts"] == {"fake_defs": ["helper"]}
    assert "parts" not in json.loads((cache / "index.json").read_text())["lib.py"]  # the small file
    # The index is intact but the parts and merged facts are gone (an interrupted run,
    # a user tidying up): the next merge collects the parts again.
    (cache / "parts.json").unlink()
    (cache / "facts.json").write_text("{}")
    (root / "views.py").write_text("x = 1\nknown()\n")
    second = check(root, cache=True)
    assert [(d.path, d.line) for d in second.diagnostics] == [("views.py", 2)]
    assert json.loads((cache / "parts.json").read_text())["lib.py"]["parts"] == {"fake_defs": ["helper"]}


def _record_merges(monkeypatch, log: Path) -> None:
    """Append the merging process's pid to ``log`` (a list would not leave a child)."""
    original = FakeDefs.merge

    def merge(self, parts):
        with open(log, "a") as fh:
            fh.write(f"{os.getpid()}\n")
        return original(self, parts)

    monkeypatch.setattr(FakeDefs, "merge", merge)


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_cold_index_is_built_in_a_child_process(tmp_path, monkeypatch, jobs):
    from backendlint.engine import project as project_module

    monkeypatch.setattr(project_module, "ISOLATE_MIN", 1)
    log = tmp_path / "merges.log"
    _record_merges(monkeypatch, log)
    (tmp_path / "p").mkdir()
    root = project(tmp_path / "p", {"views.py": "known()\n", "lib.py": "def helper():\n    pass\n"})
    first = check(root, cache=True, jobs=jobs)
    assert [d.path for d in first.diagnostics] == ["views.py"] and first.warnings == []
    pids = log.read_text().split()
    assert len(pids) == 1 and pids[0] != str(os.getpid())  # merged in the child
    # The child saved every store: a warm run reads results, merges nothing.
    cache = root / ".backendlint_cache"
    assert json.loads((cache / "parts.json").read_text())["lib.py"]["parts"] == {"fake_defs": ["helper"]}
    assert json.loads((cache / "facts.json").read_text())["fake_defs"]["data"] == ["helper"]
    assert "lib.py" in json.loads((cache / "index.json").read_text())
    second = check(root, cache=True, jobs=jobs)
    assert second.cache_hits == 2 and second.diagnostics == first.diagnostics
    assert len(log.read_text().split()) == 1
    # A changed file: its fact is merged again.
    (root / "lib.py").write_text("def other():\n    pass\n")
    assert check(root, cache=True, jobs=jobs).diagnostics == []
    assert check(root, jobs=jobs).diagnostics == []  # and without a cache


def test_index_child_failure_falls_back_to_this_process(tmp_path, monkeypatch):
    from backendlint.engine import project as project_module

    monkeypatch.setattr(project_module, "ISOLATE_MIN", 1)
    monkeypatch.setattr(project_module._Index, "build_merged", lambda self, *a: os._exit(3))
    root = project(tmp_path, {"views.py": "known()\n", "lib.py": "def helper():\n    pass\n"})
    result = check(root, cache=True)
    assert [d.path for d in result.diagnostics] == ["views.py"] and result.warnings == []
    assert json.loads((root / ".backendlint_cache" / "facts.json").read_text())["fake_defs"]["data"] == ["helper"]


def test_index_child_passes_its_warnings_on(tmp_path, monkeypatch):
    from backendlint.engine import project as project_module

    root = project(tmp_path, {"views.py": "known()\n", "lib.py": "def helper():\n    pass\n"})
    (root / "blocker").write_text("a file where the cache directory should be")
    config = Config(base=root, cache_dir="blocker/cache")
    here = check(root, cache=True, config=config)
    monkeypatch.setattr(project_module, "ISOLATE_MIN", 1)
    child = check(root, cache=True, config=config)
    assert [d.path for d in child.diagnostics] == [d.path for d in here.diagnostics] == ["views.py"]
    assert sorted(child.warnings) == sorted(here.warnings)
    assert any("cannot write cache" in w for w in child.warnings)


@pytest.mark.parametrize("value", [
    {}, [], "s", 1, None, 2.5, float("nan"), True,
    {"k": {"sha": "ab", "versions": {"x": 1}, "parts": {"m": "a.b", "f": {"f": {"l": 1, "w": [["x", 2]]}}}}},
    {"a": [[[[[1, [2, {"deep": "é\u2028\n\"q\""}]]]]]], "b": {}, "c": []},
    {"tuple": (1, (2, "x")), "ints": {1: "a", 2: {"b": (3,)}}, "mixed": [{}, [], [{}], {"": ""}]},
    [{"a": 1}, [2, [3, [4, [5, [6]]]]], "\x00\ud800 escaped"],
])
def test_write_json_writes_what_json_dump_writes(value):
    import io

    from backendlint.engine.cache import write_json

    for depth in (0, 1, 2, 4, 8):
        out = io.StringIO()
        write_json(out, value, depth)
        assert out.getvalue() == json.dumps(value, separators=(",", ":"))


@pytest.mark.parametrize("value", [
    {"a": [1, "x", None, True, 1.5, {"b": []}]}, [], {}, "s",
    {"a": (1,)}, {1: "int key"}, [float("nan")], {"a": {"b": {2}}}, [object()],
])
def test_json_exact_agrees_with_a_round_trip(value):
    from backendlint.engine.project import json_exact

    try:
        round_trip = json.loads(json.dumps(value)) == value
    except (TypeError, ValueError):
        round_trip = False
    assert json_exact(value) is round_trip


def test_in_child_returns_the_result_or_none():
    from backendlint.engine.processes import in_child

    assert in_child(lambda: {"a": [1, "b"]}) == {"a": [1, "b"]}
    assert in_child(lambda: 1 / 0) is None
    assert in_child(lambda: os._exit(3)) is None
    assert in_child(lambda: (lambda: 1)) is None  # a result that cannot be pickled


def test_facts_cover_the_project_when_one_file_is_named(tmp_path):
    root = project(tmp_path, {"app/views.py": "known()\n", "app/lib.py": "def helper():\n    pass\n"})
    result = check(root, paths=["app/views.py"], cache=True)
    assert [d.path for d in result.diagnostics] == ["app/views.py"]
    index = json.loads((root / ".backendlint_cache" / "index.json").read_text())
    assert "app/lib.py" in index


def test_without_a_project_marker_the_named_paths_are_the_project(tmp_path):
    from backendlint.engine.discovery import ROOT_MARKERS

    if any((d / m).exists() for d in [tmp_path, *tmp_path.parents] for m in ROOT_MARKERS):
        pytest.skip("a project marker above the temporary directory")
    loose = tmp_path / "loose"
    for name, text in {"views.py": "known()\n", "lib.py": "def helper():\n    pass\n"}.items():
        (loose / name).parent.mkdir(parents=True, exist_ok=True)
        (loose / name).write_text(text)
    # `check /tmp/x.py` must not index the whole of /tmp: lib.py is not read.
    assert check(loose, paths=["views.py"]).diagnostics == []
    assert [d.path for d in check(loose, paths=["views.py", "lib.py"]).diagnostics] == ["views.py"]
    assert [d.path for d in check(loose).diagnostics] == ["views.py"]
    # With a marker, the project around a named file is indexed.
    (loose / "setup.py").write_text("")
    assert [d.path for d in check(loose, paths=["views.py"]).diagnostics] == ["views.py"]


def test_corrupt_cache_is_a_warning(tmp_path):
    root = project(tmp_path, {"a.py": "flag()\n"})
    check(root, cache=True)
    for f in (root / ".backendlint_cache").glob("*.json"):
        f.write_text("{not json")
    result = check(root, cache=True)
    assert [d.path for d in result.diagnostics] == ["a.py"]
    assert any("cache" in w for w in result.warnings)


def test_unwritable_cache_is_a_warning(tmp_path):
    root = project(tmp_path, {"a.py": "flag()\n"})
    (root / "blocker").write_text("a file where the cache directory should be")
    config = Config(base=root, cache_dir="blocker/cache")
    result = check(root, cache=True, config=config)
    assert [d.path for d in result.diagnostics] == ["a.py"]
    assert any("cannot write cache" in w for w in result.warnings)


def test_parallel_output_is_identical_to_serial(tmp_path):
    files = {f"pkg/m{i}.py": "flag()\n" * (i % 3) + "other()\n" for i in range(40)}
    files["pkg/bad.py"] = "def (:\n"
    files["pkg/crash.py"] = "crash()\n"
    root = project(tmp_path, files)
    serial = check(root, jobs=1).diagnostics
    parallel = check(root, jobs=2).diagnostics
    assert serial == parallel
    assert len(serial) > 40


def test_checked_files_are_never_written(tmp_path):
    root = project(tmp_path, {"a.py": "flag()\n", "b.py": "def (:\n"})
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in root.glob("*.py")}
    check(root, cache=True)
    assert before == {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in root.glob("*.py")}


# -- positions ---------------------------------------------------------------------

POSITION_SOURCES = [
    "import os\n\n\n@decorator\n# comment\n@other(1,\n  2)\ndef f(a,\n      b):\n    return g(a)\n\n\nclass C(Base):\n    x = call()\n\n    async def m(self):\n        await self.h(1)\n",
    "def f():\n    pass\n\n\nif True:\n    def f():\n        return call()\n\nx = [call(i) for i in y]\n",
    "def dup():\n    a()\n\ndef dup():\n    b()\n",
    "# header\r\n\r\ndef f():\r\n    return call(\r\n        1)\r\n\r\nclass K:\r\n    def m(self):\r\n        return 2\r\n",
    "async def handler(request):\n\tif request.method == 'POST':\n\t\tx = \\\n\t\t\tcall()\n",
    'def s():\n    """\ndef s():\n    """\n    return call()\n',
    "class A: pass\nclass B(A):\n    def f(self): return call(1)\n",
    # Placing a def by its text: a docstring holds an exact copy (ambiguous: the
    # standard parser decides), a copy with another body, the same method name in two
    # classes, the name on a continuation line (with a copy that must not be taken),
    # and a form feed (a character str.splitlines() would split on).
    'class A:\n    """\n\n    def run(self):\n        return call(1)\n    """\n\n    def run(self):\n        return call(1)\n',
    'class B:\n    """\n    def go(self):\n        return 0\n    """\n    def go(self):\n        return call(2)\n',
    "class P:\n    def get(self):\n        return call(1)\nclass Q:\n    def get(self):\n        return call(2)\n",
    'class C:\n    """\n    def w(self):\n        return call(3)\n    """\n    def \\\n        w(self):\n        return call(3)\n',
    "class F:\n\x0c\n    def m(self):\n        return call()\n\x0cdef g():\n    return call()\n",
    'def top():\n    return call()\n"""\ndef top():\n    return call()\n"""\n',
    # Nested defs and classes: located by generating the innermost one alone.
    (
        "class View(Base):\n"
        "    # a comment\n"
        "    @method_decorator(login_required)\n"
        "    def post(self, request,\n"
        "             *args):\n"
        "        text = \"\"\"\n"
        "  verbatim\n"
        "\"\"\"; call(text)\n"
        "        if request.method == 'POST':\n"
        "            x = call(a,\n"
        "                     b)  # continued\n"
        "        return [call(i)\n"
        "  for i in x]\n"
        "\n"
        "    class Meta:\n"
        "        def save(self):\n"
        "            def inner():\n"
        "                return call(é, 'ü')\n"
        "            return inner\n"
        "\n"
        "\n"
        "class Other:\n"
        "    def post(self):\n"
        "        call()\n"
        "\n"
        "    def post(self):  # redefined: ambiguous, falls back to the class\n"
        "        call(2)\n"
        "\n"
        "    async def get(self):\n"
        "        await call()\n"
    ),
    "def outer():\n  def mid():\n      class K:\n       def m(self):\n        return call(\n  1)\n      return K\n  return mid\n",
    "class Tabs:\n\tdef m(self):\n\t\tif x:\n\t\t\treturn call(\n  1)\n",
    "class T:\r\n    def m(self):\r\n        return call(\r\n            1)\r\n",
]


@pytest.mark.parametrize("source", POSITION_SOURCES)
def test_partial_positions_equal_full_positions(source):
    from backendlint.engine.positions import _codegen_positions, positions as _positions
    from backendlint.engine.traversal import children_of, walk

    module = cst.parse_module(source)
    nodes = [n for n in walk(module) if not isinstance(n, cst.Module)]
    full, _, _ = _codegen_positions(module, module)
    expected = {
        id(n): (full[n].start.line, full[n].start.column + 1, full[n].end.line, full[n].end.column + 1)
        for n in nodes
        if n in full
    }
    got = _positions(module, [(n, None, ()) for n in nodes], source)
    assert {k: got.get(k) for k in expected} == expected
    # with the top-level statement known (as the traversal tells it)
    tops = [(n, stmt, ()) for stmt in module.body for n in walk(stmt)]
    got = _positions(module, tops, source)
    assert {k: got.get(k) for k in expected} == expected
    # with the enclosing defs/classes known too (as a report made during the traversal)
    scoped = []
    work = [(stmt, stmt, ()) for stmt in module.body]
    while work:
        node, top, scope = work.pop()
        scoped.append((node, top, scope))
        inner = scope + (node,) if isinstance(node, (cst.FunctionDef, cst.ClassDef)) else scope
        work.extend((child, top, inner) for child in children_of(node))
    memo: dict = {}
    got = _positions(module, scoped, source, memo)
    assert {k: got.get(k) for k in expected} == expected
    # and asked again with the tables kept from the first call (as lines_of leaves them)
    assert _positions(module, scoped, source, memo) == got
    # a wrong hint (every node said to be in the last def/class seen) costs time only
    units = [n for n, _, _ in scoped if isinstance(n, (cst.FunctionDef, cst.ClassDef))]
    if units:
        wrong = [(n, units[-1], (units[-1],)) for n, _, _ in scoped]
        got = _positions(module, wrong, source)
        assert {k: got.get(k) for k in expected} == expected


def test_valid_code_that_libcst_validation_rejects_is_checked(tmp_path):
    # LibCST's node validation raises TypeError on this valid line (LibCST #1061); the
    # parse skips validation, so the file is checked like any other.
    root = project(tmp_path, {"m.py": "y = () if 0 else(lambda:())\nflag()\n"})
    diags = check(root).diagnostics
    assert [(d.path, d.code, d.line) for d in diags] == [("m.py", "BL901", 2)]


def test_parse_without_validation_builds_the_same_tree_and_restores_validation():
    from backendlint.engine.parse import parse

    for source in POSITION_SOURCES + [
        "async def f():\n    async with a as b, c:\n        return [x async for x in y if await x]\n",
        "match p:\n    case {'a': [1, *rest]} | Point(x=0):\n        pass\n",
        "x = f'{a!r:>{w}}' + b'\\x00' + r'\\d'\n@dec\nclass C(B, metaclass=M):\n    y: int = 1\n",
    ]:
        tree = parse(source)
        expected = cst.parse_module(source)
        assert tree.deep_equals(expected) and tree.code == expected.code
    with pytest.raises(cst.CSTValidationError):
        cst.Name("not an identifier")  # validation is back on for nodes built by hand


def test_finding_in_a_file_with_a_huge_expression_is_still_reported(tmp_path):
    huge = "x = " + "+".join(["1"] * 2400) + "\n"  # CPython still accepts this
    root = project(tmp_path, {"m.py": huge + "flag()\n", "n.py": "flag()\n"})
    diags = check(root).diagnostics
    assert ("n.py", "BL901") in [(d.path, d.code) for d in diags]
    assert "BL901" in [d.code for d in diags if d.path == "m.py"]


def test_files_over_max_file_size_are_skipped_with_a_warning(tmp_path):
    big = "flag()\n" + "DATA = (\n" + "    ('x', 'y'),\n" * 2000 + ")\n"
    root = project(tmp_path, {"data.py": big, "app.py": "flag()\n"})
    result = check(root, config=Config(base=root, max_file_size=10_000))
    assert [d.path for d in result.diagnostics] == ["app.py"]
    assert any(w.startswith("skipped data.py: ") and "max-file-size" in w for w in result.warnings)
    assert [d.path for d in check(root).diagnostics] == ["app.py", "data.py"]  # default limit: 1 MiB


def test_expression_chain_cpython_refuses_is_a_syntax_error_not_a_hang(tmp_path):
    chain = "x = " + "+".join(["1"] * 100000) + "\n"
    root = project(tmp_path, {"chain.py": "flag()\n" + chain, "ok.py": "flag()\n"})
    diags = check(root).diagnostics
    assert [(d.path, d.code) for d in diags] == [("chain.py", "BL000"), ("ok.py", "BL901")]
    assert "too complex" in diags[0].message


class CallsProjectFunction(Rule):
    """Reports calls to project functions; its text token never occurs, so only the
    fact-driven prefilter (prefilter_names) can admit a file."""

    code = "BL903"
    name = "project-call"
    summary = "test rule with a fact-driven prefilter"
    requires = ("never-in-any-source",)
    facts = ("fake_defs",)

    @classmethod
    def prefilter_names(cls, facts, options=None):
        return frozenset(facts.get("fake_defs", []))

    def visit_Call(self, node: cst.Call) -> None:
        if isinstance(node.func, cst.Name) and node.func.value in self.ctx.facts.get("fake_defs", []):
            self.report(node, f"calls project function {node.func.value}()")


@pytest.mark.parametrize("jobs", [1, 2])
def test_fact_driven_prefilter_admits_files_naming_project_functions(tmp_path, monkeypatch, jobs):
    monkeypatch.setattr(registry, "_RULES", [CallsProjectFunction])
    root = project(
        tmp_path,
        {
            "lib.py": "def place_order():\n    pass\n",
            "view.py": "from lib import place_order\n\nplace_order()\n",
            # Only a longer identifier containing the name: not admitted, not parsed
            # by LibCST; its syntax error is still reported (issue #22).
            "other.py": "place_orders = 1\nplace_orders(\n",
            "more.py": "x = 1\n" * 300,
        },
    )
    got = [(d.path, d.line, d.code) for d in check(root, jobs=jobs).diagnostics]
    assert got == [("other.py", 2, "BL000"), ("view.py", 3, "BL903")]


class BrokenNames(CallsProjectFunction):
    code = "BL905"
    name = "broken-names"

    @classmethod
    def prefilter_names(cls, facts, options=None):
        raise KeyError("a bug in the rule's prefilter")


@pytest.mark.parametrize("jobs", [1, 2])
def test_failing_prefilter_names_admit_every_file_and_the_run_goes_on(tmp_path, monkeypatch, jobs):
    monkeypatch.setattr(registry, "_RULES", [BrokenNames, Flag])
    root = project(
        tmp_path,
        {
            "lib.py": "def place_order():\n    pass\n",
            "view.py": "from lib import place_order\n\nplace_order()\n",
            "flags.py": "flag()\n",
        },
    )
    got = [(d.path, d.line, d.code) for d in check(root, jobs=jobs).diagnostics]
    assert got == [("flags.py", 1, "BL901"), ("view.py", 3, "BL905")]


class WordAndPath(Rule):
    """Reports zap() calls outside tests: a whole-word pattern and a path skip."""

    code = "BL904"
    name = "zap-call"
    summary = "test rule with requires_re and skips_path"
    requires_re = r"\bzap\b"

    @classmethod
    def skips_path(cls, relpath):
        return relpath.startswith("tests/")

    def visit_Call(self, node: cst.Call) -> None:
        if isinstance(node.func, cst.Name) and node.func.value == "zap" and not self.skips_path(self.ctx.relpath):
            self.report(node, "zap called")


def test_word_pattern_and_path_skip_decide_what_is_parsed(tmp_path, monkeypatch):
    monkeypatch.setattr(registry, "_RULES", [WordAndPath])
    root = project(
        tmp_path,
        {
            "a.py": "zap()\n",
            # Neither is parsed by LibCST: "zapper" is not the word, and no chosen rule
            # looks at tests. Their syntax errors are still reported (issue #22), from
            # the standard parser.
            "b.py": "zapper = 1\nzapper(\n",
            "tests/test_a.py": "zap()\ndef (:\n",
        },
    )
    from backendlint.engine import checker

    parsed = []
    real = checker.parse
    monkeypatch.setattr(checker, "parse", lambda source: parsed.append(source) or real(source))
    got = [(d.path, d.code) for d in check(root).diagnostics]
    assert got == [("a.py", "BL904"), ("b.py", "BL000"), ("tests/test_a.py", "BL000")]
    assert parsed == ["zap()\n"]
    unfiltered = [(d.path, d.code) for d in check(root, prefilter=False).diagnostics]
    assert unfiltered == got
    assert len(parsed) == 4


# -- the collectors' ast walks ------------------------------------------------------------


def _own_functions():
    here = Path(__file__).resolve().parents[1] / "backendlint"
    for path in sorted(here.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                yield node


def test_descendants_is_ast_walk():
    from backendlint.engine.facts import descendants

    for func in _own_functions():
        assert descendants(func) == list(ast.walk(func))


def test_body_statements_are_body_nodes_without_expressions():
    from backendlint.engine.facts import body_nodes, body_statements

    holds = (ast.stmt, ast.excepthandler, ast.match_case)
    tricky = ast.parse(textwrap.dedent("""
        def f(x):
            def inner():
                return 1
            match x:
                case 1:
                    y = lambda: 2
            try:
                pass
            except ValueError:
                with a() as b:
                    return b
            else:
                class C:
                    z = 3
            finally:
                for i in x:
                    yield i
    """)).body[0]
    for func in [tricky, *_own_functions()]:
        expected = [n for n in body_nodes(func.body) if isinstance(n, holds)]
        assert list(body_statements(func.body)) == expected


def test_returns_value_finds_what_ast_walk_finds():
    from backendlint.knowledge.models import _returns_value

    samples = ["def f():\n    return\n", "def f():\n    def g():\n        return 1\n", "def f():\n    x = lambda: 1\n",
               "def f(x):\n    match x:\n        case 1:\n            return x\n",
               "def f():\n    try:\n        pass\n    except E:\n        return 2\n"]
    funcs = [ast.parse(s).body[0] for s in samples] + list(_own_functions())
    for func in funcs:
        expected = any(isinstance(n, ast.Return) and n.value is not None for n in ast.walk(func))
        assert _returns_value(func) == expected
    assert [_returns_value(f) for f in funcs[:5]] == [False, True, False, True, True]


EVERY_SYNTAX = '''\
# -*- coding: utf-8 -*-
from __future__ import annotations
import os.path as p, sys
from . import x
from ..a.b import (c as d, e)
from m import *
@dec.attr(1, *a, k=2, **kw)
class C(Base, metaclass=M):
    x: int = 1
    async def f[T](self, a, /, b: int = 2, *args, c, d=3, **kw) -> list[T]:
        global g
        nonlocal_ = lambda q, *r, s=1, **t: (q, r)
        async with a as (b, c), d:
            async for i in aiter():
                await i
        with open(p) as fh, other():
            pass
        y = [j async for j in g if j] + {k: v for k, v in z.items()} | {s for s in t}
        yield from (w if w % 2 else -w for w in range(3) if w)
        del a[1:2, ::3], b.c
        assert x, "msg"
        raise E from err
        return f"{a!r:>{width}} {b=}" + b"\\x00" r"\\d" u"u"
try:
    pass
except* (ValueError, TypeError) as eg:
    pass
else:
    x = 1 if y else 2
finally:
    x += 1; x -= 1; x **= 2; x //= 3; x @= m; x >>= 1; x <<= 1; x ^= 1; x &= 1; x |= 1
match command.split():
    case [action, *rest] if rest:
        pass
    case {"k": 1, **others}:
        pass
    case Point(x=0, y=_) | [1, 2] | {"a": _} as whole:
        pass
    case str() | None | True | -1 | 1 + 2j:
        pass
while not (a < b <= c != d is not e in f not in g):
    if ~a and +b or -c: break
    elif (walrus := 1): continue
    else: ...
type Alias[K] = dict[K, int]
for i, (j, *k) in enumerate(items): print(*i, sep='', **j)
x = a if b else c; y = a @ b % c // d ** e >> f << g & h ^ i | j
with (yield): pass
def outer[*Ts, **P]():
    v = 1
    def inner():
        nonlocal v
    match v:
        case (1, 2):
            pass
'''
# Syntax newer than some LibCST releases the project accepts (checked where parsed).
NEWER_SYNTAX = ['x = t"a{v}c"\n', "y = {**d for d in ds}\n", "lazy import a.b\n", "lazy from c import d\n"]


def test_generated_children_are_the_runtime_checked_ones():
    """children_of's per-type functions trust the fields' annotations: on real code and
    on every kind of syntax, they must list what the runtime checks list."""
    import backendlint
    from backendlint.engine.parse import parse
    from backendlint.engine.traversal import _generic_children, children_of, walk

    trees = [parse(source) for source in [EVERY_SYNTAX] + POSITION_SOURCES]
    for folder in (Path(backendlint.__file__).parent, Path(__file__).parent):
        trees.extend(parse(path.read_text("utf-8")) for path in sorted(folder.rglob("*.py")))
    for source in NEWER_SYNTAX:
        try:
            trees.append(parse(source))
        except cst.ParserSyntaxError:
            pass
    types = set()
    for tree in trees:
        for node in walk(tree):
            types.add(type(node))
            assert [id(n) for n in children_of(node)] == [id(n) for n in _generic_children(node)], type(node)
    assert len(types) >= 105  # the test sees (nearly) every node type


@pytest.mark.parametrize("literal", [
    "''", '""', "''''''", '""""""', "'a'", '"a b"', "'''a\nb'''", '"""a"b"""', '""""a"""', "'\"'",
    "r'a'", "R'a'", "u'a'", "U\"é\"", "'ü€'", "b'a'", "rb'a'", "Br'a'", "'a\\nb'", "r'a\\d'",
    "'''a\r\nb'''", "'a\\\nb'", "'{x}'", "'''''a'''",
])
def test_string_value_is_evaluated_value(literal):
    from backendlint.engine.traversal import string_value

    node = cst.parse_expression(literal)
    assert isinstance(node, cst.SimpleString)
    assert string_value(node) == node.evaluated_value
