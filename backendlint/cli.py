"""Command line: ``backendlint check``, ``backendlint rule``, ``backendlint rules``.

Imports of the engine (and so of LibCST) happen inside the commands, so that
``backendlint --version`` and ``--help`` start fast.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import List, Optional, Tuple

import click

from backendlint import __version__

# The formatters live in backendlint.reporting, imported only when a check runs (it costs
# ~50 ms of start-up); tests/test_cli.py checks that this list names exactly those.
FORMATS = ["full", "concise", "json", "json-lines", "sarif", "github", "gitlab", "junit"]


def _split(values: Tuple[str, ...]) -> List[str]:
    out: List[str] = []
    for value in values:
        out.extend(part.strip() for part in value.split(",") if part.strip())
    return out


def _fail(message: str) -> None:
    click.echo(f"backendlint: error: {message}", err=True)
    sys.exit(2)


def _load() -> None:
    from backendlint.plugins import load

    load()


def main() -> None:
    """Entry point: an unexpected exception is exit code 2 with a message, never exit 1
    (which means "findings") and never a bare traceback."""
    try:
        cli()
    except Exception as exc:  # noqa: BLE001
        import traceback

        detail = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        if os.environ.get("BACKENDLINT_DEBUG"):
            click.echo(detail, err=True)
        click.echo(
            f"backendlint: internal error: {type(exc).__name__}: {exc}\n"
            "(set BACKENDLINT_DEBUG=1 for the traceback, and please report it)",
            err=True,
        )
        sys.exit(2)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", "-V", prog_name="backendlint", message="%(prog)s %(version)s")
def cli() -> None:
    """backendlint: find the bugs web backends only show in production.

    Unbounded retries, non-idempotent POST handlers, writes outside transactions,
    N+1 query loops, in Django, DRF, Flask, FastAPI, SQLAlchemy and Celery code.
    """


@cli.command()
@click.argument("paths", nargs=-1, type=str)
@click.option("--select", multiple=True, help="Rules to enable: codes, prefixes (BL4), names (n-plus-one) or ALL. Comma-separated.")
@click.option("--ignore", multiple=True, help="Rules to disable (same forms as --select).")
@click.option("--extend-select", multiple=True, help="Rules to enable in addition to the selected ones.")
@click.option("--output-format", type=click.Choice(FORMATS), default=None, help="Output format (default: full).")
@click.option("-o", "--output-file", type=click.Path(dir_okay=False, writable=True), default=None, help="Write the report to this file instead of standard output.")
@click.option("--statistics", is_flag=True, help="Show a count per rule instead of each finding.")
@click.option("--min-severity", type=click.Choice(["low", "medium", "high"]), default=None, help="Show findings of this severity and above (default: medium; low shows everything).")
@click.option("--exit-zero", is_flag=True, help="Exit 0 even when there are findings (errors still exit 2).")
@click.option("--no-cache", is_flag=True, help="Neither read nor write the cache.")
@click.option("--config", "config_path", type=str, default=None, help="Configuration file (pyproject.toml or a backendlint TOML file).")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=None, help="Worker processes (default: all cores; 1 runs in-process).")
@click.option("--quiet", "-q", is_flag=True, help="Print findings only: no summary line, no warnings.")
@click.option("--force-exclude", is_flag=True, help="Apply exclusions to files named on the command line too (for pre-commit).")
@click.option("--stdin-filename", type=str, default=None, help="The name of the file whose source is read from standard input (path '-').")
@click.option("--target-version", type=str, default=None, help="The Python version whose grammar the files must parse with: py39 ... py313 (default: the newest known).")
@click.option("--no-prefilter", is_flag=True, hidden=True, help="Parse every file, even those no rule can fire on (for testing).")
def check(
    paths: Tuple[str, ...],
    select: Tuple[str, ...],
    ignore: Tuple[str, ...],
    extend_select: Tuple[str, ...],
    output_format: Optional[str],
    output_file: Optional[str],
    statistics: bool,
    min_severity: Optional[str],
    exit_zero: bool,
    no_cache: bool,
    config_path: Optional[str],
    jobs: Optional[int],
    quiet: bool,
    force_exclude: bool,
    stdin_filename: Optional[str],
    target_version: Optional[str],
    no_prefilter: bool,
) -> None:
    """Check PATHS (files or directories; default: the current directory)."""
    _load()
    from backendlint.engine import registry
    from backendlint.engine.config import ConfigError, find_config, load_config
    from backendlint.engine.run import RunOptions, run
    from backendlint.reporting import FORMATTERS, statistics as format_statistics

    if stdin_filename is not None and not paths:
        paths = ("-",)  # as ruff: --stdin-filename alone reads standard input
    path_list = list(paths) or ["."]
    stdin_source = None
    if "-" in path_list and path_list != ["-"]:
        _fail("'-' (standard input) cannot be combined with other paths")
    if stdin_filename is not None and path_list != ["-"]:
        _fail("--stdin-filename names the source read from standard input: give the path '-' (or no path), not files to check")
    if target_version is not None:
        from backendlint.engine.config import check_target_version

        try:
            check_target_version(target_version, "--target-version")
        except ConfigError as exc:
            _fail(str(exc))
    if path_list == ["-"]:
        # Bytes, decoded exactly as files are (BOM, PEP 263 coding cookie) by the run.
        stdin_source = sys.stdin.buffer.read()

    try:
        if config_path:
            config = load_config(Path(config_path))
        else:
            start = Path(stdin_filename).parent if (stdin_source is not None and stdin_filename) else Path(path_list[0] if stdin_source is None else ".")
            if not start.exists():
                start = Path.cwd()
            config = load_config(find_config(start))
        selectors = _split(select) or None
        ignores = _split(ignore)
        extends = _split(extend_select)
        for selector in (selectors or []) + ignores + extends:
            registry.check_selector(selector)
    except ConfigError as exc:
        _fail(str(exc))
    except registry.SelectorError as exc:
        _fail(str(exc))

    options = RunOptions(
        select=selectors,
        ignore=ignores,
        extend_select=extends,
        jobs=jobs,
        use_cache=not no_cache,
        force_exclude=force_exclude,
        stdin_source=stdin_source,
        stdin_filename=stdin_filename,
        prefilter=not no_prefilter,
        target_version=target_version,
    )
    result = run([Path(p) for p in path_list] if stdin_source is None else [], config, options)

    for message in result.errors:
        click.echo(f"backendlint: error: {message}", err=True)
    if not quiet:
        for message in result.warnings:
            click.echo(f"backendlint: warning: {message}", err=True)

    from backendlint.engine.diagnostics import split_by_severity

    threshold = min_severity or config.min_severity
    diags, hidden = split_by_severity(result.diagnostics, threshold)
    fmt = output_format or "full"
    if statistics:
        text = format_statistics(diags, fmt)
    else:
        enabled = result.rules
        color = fmt == "full" and output_file is None and sys.stdout.isatty() and "NO_COLOR" not in os.environ
        text = FORMATTERS[fmt](diags, rules=enabled, color=color)
    findings = [d for d in diags if not d.is_error]
    errors = [d for d in diags if d.is_error]
    if fmt in ("full", "concise") and not quiet and not statistics:
        files = f"{result.files_checked} {'file' if result.files_checked == 1 else 'files'} checked"
        if result.errors and not diags:
            pass  # not "All checks passed!": some paths were not checked (errors above)
        elif diags:
            text += f"Found {len(diags)} {'problem' if len(diags) == 1 else 'problems'} in {files}.\n"
        else:
            text += f"All checks passed! ({files})\n"
        if hidden:
            text += _hidden_line(len(hidden), threshold) + "\n"
    elif hidden and not quiet:
        click.echo(f"backendlint: {_hidden_line(len(hidden), threshold)}", err=True)
    if output_file:
        try:
            Path(output_file).write_text(text, encoding="utf-8")
        except OSError as exc:
            _fail(f"cannot write {output_file}: {exc.strerror or exc}")
    else:
        click.echo(text, nl=False)

    if result.errors or errors:
        sys.exit(2)
    if findings and not exit_zero:
        sys.exit(1)
    sys.exit(0)


def _hidden_line(count: int, threshold: str) -> str:
    """``3 low-severity findings hidden (--min-severity low shows them).``"""
    below = "low" if threshold == "medium" else "low- or medium"
    noun = "finding" if count == 1 else "findings"
    return f"{count} {below}-severity {noun} hidden (--min-severity low shows {'it' if count == 1 else 'them'})."


@cli.command("rule")
@click.argument("key")
def rule_cmd(key: str) -> None:
    """Print the page of rule KEY (a code such as BL101 or a name such as unbounded-retry)."""
    _load()
    import difflib

    from backendlint.docs import rule_page
    from backendlint.engine import registry

    rule = registry.find_rule(key)
    if rule is None:
        candidates = [r.code for r in registry.all_rules()] + [r.name for r in registry.all_rules()]
        close = difflib.get_close_matches(key, candidates, n=1, cutoff=0.5)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        _fail(f"unknown rule '{key}'{hint} (see `backendlint rules`)")
    page = rule_page(rule)
    click.echo(page if page else f"# {rule.code} {rule.name}\n\n{rule.summary}\n", nl=not page.endswith("\n") if page else False)


@cli.command("rules")
def rules_cmd() -> None:
    """List every rule: code, name and summary."""
    _load()
    from backendlint.engine import registry

    rules = registry.all_rules()
    width = max((len(r.name) for r in rules), default=0)
    for r in rules:
        click.echo(f"{r.code}  {r.name:<{width}}  {r.summary}")
