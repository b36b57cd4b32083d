import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from backendlint.plugins import load  # noqa: E402 - the rules and collectors, as the command line loads them

load()
