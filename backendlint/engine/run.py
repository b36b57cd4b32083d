"""A whole run: discover, index, check in parallel with the cache, apply per-file ignores."""

from __future__ import annotations

import gc
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence, Tuple, Union

import pathspec

from backendlint import __version__
from backendlint.engine import registry
from backendlint.engine.rule import Options
from backendlint.engine.cache import Store
from backendlint.engine.checker import FileJob, check_file, check_source, noqa_warnings, prepare_rules
from backendlint.engine.parse import on_big_stack
from backendlint.engine.config import Config
from backendlint.engine.budget import each_within
from backendlint.engine.diagnostics import IO_ERROR, Diagnostic, job_diagnostic
from backendlint.engine.parse import decode, parse_target, read_bytes
from backendlint.engine.facts import ProjectFacts
from backendlint.engine.discovery import discover, find_project_root, module_name

if TYPE_CHECKING:
    from concurrent.futures import ProcessPoolExecutor


@dataclass
class RunOptions:
    select: Optional[List[str]] = None
    ignore: List[str] = field(default_factory=list)
    extend_select: List[str] = field(default_factory=list)
    jobs: Optional[int] = None
    use_cache: bool = True
    force_exclude: bool = False
    stdin_source: Optional[Union[str, bytes]] = None  # bytes: decoded as a file is
    stdin_filename: Optional[str] = None
    prefilter: bool = True
    target_version: Optional[str] = None  # overrides the configuration's


@dataclass
class RunResult:
    diagnostics: List[Diagnostic] = field(default_factory=list)
    errors: List[str] = field(default_factory=list)  # path/usage problems (exit 2)
    warnings: List[str] = field(default_factory=list)
    files_checked: int = 0
    cache_hits: int = 0
    root: Optional[Path] = None
    rules: List[type] = field(default_factory=list)


def display_path(path: Path) -> str:
    absolute = Path(os.path.abspath(path))
    try:
        return absolute.relative_to(Path.cwd()).as_posix()
    except ValueError:
        return str(absolute)


def _size(path: Path) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


def _relpath(path: Path, root: Path) -> str:
    absolute = Path(os.path.abspath(path))
    try:
        return absolute.relative_to(root).as_posix()
    except ValueError:
        return absolute.as_posix()


def _job(path: Path, root: Path, display: Optional[str] = None) -> FileJob:
    name, is_package = module_name(path, root)
    return FileJob(str(path), display or display_path(path), _relpath(path, root), name, is_package)


# -- worker process state (set once per worker by the pool initializer) ------------
_W: Dict[str, Any] = {}


def _init_worker(codes: List[str], rule_options, facts_data, root: str, prefilter: bool, memo=None, grammar=None, timeout=None) -> None:
    by_code = {r.code: r for r in registry.all_rules()}
    _W["rules"] = [by_code[c] for c in codes]
    _W["options"] = rule_options
    _W["facts"] = ProjectFacts(facts_data, root)
    _W["facts"].memo = dict(memo or {})  # what the rules prepared in the parent
    _W["facts"].parsed, _W["facts"].target = grammar or ({}, None)
    _W["prefilter"] = prefilter
    _W["timeout"] = timeout
    import libcst  # noqa: F401  (import once per worker, not per file)


def _check_batch(jobs: List[FileJob]) -> List[Tuple[List[Diagnostic], Optional[str], List[str]]]:
    return _check_all(jobs, _W["rules"], _W["options"], _W["facts"], _W["prefilter"], _W["timeout"])


def _check_all(jobs: List[FileJob], rules, rule_options, facts, prefilter: bool, timeout) -> List[Tuple[List[Diagnostic], Optional[str], List[str]]]:
    """``check_file`` of each job on a big stack, each within the time budget."""
    check = lambda job: check_file(job, rules, rule_options, facts, prefilter)  # noqa: E731
    return on_big_stack(lambda: each_within(jobs, check, timeout, _gave_up))


def _gave_up(job: FileJob, seconds: float) -> Tuple[List[Diagnostic], Optional[str], List[str]]:
    message = f"not checked: gave up after {seconds:g} s (file-timeout in [tool.backendlint])"
    return [job_diagnostic(job, IO_ERROR, message)], None, []


