"""Benchmark backendlint against the LibCST parse floor, on the real-world corpus.

    python bench/run.py [--corpus DIR] [--jobs N] [--skip-floor] [--small]

DIR defaults to the directory ``../shared/corpus/fetch.sh`` prints (its ``src/``). All
runs happen in one invocation so that their ratios hold on a noisy machine. Prints one
Markdown table (paste it into the README's Performance section).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_CORPUS = Path(os.environ.get("BACKENDLINT_CORPUS", Path.home() / ".cache" / "backendlint-corpus")) / "src"


def backendlint_cmd():
    exe = shutil.which("backendlint", path=str(Path(sys.executable).parent)) or shutil.which("backendlint")
    return [exe] if exe else [sys.executable, "-m", "backendlint"]


def py_files(root: Path):
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in (".backendlint_cache", "__pycache__")]
        for name in filenames:
            if name.endswith(".py"):
                yield Path(dirpath) / name


def floor(files):
    """LibCST parse_module of every file, one process (in this process)."""
    import libcst as cst

    lines = 0
    sources = []
    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        sources.append(text)
        lines += text.count("\n")
    start = time.perf_counter()
    for text in sources:
        try:
            cst.parse_module(text)
        except Exception:  # noqa: BLE001
            pass
    return time.perf_counter() - start, len(sources), lines


def _memory_kb(pid: int) -> int:
    """Proportional set size of a process (shared pages split between their users), or
    its resident set size where the kernel does not report PSS."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            for line in fh:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def _tree_memory_kb(pid: int) -> int:
    """Memory of a process and all its descendants (the worker processes)."""
    total = 0
    stack = [pid]
    while stack:
        current = stack.pop()
        try:
            total += _memory_kb(current)
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as fh:
                    stack.extend(int(c) for c in fh.read().split())
        except (OSError, ValueError):
            continue
    return total


