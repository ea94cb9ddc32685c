"""How much the headline figures depend on the unpublished interconnect and mapping figures.

One reference layer (``configs/paper/llama3_8b_decode.yaml``), one knob at a time, the others
as bundled: for each value the DES's serialized latency, the serialized normalization
collectives' share of it (`normalization_comm_share`) and the deferred strategy's speedup.
The knobs are the assumptions the published ~20% hinges on: router latency, NoC link latency,
per-message endpoint overhead, cores per layer and the activation gather algorithm.

Usage: ``python -m sim.report.sensitivity [--config FILE] [--out DIR]`` writes
``DIR/sensitivity.md``; ``python -m sim.report.paper`` embeds the same table in
``reports/paper_reproduction.md``. Every figure comes out of the simulator.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from sim.config import StrategyName, load_config
from sim.errors import CapacityError
from sim.output import write_files_atomically
from sim.report.progress import progress_bar
from sim.runner import simulate_tasks

__all__ = ["KNOBS", "Knob", "SensitivityRow", "render_sensitivity", "run_sensitivity"]

REFERENCE = Path("configs/paper/llama3_8b_decode.yaml")


@dataclass(frozen=True)
class Knob:
    """One config key and the values it is tried at (its bundled value among them)."""

    label: str
    key: str
    values: tuple[int | str, ...]


KNOBS: tuple[Knob, ...] = (
    Knob("router latency (cycles)", "machine.network.router_latency_cycles", (1, 2, 4, 8)),
    Knob("NoC link latency (cycles)", "machine.network.noc.latency_cycles", (1, 2, 4, 8)),
    Knob("endpoint overhead (cycles per message)", "machine.network.endpoint_overhead_cycles",
         (0, 8, 32, 128)),
    Knob("cores per layer", "schedule.cores_per_layer", (256, 512, 1024)),
    Knob("activation gather algorithm", "schedule.gather_algorithm",
         ("in_network", "multicast", "row_column", "ring", "direct", "halving_doubling")),
)


@dataclass(frozen=True)
class SensitivityRow:
    """One knob at one value: the serialized DES latency and share, the deferred speedup.

    ``latency_cycles`` is None when the workload does not fit at that value.
    """

    knob: Knob
    value: int | str
    latency_cycles: int | None
    norm_comm_share: float
    deferred_speedup: float


def run_sensitivity(config: Path = REFERENCE,
                    knobs: tuple[Knob, ...] = KNOBS) -> list[SensitivityRow]:
    """Simulate ``config`` (DES) with each knob at each of its values, serialized and
    deferred."""
    rows = []
    with progress_bar(sum(len(k.values) for k in knobs), "sensitivity") as advance:
        for knob in knobs:
            for value in knob.values:
                run = load_config(config, [f"{knob.key}={value}"])
                advance(f"{knob.key}={value}")
                try:
                    serial = simulate_tasks(run, StrategyName.SERIALIZED)
                    deferred = simulate_tasks(run, StrategyName.DEFERRED)
                except CapacityError:
                    rows.append(SensitivityRow(knob, value, None, 0.0, 0.0))
                    continue
                rows.append(SensitivityRow(
                    knob, value, serial.latency_cycles,
                    serial.to_dict()["normalization_comm_share"],
                    serial.latency_cycles / max(deferred.latency_cycles, 1)))
    return rows


def render_sensitivity(rows: list[SensitivityRow], config: Path = REFERENCE) -> list[str]:
    """The markdown section: one table, a row per knob value."""
    lines = [
        "## Sensitivity to the unpublished figures",
        "",
        f"`{config.as_posix()}` (DES), one knob at a time, every other figure as bundled;",
        "produced by",
        "`python -m sim.report.sensitivity` (and by `python -m sim.report.paper`, which",
        "embeds it here). *share*: the serialized normalization collectives' critical-path",
        "share; *speedup*: serialized over deferred latency.",
        "",
        "| knob | value | serialized (cycles) | norm. collectives share | deferred speedup |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        if row.latency_cycles is None:
            lines.append(f"| {row.knob.label} | {row.value} | does not fit | | |")
            continue
        lines.append(f"| {row.knob.label} | {row.value} | {row.latency_cycles} | "
                     f"{100 * row.norm_comm_share:.1f}% | {row.deferred_speedup:.3f}x |")
    fitting = [r for r in rows if r.latency_cycles is not None]
    if fitting:
        low = min(fitting, key=lambda r: r.norm_comm_share)
        high = max(fitting, key=lambda r: r.norm_comm_share)
        lines += ["", f"Across these the share ranges from {100 * low.norm_comm_share:.1f}% "
                  f"({low.knob.label} {low.value}) to {100 * high.norm_comm_share:.1f}% "
                  f"({high.knob.label} {high.value}); the deferred speedup from "
                  f"{min(r.deferred_speedup for r in fitting):.3f}x to "
                  f"{max(r.deferred_speedup for r in fitting):.3f}x."]
    return lines


def main(argv: list[str] | None = None) -> None:
    """Run the knobs and write ``sensitivity.md`` into ``--out``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=REFERENCE, help="reference run config")
    parser.add_argument("--out", type=Path, default=Path("reports"), help="output directory")
    args = parser.parse_args(argv)
    rows = run_sensitivity(args.config)
    args.out.mkdir(parents=True, exist_ok=True)
    text = "# Sensitivity\n\n" + "\n".join(render_sensitivity(rows, args.config)[2:]) + "\n"
    write_files_atomically(args.out, {"sensitivity.md": text})
    print(f"wrote {args.out / 'sensitivity.md'}")


if __name__ == "__main__":
    main()
