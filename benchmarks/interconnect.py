"""Building the interconnect: wall time of `build_interconnect` in a fresh process.

Each machine is built as ``imcsim run`` builds it, once in a new process (after
the imports and the config load, which are not timed), ``--runs`` times (default
5); the median is printed. With ``--old DIR`` (a source tree of an earlier
revision, e.g. ``git archive COMMIT | tar -x -C DIR``) the same builds run from
that tree too, alternating old and new run by run, and the median of the per-pair
ratios old / new is printed (pairs taken back to back share the machine's load).

`measure` is the same, this tree only (`run_all.py` prints it).

Machines: the 16-card rack (32,768 cores on the card topology, about 124,000
links), the 8-card server, and the rack's cores on one torus.

Usage: ``python benchmarks/interconnect.py [--old DIR] [--runs 5]`` from the
repository root. ``--quick``: the server only, one run (a smoke run).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
#: name -> (run config, overrides): the machines built.
MACHINES: dict[str, tuple[str, tuple[str, ...]]] = {
    "rack16 card (32768 cores)": ("configs/serving/llama3_70b_rack16.yaml", ()),
    "server8 card (16384 cores)": ("configs/paper/llama3_8b_decode_server.yaml", ()),
    "rack16 torus (32768 cores)": ("configs/serving/llama3_70b_rack16.yaml",
                                   ("machine.network.topology=torus",)),
}
#: What the child process runs: load the config, time one build, print the seconds.
CHILD = """
import sys, time
from sim.config import load_config
from sim.network.from_config import build_interconnect
config = load_config(sys.argv[1], overrides=sys.argv[2:])
began = time.perf_counter()
build_interconnect(config.machine)
print(time.perf_counter() - began)
"""


def _seconds(config: str, overrides: tuple[str, ...], tree: Path) -> float:
    """Seconds of one `build_interconnect` in a new process run from ``tree``."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    proc = subprocess.run([sys.executable, "-c", CHILD, config, *overrides], cwd=tree, env=env,
                          capture_output=True, check=False, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"build of {config} in {tree} failed: {proc.stderr[-300:]}")
    return float(proc.stdout.split()[-1])


def measure(quick: bool = False, runs: int = 3) -> list[dict[str, object]]:
    """This tree's median seconds per machine (``quick``: the server, one run), for
    `run_all.py`."""
    machines = dict(list(MACHINES.items())[1:2]) if quick else MACHINES
    return [{"machine": label, "runs": 1 if quick else runs,
             "median_s": statistics.median(_seconds(config, overrides, REPO)
                                           for _ in range(1 if quick else runs))}
            for label, (config, overrides) in machines.items()]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--old", type=Path, default=None,
                        help="A source tree of the revision to compare with.")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="The server only, one run.")
    args = parser.parse_args()
    trees = {"new": REPO, **({"old": args.old.resolve()} if args.old else {})}
    machines = dict(list(MACHINES.items())[1:2]) if args.quick else MACHINES
    runs_each = 1 if args.quick else args.runs
    print(f"{'machine':<30} " + " ".join(f"{name + ' s':>9}" for name in trees)
          + ("  old/new (median of pairs)" if args.old else ""))
    for label, (config, overrides) in machines.items():
        runs: dict[str, list[float]] = {name: [] for name in trees}
        for _ in range(runs_each):
            for name, tree in trees.items():
                runs[name].append(_seconds(config, overrides, tree))
        medians = {name: statistics.median(values) for name, values in runs.items()}
        ratio = ""
        if args.old:
            pairs = [old / new for old, new in zip(runs["old"], runs["new"], strict=True)]
            ratio = (f"  {statistics.median(pairs):6.2f}x  "
                     f"(pairs {min(pairs):.2f}-{max(pairs):.2f})")
        print(f"{label:<30} " + " ".join(f"{m:9.3f}" for m in medians.values()) + ratio)
    return 0


if __name__ == "__main__":
    sys.exit(main())
