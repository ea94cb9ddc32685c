"""Plots (matplotlib, PNG and SVG) of runs and sweeps: the entry points the CLI calls.

Each function takes results and an output directory, renders its figures in
memory, writes them all or nothing (`sim.report.plot_common.save_figures`) and
returns the written paths. The figures themselves live in

- `sim.report.plot_run`: per-engine timeline (Gantt) and critical-path
  breakdown of runs;
- `sim.report.plot_links`: link utilization on the topology graph;
- `sim.report.plot_sweep`: line plots and heatmaps of a results table.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from sim.config import StrategyName
from sim.report.plot_common import save_figures
from sim.report.plot_links import link_utilization_figure
from sim.report.plot_run import breakdown_figure, gantt_figure
from sim.report.plot_sweep import heatmap_figure, line_figure, read_results
from sim.report.trace import run_topology
from sim.runner import RunResult

__all__ = ["plot_compare", "plot_results", "plot_run"]


def plot_compare(results: Sequence[RunResult], directory: Path) -> list[Path]:
    """The figures of a comparison of strategies on one config.

    ``gantt`` (serialized above deferred; the first and last result when
    either is missing), ``breakdown`` (every result) and ``links`` (link
    utilization of the deferred run), each as PNG and SVG.

    Raises
    ------
    ValueError
        If ``results`` is empty.
    """
    if not results:
        raise ValueError("plot_compare needs at least one result")
    by_strategy = {r.strategy: r for r in results}
    first = by_strategy.get(StrategyName.SERIALIZED, results[0])
    second = by_strategy.get(StrategyName.DEFERRED, results[-1])
    topology = run_topology(results[0])
    pair = [first] if first is second else [first, second]
    files = {
        **gantt_figure(pair, topology=topology),
        **breakdown_figure(results),
        **link_utilization_figure(second, topology=topology),
    }
    return save_figures(directory, files, "--plot")


def plot_run(result: RunResult, directory: Path) -> list[Path]:
    """``gantt``, ``breakdown`` and ``links`` of one run, each as PNG and SVG."""
    topology = run_topology(result)
    files = {
        **gantt_figure([result], topology=topology),
        **breakdown_figure([result]),
        **link_utilization_figure(result, topology=topology),
    }
    return save_figures(directory, files)


def plot_results(results: Path, directory: Path, *, x: str, ys: Sequence[str],
                 hue: str | None = None, heatmap: str | None = None) -> list[Path]:
    """Figures of a sweep's results CSV (see `sim.report.plot_sweep`).

    Without ``heatmap``: one line figure, a panel per y column, a line per hue
    value. With ``heatmap``: one heatmap figure per y column, of y over
    (``x``, ``heatmap``), a panel per hue value (else averaged over the other
    columns).

    Raises
    ------
    ConfigError
        Unreadable results, unknown columns (the message lists the available
        ones), or no numeric data to plot.
    """
    table = read_results(results)
    if heatmap is None:
        files = line_figure(table, x, ys, hue)
    else:
        files = {}
        for y in ys:
            files.update(heatmap_figure(table, x, heatmap, y, hue))
    return save_figures(directory, files)
