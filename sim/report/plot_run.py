"""Figures of single runs: the per-engine timeline (Gantt) and the latency breakdown.

Both are pure: they take `RunResult`s and return ``{file name: bytes}`` (PNG
and SVG, see `sim.report.plot_common.render`); `sim.report.plots` writes them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

import networkx as nx

from sim.ir import Category
from sim.report.plot_common import CATEGORY_COLORS, NORM_COMM_COLOR, render
from sim.report.trace import engine_locations, run_topology
from sim.runner import RunResult

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = [
    "DEFAULT_GANTT_ROWS",
    "breakdown_figure",
    "critical_cycles_by_op_category",
    "gantt_figure",
    "gantt_rows",
]

#: Rows of a Gantt panel before it is capped (half busiest, half normalization).
DEFAULT_GANTT_ROWS = 80

_NORM_COMM = "normalization_comm"
_SEGMENT = re.compile(r"\.s\d+$")


def gantt_rows(result: RunResult, max_rows: int = DEFAULT_GANTT_ROWS,
               topology: nx.DiGraph | None = None) -> tuple[list[int], int]:
    """The engines a Gantt panel of ``result`` shows, and how many ran something.

    Every engine that was busy for at least one cycle, grouped by chiplet
    (then engine order). Past ``max_rows`` engines, the ``max_rows // 2``
    busiest are kept plus the engines busiest with normalization collectives,
    up to ``max_rows`` in all.

    Returns
    -------
    (list of int, int)
        Engine indices in display order (top first), and the number of busy engines.
    """
    busy: dict[int, int] = {}
    norm: dict[int, int] = {}
    for task in result.taskgraph.tasks:
        if task.duration_cycles <= 0:
            continue
        busy[task.engine] = busy.get(task.engine, 0) + task.duration_cycles
        if result.op_purpose.get(task.op) == _NORM_COMM:
            norm[task.engine] = norm.get(task.engine, 0) + task.duration_cycles
    chosen = set(busy)
    if len(busy) > max_rows:
        by_busy = sorted(busy, key=lambda e: (-busy[e], e))
        chosen = set(by_busy[:max(max_rows // 2, 1)])
        for engine in sorted(norm, key=lambda e: (-norm[e], e)):
            if len(chosen) >= max_rows:
                break
            chosen.add(engine)
        for engine in by_busy:  # fill up when few engines ran normalization work
            if len(chosen) >= max_rows:
                break
            chosen.add(engine)
    topo = run_topology(result, topology)
    where = engine_locations(result.taskgraph, topo)
    return sorted(chosen, key=lambda e: (where[e], e)), len(busy)


def gantt_figure(results: Sequence[RunResult], *, max_rows: int = DEFAULT_GANTT_ROWS,
                 topology: nx.DiGraph | None = None, stem: str = "gantt") -> dict[str, bytes]:
    """A Gantt chart per run, stacked top to bottom on one time axis (cycles).

    One row per engine that ran something (capped, see `gantt_rows`), grouped by
    chiplet; bars coloured by category, normalization collectives (op purpose
    ``normalization_comm``) in red with a dark edge. Typical use: serialized
    above deferred.

    Raises
    ------
    ValueError
        If ``results`` is empty.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    if not results:
        raise ValueError("gantt_figure needs at least one result")
    topo = run_topology(results[0], topology)
    panels = [(r, *gantt_rows(r, max_rows, topo)) for r in results]
    heights = [max(len(rows), 1) for _, rows, _ in panels]
    fig_height = min(2.0 + sum(0.14 * h + 0.9 for h in heights), 40.0)
    fig, axes = plt.subplots(len(results), 1, figsize=(13, fig_height), sharex=True,
                             gridspec_kw={"height_ratios": heights}, squeeze=False)
    for ax, (result, rows, total) in zip(axes[:, 0], panels, strict=True):
        _gantt_panel(ax, result, rows, total, topo)
    axes[-1, 0].set_xlim(0, max(max(r.latency_cycles for r in results), 1))  # shared axis
    axes[-1, 0].set_xlabel(f"time (cycles of the {results[0].config.machine.clock_ghz:g} GHz "
                           "reference clock)")
    legend = [Patch(color=CATEGORY_COLORS[c.value], label=c.value) for c in Category]
    legend.append(Patch(facecolor=NORM_COMM_COLOR, edgecolor="black",
                        label="normalization collective task"))
    legend.append(Patch(color=NORM_COMM_COLOR, alpha=0.12,
                        label="normalization collective in flight"))
    fig.legend(handles=legend, loc="lower center", ncol=len(legend), frameon=False)
    fig.suptitle(f"Per-engine timeline · {results[0].config.machine.name}")
    fig.tight_layout(rect=(0, 0.45 / fig_height, 1, 1 - 0.3 / fig_height))
    return render(fig, stem)


