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

import networkx as nx

from sim.config import StrategyName
from sim.errors import ConfigError
from sim.report.plot_common import save_figures
from sim.report.plot_energy import energy_figure
from sim.report.plot_links import link_utilization_figure
from sim.report.plot_pareto import pareto_figure
from sim.report.plot_run import breakdown_figure, gantt_figure
from sim.report.plot_sweep import default_hue, heatmap_figure, line_figure, read_results
from sim.report.trace import run_topology
from sim.runner import RunResult

__all__ = ["plot_compare", "plot_results", "plot_run"]


def _links(result: RunResult, topology: nx.DiGraph, notes: list[str] | None
           ) -> dict[str, bytes]:
    """The ``links`` figure of ``result``, or none and a note when no link carried
    traffic (one core, or nothing crossed the network): an empty frame says nothing."""
    if result.link_traffic():
        return link_utilization_figure(result, topology=topology)
    if notes is not None:
        edges = topology.number_of_edges()
        notes.append(f"no links figure: no link carried traffic in the {result.strategy.value} "
                     f"run ({edges} link{'s' * (edges != 1)} on {result.config.machine.name})")
    return {}


def plot_compare(results: Sequence[RunResult], directory: Path,
                 notes: list[str] | None = None) -> list[Path]:
    """The figures of a comparison of strategies on one config.

    ``gantt`` (serialized above deferred; the first and last result when
    either is missing), ``breakdown`` (every result), ``energy`` (every result's
    energy by component, `sim.report.plot_energy`) and ``links`` (link
    utilization of the deferred run; left out, with a line in ``notes``, when
    no link carried traffic), each as PNG and SVG.

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
        **energy_figure(results),
        **_links(second, topology, notes),
    }
    return save_figures(directory, files, "--plot")


def plot_run(result: RunResult, directory: Path, notes: list[str] | None = None
             ) -> list[Path]:
    """``gantt``, ``breakdown`` and ``links`` (as in `plot_compare`) of one run,
    each as PNG and SVG."""
    topology = run_topology(result)
    files = {
        **gantt_figure([result], topology=topology),
        **breakdown_figure([result]),
        **_links(result, topology, notes),
    }
    return save_figures(directory, files)


def _distinct_axes(options: Sequence[tuple[str, str | None]]) -> None:
    """Reject a column that two of ``--x``, ``--heatmap`` and ``--hue`` (or ``--y``)
    name: a heatmap with one column on both axes is a diagonal, a hue of the x
    column draws a point per line, a y against itself a diagonal line, a y
    named twice a panel twice."""
    seen: dict[str, str] = {}
    for option, column in options:
        if column is None:
            continue
        if column in seen:
            raise ConfigError(f"{option}: column {column!r} is already {seen[column]}; "
                              "choose another")
        seen[column] = option


def plot_results(results: Path, directory: Path, *, x: str, ys: Sequence[str],
                 hue: str | None = None, heatmap: str | None = None,
                 pareto: bool = False) -> list[Path]:
    """Figures of a sweep's results CSV (see `sim.report.plot_sweep`).

    Without ``heatmap``: one line figure, a panel per y column, a line per hue
    value. With ``heatmap``: one heatmap figure per y column, of y over
    (``x``, ``heatmap``), a panel per hue value. ``hue`` defaults to
    ``strategy`` when the table has it (``"none"``: no hue); what a panel
    averages over is in its title. With ``pareto``: one figure per y column of every
    run's (x, y) point, the non-dominated ones marked (`sim.report.plot_pareto`).

    Raises
    ------
    ConfigError
        Unreadable results, unknown columns (the message lists the available
        ones), or no numeric data to plot.
    """
    table = read_results(results)
    hue = default_hue(table[0], hue, x, heatmap, *ys)
    _distinct_axes([("--x", x), ("--heatmap", heatmap), ("--hue", hue),
                    *(("--y", y) for y in ys)])
    if pareto:
        files = {}
        for y in ys:
            files.update(pareto_figure(table, x, y, hue, stem=f"pareto_{y}_vs_{x}"))
    elif heatmap is None:
        files = line_figure(table, x, ys, hue)
    else:
        files = {}
        for y in ys:
            files.update(heatmap_figure(table, x, heatmap, y, hue))
    return save_figures(directory, files)
