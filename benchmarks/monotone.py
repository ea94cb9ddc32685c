"""Is latency monotone in work? Sweep batch, kv_len, seq_len and layers on the bundled models.

More work never runs faster: for every bundled paper config and every strategy, raising one
of ``workload.batch``, ``workload.kv_len`` (decode), ``workload.seq_len`` (prefill) or
``workload.layers`` by one step of the sweep must not lower the latency. This script counts
the adjacent pairs where it does ("drops") and prints the worst ones. The test suite checks a
few points per axis with the DES (`tests/test_monotone.py`); this is the dense sweep.

Usage (from the repository root)::

    python benchmarks/monotone.py [--backend des|analytic] [--configs NAME ...] [--quick]

``--quick``: the Llama-3-8B decode config only, a few points per axis. Exit status 1 if any
drop was found, else 0. Configs whose weights do not fit at some point skip that point.
"""

from __future__ import annotations

import argparse
import sys
from itertools import pairwise
from pathlib import Path

from sim.config import load_config
from sim.errors import CapacityError
from sim.runner import simulate
from sim.schedule import STRATEGIES

REPO = Path(__file__).resolve().parent.parent
PAPER = REPO / "configs/paper"

#: Points per axis of the dense sweep; kv_len includes the pairs issue 12 measured (1000, 1023).
AXES: dict[str, tuple[int, ...]] = {
    "batch": (1, 2, 3, 4, 6, 8),
    "kv_len": (0, 1, 7, 16, 31, 32, 63, 64, 65, 100, 127, 128, 200, 255, 256, 500, 511, 512,
               1000, 1023, 1024, 1500, 2000),
    "seq_len": (1, 8, 16, 31, 32, 64, 100, 127, 128, 200, 256),
    "layers": (1, 2, 3, 4, 8),
}
QUICK_AXES: dict[str, tuple[int, ...]] = {
    "batch": (1, 2, 4), "kv_len": (16, 31, 64, 200, 255, 1000, 1023), "layers": (1, 2)}
#: Configs too large for a dense DES sweep here (they run with --configs).
SKIP_BY_DEFAULT = ("llama3_8b_decode_server",)


def _axes_for(config_name: str, phase: str, quick: bool) -> dict[str, tuple[int, ...]]:
    axes = dict(QUICK_AXES if quick else AXES)
    axes.pop("seq_len" if phase == "decode" else "kv_len", None)
    return axes


def sweep(config_name: str, backend: str, quick: bool) -> list[tuple[str, str, int, int, int, int]]:
    """Every drop of one config: (strategy, axis, value, next value, latency, next latency)."""
    path = PAPER / f"{config_name}.yaml"
    phase = load_config(path).workload.phase  # type: ignore[union-attr]
    drops = []
    for axis, values in _axes_for(config_name, phase, quick).items():
        for strategy in STRATEGIES.names():
            points: list[tuple[int, int]] = []
            for value in values:
                try:
                    config = load_config(path, overrides=[f"workload.{axis}={value}"])
                    points.append((value, simulate(config, strategy, backend=backend)
                                   .latency_cycles))
                except CapacityError:
                    continue
            drops += [(strategy, axis, a, b, la, lb)
                      for (a, la), (b, lb) in pairwise(points) if lb < la]
        print(f"{config_name} {axis}: {len(values)} points x {len(STRATEGIES.names())} "
              f"strategies", file=sys.stderr)
    return drops


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="des", choices=("des", "analytic"))
    parser.add_argument("--configs", nargs="*", help="paper config names (default: all but the "
                        "32-layer server model)")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    names = args.configs or (["llama3_8b_decode"] if args.quick else sorted(
        p.stem for p in PAPER.glob("*.yaml") if p.stem not in SKIP_BY_DEFAULT))
    drops = [(name, *d) for name in names for d in sweep(name, args.backend, args.quick)]
    print(f"backend {args.backend}: {len(drops)} drops (more work, lower latency)")
    for name, strategy, axis, a, b, la, lb in sorted(drops, key=lambda d: d[6] / d[5])[:15]:
        print(f"  {name} {strategy} {axis} {a} -> {b}: {la} -> {lb} cycles "
              f"({100 * (lb - la) / la:+.2f}%)")
    return 1 if drops else 0


if __name__ == "__main__":
    raise SystemExit(main())
