"""Dump (or check) the figures of every bundled run config × strategy × backend.

A refactoring of the lowering must not move a single cycle. This script runs
every run config under ``configs/`` (not ``configs/machines/`` or
``configs/sweeps/``, which are not runs) under every strategy and on every
timing path:

- ``des``: the discrete-event backend, task by task;
- ``analytic``: the analytic backend, task by task;
- ``analytic_arrays``: the analytic backend evaluated in arrays (what sweeps
  run); where the arrays decline it is the task-by-task figure again.

For each it records the latency, the event count and the critical-path
breakdown (matmul, SIMD, exposed and total communication cycles, and the
critical-path cycles of every op), as JSON with sorted keys.

Usage, from the repository root::

    python benchmarks/results_dump.py --out before.json      # dump
    python benchmarks/results_dump.py --check before.json    # compare, exit 1 on a difference
    python benchmarks/results_dump.py --check before.json --only toy collectives/  # some cases

``--check`` prints how many (config, strategy, path) cases it compared and
every case whose figures differ; a case missing on either side is a
difference too, except strategies that exist on one side only (a new
strategy has nothing to compare against), which are listed.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
SKIP_DIRS = ("machines", "sweeps")
#: Configs under ``configs/`` that are no run configs (a calibration spec).
SKIP_FILES = ("calibration/corsair_published.yaml",)
#: Extra cases: a bundled config with overrides, to reach the mapping's other rules
#: (row-split linears, attention sets over several cores, other collective algorithms,
#: a two-layer graph with layer-to-layer moves).
VARIANTS: dict[str, tuple[str, ...]] = {
    "configs/paper/llama3_8b_decode.yaml": (
        "schedule.linear_split=rows",
        "workload.batch=4",
        "schedule.gather_algorithm=ring",
        "schedule.reduction_algorithm=tree",
        "workload.layers=2",
    ),
    "configs/paper/llama2_7b_prefill.yaml": ("workload.seq_len=32",),
}


def run_configs() -> list[Path]:
    """Every bundled run config, in a stable order."""
    root = REPO / "configs"
    return sorted(p for p in root.rglob("*.yaml")
                  if p.relative_to(root).parts[0] not in SKIP_DIRS
                  and p.relative_to(root).as_posix() not in SKIP_FILES)


def _figures(result: Any) -> dict[str, Any]:
    b = result.breakdown
    return {
        "latency_cycles": result.latency_cycles,
        "events": result.events,
        "matmul_cycles": b.matmul_cycles,
        "simd_cycles": b.simd_cycles,
        "exposed_communication_cycles": b.exposed_communication_cycles,
        "communication_cycles": b.communication_cycles,
        "critical_cycles_by_op": result.cycles_by_op(),
    }


PATHS = ("des", "analytic", "analytic_arrays")


def run_paths(path: Path, overrides: tuple[str, ...] = ()) -> dict[str, dict[str, Any]]:
    """{strategy: {path: result}} of one config, every strategy on every path."""
    from sim.config import StrategyName, load_config
    from sim.network.from_config import build_interconnect
    from sim.runner import simulate, simulate_tasks

    config = load_config(path, overrides)
    net = build_interconnect(config.machine)
    return {s.value: {"des": simulate_tasks(config, s, net, "des"),
                      "analytic": simulate_tasks(config, s, net, "analytic"),
                      "analytic_arrays": simulate(config, s, net, "analytic")}
            for s in StrategyName}


def dump(only: list[str] | None = None) -> dict[str, Any]:
    """{config: {strategy: {path: figures}}} for every bundled run config (``only``:
    just the cases whose name contains one of these strings)."""
    out: dict[str, Any] = {}
    cases = [(p, ()) for p in run_configs()] + [
        (REPO / name, (override,)) for name, extra in VARIANTS.items() for override in extra]
    for path, overrides in cases:
        name = " ".join((str(path.relative_to(REPO)), *overrides))
        if only and not any(part in name for part in only):
            continue
        began = time.perf_counter()
        out[name] = {strategy: {p: _figures(r) for p, r in results.items()}
                     for strategy, results in run_paths(path, overrides).items()}
        print(f"{name}: {len(out[name])} strategies × {len(PATHS)} paths, "
              f"{time.perf_counter() - began:.1f} s", file=sys.stderr)
    return out


def check(baseline: dict[str, Any], current: dict[str, Any]) -> int:
    """Print the comparison; return the number of differing cases."""
    compared = differ = 0
    only: list[str] = []
    for config in sorted(set(baseline) | set(current)):
        old, new = baseline.get(config), current.get(config)
        if old is None or new is None:
            print(f"DIFF {config}: present only {'after' if old is None else 'before'}")
            differ += 1
            continue
        for strategy in sorted(set(old) | set(new)):
            if strategy not in old or strategy not in new:
                only.append(f"{config}:{strategy} ({'after' if strategy in new else 'before'})")
                continue
            for path in sorted(set(old[strategy]) | set(new[strategy])):
                compared += 1
                a, b = old[strategy].get(path), new[strategy].get(path)
                if a != b:
                    differ += 1
                    keys = sorted(k for k in set(a or {}) | set(b or {})
                                  if (a or {}).get(k) != (b or {}).get(k))
                    print(f"DIFF {config} {strategy} {path}: {', '.join(keys)}")
    print(f"compared {compared} cases, {differ} differ")
    if only:
        print(f"on one side only (not compared): {len(only)}: {', '.join(only)}")
    return differ


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--out", type=Path, help="write the dump to this JSON file")
    group.add_argument("--check", type=Path, help="compare against this JSON dump")
    parser.add_argument("--only", nargs="+", metavar="TEXT",
                        help="just the cases whose name contains one of these (a check then "
                             "compares those cases of the baseline only)")
    args = parser.parse_args()
    current = dump(args.only)
    if args.out:
        args.out.write_text(json.dumps(current, indent=1, sort_keys=True) + "\n")
        return 0
    baseline = json.loads(args.check.read_text())
    if args.only:
        baseline = {k: v for k, v in baseline.items() if any(part in k for part in args.only)}
    return 1 if check(baseline, current) else 0


if __name__ == "__main__":
    sys.exit(main())
