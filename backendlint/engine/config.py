"""Configuration: ``[tool.backendlint]`` in pyproject.toml, validated strictly.

An unknown key, a value of the wrong type, an unknown rule code or rule option is a
``ConfigError`` whose message names the file, the key and the closest valid key; the
command line turns it into exit code 2.
"""

from __future__ import annotations

import difflib
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


class ConfigError(Exception):
    pass


DEFAULT_EXCLUDE = [
    ".bzr", ".direnv", ".eggs", ".git", ".git-rewrite", ".hg", ".ipynb_checkpoints",
    ".mypy_cache", ".nox", ".pants.d", ".pyenv", ".pytest_cache", ".pytype", ".ruff_cache",
    ".svn", ".tox", ".venv", ".vscode", "__pypackages__", "__pycache__", "_build",
    "buck-out", "build", "dist", "node_modules", "site-packages", "venv",
    ".backendlint_cache",
]


@dataclass
class Config:
    select: Optional[List[str]] = None
    ignore: List[str] = field(default_factory=list)
    extend_select: List[str] = field(default_factory=list)
    per_file_ignores: Dict[str, List[str]] = field(default_factory=dict)
    exclude: List[str] = field(default_factory=lambda: list(DEFAULT_EXCLUDE))
    extend_exclude: List[str] = field(default_factory=list)
    respect_gitignore: bool = True
    force_exclude: bool = False
    cache_dir: Optional[str] = None
    # Files larger than this (bytes) are not analysed: they are generated data in
    # practice, and LibCST needs ~300 bytes of memory per byte of source.
    max_file_size: int = 1_048_576
    # The Python version whose grammar the files must parse with (``py39``...; None:
    # the newest grammar known) and the seconds a file may take before it is given up.
    target_version: Optional[str] = None
    file_timeout: float = 60.0
    rules: Dict[str, Dict[str, Any]] = field(default_factory=dict)
    # Findings ranked below this are not shown and do not fail the run.
    min_severity: str = "medium"
    # Where the configuration came from (None: defaults), and the directory that
    # relative patterns in it are relative to.
    source: Optional[Path] = None
    base: Path = field(default_factory=Path.cwd)


_LIST_KEYS = {"select", "ignore", "extend-select", "exclude", "extend-exclude"}
_BOOL_KEYS = {"respect-gitignore", "force-exclude"}
_STR_KEYS = {"cache-dir", "min-severity", "target-version"}
_CHOICES = {"min-severity": ("low", "medium", "high")}
_INT_KEYS = {"max-file-size", "file-timeout"}
_TABLE_KEYS = {"per-file-ignores", "rules"}
VALID_KEYS = sorted(_LIST_KEYS | _BOOL_KEYS | _STR_KEYS | _INT_KEYS | _TABLE_KEYS)


def _suggest(key: str, options: List[str]) -> str:
    close = difflib.get_close_matches(key, options, n=1, cutoff=0.5)
    return f"; did you mean '{close[0]}'?" if close else f" (valid: {', '.join(options)})"


def _is_str_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def find_config(start: Path) -> Optional[Path]:
    """The nearest pyproject.toml at or above ``start`` that has a [tool.backendlint] table."""
    start = start.resolve()
    if start.is_file():
        start = start.parent
    for directory in [start, *start.parents]:
        candidate = directory / "pyproject.toml"
        if candidate.is_file():
            try:
                text = candidate.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                continue
            if "tool.backendlint" in text or "[tool]" in text:
                try:
                    data = tomllib.loads(text)
                except tomllib.TOMLDecodeError:
                    return candidate  # let load_config report the error
                if "backendlint" in data.get("tool", {}):
                    return candidate
    return None


def load_config(path: Optional[Path]) -> Config:
    if path is None:
        return Config()
    name = path.name
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"configuration file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read configuration file {path}: {exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{_shown(path)}: invalid TOML: {exc}") from None
    shown = _shown(path)
    if "tool" in data and isinstance(data["tool"], dict) and "backendlint" in data["tool"]:
        table = data["tool"]["backendlint"]
        prefix = "tool.backendlint"
    elif name == "pyproject.toml":
        table = {}
        prefix = "tool.backendlint"
    else:  # a dedicated file (``--config backendlint.toml``): top-level keys
        table = data
        prefix = ""
    if not isinstance(table, dict):
        raise ConfigError(f"[{prefix}] of {shown} must be a table")
    config = Config(source=path, base=path.parent.resolve())
    parse_table(config, table, prefix, shown)
    return config


def _shown(path: Path) -> str:
    """The configuration file as the user knows it: relative to the cwd when below it."""
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return str(path)


def _where(prefix: str, shown: str, sub: str = "") -> str:
    table = ".".join(p for p in (prefix, sub) if p)
    return f"[{table}] of {shown}" if table else shown


