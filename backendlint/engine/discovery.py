"""Finding the files to check, and the project they belong to.

``.gitignore`` semantics (nested files, negation, anchoring) come from pathspec rather
than code of ours. ``exclude`` patterns use the same gitignore-style matching, relative to
the directory of the configuration file: ``build`` matches a directory of that name at
any depth, ``tests/fixtures`` only that path.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Tuple

import pathspec

from backendlint.engine.config import Config

PY_SUFFIXES = (".py", ".pyi")
ROOT_MARKERS = ("pyproject.toml", "setup.cfg", "setup.py", "manage.py", ".git")


@dataclass
class Discovery:
    files: List[Path] = field(default_factory=list)
    errors: List[Tuple[str, str]] = field(default_factory=list)  # (path, message)


def _spec(patterns: Iterable[str]) -> pathspec.PathSpec:
    return pathspec.GitIgnoreSpec.from_lines(list(patterns))


class Matcher:
    """Exclusion decisions for one configuration."""

    def __init__(self, config: Config):
        self.config = config
        self.base = config.base.resolve()
        self.exclude = _spec(list(config.exclude) + list(config.extend_exclude))
        self._gitignores: Dict[Path, Optional[pathspec.PathSpec]] = {}
        self._chains: Dict[Path, List[Tuple[Path, pathspec.PathSpec]]] = {}

    def _rel(self, path: Path, base: Path) -> Optional[str]:
        try:
            return path.relative_to(base).as_posix()
        except ValueError:
            return None

    def is_excluded(self, path: Path, is_dir: bool) -> bool:
        rel = self._rel(path, self.base)
        if rel is None:
            # Outside the configuration's directory: match on the name alone.
            rel = path.name
        if rel in ("", "."):
            return False
        if self.exclude.match_file(rel + ("/" if is_dir else "")):
            return True
        if is_dir and (path / "pyvenv.cfg").is_file():
            return True  # a virtualenv, whatever its name
        if self.config.respect_gitignore and self._gitignored(path, is_dir):
            return True
        return False

    def _gitignore_of(self, directory: Path) -> Optional[pathspec.PathSpec]:
        if directory not in self._gitignores:
            spec = None
            lines: List[str] = []
            for name in (".gitignore",):
                candidate = directory / name
                if candidate.is_file():
                    try:
                        lines += candidate.read_text(encoding="utf-8", errors="replace").splitlines()
                    except OSError:
                        pass
            info_exclude = directory / ".git" / "info" / "exclude"
            if info_exclude.is_file():
                try:
                    lines += info_exclude.read_text(encoding="utf-8", errors="replace").splitlines()
                except OSError:
                    pass
            if lines:
                spec = pathspec.GitIgnoreSpec.from_lines(lines)
            self._gitignores[directory] = spec
        return self._gitignores[directory]

    def _specs_above(self, directory: Path) -> List[Tuple[Path, pathspec.PathSpec]]:
        """The .gitignore specs that apply below ``directory`` (nearest first), up to the
        repository root (or the filesystem root outside a repository). Cached per
        directory: a walk asks this once per directory, not once per file and ancestor."""
        cached = self._chains.get(directory)
        if cached is None:
            own = self._gitignore_of(directory)
            head = [(directory, own)] if own is not None else []
            if (directory / ".git").exists() or directory.parent == directory:
                cached = head
            else:
                cached = head + self._specs_above(directory.parent)
            self._chains[directory] = cached
        return cached

    def _gitignored(self, path: Path, is_dir: bool) -> bool:
        # Each ancestor's .gitignore applies, relative to its own directory.
        suffix = "/" if is_dir else ""
        for directory, spec in self._specs_above(path.parent):
            if spec.match_file(path.relative_to(directory).as_posix() + suffix):
                return True
        return False


def discover(paths: List[Path], config: Config, force_exclude: bool = False) -> Discovery:
    """Files to check under ``paths`` (sorted, deduplicated), and errors for bad paths."""
    result = Discovery()
    matcher = Matcher(config)
    seen = set()

    def add(path: Path) -> None:
        key = os.path.normcase(os.path.abspath(path))
        if key not in seen:
            seen.add(key)
            result.files.append(path)

    for raw in paths:
        path = Path(raw)
        try:
            path.stat()
        except FileNotFoundError:
            if path.is_symlink():
                result.errors.append((str(raw), "broken symbolic link"))
            else:
                result.errors.append((str(raw), "no such file or directory"))
            continue
        except OSError as exc:
            result.errors.append((str(raw), exc.strerror or str(exc)))
            continue
        absolute = Path(os.path.abspath(path))
        if not os.path.isdir(path) and not os.path.isfile(path):
            # A FIFO, socket or device: reading it could block the run forever.
            result.errors.append((str(raw), "not a regular file (a FIFO, socket or device): not checked"))
            continue
        if not os.path.isdir(path):
            # Files named explicitly are checked even if excluded, unless --force-exclude.
            if force_exclude and _excluded_with_parents(matcher, absolute):
                continue
            add(path)
            continue
        if force_exclude and _excluded_with_parents(matcher, absolute):
            continue
        _walk(path, matcher, result, add)
    result.files.sort(key=lambda p: str(p))
    return result


def _excluded_with_parents(matcher: Matcher, path: Path) -> bool:
    """Is ``path``, or one of its directories below the configuration's, excluded?"""
    if matcher.is_excluded(path, path.is_dir()):
        return True
    for parent in path.parents:
        if parent == matcher.base or matcher.base not in parent.parents:
            break
        if matcher.is_excluded(parent, True):
            return True
    return False


