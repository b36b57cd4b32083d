"""The project index: facts from every file of the project, cached per file."""

from __future__ import annotations

import ast
import gc
import hashlib
import json
import os
from contextlib import contextmanager
from typing import Any, Dict, List, Optional, Sequence, Tuple

from backendlint.engine.cache import Store
from backendlint.engine.parse import ast_parse, decode, read_bytes
from backendlint.engine.facts import FactCollector, ProjectFacts, collectors, release_nodes


def _collect_one(args) -> Tuple[str, Optional[str], Dict[str, Any]]:
    """Parts of every collector for one file: (relpath, sha256, {kind: part})."""
    relpath, digest, parts, _ = _collect(args)
    return relpath, digest, parts


def _collect(args) -> Tuple[str, Optional[str], Dict[str, Any], Any]:
    """``_collect_one`` and what the parse said: True (it parses), None (not parsed:
    no collector wants it), or ``[line, column, message]``, its syntax error for the
    target version (``args`` may end with the target, a ``(3, minor)`` tuple)."""
    path, relpath, module_name, kinds = args[:4]
    target = tuple(args[4]) if len(args) > 4 and args[4] else None
    try:
        data = read_bytes(path)
    except OSError:
        return relpath, None, {}, None
    digest = hashlib.sha256(data).hexdigest()
    parts: Dict[str, Any] = {}
    try:
        source = decode(data)
    except (UnicodeDecodeError, SyntaxError, LookupError):
        return relpath, digest, parts, None
    wanted: List[FactCollector] = [c for c in collectors(list(kinds)) if c.wants(relpath, source)]
    if not wanted:
        return relpath, digest, parts, None
    tree, error = ast_parse(source, target)
    status: Any = True if error is None else list(error)
    if tree is None:
        return relpath, digest, parts, status
    try:
        for collector in wanted:
            try:
                part = collector.collect(tree, relpath, module_name, source)
            except Exception:  # noqa: BLE001 - a collector bug must not stop the run
                part = None
            if part is not None:
                parts[collector.kind] = part
    finally:
        release_nodes(tree)
    return relpath, digest, parts, status


def _part_digest(part: Any) -> str:
    return hashlib.sha256(json.dumps(part, sort_keys=True, default=str).encode("utf-8")).hexdigest()[:16]


# From this many files to collect, the index is built in a child process (see
# processes.in_child): the parent keeps only the merged facts, not the parsing's heap.
ISOLATE_MIN = 200


def build_index(
    files: Sequence[Tuple[str, str, str]],
    kinds: Sequence[str],
    store: Store,
    pool=None,
    merged_store: Optional[Store] = None,
    parts_store: Optional[Store] = None,
    jobs: int = 1,
    target=None,
) -> Tuple[ProjectFacts, Dict[str, str]]:
    """Facts of the given kinds over ``files`` ((path, relpath, module_name) triples).

    Returns the facts and a digest per kind (for the results cache key). ``store``
    keeps, per file, its stamp, content digest and one digest per fact part; the parts
    themselves live in ``parts_store`` (much larger, read only when facts must be
    merged). A run where nothing changed re-serialises nothing, and the facts are merged
    (or read from ``merged_store``) only when a rule first asks for them.

    When many files must be collected (a cold run), a forked child collects them (with
    a pool of ``jobs`` processes, or ``pool``'s), merges every kind and saves the
    stores; the parent receives only the merged facts.

    The facts' ``parsed`` maps each file the index parsed to what the parse said
    (True, or its syntax error for ``target`` as ``[line, column, message]``): the
    checker reports the syntax errors of files that no rule's prefilter admits from it.
    """
    kinds = sorted(kinds)
    if not kinds:
        return ProjectFacts({}), {}
    if parts_store is None:
        parts_store = Store(None, "parts.json", [])  # in memory only
    versions = {c.kind: c.version for c in collectors(kinds)}
    grammar = list(target) if target else None
    todo = []
    entries: Dict[str, Dict[str, Any]] = {}
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
            and isinstance(entry.get("digests"), dict)
            and entry.get("grammar") == grammar
            and "parsed" in entry
        ):
            entries[relpath] = entry
            continue
        todo.append(((path, relpath, module_name, kinds, grammar), stamp, entry))
    index = _Index(files, kinds, versions, store, parts_store, merged_store, todo, entries, seen)
    if len(todo) >= ISOLATE_MIN and pool is None:
        from backendlint.engine.processes import in_child

        warnings = list({id(s.warnings): s.warnings for s in (store, parts_store, merged_store) if s is not None}.values())
        before = [len(w) for w in warnings]
        got = in_child(lambda: index.build_merged(jobs, warnings, before))
        if got is not None:
            data, digests, new_warnings, parsed = got
            for w, extra in zip(warnings, new_warnings):
                w.extend(extra)
            facts = ProjectFacts(data)
            facts.parsed = parsed
            return facts, digests
    digests = index.collect(pool, jobs)
    facts = ProjectFacts(loader=index.merger(digests))
    facts.parsed = index.parsed()
    return facts, digests


