"""A whole model on the DES: wall time and peak memory per task, against another checkout.

Issue 13's acceptance case: Llama-3-70B with all 80 layers on the 16-card rack
(``configs/paper/llama3_70b_decode.yaml``), SRAM lifted so that it fits
(``machine.memory.sram_bytes_per_core``; the serving issue adds the memory tier),
the tilings fixed (columns, collective norm statistics) so that no mapper
search is timed. Each run is a subprocess of its own (``imcsim run``'s pipeline
up to the critical path: plan, emission, DES, attribution), which reports its
phases' wall seconds, the task count and its peak resident memory
(``ru_maxrss``); the table prints µs and bytes per task.

``--against PATH`` runs the same case on the checkout at ``PATH`` too (its
``sim`` package first on ``PYTHONPATH``), in the same invocation, and prints
the ratios: a before/after figure on one machine at one time.

Usage, from the repository root::

    python benchmarks/model_memory.py                    # 80 layers, this tree
    python benchmarks/model_memory.py --layers 8 --against /path/to/main/checkout
    python benchmarks/model_memory.py --config configs/paper/llama3_8b_decode.yaml \
        --layers 1 --set schedule.cores_per_layer=2048     # the 2048-core layer
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CONFIG = "configs/paper/llama3_70b_decode.yaml"
FIXED = ("machine.memory.sram_bytes_per_core=1073741824", "schedule.linear_split=columns",
         "schedule.norm_stats=collective")

_CHILD = r"""
import json, resource, sys, time
from sim.backends.critical_path import attribute_critical_path
from sim.backends.des import run_des
from sim.backends.task_emitter import emit_tasks
from sim.config import StrategyName, load_config
from sim.network.from_config import build_interconnect
from sim.runner import prepare

config = load_config(sys.argv[1], sys.argv[2:])
net = build_interconnect(config.machine)
began = time.perf_counter()
prepared = prepare(config, StrategyName.DEFERRED, net)
planned = time.perf_counter()
graph = emit_tasks(prepared.plan, config.machine, net, "hops").taskgraph
emitted = time.perf_counter()
timeline = run_des(graph)
simulated = time.perf_counter()
attribute_critical_path(graph, timeline)
done = time.perf_counter()
tasks = len(graph.columns) if hasattr(graph, "columns") else len(graph.tasks)
print(json.dumps({"tasks": tasks, "latency_cycles": timeline.latency_cycles,
                  "plan_s": planned - began, "emit_s": emitted - planned,
                  "des_s": simulated - emitted, "critical_path_s": done - simulated,
                  "wall_s": done - began,
                  "peak_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))
"""


def measure(tree: Path, config: str, overrides: list[str],
            timeout_s: float) -> dict[str, float]:
    """One run of ``config`` with ``overrides`` on ``tree``'s ``sim`` package, in a
    subprocess."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    args = [sys.executable, "-c", _CHILD, str(REPO / config), *overrides]
    done = subprocess.run(args, capture_output=True, text=True, timeout=timeout_s, env=env,
                          cwd=tree, check=False)
    if done.returncode:
        raise SystemExit(f"{tree}: exit {done.returncode}: {done.stderr.strip()[-400:]}")
    row: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=80, help="decoder layers (default 80)")
    parser.add_argument("--against", type=Path, default=None,
                        help="another checkout to run the same case on, for ratios")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per run")
    parser.add_argument("--config", default=CONFIG, help=f"run config (default {CONFIG})")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE", help="more overrides, after the fixed ones")
    args = parser.parse_args()
    overrides = [f"workload.layers={args.layers}", *FIXED, *args.overrides]
    rows = {"this tree": measure(REPO, args.config, overrides, args.timeout)}
    if args.against is not None:
        rows[str(args.against)] = measure(args.against.resolve(), args.config, overrides,
                                          args.timeout)
    print(f"{'tree':<28}{'tasks':>10}{'wall s':>9}{'emit s':>9}{'des s':>8}{'µs/task':>9}"
          f"{'peak GB':>9}{'B/task':>8}{'latency cycles':>16}")
    for label, r in rows.items():
        print(f"{label[-28:]:<28}{r['tasks']:>10}{r['wall_s']:>9.1f}{r['emit_s']:>9.1f}"
              f"{r['des_s']:>8.1f}{r['wall_s'] / r['tasks'] * 1e6:>9.2f}"
              f"{r['peak_bytes'] / 1e9:>9.2f}{r['peak_bytes'] / r['tasks']:>8.0f}"
              f"{r['latency_cycles']:>16}")
    if len(rows) == 2:
        mine, other = rows.values()
        print(f"ratios (this tree / other): wall {mine['wall_s'] / other['wall_s']:.2f}, "
              f"peak memory {mine['peak_bytes'] / other['peak_bytes']:.2f}, same latency: "
              f"{mine['latency_cycles'] == other['latency_cycles']}")
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
