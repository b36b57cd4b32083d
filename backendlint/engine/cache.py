"""On-disk cache of per-file results and of the project index.

Stored under ``.backendlint_cache/`` at the project root (or ``cache-dir``), with a
``.gitignore`` inside. Each store is one JSON file replaced atomically (write to a
temporary file, then ``os.replace``), so two concurrent runs can lose each other's new
entries but never corrupt the cache. A corrupt or unwritable cache is a warning.

A file's entry is reused when its size and modification time are unchanged, or else
when the SHA-256 of its content is unchanged; the store's name covers the backendlint
version and the configuration, and each entry records the digests of the project facts
its rules read, so a changed ``models.py`` invalidates the views that read relations.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Dict, List, Optional


class Store:
    def __init__(self, directory: Optional[Path], name: str, warnings: List[str]):
        self.directory = directory
        self.name = name
        self.warnings = warnings
        self._entries: Optional[Dict[str, Any]] = None if directory is not None else {}
        self.dirty = False

    @property
    def path(self) -> Optional[Path]:
        return None if self.directory is None else self.directory / self.name

    @property
    def entries(self) -> Dict[str, Any]:
        """The stored entries, read from disk on first use (a run may never need them)."""
        if self._entries is None:
            self._entries = {}
            self._load()
        return self._entries

    def _load(self) -> None:
        path = self.path
        try:
            with open(path, "r", encoding="utf-8") as fh:
                data = json.load(fh)
        except FileNotFoundError:
            return
        except Exception as exc:  # noqa: BLE001 - any failure to load is a corrupt cache
            # (OSError, bad JSON, RecursionError on deeply nested JSON, MemoryError...):
            # warned once, and the store is rebuilt (rewritten on save).
            if isinstance(exc, OSError):
                self.warnings.append(f"ignoring unreadable cache file {path}: {exc}")
            else:
                self.warnings.append(f"ignoring corrupt cache file {path} (rebuilt): {type(exc).__name__}: {exc}")
                self.dirty = True  # rewritten on save, so that the next run reads it
            return
        if not isinstance(data, dict):
            self.warnings.append(f"ignoring corrupt cache file {path} (rebuilt)")
            self.dirty = True
            return
        self._entries = data

    def get(self, key: str) -> Any:
        return self.entries.get(key)

    def put(self, key: str, value: Any) -> None:
        self.entries[key] = value
        self.dirty = True

    def drop(self, key: str) -> None:
        if self.entries.pop(key, None) is not None:
            self.dirty = True

    def release(self) -> None:
        """Drop the entries from memory: a saved store reads them again on next use, an
        in-memory one (no directory) forgets them."""
        if self.directory is not None and not self.dirty:
            self._entries = None
        elif self.directory is None:
            self._entries = {}

    def save(self) -> None:
        if self.directory is None or not self.dirty:
            return
        try:
            ensure_dir(self.directory)
            fd, tmp = tempfile.mkstemp(prefix=self.name, suffix=".tmp", dir=str(self.directory))
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as fh:
                    write_json(fh, self.entries)
                os.replace(tmp, self.path)
            except BaseException:
                try:
                    os.unlink(tmp)
                except OSError:
                    pass
                raise
        except OSError as exc:
            self.warnings.append(f"cannot write cache {self.directory}: {exc.strerror or exc}")
        self.dirty = False


_ENCODE = json.JSONEncoder(separators=(",", ":")).encode


def write_json(fh, value: Any, depth: int = 4) -> None:
    """Write what ``json.dump(value, fh, separators=(",", ":"))`` writes, faster.

    ``json.dump`` streams with the pure-Python encoder (only ``json.dumps`` uses the C
    one): saving a big project's parts took 1.9 s. Here the outer ``depth`` levels of
    dicts and lists are written item by item and everything below them is encoded by
    the C encoder, so that no single string as big as the whole store is built.
    """
    if depth and type(value) is dict and all(type(key) is str for key in value):
        write = fh.write
        write("{")
        first = True
        for key, item in value.items():
            if not first:
                write(",")
            first = False
            write(_ENCODE(key))
            write(":")
            write_json(fh, item, depth - 1)
        write("}")
    elif depth and type(value) is list:
        write = fh.write
        write("[")
        for index, item in enumerate(value):
            if index:
                write(",")
            write_json(fh, item, depth - 1)
        write("]")
    else:
        fh.write(_ENCODE(value))


def ensure_dir(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    ignore = directory / ".gitignore"
    if not ignore.exists():
        ignore.write_text("# Automatically created by backendlint.\n*\n", encoding="utf-8")