# Measure what an installed backendlint does: a normal install has compiled bytecode,
# which PYTHONDONTWRITEBYTECODE (set on some CI and sandbox machines) would suppress.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def timed(cmd, cwd):
    """(seconds, peak memory (PSS) of the whole process tree in MB, exit code)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=ENV)
    peak = [0]

    def poll():
        while proc.poll() is None:
            peak[0] = max(peak[0], _tree_memory_kb(proc.pid))
            time.sleep(0.05)

    watcher = threading.Thread(target=poll, daemon=True)
    watcher.start()
    _, err = proc.communicate()
    elapsed = time.perf_counter() - start
    watcher.join()
    if proc.returncode not in (0, 1):
        sys.stderr.write(f"warning: {' '.join(map(str, cmd))} exited {proc.returncode}: {err.decode()[-2000:]}\n")
    return elapsed, peak[0] / 1024, proc.returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--skip-floor", action="store_true")
    parser.add_argument("--small", action="store_true", help="only the three smallest projects (a quick run)")
    args = parser.parse_args()
    corpus: Path = args.corpus.resolve()
    if not corpus.is_dir():
        print(f"no corpus at {corpus}: run ../shared/corpus/fetch.sh first", file=sys.stderr)
        return 2
    projects = sorted(p for p in corpus.iterdir() if p.is_dir() and not p.name.startswith("."))
    size = {p: sum(1 for _ in py_files(p)) for p in projects}
    if args.small:
        # A corpus of its own: checked in place, the small projects would share their
        # project index with the whole corpus (one root, no project markers).
        small_dir = Path(tempfile.mkdtemp(prefix="backendlint-bench-"))
        for p in sorted(projects, key=size.get)[:3]:
            shutil.copytree(p, small_dir / p.name, ignore=shutil.ignore_patterns(".backendlint_cache"))
        corpus = small_dir
        projects = sorted(p for p in corpus.iterdir() if p.is_dir())
        size = {p: sum(1 for _ in py_files(p)) for p in projects}
    targets = ["."]
    files = sorted(f for p in projects for f in py_files(p))
    largest = max(projects, key=size.get)
    cmd = backendlint_cmd()
    small_source = "from tenacity import retry, stop_after_attempt\n\n@retry(stop=stop_after_attempt(3))\ndef f():\n    pass\n"
    with tempfile.TemporaryDirectory() as tmp:  # compile the bytecode, as an install does
        (Path(tmp) / "one.py").write_text(small_source)
        subprocess.run(cmd + ["check", "--no-cache", "one.py"], cwd=tmp, env=ENV, stdout=subprocess.DEVNULL)
    cache = corpus / ".backendlint_cache"
    rows = []

    if args.skip_floor:
        t_floor, n_files, n_lines = float("nan"), len(files), sum(f.read_bytes().count(b"\n") for f in files)
    else:
        t_floor, n_files, n_lines = floor(files)
    rows.append(("1. floor: LibCST parse_module, 1 process", t_floor, None))

    t2, m2, _ = timed(cmd + ["check", "--no-cache", "--jobs", "1", "--exit-zero", "-q", *targets], corpus)
    rows.append(("2. cold, 1 process (--no-cache --jobs 1)", t2, m2))
    shutil.rmtree(cache, ignore_errors=True)
    t3, m3, _ = timed(cmd + ["check", "--jobs", str(args.jobs), "--exit-zero", "-q", *targets], corpus)
    rows.append((f"3. cold, {args.jobs} processes (fills the cache)", t3, m3))
    t4, m4, _ = timed(cmd + ["check", "--jobs", str(args.jobs), "--exit-zero", "-q", *targets], corpus)
    rows.append(("4. warm (same command, nothing changed)", t4, m4))

    # 5. pre-commit shape: 5 files named inside the largest project, its cache and index
    # warm. pre-commit runs in a git repository, whose root is the project root; the
    # corpus has no project markers (without one, the named paths are the project), so
    # a copy of the project gets a pyproject.toml.
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp) / largest.name
        shutil.copytree(largest, project, ignore=shutil.ignore_patterns(".backendlint_cache", "__pycache__"))
        (project / "pyproject.toml").write_text("[project]\nname = 'bench'\n")
        five = sorted(py_files(project))[:: max(1, len(list(py_files(project))) // 5)][:5]
        rel = [str(p.relative_to(project)) for p in five]
        timed(cmd + ["check", "--force-exclude", "--exit-zero", "-q", *rel], project)  # warm it
        t5, m5, _ = timed(cmd + ["check", "--force-exclude", "--exit-zero", "-q", *rel], project)
    rows.append((f"5. pre-commit shape: 5 files in {largest.name}, warm", t5, m5))

    with tempfile.TemporaryDirectory() as tmp:
        small = Path(tmp) / "one.py"
        small.write_text(small_source)
        timed(cmd + ["check", "--no-cache", str(small)], tmp)
        t6, m6, _ = timed(cmd + ["check", "--no-cache", str(small)], tmp)
    rows.append(("6. one small file (interpreter start included)", t6, m6))

    print(f"Corpus: {n_files} files, {n_lines} lines, {len(projects)} projects; {os.cpu_count()} cores; "
          f"Python {sys.version.split()[0]}\n")
    print("| run | seconds | lines/s | peak MB (PSS) |")
    print("| --- | ---: | ---: | ---: |")
    for name, secs, mem in rows:
        lps = f"{n_lines / secs:,.0f}" if secs == secs and secs > 0 and not name.startswith(("5", "6")) else ""
        print(f"| {name} | {secs:.2f} | {lps} | {'' if mem is None else f'{mem:.0f}'} |")
    print()
    print("| ratio | value | target |\n| --- | ---: | ---: |")
    print(f"| 2/1 analysis vs parse floor | {t2 / t_floor:.2f} | <= 1.0 |")
    print(f"| 3/2 all cores vs one | {t3 / t2:.2f} | <= 0.6 |")
    print(f"| 4/3 warm vs cold | {t4 / t3:.3f} | <= 0.03 |")
    if args.small:
        shutil.rmtree(corpus, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
