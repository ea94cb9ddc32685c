"""Analytic sweep points with and without the worker's kept interconnect, one invocation.

The sweep: the Llama-3-8B decode layer on a chiplet of the Corsair-like card
(256 cores, ``configs/paper/llama3_8b_decode.yaml``) under the analytic
backend, as ``imcsim sweep --backend analytic`` runs it: each point is one
`sim.sweep.execute.run_point` call (every strategy of the point on one
interconnect), in this process, as a pool worker runs its points one after
another. The axis (``--axis``, default ``workload.kv_len``) takes
``--values``; ``--set`` adds fixed overrides (default: the mapping fixed to
column splits and collective statistics, so that a point is its plans and
evaluations, not the mapper's search; ``--set schedule.linear_split=auto``
puts the search back).

Two passes over the same points, alternated ``--rounds`` times:

- old: ``reuse_interconnect=False``, a fresh interconnect built inside every
  point (as before `sim.sweep.reuse`);
- new: the worker cache, emptied before the pass (its first point builds the
  interconnect, the others reuse it and everything its router learnt).

The mapper's own cache (`sim.mapper`, by config) is emptied before every pass,
so neither pass reuses the other's search. The rows of both passes must be
identical (checked; exit 1 if not). Printed: seconds per point of each pass
(median over rounds), and old / new.

Usage: ``python benchmarks/sweep_point.py [--values 256 512 ...] [--rounds 3]``
from the repository root.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from sim import mapper
from sim.config import apply_overrides, load_tree, resolve_model_preset
from sim.sweep.execute import PointTask, run_point
from sim.sweep.reuse import WORKER_CACHE

REPO = Path(__file__).resolve().parent.parent
LAYER = REPO / "configs/paper/llama3_8b_decode.yaml"
FIXED = ["schedule.linear_split=columns", "schedule.norm_stats=collective"]


def _tasks(axis: str, values: list[str], fixed: list[str], strategies: tuple[str, ...],
           reuse: bool) -> list[PointTask]:
    base = resolve_model_preset(load_tree(LAYER))
    return [PointTask(apply_overrides(base, [*fixed, f"{axis}={value}"]), strategies,
                      "analytic", reuse_interconnect=reuse) for value in values]


def _pass(tasks: list[PointTask]) -> tuple[float, list[list[dict[str, Any]]]]:
    """Seconds per point over ``tasks`` and their rows."""
    mapper.clear_cache()
    WORKER_CACHE.clear()
    began = time.perf_counter()
    rows = [run_point(task) for task in tasks]
    return (time.perf_counter() - began) / len(tasks), rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--axis", default="workload.kv_len")
    parser.add_argument("--values", nargs="+", default=["256", "512", "1024", "2048", "4096"])
    parser.add_argument("--set", dest="fixed", action="append", default=None)
    parser.add_argument("--strategies", nargs="+", default=["serialized", "deferred"])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    fixed = FIXED if args.fixed is None else args.fixed
    strategies = tuple(args.strategies)
    old_tasks = _tasks(args.axis, args.values, fixed, strategies, reuse=False)
    new_tasks = _tasks(args.axis, args.values, fixed, strategies, reuse=True)
    old_s, new_s = [], []
    same = True
    for _ in range(args.rounds):
        old, old_rows = _pass(old_tasks)
        new, new_rows = _pass(new_tasks)
        old_s.append(old)
        new_s.append(new)
        same = same and old_rows == new_rows
    old_median, new_median = statistics.median(old_s), statistics.median(new_s)
    print(f"sweep over {args.axis} = {' '.join(args.values)} ({len(args.values)} points x "
          f"{', '.join(strategies)}; {' '.join(fixed) or 'no fixed overrides'}), "
          f"analytic, {args.rounds} rounds")
    print(f"old (fresh interconnect per point): {old_median * 1e3:8.1f} ms per point")
    print(f"new (kept interconnect):            {new_median * 1e3:8.1f} ms per point")
    print(f"old / new: {old_median / new_median:.2f}x; rows identical: {same}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
