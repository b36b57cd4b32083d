"""Helpers for tests: lint a snippet or a small multi-file project, in-process."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path
from typing import Dict, List, Optional, Union

from backendlint.engine.config import Config
from backendlint.engine.diagnostics import Diagnostic
from backendlint.engine.run import RunOptions, run

DEFAULT_NAME = "example.py"


def write_project(root: Path, files: Dict[str, str]) -> None:
    (root / "pyproject.toml").write_text("[project]\nname = 'example'\n", encoding="utf-8")
    for name, source in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source), encoding="utf-8")


def lint(
    tmp_path: Path,
    files: Union[str, Dict[str, str]],
    select: Optional[List[str]] = None,
    rule_options: Optional[Dict[str, dict]] = None,
    prefilter: bool = True,
    check: Optional[List[str]] = None,
    jobs: int = 1,
) -> List[Diagnostic]:
    """Diagnostics for ``files`` (a source, or {relative path: source}) in a fresh project.

    ``check`` names the files to check (default: the whole project, as a directory);
    ``jobs`` above 1 checks them in worker processes.
    Paths in the diagnostics are relative to the project root.
    """
    if isinstance(files, str):
        files = {DEFAULT_NAME: files}
    write_project(tmp_path, files)
    config = Config(base=tmp_path)
    if rule_options:
        config.rules = rule_options
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        targets = [Path(p) for p in check] if check else [Path(".")]
        result = run(targets, config, RunOptions(select=select, jobs=jobs, use_cache=False, prefilter=prefilter))
    finally:
        os.chdir(cwd)
    assert not result.errors, result.errors
    return result.diagnostics


def codes_at(diags: List[Diagnostic]) -> List[tuple]:
    """(code, path, line) of each diagnostic, for compact assertions."""
    return [(d.code, d.path, d.line) for d in diags]
