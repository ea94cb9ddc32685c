"""The serving figure: latency per token and tokens per second against batch, one
line per strategy (`sim.serving`); each point is one serving run."""

from __future__ import annotations

from collections.abc import Sequence

from sim.report.plot_common import render
from sim.serving.serve import ServingResult

__all__ = ["serving_figure"]


def serving_figure(results: Sequence[ServingResult]) -> dict[str, bytes]:
    """``serving.png`` and ``serving.svg``: per-token latency (or time to first token)
    in ms and throughput in tokens/s against the batch, a line per strategy,
    saturated points filled, unsaturated ones hollow."""
    import matplotlib.pyplot as plt

    by_strategy: dict[str, list[ServingResult]] = {}
    for r in results:
        by_strategy.setdefault(r.strategy.value, []).append(r)
    decode = bool(results) and results[0].workload.phase == "decode"
    key = "latency_per_token_us" if decode else "time_to_first_token_us"
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4), layout="constrained")
    for name, runs in by_strategy.items():
        runs = sorted(runs, key=lambda r: r.workload.batch)
        batches = [r.workload.batch for r in runs]
        figures = [r.figures() for r in runs]
        for axis, values in ((left, [f[key] / 1e3 for f in figures]),
                             (right, [f["tokens_per_s"] for f in figures])):
            (line,) = axis.plot(batches, values, label=name)
            for b, v, r in zip(batches, values, runs, strict=True):
                axis.plot([b], [v], "o", color=line.get_color(),
                          fillstyle="full" if r.saturated else "none")
    model = results[0].workload.model.name if results else ""
    left.set(xlabel="batch [sequences]",
             ylabel="latency per token [ms]" if decode else "time to first token [ms]",
             title=f"{model}: {'per-token latency' if decode else 'time to first token'}")
    right.set(xlabel="batch [sequences]", ylabel="throughput [tokens/s]",
              title=f"{model}: throughput (filled: pipeline saturated)")
    for axis in (left, right):
        axis.grid(alpha=0.3)
        axis.set_ylim(bottom=0)
        axis.legend(title="strategy")
    return render(fig, "serving")