def _gantt_panel(ax: Axes, result: RunResult, rows: list[int], total: int,
                 topo: nx.DiGraph) -> None:
    """Draw one run's rows on ``ax``."""
    graph, tl = result.taskgraph, result.timeline
    row_of = {engine: k for k, engine in enumerate(rows)}
    bars: dict[tuple[int, str], list[tuple[int, int]]] = {}
    norm_spans: list[tuple[int, int]] = []
    for i, task in enumerate(graph.tasks):
        if result.op_purpose.get(task.op) == _NORM_COMM:
            norm_spans.append((tl.start_cycles[i], max(tl.ready_cycles[i], tl.end_cycles[i])))
        row = row_of.get(task.engine)
        if row is None or tl.end_cycles[i] <= tl.start_cycles[i]:
            continue
        kind = ("norm" if result.op_purpose.get(task.op) == _NORM_COMM
                else task.category.value)
        bars.setdefault((row, kind), []).append(
            (tl.start_cycles[i], tl.end_cycles[i] - tl.start_cycles[i]))
    for lo, hi in _merged(norm_spans):
        ax.axvspan(lo, hi, color=NORM_COMM_COLOR, alpha=0.12, linewidth=0, zorder=0)
    for (row, kind), spans in sorted(bars.items()):
        if kind == "norm":
            ax.broken_barh(spans, (row - 0.4, 0.8), facecolors=NORM_COMM_COLOR,
                           edgecolors="black", linewidth=0.4)
        else:
            ax.broken_barh(spans, (row - 0.4, 0.8), facecolors=CATEGORY_COLORS[kind],
                           linewidth=0)
    where = engine_locations(graph, topo)
    cards = len({c for c, _ in where})
    previous = None
    for k, engine in enumerate(rows):
        loc = where[engine]
        if previous is not None and loc != previous:
            ax.axhline(k - 0.5, color="black", linewidth=0.6)
        if loc != previous:
            label = f"card {loc[0]} chiplet {loc[1]}" if cards > 1 else f"chiplet {loc[1]}"
            ax.text(1.002, k - 0.4, label, transform=ax.get_yaxis_transform(), fontsize=7,
                    va="top", ha="left")
        previous = loc
    ax.set_yticks(range(len(rows)), [graph.engines[e].name for e in rows],
                  fontsize=6 if len(rows) > 30 else 8)
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.set_ylabel("engine")
    shown = (f"{len(rows)} engines" if len(rows) == total
             else f"{len(rows)} of {total} busy engines (busiest + normalization collectives)")
    ax.set_title(f"{result.strategy.value}: latency {result.latency_cycles} cycles "
                 f"({result.latency_us:.3f} µs) · {shown}", fontsize=10, loc="left")
    ax.grid(axis="x", linewidth=0.3, alpha=0.5)


