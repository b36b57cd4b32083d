"""Per-file work must grow linearly with the file's size: time per function.

    python bench/scaling.py [--sizes 1000,10000,100000] [--jobs 1]

Generates one file of N small functions, each with two database writes outside a
transaction (a BL301 finding each, so every function is analysed and reported), checks
it with ``backendlint check --no-cache`` (in a child process, ``max-file-size`` raised),
and prints the seconds and the microseconds per function for each N. With linear work
the time per function stays flat; a whole-source scan done once per function or per
finding makes it grow with N. A number, never an assertion.

Every function here has a finding, so the figure is dominated by locating findings
(code generation of each function), far above the usual lines per second. The 100,000
functions file is 11 MiB: its LibCST tree needs about 3 GB of memory.

Measured (2 shared cores, Python 3.11, ms per function at 1k / 10k / 30k functions):
before issue #22 4.2 / 9.7 / - (a whole-source scan per function and per finding),
after 2.2 / 2.5 / 4.0 (what still grows at 30k is the memory of a 1 GB tree; no
per-call cost in the profile grows with N).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FUNCTION = '''
def handler_{i}(request):
    Order.objects.create(number={i})
    Audit.objects.create(kind="order", ref={i})
'''
HEAD = "from shop.models import Audit, Order\n"
MODELS = """from django.db import models


class Order(models.Model):
    number = models.IntegerField()


class Audit(models.Model):
    kind = models.CharField(max_length=20)
    ref = models.IntegerField()
"""


def generate(path: Path, count: int) -> int:
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(HEAD)
        for i in range(count):
            fh.write(FUNCTION.format(i=i))
    return path.stat().st_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--select", default="ALL")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    print("| functions | KB | seconds | µs per function | findings |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    with tempfile.TemporaryDirectory(prefix="backendlint-scaling-") as tmp:
        root = Path(tmp)
        (root / "shop").mkdir()
        (root / "shop" / "__init__.py").write_text("", encoding="utf-8")
        (root / "shop" / "models.py").write_text(MODELS, encoding="utf-8")
        config = "[tool.backendlint]\nmax-file-size = 100000000\n"
        for count in sizes:
            target = root / "shop" / "views.py"
            size = generate(target, count)
            cmd = [sys.executable, "-m", "backendlint", "check", "--no-cache", "--jobs", "1",
                   "--select", args.select, "--output-format", "concise", "-q", "shop/views.py"]
            for timeout in ("file-timeout = 100000\n", ""):  # older versions lack the key
                (root / "pyproject.toml").write_text(config + timeout, encoding="utf-8")
                start = time.perf_counter()
                done = subprocess.run(cmd, cwd=root, capture_output=True, text=True, env=dict(os.environ))
                seconds = time.perf_counter() - start
                if "unknown key 'file-timeout'" not in done.stderr:
                    break
            findings = sum(1 for line in done.stdout.splitlines() if ": BL" in line)
            if done.returncode not in (0, 1):
                print(done.stderr, file=sys.stderr)
            print(f"| {count:,} | {size // 1024:,} | {seconds:.2f} | {seconds / count * 1e6:.0f} | {findings:,} |", flush=True)


if __name__ == "__main__":
    main()
