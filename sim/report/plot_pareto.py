"""A Pareto front of two columns of a sweep's results (``imcsim plot --pareto``).

Every row whose two cells are numbers is a point (failed points are skipped; no
averaging: each run is a design). A point is *dominated* when another is at
least as good in both columns and better in one; the others, the non-dominated
points, form the front, drawn filled and joined by a step line, the dominated
ones hollow. Better is smaller unless the column is a rate or a gain
(`maximized`: ``tokens_per_*``, ``*_per_s``, ``speedup*``, ``hidden_fraction``),
so latency per token against energy per token is a front toward the origin.
"""

from __future__ import annotations

import re

import numpy as np

from sim.report.plot_axes import number
from sim.report.plot_common import render
from sim.report.plot_sweep import ResultsTable, _check_columns, axis_label

__all__ = ["maximized", "non_dominated", "pareto_figure"]

_MAXIMIZED = re.compile(r"(^|\.)tokens_per_|_per_s$|^speedup|hidden_fraction")


def maximized(column: str) -> bool:
    """Whether larger is better in ``column`` (module docstring).

    >>> maximized("tokens_per_joule"), maximized("energy_per_token_uj")
    (True, False)
    """
    return _MAXIMIZED.search(column) is not None


def non_dominated(points: np.ndarray) -> np.ndarray:
    """Per row of ``points`` (n x 2, smaller is better in both), whether no other row
    dominates it (module docstring).

    >>> non_dominated(np.array([[1.0, 3.0], [2.0, 2.0], [2.0, 3.0], [3.0, 1.0]])).tolist()
    [True, True, False, True]
    """
    le = np.all(points[None, :, :] <= points[:, None, :], axis=2)  # j at least as good as i
    lt = np.any(points[None, :, :] < points[:, None, :], axis=2)
    return np.asarray(~np.any(le & lt, axis=1), dtype=bool)


def pareto_figure(table: ResultsTable, x: str, y: str, hue: str | None = None,
                  stem: str = "pareto") -> dict[str, bytes]:
    """The Pareto figure of ``y`` against ``x`` (module docstring); ``hue`` colours
    the points by a column's value.

    Raises
    ------
    ConfigError
        An unknown column (the message lists the available ones), or no point
        with both values.
    """
    import matplotlib.pyplot as plt

    from sim.errors import ConfigError

    columns, rows = table
    _check_columns(columns, {"--x": x, "--y": y, "--hue": hue})
    kept = [(vx, vy, row.get(hue, "") if hue else "") for row in rows
            if (vx := number(row.get(x))) is not None and (vy := number(row.get(y))) is not None]
    if not kept:
        raise ConfigError(f"--pareto: no row has numbers in both {x!r} and {y!r}")
    values = np.asarray([(a, b) for a, b, _ in kept], dtype=np.float64)
    sign = np.asarray([-1.0 if maximized(x) else 1.0, -1.0 if maximized(y) else 1.0])
    front = non_dominated(values * sign)
    fig, ax = plt.subplots(figsize=(7, 5))
    groups = list(dict.fromkeys(label for _, _, label in kept))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for k, group in enumerate(groups):
        mine = np.asarray([label == group for _, _, label in kept])
        color = colors[k % len(colors)]
        ax.scatter(values[mine & front, 0], values[mine & front, 1], color=color, s=36,
                   label=group or None, zorder=3)
        ax.scatter(values[mine & ~front, 0], values[mine & ~front, 1], facecolors="none",
                   edgecolors=color, s=36, zorder=2)
    order = np.argsort(values[front, 0], kind="stable")
    ax.step(values[front, 0][order], values[front, 1][order], where="post", color="black",
            linewidth=1, label=f"non-dominated ({int(front.sum())} of {len(kept)})")
    ax.set_xlabel(axis_label(x))
    ax.set_ylabel(axis_label(y))
    ax.set_title(f"Pareto front: {y} against {x}", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return render(fig, stem)
