"""The project index: facts from every file of the project, cached per file."""

from __future__ import annotations

import ast
import hashlib
import json
import os
from typing import Any, Dict, List, Optional, Sequence, Tuple

from backendlint.engine.cache import Store
from backendlint.engine.checker import decode
from backendlint.engine.context import ProjectFacts
from backendlint.engine.facts import FactCollector, collectors


def _collect_one(args: Tuple[str, str, str, Sequence[str]]) -> Tuple[str, Optional[str], Dict[str, Any]]:
    """Parts of every collector for one file: (relpath, sha256, {kind: part})."""
    path, relpath, module_name, kinds = args
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError:
        return relpath, None, {}
    digest = hashlib.sha256(data).hexdigest()
    parts: Dict[str, Any] = {}
    try:
        source = decode(data)
    except (UnicodeDecodeError, SyntaxError, LookupError):
        return relpath, digest, parts
    wanted: List[FactCollector] = [c for c in collectors(list(kinds)) if c.wants(relpath, source)]
    if not wanted:
        return relpath, digest, parts
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return relpath, digest, parts
    for collector in wanted:
        try:
            part = collector.collect(tree, relpath, module_name, source)
        except Exception:  # noqa: BLE001 - a collector bug must not stop the run
            part = None
        if part is not None:
            parts[collector.kind] = part
    return relpath, digest, parts


def build_index(
    files: Sequence[Tuple[str, str, str]],
    kinds: Sequence[str],
    store: Store,
    pool=None,
    merged_store: Optional[Store] = None,
) -> Tuple[ProjectFacts, Dict[str, str]]:
    """Facts of the given kinds over ``files`` ((path, relpath, module_name) triples).

    Returns the facts and a digest per kind (for the results cache key).
    """
    kinds = sorted(kinds)
    if not kinds:
        return ProjectFacts({}), {}
    versions = {c.kind: c.version for c in collectors(kinds)}
    todo = []
    parts_by_file: Dict[str, Dict[str, Any]] = {}
    seen = set()
    for path, relpath, module_name in files:
        seen.add(relpath)
        try:
            st = os.stat(path)
        except OSError:
            continue
        entry = store.get(relpath)
        stamp = [st.st_mtime_ns, st.st_size]
        if (
            isinstance(entry, dict)
            and entry.get("stamp") == stamp
            and entry.get("versions") == versions
            and entry.get("module") == module_name
        ):
            parts_by_file[relpath] = entry.get("parts", {})
            continue
        todo.append(((path, relpath, module_name, kinds), stamp, entry))
    if todo:
        args = [t[0] for t in todo]
        if pool is not None and len(args) > 50:
            results = list(pool.map(_collect_one, args, chunksize=max(1, len(args) // 64)))
        else:
            results = [_collect_one(a) for a in args]
        for (arg, stamp, old), (relpath, digest, parts) in zip(todo, results):
            if digest is None:
                continue
            parts_by_file[relpath] = parts
            store.put(relpath, {"stamp": stamp, "sha": digest, "versions": versions, "module": arg[2], "parts": parts})
    for stale in [k for k in store.entries if k not in seen]:
        store.drop(stale)
    data: Dict[str, Any] = {}
    digests: Dict[str, str] = {}
    for collector in collectors(kinds):
        parts = {rel: p[collector.kind] for rel, p in sorted(parts_by_file.items()) if collector.kind in p}
        digest = hashlib.sha256(
            json.dumps([collector.version, parts], sort_keys=True, default=str).encode("utf-8")
        ).hexdigest()[:16]
        digests[collector.kind] = digest
        # Merging (resolving calls across the project, say) can cost more than reading
        # the cache; an unchanged set of parts reuses the merged fact when it survives a
        # JSON round trip unchanged (so the cached copy is exactly what merge returns).
        cached = merged_store.get(collector.kind) if merged_store is not None else None
        if isinstance(cached, dict) and cached.get("digest") == digest and "data" in cached:
            data[collector.kind] = cached["data"]
            continue
        merged = collector.merge(parts)
        data[collector.kind] = merged
        if merged_store is not None:
            try:
                text = json.dumps(merged, sort_keys=True)
                if json.loads(text) == merged:
                    merged_store.put(collector.kind, {"digest": digest, "data": merged})
            except (TypeError, ValueError):
                pass
    return ProjectFacts(data), digests
