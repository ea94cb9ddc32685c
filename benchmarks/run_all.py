"""Run every benchmark and print one table, then (last line) JSON.

Scenarios:

- ``engine_speed``: DES tasks/s against bare SimPy timeouts (`engine_speed.py`);
- ``llama3_8b_layer``: one Llama-3-8B decode layer (deferred) on every core of
  a Corsair-like chiplet, wall time of `sim.runner.simulate` (interconnect
  built beforehand, as `compare` and sweeps share it);
- ``scaling``: the same layer on chiplets of 64, 128, 256 and 512 cores; the
  exponent b of wall ≈ a·cores^b fitted by least squares on log-log.

Usage: ``python benchmarks/run_all.py [--quick]`` from the repository root
(``--quick``: small sizes, for a CI smoke run that only checks it runs).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from engine_speed import measure

from sim.config import StrategyName, load_config
from sim.network.from_config import build_interconnect
from sim.runner import simulate

REPO = Path(__file__).resolve().parent.parent
LAYER = REPO / "configs/paper/llama3_8b_decode.yaml"


def layer_run(cores: int | None = None) -> dict[str, float]:
    """Wall time and event rate of one deferred Llama-3-8B decode layer."""
    overrides = [] if cores is None else [
        f"machine.hierarchy.cores_per_chiplet={cores}",
        # the same layer on fewer cores needs more SRAM per core: lifted for the study
        "machine.memory.sram_bytes_per_core=1073741824",
    ]
    config = load_config(LAYER, overrides)
    net = build_interconnect(config.machine)
    began = time.perf_counter()
    result = simulate(config, StrategyName.DEFERRED, net)
    wall = time.perf_counter() - began
    return {"cores": config.machine.hierarchy.cores_per_chiplet, "wall_s": wall,
            "tasks": len(result.taskgraph.tasks), "events": result.timeline.events,
            "tasks_per_s": len(result.taskgraph.tasks) / wall}


def fit_exponent(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of log(wall) against log(cores)."""
    xs = [math.log(c) for c, _ in points]
    ys = [math.log(w) for _, w in points]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum(
        (x - mx) ** 2 for x in xs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (smoke run)")
    args = parser.parse_args()
    engine = measure(tasks=20_000 if args.quick else 200_000, repeats=1 if args.quick else 3)
    sizes = [16, 32, 64, 128] if args.quick else [64, 128, 256, 512]
    scaling = [layer_run(c) for c in sizes]
    layer = next(r for r in scaling if r["cores"] == 256) if not args.quick else scaling[-1]
    exponent = fit_exponent([(r["cores"], r["wall_s"]) for r in scaling])
    print(f"{'scenario':<28}{'wall s':>10}{'tasks':>10}{'tasks/s':>14}")
    print(f"{'engine_speed (des)':<28}{engine['des_seconds']:>10.3f}{engine['tasks']:>10}"
          f"{engine['des_events_per_s']:>14,.0f}")
    print(f"{'engine_speed (bare simpy)':<28}{engine['simpy_seconds']:>10.3f}"
          f"{engine['tasks']:>10}{engine['simpy_events_per_s']:>14,.0f}")
    for r in scaling:
        print(f"{'llama3_8b_layer @' + str(r['cores']) + ' cores':<28}{r['wall_s']:>10.3f}"
              f"{r['tasks']:>10}{r['tasks_per_s']:>14,.0f}")
    print(f"engine ratio (des / bare): {engine['ratio']:.3f}; scaling exponent: {exponent:.2f}")
    print(json.dumps({
        "des_events_per_s": engine["des_events_per_s"],
        "simpy_events_per_s": engine["simpy_events_per_s"],
        "ratio": engine["ratio"],
        "llama3_8b_layer_wall_s": layer["wall_s"],
        "llama3_8b_layer_cores": layer["cores"],
        "scaling": [{"cores": r["cores"], "wall_s": r["wall_s"]} for r in scaling],
        "scaling_exponent": exponent,
    }))


if __name__ == "__main__":
    main()