def _merged(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The union of half-open intervals as sorted disjoint intervals."""
    out: list[tuple[int, int]] = []
    for lo, hi in sorted(spans):
        if out and lo <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        elif hi > lo:
            out.append((lo, hi))
    return out


def critical_cycles_by_op_category(result: RunResult) -> dict[str, dict[str, int]]:
    """Critical-path cycles per op and per bar segment, in path order.

    Segments are ``matmul``, ``simd``, ``normalization collectives`` (exposed
    communication of ops with purpose ``normalization_comm``) and ``other
    communication``. Collective segments (``op.s0``, ``op.s1``, ...) are merged
    under their collective's name. The segments of all ops sum to the latency.
    """
    graph, b = result.taskgraph, result.breakdown
    out: dict[str, dict[str, int]] = {}
    for index, cycles in zip(b.critical_path, b.path_cycles, strict=True):
        task = graph.tasks[index]
        segment = _segment(result, task.op, task.category)
        row = out.setdefault(_SEGMENT.sub("", task.op), {})
        row[segment] = row.get(segment, 0) + cycles
    return out


_SEGMENTS: tuple[tuple[str, str], ...] = (
    ("matmul", CATEGORY_COLORS["matmul"]),
    ("simd", CATEGORY_COLORS["simd"]),
    ("normalization collectives", NORM_COMM_COLOR),
    ("other communication", CATEGORY_COLORS["communication"]),
)


def _segment(result: RunResult, op: str, category: Category) -> str:
    if category is not Category.COMMUNICATION:
        return category.value
    return ("normalization collectives" if result.op_purpose.get(op) == _NORM_COMM
            else "other communication")


def breakdown_figure(results: Sequence[RunResult], *, top_ops: int = 12,
                     stem: str = "breakdown") -> dict[str, bytes]:
    """Stacked critical-path cycles per strategy (left) and per op (right).

    Left: one bar per run, segments matmul, SIMD, exposed normalization
    collectives and other exposed communication (they sum to the latency).
    Right: the ``top_ops`` ops with the most critical-path cycles in any run,
    one bar per run and op (runs told apart by hatching).

    Raises
    ------
    ValueError
        If ``results`` is empty.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    if not results:
        raise ValueError("breakdown_figure needs at least one result")
    per_run = [critical_cycles_by_op_category(r) for r in results]
    names = [r.strategy.value for r in results]
    peak: dict[str, int] = {}
    order: dict[str, int] = {}
    for table in per_run:
        for op, segments in table.items():
            peak[op] = max(peak.get(op, 0), sum(segments.values()))
            order.setdefault(op, len(order))
    ops = sorted(peak, key=lambda op: (-peak[op], order[op]))[:top_ops]
    ops.sort(key=lambda op: order[op])
    height_inches = max(4.0, 0.32 * len(ops) * max(len(results), 1) ** 0.5 + 2.5)
    fig, (left, right) = plt.subplots(1, 2, figsize=(14, height_inches),
                                      gridspec_kw={"width_ratios": [1, 2]})
    x = list(range(len(results)))
    bottom = [0.0] * len(results)
    for segment, color in _SEGMENTS:
        values = [sum(t.get(segment, 0) for t in table.values()) for table in per_run]
        left.bar(x, values, bottom=bottom, color=color, label=segment, width=0.6)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    for k, result in enumerate(results):
        left.text(k, bottom[k], f"{result.latency_cycles}", ha="center", va="bottom",
                  fontsize=8)
    left.set_xticks(x, names, rotation=20)
    left.set_ylabel("critical-path time (cycles)")
    left.set_title("Latency breakdown per strategy")
    hatches = ["", "//", "..", "xx", "\\\\", "++", "oo"]
    bar = 0.8 / len(results)
    y = list(range(len(ops)))
    for k, table in enumerate(per_run):
        offset = (k - (len(results) - 1) / 2) * bar
        start = [0.0] * len(ops)
        for segment, color in _SEGMENTS:
            values = [table.get(op, {}).get(segment, 0) for op in ops]
            right.barh([v + offset for v in y], values, left=start, height=bar, color=color,
                       hatch=hatches[k % len(hatches)], edgecolor="white", linewidth=0.3)
            start = [s + v for s, v in zip(start, values, strict=True)]
    # every bar ends inside the frame, with room to see that it does
    right.set_xlim(0, 1.05 * max((peak[op] for op in ops), default=1))
    right.set_yticks(y, ops, fontsize=7)
    right.invert_yaxis()
    right.set_xlabel("critical-path time (cycles)")
    right.set_title(f"Per op (top {len(ops)} by critical-path cycles, program order)")
    handles = [Patch(color=color, label=segment) for segment, color in _SEGMENTS]
    handles += [Patch(facecolor="white", edgecolor="black", hatch=hatches[k % len(hatches)],
                      label=name) for k, name in enumerate(names)]
    fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 6), frameon=False)
    fig.suptitle(f"Critical-path breakdown · {results[0].config.machine.name}")
    fig.tight_layout(rect=(0, 0.9 / height_inches, 1, 1))
    return render(fig, stem)
