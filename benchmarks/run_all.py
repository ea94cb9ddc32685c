"""Run every benchmark and print one table, then (last line) JSON.

Scenarios (every layer or model run is `sim.runner.simulate` under the
deferred strategy, timed with its interconnect built beforehand, as `compare`
and sweeps share it; a fresh interconnect per run, so its routes are computed
inside the timing, as in ``imcsim run``):

- ``engine_speed``: DES tasks/s against bare SimPy timeouts (`engine_speed.py`);
- ``llama3_8b_layer``: one Llama-3-8B decode layer on every core of a
  Corsair-like chiplet (256 cores);
- ``llama3_8b_layer_card``: the same layer on every core of the card
  (``schedule.cores_per_layer=2048``);
- ``llama3_8b_model``: the whole 32-layer model (``workload.layers=32``) on the
  8-card server, one chiplet per layer (the default);
- ``scaling``: the layer on 256, 512, 1024 and 2048 cores of the card
  (``schedule.cores_per_layer``); the exponent b of wall ≈ a·cores^b fitted by
  least squares on log-log. Its 256- and 2048-core points are the two layer
  scenarios above;
- ``analytic_*``: the layer on a chiplet (every strategy: the slowest one's
  wall is reported), on the card, and the whole model, on the analytic backend
  (``simulate_tasks(..., "analytic")``, task by task), with the latency next to the DES's.
- ``serving``: the bundled serving configs at batch 64 on both backends, and
  the 8B in ``stages`` mode (`serving.py`);
- ``interconnect``: `build_interconnect` of the 16-card rack, the 8-card server
  and the rack's cores on a torus, each in a fresh process (`interconnect.py`);
- ``estimate_*``: the same on the analytic backend evaluated in arrays
  (`sim.runner.simulate` on ``analytic``, what ``sweep --backend analytic`` runs): the layer
  on a chiplet (slowest strategy), on the card, and the model, each on an
  interconnect that already ran it once (routes and closed forms cached, as
  for every strategy of a sweep point after the first); and
  ``estimate_point``: one whole sweep point cold (a fresh interconnect, built
  outside the timing, then every strategy in a row).

Layer runs are repeated (``--repeats``, default 3; the model: ``--model-repeats``,
default 1) and report the best and the median wall time.

Usage: ``python benchmarks/run_all.py [--quick]`` from the repository root
(``--quick``: a card of 16-core chiplets with SRAM lifted so that a layer fits,
layers on 16 to 128 cores, a 2-layer model, one run each: a CI smoke run that
only checks it runs, in a few seconds).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from engine_speed import measure
from interconnect import measure as measure_interconnect
from serving import measure as measure_serving

from sim.config import StrategyName, load_config
from sim.network.from_config import build_interconnect
from sim.results import Estimate
from sim.runner import simulate, simulate_tasks

REPO = Path(__file__).resolve().parent.parent
LAYER = REPO / "configs/paper/llama3_8b_decode.yaml"
MODEL = REPO / "configs/paper/llama3_8b_decode_server.yaml"
CHIPLET_CORES, CARD_CORES = 256, 2048
SCALING_CORES = (CHIPLET_CORES, 512, 1024, CARD_CORES)
MODEL_LAYERS = 32
#: ``--quick``: the card with 16-core chiplets, SRAM lifted so a layer fits on 16 cores.
QUICK_MACHINE = ("machine.hierarchy.cores_per_chiplet=16",
                 "machine.memory.sram_bytes_per_core=1073741824")
QUICK_SCALING_CORES = (16, 32, 64, 128)
QUICK_MODEL_LAYERS = 2

Row = dict[str, float]


def timed_simulate(path: Path, overrides: list[str], repeats: int, backend: str = "des",
                   strategy: StrategyName = StrategyName.DEFERRED) -> Row:
    """Best and median wall seconds of ``repeats`` runs of a config on ``backend``.

    Each run gets a freshly built interconnect (built outside the timing).
    """
    config = load_config(path, overrides)
    walls: list[float] = []
    for _ in range(repeats):
        net = build_interconnect(config.machine)
        began = time.perf_counter()
        result = simulate_tasks(config, strategy, net, backend)
        walls.append(time.perf_counter() - began)
    tasks = len(result.taskgraph)
    return {"wall_s": min(walls), "median_s": statistics.median(walls), "tasks": tasks,
            "tasks_per_s": tasks / min(walls), "latency_cycles": result.timeline.latency_cycles}


def layer_run(cores: int, repeats: int, quick: bool = False, backend: str = "des",
              strategy: StrategyName = StrategyName.DEFERRED) -> Row:
    """One Llama-3-8B decode layer spread over ``cores`` cores of the card."""
    overrides = [*(QUICK_MACHINE if quick else ()), f"schedule.cores_per_layer={cores}"]
    return {"cores": cores, **timed_simulate(LAYER, overrides, repeats, backend, strategy)}


def model_run(layers: int, repeats: int, quick: bool = False, backend: str = "des") -> Row:
    """The model with ``layers`` layers, one chiplet per layer (quick: on the small card)."""
    path, machine = (LAYER, QUICK_MACHINE) if quick else (MODEL, ())
    return {"layers": layers,
            **timed_simulate(path, [*machine, f"workload.layers={layers}"], repeats, backend)}


def timed_estimate(path: Path, overrides: list[str], repeats: int,
                   strategies: tuple[StrategyName, ...] = (StrategyName.DEFERRED,),
                   warm: bool = True) -> Row:
    """Best and median wall seconds of the array-evaluated analytic backend on every
    one of ``strategies`` in a row. ``warm``: on an interconnect that ran them once
    already; else on a fresh one each repeat (built outside the timing)."""
    config = load_config(path, overrides)
    net = build_interconnect(config.machine)
    if warm:
        for strategy in strategies:
            simulate(config, strategy, net, "analytic")
    walls: list[float] = []
    for _ in range(repeats):
        if not warm:
            net = build_interconnect(config.machine)
        began = time.perf_counter()
        results = [simulate(config, strategy, net, "analytic") for strategy in strategies]
        walls.append(time.perf_counter() - began)
    tasks = sum(r.tasks if isinstance(r, Estimate) else len(r.taskgraph)
                for r in results)  # of the task-by-task graphs, all strategies
    return {"wall_s": min(walls), "median_s": statistics.median(walls), "tasks": tasks,
            "tasks_per_s": tasks / min(walls), "latency_cycles": results[-1].latency_cycles}


def estimate_layer(cores: int, repeats: int, quick: bool) -> Row:
    """The layer's estimate under every strategy (warm): the row of the slowest."""
    overrides = [*(QUICK_MACHINE if quick else ()), f"schedule.cores_per_layer={cores}"]
    rows = {s: timed_estimate(LAYER, overrides, repeats, (s,)) for s in StrategyName}
    strategy, row = max(rows.items(), key=lambda kv: kv[1]["wall_s"])
    return {**row, "cores": cores, "strategy": strategy.value,
            "ms_by_strategy": {s.value: r["wall_s"] * 1e3 for s, r in rows.items()}}