def _walk(root: Path, matcher: Matcher, result: Discovery, add) -> None:
    def onerror(exc: OSError) -> None:
        result.errors.append((exc.filename or str(root), exc.strerror or str(exc)))

    for dirpath, dirnames, filenames in os.walk(root, onerror=onerror):
        current = Path(dirpath)
        absolute = Path(os.path.abspath(current))
        keep = []
        for name in sorted(dirnames):
            if matcher.is_excluded(absolute / name, True):
                continue
            keep.append(name)
        dirnames[:] = keep
        for name in sorted(filenames):
            if not name.endswith(PY_SUFFIXES):
                continue
            full = absolute / name
            if matcher.is_excluded(full, False):
                continue
            if not _regular(full):
                continue  # a FIFO named *.py would block the run
            add(current / name)


def _regular(path: Path) -> bool:
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False


def find_project_root(paths: List[Path]) -> Tuple[Path, bool]:
    """(root, marked): the nearest common ancestor of ``paths`` holding a project marker
    (marked True), else that ancestor (marked False)."""
    absolutes = [Path(os.path.abspath(p)) for p in paths] or [Path.cwd()]
    dirs = [p if p.is_dir() else p.parent for p in absolutes]
    common = Path(os.path.commonpath([str(d) for d in dirs]))
    for directory in [common, *common.parents]:
        if any((directory / marker).exists() for marker in ROOT_MARKERS):
            return directory, True
    return common, False


def module_name(path: Path, root: Path, _cache: Dict[Path, bool] = {}) -> Tuple[str, bool]:
    """Dotted module name of ``path`` (walking up ``__init__.py`` packages) and whether it is a package."""
    path = Path(os.path.abspath(path))
    stem = path.stem if path.suffix in PY_SUFFIXES else path.name
    is_package = stem == "__init__"
    parts = [] if is_package else [stem]
    directory = path.parent
    while True:
        has_init = _cache.get(directory)
        if has_init is None:
            has_init = (directory / "__init__.py").is_file() or (directory / "__init__.pyi").is_file()
            _cache[directory] = has_init
        if not has_init:
            break
        parts.append(directory.name)
        if directory == root or directory.parent == directory:
            break
        directory = directory.parent
    if not parts:
        parts = [directory.name]
    return ".".join(reversed(parts)), is_package
