"""Serving runs: the bundled serving configs at batch 64 (`sim.serving.serve`), on
the DES and the analytic backend, timed in one invocation with a fresh
interconnect each (as ``imcsim run`` builds it); and, as a ratio measured in the
same invocation, the default ``probes`` mode against ``stages`` (every stage
lowered) on the 8B server.

Usage: ``python benchmarks/serving.py [--quick]`` from the repository root
(``--quick``: both configs cut to 8 layers on the same machines, one run each).
Targets (README, Benchmarks): Llama-3-70B at batch 64 in at most 60 s on the DES
and 2 s on the analytic backend, on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from sim.config import load_config
from sim.serving import serve

REPO = Path(__file__).resolve().parent.parent
CONFIGS = {"llama3_8b_server8": REPO / "configs/serving/llama3_8b_server8.yaml",
           "llama3_70b_rack16": REPO / "configs/serving/llama3_70b_rack16.yaml"}

Row = dict[str, float | str | int]


def timed(name: str, backend: str, mode: str = "probes", quick: bool = False) -> Row:
    """One serving run of ``name`` at its own batch: wall seconds and its figures."""
    overrides = ["workload.layers=8"] if quick else []
    config = load_config(CONFIGS[name], overrides)
    began = time.perf_counter()
    result = serve(config, backend=backend, mode=mode)  # type: ignore[arg-type]
    wall = time.perf_counter() - began
    f = result.figures()
    return {"config": name, "backend": backend, "mode": mode, "wall_s": wall,
            "tasks": result.tasks_simulated,
            "latency_per_token_us": f["latency_per_token_us"],
            "tokens_per_s": f["tokens_per_s"]}


def measure(quick: bool = False) -> list[Row]:
    """Every serving row: both configs on both backends, then the 8B in ``stages``."""
    rows = [timed(name, backend, quick=quick) for name in CONFIGS
            for backend in ("des", "analytic")]
    rows.append(timed("llama3_8b_server8", "analytic", "stages", quick))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="8 layers (smoke run)")
    rows = measure(parser.parse_args().quick)
    for r in rows:
        print(f"{r['config']:18} {r['backend']:8} {r['mode']:6} {r['wall_s']:8.2f} s "
              f"{r['tasks']:>10,} tasks  {r['latency_per_token_us']:10.1f} us/token "
              f"{r['tokens_per_s']:12,.0f} tokens/s")
    probes = next(r for r in rows if r["config"] == "llama3_8b_server8"
                  and r["backend"] == "analytic" and r["mode"] == "probes")
    stages = rows[-1]
    print(f"probes / stages wall (8B, analytic): "
          f"{float(probes['wall_s']) / float(stages['wall_s']):.3f}; same figures: "
          f"{probes['latency_per_token_us'] == stages['latency_per_token_us']}")
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