def slowest_strategy(cores: int, repeats: int, quick: bool) -> Row:
    """The analytic layer under every strategy: the row of the slowest (best wall)."""
    rows = {s: layer_run(cores, repeats, quick, "analytic", s) for s in StrategyName}
    strategy, row = max(rows.items(), key=lambda kv: kv[1]["wall_s"])
    return {**row, "strategy": strategy.value}


def fit_exponent(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of log(wall) against log(cores)."""
    xs = [math.log(c) for c, _ in points]
    ys = [math.log(w) for _, w in points]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum(
        (x - mx) ** 2 for x in xs)


def _scaling_label(row: Row, scaling: list[Row]) -> str:
    """A scaling point's scenario: the chiplet layer, the card layer, or in between."""
    if row is scaling[0]:
        return "llama3_8b_layer"
    return "llama3_8b_layer_card" if row is scaling[-1] else "scaling"


def print_table(engine: dict[str, float], named: list[tuple[str, Row]]) -> None:
    """The human-readable table: engine speed, then one row per simulate scenario."""
    print(f"{'scenario':<44}{'wall s':>9}{'median s':>10}{'tasks':>9}{'tasks/s':>11}"
          f"{'latency cycles':>16}")
    print(f"{'engine_speed (des)':<44}{engine['des_seconds']:>9.3f}{'':>10}"
          f"{engine['tasks']:>9}{engine['des_events_per_s']:>11,.0f}")
    print(f"{'engine_speed (bare simpy)':<44}{engine['simpy_seconds']:>9.3f}{'':>10}"
          f"{engine['tasks']:>9}{engine['simpy_events_per_s']:>11,.0f}")
    for label, r in named:
        print(f"{label:<44}{r['wall_s']:>9.3f}{r['median_s']:>10.3f}{r['tasks']:>9}"
              f"{r['tasks_per_s']:>11,.0f}{r['latency_cycles']:>16}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (smoke run)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per layer (default 3)")
    parser.add_argument("--model-repeats", type=int, default=1,
                        help="runs of the whole model (default 1)")
    args = parser.parse_args()
    quick = args.quick
    repeats, model_repeats = (1, 1) if quick else (args.repeats, args.model_repeats)
    engine = measure(tasks=20_000 if quick else 200_000, repeats=1 if quick else 3)
    sizes = QUICK_SCALING_CORES if quick else SCALING_CORES
    scaling = [layer_run(c, repeats, quick) for c in sizes]
    layer, card = scaling[0], scaling[-1]  # one chiplet; the whole card
    model = model_run(QUICK_MODEL_LAYERS if quick else MODEL_LAYERS, model_repeats, quick)
    exponent = fit_exponent([(r["cores"], r["wall_s"]) for r in scaling])
    a_layer = slowest_strategy(sizes[0], repeats, quick)
    a_card = layer_run(sizes[-1], repeats, quick, "analytic")
    a_model = model_run(model["layers"], model_repeats, quick, "analytic")
    layer_overrides = [*(QUICK_MACHINE if quick else ())]
    e_layer = estimate_layer(sizes[0], repeats, quick)
    e_point = timed_estimate(LAYER, [*layer_overrides, f"schedule.cores_per_layer={sizes[0]}"],
                             repeats, tuple(StrategyName), warm=False)
    e_card = timed_estimate(LAYER, [*layer_overrides, f"schedule.cores_per_layer={sizes[-1]}"],
                            repeats)
    model_path, model_machine = (LAYER, QUICK_MACHINE) if quick else (MODEL, ())
    e_model = timed_estimate(model_path, [*model_machine, f"workload.layers={model['layers']}"],
                             repeats)
    print_table(engine, [
        *((f"{_scaling_label(r, scaling)} @{r['cores']} cores", r) for r in scaling),
        (f"llama3_8b_model ({model['layers']} layers)", model),
        (f"analytic_layer @{a_layer['cores']} cores ({a_layer['strategy']})", a_layer),
        (f"analytic_layer_card @{a_card['cores']} cores", a_card),
        (f"analytic_model ({a_model['layers']} layers)", a_model),
        (f"estimate_layer @{e_layer['cores']} cores ({e_layer['strategy']})", e_layer),
        (f"estimate_point @{sizes[0]} cores ({len(StrategyName)} strategies, cold)", e_point),
        (f"estimate_layer_card @{sizes[-1]} cores", e_card),
        (f"estimate_model ({model['layers']} layers)", e_model),
    ])
    print(f"engine ratio (des / bare): {engine['ratio']:.3f}; scaling exponent: {exponent:.2f}")
    served = measure_serving(quick)
    for r in served:
        print(f"serving {r['config']} batch 64 ({r['backend']}, {r['mode']}): "
              f"{r['wall_s']:.2f} s, {r['latency_per_token_us']:.1f} us/token")
    built = measure_interconnect(quick)
    for r in built:
        print(f"build_interconnect {r['machine']}: {r['median_s']:.3f} s "
              f"(fresh process, median of {r['runs']})")
    print(json.dumps({
        "serving": served,
        "interconnect": built,
        "des_events_per_s": engine["des_events_per_s"],
        "simpy_events_per_s": engine["simpy_events_per_s"],
        "ratio": engine["ratio"],
        "llama3_8b_layer_wall_s": layer["wall_s"],
        "llama3_8b_layer_median_s": layer["median_s"],
        "llama3_8b_layer_cores": layer["cores"],
        "llama3_8b_layer_card_wall_s": card["wall_s"],
        "llama3_8b_layer_card_median_s": card["median_s"],
        "llama3_8b_layer_card_cores": card["cores"],
        "llama3_8b_model_wall_s": model["wall_s"],
        "llama3_8b_model_median_s": model["median_s"],
        "llama3_8b_model_layers": model["layers"],
        "scaling": [{"cores": r["cores"], "wall_s": r["wall_s"], "median_s": r["median_s"]}
                    for r in scaling],
        "scaling_exponent": exponent,
        "analytic_layer_slowest_strategy": a_layer["strategy"],
        "analytic_layer_wall_s": a_layer["wall_s"],
        "analytic_layer_card_wall_s": a_card["wall_s"],
        "analytic_model_wall_s": a_model["wall_s"],
        "estimate_layer_slowest_strategy": e_layer["strategy"],
        "estimate_layer_wall_s": e_layer["wall_s"],
        "estimate_layer_ms_by_strategy": e_layer["ms_by_strategy"],
        "estimate_point_wall_s": e_point["wall_s"],
        "estimate_layer_card_wall_s": e_card["wall_s"],
        "estimate_model_wall_s": e_model["wall_s"],
        "analytic_latency_cycles": {"layer_card": a_card["latency_cycles"],
                                    "model": a_model["latency_cycles"]},
        "des_latency_cycles": {"layer_card": card["latency_cycles"],
                               "model": model["latency_cycles"]},
    }))


if __name__ == "__main__":
    main()