class _Index:
    """One build of the index: collect the changed files, digest each kind, merge."""

    def __init__(self, files, kinds, versions, store, parts_store, merged_store, todo, entries, seen):
        self.files = files
        self.kinds = kinds
        self.versions = versions
        self.store = store
        self.parts_store = parts_store
        self.merged_store = merged_store
        self.todo = todo
        self.entries = entries
        self.seen = seen

    def collect(self, pool, jobs: int) -> Dict[str, str]:
        """Collect the changed files' parts (and record them); the digest of each kind."""
        with without_gc():
            return self._collect(pool, jobs)

    def _collect(self, pool, jobs: int) -> Dict[str, str]:
        store, parts_store, versions, entries = self.store, self.parts_store, self.versions, self.entries
        if self.todo:
            args = [t[0] for t in self.todo]
            own = None
            if pool is None and jobs > 1 and len(args) > 50:
                from backendlint.engine.processes import pool as make_pool

                own = pool = make_pool(jobs)
            try:
                if pool is not None and len(args) > 50:
                    results = list(pool.map(_collect, args, chunksize=max(1, len(args) // 64)))
                else:
                    results = [_collect(a) for a in args]
            finally:
                if own is not None:
                    own.shutdown()
            for (arg, stamp, old), (relpath, digest, parts, status) in zip(self.todo, results):
                if digest is None:
                    continue
                entry = {
                    "stamp": stamp,
                    "sha": digest,
                    "versions": versions,
                    "module": arg[2],
                    "digests": {kind: _part_digest(part) for kind, part in parts.items()},
                    "grammar": arg[4],
                    "parsed": status,
                }
                entries[relpath] = entry
                store.put(relpath, entry)
                parts_store.put(relpath, {"sha": digest, "versions": versions, "parts": parts})
        for stale in [k for k in store.entries if k not in self.seen]:
            store.drop(stale)
        self.ordered = sorted(entries.items())
        digests: Dict[str, str] = {}
        for collector in collectors(self.kinds):
            kind = collector.kind
            h = hashlib.sha256(f"{kind}:{collector.version}".encode())
            for relpath, entry in self.ordered:
                part_digest = entry["digests"].get(kind)
                if part_digest is not None:
                    h.update(f"\0{relpath}\0{part_digest}".encode("utf-8"))
            digests[kind] = h.hexdigest()[:16]
        return digests

    def parsed(self) -> Dict[str, Any]:
        """What the parse said of each file the index parsed (see ``build_index``)."""
        return {relpath: entry.get("parsed") for relpath, entry in self.entries.items() if entry.get("parsed") is not None}

    def merger(self, digests: Dict[str, str]) -> "_Merger":
        paths = {relpath: path for path, relpath, _ in self.files}  # this run's paths (its cwd)
        return _Merger(self.kinds, self.ordered, digests, self.merged_store, self.parts_store, paths)

    def build_merged(self, jobs: int, warnings: List[List[str]], before: List[int]):
        """In the child: collect, merge every kind, save the stores. Returns (facts data,
        digests, the warnings each store's list gained)."""
        from backendlint.engine.checker import release_memory

        digests = self.collect(None, jobs)
        merger = self.merger(digests)
        data = {kind: merger(kind) for kind in self.kinds}
        for s in (self.store, self.parts_store, self.merged_store):
            if s is not None:
                s.save()
                s.release()  # room for the result's serialisation
        merger.release()
        release_memory()  # the parts' memory, before the result's serialisation takes more
        return data, digests, [w[n:] for w, n in zip(warnings, before)], self.parsed()


class _Merger:
    """Merges one kind of fact on first use, or takes it from the merged-facts store.

    Merging (resolving calls across the project, say) can cost more than reading the
    cache; an unchanged set of parts reuses the merged fact when it survived a JSON
    round trip unchanged (so the cached copy is exactly what merge returns).
    """

    def __init__(self, kinds, ordered, digests, merged_store: Optional[Store], parts_store: Store, paths):
        self.kinds = tuple(kinds)
        self.paths = paths
        self.ordered = ordered
        self.digests = digests
        self.merged_store = merged_store
        self.parts_store = parts_store
        self._parts: Optional[Dict[str, Dict[str, Any]]] = None

    def _all_parts(self) -> Dict[str, Dict[str, Any]]:
        """Every indexed file's parts; a file whose stored parts are missing or stale
        (an interrupted or concurrent run) is collected again."""
        if self._parts is None:
            store = self.parts_store
            parts: Dict[str, Dict[str, Any]] = {}
            for relpath, entry in self.ordered:
                stored = store.get(relpath)
                if (
                    isinstance(stored, dict)
                    and stored.get("sha") == entry["sha"]
                    and stored.get("versions") == entry["versions"]
                    and isinstance(stored.get("parts"), dict)
                ):
                    parts[relpath] = stored["parts"]
                    continue
                _, digest, fresh = _collect_one((self.paths.get(relpath, ""), relpath, entry["module"], list(entry["versions"])))
                parts[relpath] = fresh
                if digest is not None:
                    store.put(relpath, {"sha": digest, "versions": entry["versions"], "parts": fresh})
            for stale in [k for k in store.entries if k not in parts]:
                store.drop(stale)
            self._parts = parts
        return self._parts

    def release(self) -> None:
        """Forget the parts (every kind is merged)."""
        self._parts = None
        self.ordered = []

    def __call__(self, kind: str) -> Any:
        digest = self.digests[kind]
        cached = self.merged_store.get(kind) if self.merged_store is not None else None
        if isinstance(cached, dict) and cached.get("digest") == digest and "data" in cached:
            return cached["data"]
        collector = collectors([kind])[0]
        with without_gc():
            parts = {rel: p[kind] for rel, p in self._all_parts().items() if kind in p}
            merged = collector.merge(parts)
        # Only a fact that survives a JSON round trip unchanged is cached (so the cached
        # copy is exactly what merge returns); checked by walking it, without a copy.
        if self.merged_store is not None and self.merged_store.directory is not None and json_exact(merged):
            self.merged_store.put(kind, {"digest": digest, "data": merged})
        return merged


@contextmanager
def without_gc():
    """The garbage collector off while the index grows. Parts and facts are plain dicts
    and lists, and the collectors' ``ast`` trees are freed by reference counting
    (``release_nodes``): the collector's full passes, over ever more parts, found
    nothing and took a third of the index's time."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def json_exact(value: Any) -> bool:
    """True when ``json.loads(json.dumps(value)) == value``: only dicts with str keys,
    lists, str, int, bool, None and finite floats (no tuples, sets or other objects)."""
    stack = [value]
    pop, push = stack.pop, stack.extend
    while stack:
        item = pop()
        kind = type(item)
        if kind is dict:
            if not all(type(k) is str for k in item):
                return False
            push(item.values())
        elif kind is list:
            push(item)
        elif kind is float:
            if item != item or item in (float("inf"), float("-inf")):
                return False
        elif kind not in (str, int, bool) and item is not None:
            return False
    return True