def parse_table(config: Config, table: Dict[str, Any], prefix: str, shown: str) -> None:
    where = _where(prefix, shown)
    from backendlint.engine import registry

    for key, value in table.items():
        if key not in VALID_KEYS:
            raise ConfigError(f"unknown key '{key}' in {where}{_suggest(key, VALID_KEYS)}")
        attr = key.replace("-", "_")
        if key in _LIST_KEYS:
            if not _is_str_list(value):
                raise ConfigError(f"'{key}' in {where} must be a list of strings, got {_type_name(value)}")
            if key in ("select", "ignore", "extend-select"):
                for selector in value:
                    try:
                        registry.check_selector(selector)
                    except registry.SelectorError as exc:
                        raise ConfigError(f"'{key}' in {where}: {exc}") from None
            setattr(config, attr, list(value))
        elif key in _BOOL_KEYS:
            if not isinstance(value, bool):
                raise ConfigError(f"'{key}' in {where} must be true or false, got {_type_name(value)}")
            setattr(config, attr, value)
        elif key in _STR_KEYS:
            if not isinstance(value, str):
                raise ConfigError(f"'{key}' in {where} must be a string, got {_type_name(value)}")
            if key in _CHOICES and value not in _CHOICES[key]:
                choices = ", ".join(f"'{c}'" for c in _CHOICES[key])
                raise ConfigError(f"'{key}' in {where} must be one of {choices}, got '{value}'")
            if key == "target-version":
                check_target_version(value, f"'target-version' in {where}")
            setattr(config, attr, value)
        elif key == "file-timeout":
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 < value < 1e9:
                raise ConfigError(f"'{key}' in {where} must be a positive number (seconds), got {_type_name(value)}")
            setattr(config, attr, float(value))
        elif key in _INT_KEYS:
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ConfigError(f"'{key}' in {where} must be a positive integer (bytes), got {_type_name(value)}")
            setattr(config, attr, value)
        elif key == "per-file-ignores":
            if not isinstance(value, dict):
                raise ConfigError(f"'per-file-ignores' in {where} must be a table of glob = [codes]")
            for pattern, codes in value.items():
                if not _is_str_list(codes):
                    raise ConfigError(f"'per-file-ignores.\"{pattern}\"' in {where} must be a list of rule codes")
                for selector in codes:
                    try:
                        registry.check_selector(selector)
                    except registry.SelectorError as exc:
                        raise ConfigError(f"'per-file-ignores.\"{pattern}\"' in {where}: {exc}") from None
            config.per_file_ignores = {k: list(v) for k, v in value.items()}
        elif key == "rules":
            config.rules = parse_rule_options(value, prefix, shown)


def check_target_version(value: str, where: str) -> None:
    """A ConfigError naming ``where`` unless ``value`` is a known target version."""
    from backendlint.engine.parse import TARGET_VERSIONS

    if value.strip().lower() not in TARGET_VERSIONS:
        valid = sorted(TARGET_VERSIONS, key=lambda v: TARGET_VERSIONS[v])
        raise ConfigError(f"{where} must be one of {', '.join(valid)}, got '{value}'{_suggest(value, valid) if _suggest(value, valid).startswith(';') else ''}")


def parse_rule_options(value: Any, prefix: str, shown: str) -> Dict[str, Dict[str, Any]]:
    from backendlint.engine import registry

    where = _where(prefix, shown, "rules")
    if not isinstance(value, dict):
        raise ConfigError(f"{where} must hold one table per rule, e.g. [rules.unbounded-retry]")
    rules = registry.all_rules()
    by_name = {r.name: r for r in rules}
    by_code = {r.code: r for r in rules}
    out: Dict[str, Dict[str, Any]] = {}
    for rule_key, options in value.items():
        rule = by_name.get(rule_key) or by_code.get(rule_key.upper())
        if rule is None:
            raise ConfigError(f"unknown rule '{rule_key}' in {where}{_suggest(rule_key, sorted(by_name))}")
        rule_where = _where(prefix, shown, f"rules.{rule_key}")
        if not isinstance(options, dict):
            raise ConfigError(f"{rule_where} must be a table of options")
        known = {opt.name: opt for opt in rule.options}
        for opt_name, opt_value in options.items():
            opt = known.get(opt_name)
            if opt is None:
                valid = sorted(known)
                hint = _suggest(opt_name, valid) if valid else f" ({rule.name} has no options)"
                raise ConfigError(f"unknown option '{opt_name}' in {rule_where}{hint}")
            expected = opt.check(opt_value)
            if expected:
                raise ConfigError(f"'{opt_name}' in {rule_where} must be {expected}, got {_type_name(opt_value)}")
        out.setdefault(rule.name, {}).update(options)
    return out


def _type_name(value: Any) -> str:
    return {str: "a string", bool: "a boolean", int: "an integer", float: "a number", list: "a list", dict: "a table"}.get(
        type(value), type(value).__name__
    )