# Worker processes: at most this many per core (the work is CPU-bound).
JOBS_PER_CORE = 2


def worker_count(wanted: Optional[int], files: int, warnings: List[str]) -> int:
    """The number of worker processes: ``wanted`` (default: the cores), capped at the
    number of files to check and at JOBS_PER_CORE per core, with a warning when a
    number asked for is capped."""
    cores = os.cpu_count() or 1
    if not wanted or wanted < 1:
        return max(1, min(cores, files))
    cap = max(1, min(files, cores * JOBS_PER_CORE))
    if wanted > cores * JOBS_PER_CORE:
        warnings.append(
            f"--jobs {wanted} is more than {JOBS_PER_CORE} per core ({cores} cores): using at most "
            f"{min(wanted, cap)} worker processes, and no more than there are files to check"
        )
    return max(1, min(wanted, cap))


# Files from this size are checked one after another in the pool (see run()).
BIG_FILE = 100 * 1024


def _batches(items: list, size: int) -> List[list]:
    return [items[i : i + size] for i in range(0, len(items), size)]


# Bumped when the engine's results change for the same files and configuration (2:
# BL000 for files no rule's prefilter admits), so that older cached results are not reused.
RESULTS_FORMAT = 2


def config_key(rules: Sequence[type], rule_options: Dict[str, Any], prefilter: bool, target: Optional[str] = None) -> str:
    blob = json.dumps(
        {
            "v": __version__,
            "format": RESULTS_FORMAT,
            "rules": [r.code for r in rules],
            "options": rule_options,
            "prefilter": prefilter,
            "target": target,
        },
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


def _cache_dir(config: Config, root: Path) -> Path:
    if config.cache_dir:
        path = Path(config.cache_dir)
        return path if path.is_absolute() else config.base / path
    return root / ".backendlint_cache"


def _per_file_ignored(config: Config) -> List[Tuple[pathspec.PathSpec, List[type]]]:
    out = []
    for pattern, selectors in config.per_file_ignores.items():
        spec = pathspec.GitIgnoreSpec.from_lines([pattern])
        codes = [r for r in registry.all_rules() if any(registry._matches(s, r) for s in selectors)]
        out.append((spec, codes))
    return out


def enabled_rules(config: Config, opts: RunOptions) -> List[type]:
    """The rules to run. As in ruff, a ``--select`` on the command line starts the
    selection afresh (the file's select, ignore and extend-select are dropped); otherwise
    the command line's ignore and extend-select add to the file's."""
    if opts.select is not None:
        return registry.resolve(opts.select, opts.ignore, opts.extend_select)
    return registry.resolve(
        config.select, list(config.ignore) + list(opts.ignore), list(config.extend_select) + list(opts.extend_select)
    )


def run(paths: List[Path], config: Config, opts: RunOptions) -> RunResult:
    result = RunResult()
    rules = enabled_rules(config, opts)
    result.rules = rules
    rule_options = {r.name: Options.for_rule(r, config.rules.get(r.name)) for r in rules}
    target_name = opts.target_version or config.target_version
    target = parse_target(target_name) if target_name else None
    timeout = config.file_timeout

    # -- the files ----------------------------------------------------------------
    stdin = opts.stdin_source is not None
    if stdin:
        stdin_name = opts.stdin_filename or "-"
        check_paths = [Path(stdin_name)] if opts.stdin_filename else [Path.cwd()]
        files: List[Path] = []
    else:
        found = discover(paths, config, force_exclude=opts.force_exclude or config.force_exclude)
        for path, message in found.errors:
            result.errors.append(f"{path}: {message}")
        files = found.files
        check_paths = paths
    root, marked = find_project_root(check_paths)
    result.root = root

    cache_dir = _cache_dir(config, root) if opts.use_cache and not stdin else None
    warnings = result.warnings

    # -- the project index ----------------------------------------------------------
    kinds = sorted({k for r in rules for k in r.facts})
    # capped per core here, and at the number of files where a pool starts
    jobs_wanted = worker_count(opts.jobs, 1 << 30, warnings)
    pool: Optional[ProcessPoolExecutor] = None
    frozen = False
    facts = ProjectFacts({}, str(root))
    digests: Dict[str, str] = {}
    merged_store: Optional[Store] = None
    parts_store: Optional[Store] = None
    try:
        if kinds:
            from backendlint.engine.project import build_index

            # A whole-project check already discovered the project's files: reuse them.
            # Without a project marker (pyproject.toml, setup.py, .git...) the named
            # paths are the project: `check /tmp/x.py` must not index all of /tmp.
            whole = not stdin and len(paths) == 1 and Path(os.path.abspath(paths[0])) == root
            project_files = files if whole or not marked else discover([root], config).files
            index_files = [p for p in project_files if _size(p) <= config.max_file_size]
            triples = [(str(p), _relpath(p, root), module_name(p, root)[0]) for p in index_files]
            index_store = Store(cache_dir, "index.json", warnings)
            merged_store = Store(cache_dir, "facts.json", warnings)
            parts_store = Store(cache_dir, "parts.json", warnings)
            facts, digests = build_index(
                triples, kinds, index_store, None, merged_store, parts_store, jobs=min(jobs_wanted, max(1, len(triples))), target=target
            )
            facts.root = str(root)
            index_store.save()

        facts.target = target
        if stdin:
            display = display_path(Path(opts.stdin_filename)) if opts.stdin_filename else "-"
            job = _job(Path(opts.stdin_filename or "stdin.py"), root, display)
            facts.parsed = {}  # the index read the file on disk, not standard input
            source = opts.stdin_source or ""
            result.files_checked = 1
            if isinstance(source, bytes):
                try:
                    source = decode(source)
                except (UnicodeDecodeError, SyntaxError, LookupError) as exc:
                    result.diagnostics = [job_diagnostic(job, IO_ERROR, f"cannot decode standard input: {exc}")]
                    return result
            diags = on_big_stack(
                lambda: each_within(
                    [job],
                    lambda j: check_source(j, source, rules, rule_options, facts, opts.prefilter),
                    timeout,
                    lambda j, s: _gave_up(j, s)[0],
                )[0]
            )
            warnings.extend(noqa_warnings(job, source))
            result.diagnostics = _apply_per_file_ignores(diags, [(job, diags)], config, root)
            return result

        store = Store(cache_dir, f"results-{config_key(rules, rule_options, opts.prefilter, target_name)}.json", warnings)
        file_digest = hashlib.sha256(
            json.dumps({k: digests[k] for k in kinds}, sort_keys=True).encode()
        ).hexdigest()[:16]
        outcomes: List[Tuple[FileJob, List[Diagnostic]]] = []
        jobs_list: List[FileJob] = []
        big: List[FileJob] = []
        for path in files:
            size = _size(path)
            if size > config.max_file_size:
                warnings.append(
                    f"skipped {display_path(path)}: {size / 1_048_576:.1f} MiB is over max-file-size "
                    f"({config.max_file_size} bytes); raise it in [tool.backendlint] to check this file"
                )
                continue
            job = _job(path, root)
            hit = _cache_lookup(store, job, file_digest)
            if hit is not None:
                hit, notes = hit
                warnings.extend(notes)
                outcomes.append((job, hit))
                result.cache_hits += 1
            else:
                jobs_list.append(job)
                if size >= BIG_FILE:
                    big.append(job)
        result.files_checked = len(files)
        if jobs_list:
            jobs_wanted = min(jobs_wanted, len(jobs_list))
            if jobs_wanted > 1 and len(jobs_list) > 1:
                # Workers get the rules and facts once, through the pool initializer
                # (with fork they are inherited, not pickled), with what the rules
                # derive from the facts already computed (Rule.prepare), to share one
                # copy. Frozen, the inherited objects are left out of the workers'
                # garbage collections, which would otherwise write to (and so copy)
                # every page that holds them.
                from backendlint.engine.processes import pool as worker_pool

                prepare_rules(rules, rule_options, facts, opts.prefilter)
                gc.freeze()
                frozen = True
                pool = worker_pool(
                    jobs_wanted,
                    _init_worker,
                    (
                        [r.code for r in rules],
                        rule_options,
                        facts.data,
                        str(root),
                        opts.prefilter,
                        facts.memo,
                        (facts.parsed, target),
                        timeout,
                    ),
                )
                size = max(1, min(32, len(jobs_list) // (jobs_wanted * 8) or 1))
                # The biggest files go first, in one batch: one worker parses them one
                # after another while the others check the rest, so that no two of the
                # largest trees (about 300 bytes per byte of source) are held at once.
                batches = _batches(jobs_list, size)
                if len(big) > 1:
                    chosen = {id(job) for job in big}
                    rest = [job for job in jobs_list if id(job) not in chosen]
                    jobs_list = big + rest  # the order of the results below
                    batches = [big] + _batches(rest, size)
                checked = []
                for part in pool.map(_check_batch, batches):
                    checked.extend(part)
            else:
                if len(jobs_list) >= 50:
                    # The facts (and whatever the run holds so far) live to the end:
                    # frozen, the collector's full passes, many in a long check, skip them.
                    gc.collect()
                    gc.freeze()
                    frozen = True
                checked = _check_all(jobs_list, rules, rule_options, facts, opts.prefilter, timeout)
            for job, (diags, digest, notes) in zip(jobs_list, checked):
                outcomes.append((job, diags))
                warnings.extend(notes)
                if digest is not None and not any(d.is_error for d in diags):
                    _cache_store(store, job, digest, file_digest, diags, notes)
        store.save()
    finally:
        if pool is not None:
            pool.shutdown()
        if frozen:
            gc.unfreeze()
        # Facts merged (and parts collected) during this run, for the next one.
        for late in (parts_store, merged_store):
            if late is not None:
                late.save()

    all_diags = _apply_per_file_ignores([d for _, ds in outcomes for d in ds], outcomes, config, root)
    result.diagnostics = all_diags
    return result


def _cache_lookup(store: Store, job: FileJob, facts_digest: str) -> Optional[Tuple[List[Diagnostic], List[str]]]:
    entry = store.get(job.relpath)
    if not isinstance(entry, dict) or entry.get("facts") != facts_digest or entry.get("module") != job.module_name:
        return None
    try:
        st = os.stat(job.path)
    except OSError:
        return None
    stamp = [st.st_mtime_ns, st.st_size]
    if entry.get("stamp") != stamp:
        try:
            digest = hashlib.sha256(read_bytes(job.path)).hexdigest()
        except OSError:
            return None
        if digest != entry.get("sha"):
            return None
        entry["stamp"] = stamp
        store.dirty = True
    notes = entry.get("notes", [])
    try:
        return [
            Diagnostic(path=job.display, **{k: v for k, v in d.items() if k != "path"})
            for d in entry.get("diags", [])
        ], [job.display + n for n in notes if isinstance(n, str)] if isinstance(notes, list) else []
    except (TypeError, AttributeError):
        return None


def _cache_store(store: Store, job: FileJob, digest: str, facts_digest: str, diags: List[Diagnostic], notes: Sequence[str] = ()) -> None:
    try:
        st = os.stat(job.path)
        stamp = [st.st_mtime_ns, st.st_size]
    except OSError:
        return
    store.put(
        job.relpath,
        {
            "sha": digest,
            "stamp": stamp,
            "facts": facts_digest,
            "module": job.module_name,
            "diags": [{k: v for k, v in d.to_dict().items() if k != "path"} for d in diags],
            # warnings about the file, without its displayed path (the cwd may change)
            **({"notes": [n[len(job.display):] for n in notes if n.startswith(job.display)]} if notes else {}),
        },
    )


def _apply_per_file_ignores(diags, outcomes, config: Config, root: Path) -> List[Diagnostic]:
    rules = _per_file_ignored(config)
    if rules:
        ignored_codes: Dict[str, set] = {}
        for job, _ in outcomes:
            absolute = Path(os.path.abspath(job.path))
            try:
                rel = absolute.relative_to(config.base).as_posix()
            except ValueError:
                rel = absolute.name
            codes = set()
            for spec, selected in rules:
                if spec.match_file(rel):
                    codes.update(r.code for r in selected)
            if codes:
                ignored_codes[job.display] = codes
        diags = [d for d in diags if d.code not in ignored_codes.get(d.path, ())]
    return sorted(diags, key=Diagnostic.sort_key)
