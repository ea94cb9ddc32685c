"""Start-up of the command line: whole-process wall time of quick commands, median of 5.

Each command runs as a user runs it, ``python -m sim ARGS`` in a new process
(interpreter start-up, imports, the command, exit), ``--runs`` times (default
5); the median is printed. With ``--old DIR`` (a source tree of an earlier
revision, e.g. ``git worktree add /tmp/old main``) the same commands run from
that tree too (``PYTHONPATH=DIR``), alternating old and new run by run, and
the ratio old / new is printed. A bare interpreter (``python -c pass``) is the
floor.

Commands: ``--help``, ``list`` and ``check configs/flashnorm_toy.yaml``.

Usage: ``python benchmarks/startup.py [--old DIR] [--runs 5]`` from the
repository root.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
COMMANDS: dict[str, list[str]] = {
    "python -c pass": ["-c", "pass"],
    "imcsim --help": ["-m", "sim", "--help"],
    "imcsim list": ["-m", "sim", "list"],
    "imcsim check flashnorm_toy": ["-m", "sim", "check", "configs/flashnorm_toy.yaml"],
}


def _seconds(args: list[str], tree: Path) -> float:
    """Wall seconds of one ``python ARGS`` process run from ``tree``."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    began = time.perf_counter()
    proc = subprocess.run([sys.executable, *args], cwd=tree, env=env, capture_output=True,
                          check=False)
    seconds = time.perf_counter() - began
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args)} in {tree} failed: {proc.stderr.decode()[-300:]}")
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--old", type=Path, default=None,
                        help="A source tree of the revision to compare with.")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    trees = {"new": REPO, **({"old": args.old.resolve()} if args.old else {})}
    print(f"{'command':<28} " + " ".join(f"{name + ' s':>9}" for name in trees)
          + ("  old/new" if args.old else ""))
    for label, command in COMMANDS.items():
        runs: dict[str, list[float]] = {name: [] for name in trees}
        for _ in range(args.runs):
            for name, tree in trees.items():
                runs[name].append(_seconds(command, tree))
        medians = {name: statistics.median(values) for name, values in runs.items()}
        ratio = f"  {medians['old'] / medians['new']:6.2f}x" if args.old else ""
        print(f"{label:<28} " + " ".join(f"{m:9.3f}" for m in medians.values()) + ratio)
    return 0


if __name__ == "__main__":
    sys.exit(main())
