"""DES task throughput against bare SimPy timeouts, measured in the same process.

Both sides simulate the same shape of work: ``chains`` independent chains of
``length`` steps with durations 1..7 cycles. Bare SimPy: each step is one
``Timeout`` whose callback schedules the next. DES: each step is one task of a
TaskGraph (chain i on engine i), run by `sim.backends.run_des`, which adds the
FIFO engines, dependency counting, dispatch sweeps and the timeline.

Prints a table, then (last line) JSON with ``des_events_per_s`` (tasks per
second: the DES's unit of work), ``simpy_events_per_s`` and ``ratio``.

Usage: ``python benchmarks/engine_speed.py [--tasks N] [--repeats R]``
"""

from __future__ import annotations

import argparse
import json
import time

import simpy
from simpy.events import Timeout

from sim.backends import run_des
from sim.ir import Category, Engine, EngineKind, Task, TaskGraph


def _duration(chain: int, step: int) -> int:
    return 1 + (chain * 7 + step * 3) % 7


def bare_simpy_seconds(chains: int, length: int) -> float:
    """Wall time of ``chains x length`` chained timeouts on a bare SimPy Environment."""
    env = simpy.Environment()
    remaining = [length] * chains

    def step(event: Timeout) -> None:
        chain = event.value
        remaining[chain] -= 1
        if remaining[chain]:
            Timeout(env, _duration(chain, remaining[chain]), chain).callbacks.append(step)

    began = time.perf_counter()
    for chain in range(chains):
        Timeout(env, _duration(chain, 0), chain).callbacks.append(step)
    env.run()
    return time.perf_counter() - began


def chain_graph(chains: int, length: int) -> TaskGraph:
    """The same work as a TaskGraph: chain i on engine i, each step depending on the last."""
    engines = tuple(Engine(f"e{i}", EngineKind.SIMD, core=i) for i in range(chains))
    tasks = []
    for chain in range(chains):
        for step in range(length):
            index = len(tasks)
            tasks.append(Task(f"c{chain}s{step}", f"c{chain}", step, chain,
                              _duration(chain, step), 0, Category.SIMD,
                              (index - 1,) if step else ()))
    return TaskGraph(engines, tuple(tasks))


def des_seconds(graph: TaskGraph) -> float:
    """Wall time of one DES run of ``graph`` (validation included)."""
    began = time.perf_counter()
    run_des(graph)
    return time.perf_counter() - began


def measure(tasks: int = 200_000, chains: int = 64, repeats: int = 3) -> dict[str, float]:
    """Best-of-``repeats`` rates of both sides for ``tasks`` steps in all."""
    length = max(1, tasks // chains)
    total = chains * length
    graph = chain_graph(chains, length)
    bare = min(bare_simpy_seconds(chains, length) for _ in range(repeats))
    des = min(des_seconds(graph) for _ in range(repeats))
    return {
        "tasks": total,
        "simpy_seconds": bare,
        "des_seconds": des,
        "simpy_events_per_s": total / bare,
        "des_events_per_s": total / des,
        "ratio": bare / des,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=200_000, help="steps in all (default 200000)")
    parser.add_argument("--chains", type=int, default=64, help="parallel chains (default 64)")
    parser.add_argument("--repeats", type=int, default=3, help="best of R runs (default 3)")
    args = parser.parse_args()
    figures = measure(args.tasks, args.chains, args.repeats)
    print(f"{'side':<12}{'tasks':>10}{'seconds':>10}{'per second':>14}")
    print(f"{'bare simpy':<12}{figures['tasks']:>10}{figures['simpy_seconds']:>10.3f}"
          f"{figures['simpy_events_per_s']:>14,.0f}")
    print(f"{'imcsim des':<12}{figures['tasks']:>10}{figures['des_seconds']:>10.3f}"
          f"{figures['des_events_per_s']:>14,.0f}")
    print(f"ratio (des / bare): {figures['ratio']:.3f}")
    print(json.dumps({k: figures[k] for k in ("des_events_per_s", "simpy_events_per_s", "ratio")}))


if __name__ == "__main__":
    main()
