"""Serving results as text and JSON: one run's summary, and a table over batches
and strategies (deterministic: no wall times in the text)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sim.report.table import format_table
from sim.serving.serve import ServingResult

__all__ = ["saturation_note", "serving_json", "serving_table", "serving_text"]


def _bytes(n: int) -> str:
    return f"{n / 1e6:,.1f} MB"


def serving_text(result: ServingResult) -> str:
    """A serving run in a few lines: the pipeline, then its figures with units."""
    f = result.figures()
    w = result.workload
    per_stage = sorted(set(f["layers_per_stage"]) - {0})
    head = " + a head stage" if f["head_stage"] else ""
    sizes = "/".join(map(str, sorted(set(f["micro_batch_sizes"]), reverse=True)))
    lines = [
        f"{w.model.name} {w.phase}, batch {w.batch} in {f['micro_batches']} micro-batch"
        f"{'es' if f['micro_batches'] > 1 else ''} of {sizes} sequences; "
        f"{result.strategy.value}, {result.backend} backend",
        f"pipeline: {f['stages']} stages ({'/'.join(map(str, per_stage))} "
        f"layer{'s' if max(per_stage, default=1) > 1 else ''} each{head}"
        + (f"; {f['layers_served']} of the model's {f['model_layers']} layers, not scaled"
           if f["layers_served"] != f["model_layers"] else "") + "), "
        f"stage times found by {result.mode} ({result.tasks_simulated:,} tasks simulated)",
        f"token interval {f['token_interval_us']:.6g} us ({f['token_interval_cycles']:,} cycles, "
        f"the busiest stage); one pass {f['pass_us']:.6g} us; bubble "
        f"{100 * f['bubble_fraction']:.1f}% of stage time",
    ]
    if "latency_per_token_us" in f:
        lines.append(f"per token {f['latency_per_token_us']:.6g} us "
                     f"({f['latency_per_token_us'] / 1e3:.4g} ms) per sequence; "
                     f"{f['tokens_per_s']:,.0f} tokens/s")
    else:
        lines.append(f"time to first token {f['time_to_first_token_us']:.6g} us; "
                     f"{f['tokens_per_s']:,.0f} prompt tokens/s")
    lines.append(saturation_note(result))
    util = f["group_utilisation"]
    lines.append(f"group utilisation: {100 * min(util):.1f}%-{100 * max(util):.1f}% "
                 f"(mean {100 * sum(util) / len(util):.1f}%)")
    memory = result.memory_bytes
    if memory:
        lines.append("memory: " + ", ".join(f"{k.removesuffix('_bytes')} {_bytes(v)}"
                                            for k, v in memory.items()))
    if result.shared_engines and result.mode != "full":
        lines.append(f"note: {len(result.shared_engines)} links or engines serve more than one "
                     "stage; the stage model ignores their contention (imcsim serve --mode full "
                     "simulates it)")
    return "\n".join(lines)


def saturation_note(result: ServingResult) -> str:
    """Whether the pipeline is full, and how many micro-batches fill it."""
    needed = result.micro_batches_to_saturate
    m = result.one_pass.micro_batches
    if result.saturated:
        return (f"saturated: the busiest stage bounds throughput ({m} micro-batches; "
                f"{needed} fill the pipeline)")
    return (f"not saturated: {m} micro-batch{'es' if m > 1 else ''} of {needed} needed to fill "
            "the pipeline; more sequences in flight would raise tokens/s")


def serving_json(result: ServingResult) -> dict[str, Any]:
    """A JSON-ready serving result (`ServingResult.to_dict`) with the resolved
    workload named."""
    return {"config": {"machine": result.config.machine.name,
                       "model": result.workload.model.name},
            **result.to_dict()}


def serving_table(results: Sequence[ServingResult], wide: bool = False) -> str:
    """One row per (batch, strategy): micro-batches, interval, latency per token,
    tokens/s, bubble, saturation."""
    rows = []
    for r in results:
        f = r.figures()
        latency = f.get("latency_per_token_us", f.get("time_to_first_token_us", 0.0))
        rows.append([str(f["batch"]), r.strategy.value, str(f["micro_batches"]),
                     f"{f['token_interval_us']:.4g}", f"{latency:.5g}",
                     f"{f['tokens_per_s']:,.0f}", f"{100 * f['bubble_fraction']:.1f}",
                     "yes" if r.saturated else f"no ({r.micro_batches_to_saturate} fill)"])
    phase = results[0].workload.phase if results else "decode"
    latency_head = "latency/token [us]" if phase == "decode" else "TTFT [us]"
    return "\n".join(format_table(
        ["batch", "strategy", "micro-batches", "interval [us]", latency_head, "tokens/s",
         "bubble [%]", "saturated"], rows, wide=wide))
