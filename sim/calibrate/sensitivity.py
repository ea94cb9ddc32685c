"""Local sensitivity of every target to every parameter at the best point, and its
tornado figure.

For parameter j at the best point v (unit position u), the low and high
neighbours are the values at ``u ∓ step`` (clipped to the range; an integer
moved at least one unit where the range allows), every other parameter held.
Both are evaluated on the fit's backend (through the same cache: a point the
fit already evaluated is not run again). Per target:

- ``metric_low`` / ``metric_high``: the metric at the two neighbours;
- ``elasticity``: the central difference normalized by the best point,
  ``((m_high - m_low) / m) / ((v_high - v_low) / v)``, the percent change of the
  metric per percent change of the parameter (None where m or v is 0, or a
  run failed).

The tornado figure has a panel per target: a bar per parameter from
``metric_low - m`` to ``metric_high - m`` (in the metric's unit), the longest on
top, labelled with the parameter's low and high values and its elasticity.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sim.calibrate.ranges import unit_of
from sim.calibrate.spec import Parameter, Target

__all__ = ["sensitivities", "tornado_figure"]


def _neighbours(p: Parameter, value: float, step: float) -> tuple[float, float]:
    u = p.unit(value)
    low, high = p.value(u - step), p.value(u + step)
    if p.integer:
        if low == value and value > p.low:
            low = value - 1
        if high == value and value < p.high:
            high = value + 1
    return low, high


def sensitivities(parameters: tuple[Parameter, ...], targets: tuple[Target, ...],
                  best: dict[str, Any], best_metrics: dict[str, Any], step: float,
                  evaluate: Callable[[list[dict[str, Any]]], list[dict[str, Any]]]
                  ) -> list[dict[str, Any]]:
    """One row per (target, parameter): values, metrics at both neighbours, elasticity."""
    points: list[dict[str, Any]] = []
    ends: list[tuple[float, float]] = []
    for p in parameters:
        low, high = _neighbours(p, best[p.key], step)
        ends.append((low, high))
        points += [{**best, p.key: low}, {**best, p.key: high}]
    records = evaluate(points)
    rows = []
    for t in targets:
        m = best_metrics.get(t.name)
        for j, p in enumerate(parameters):
            lo_m = records[2 * j]["metrics"].get(t.name)
            hi_m = records[2 * j + 1]["metrics"].get(t.name)
            (v_lo, v_hi), v = ends[j], best[p.key]
            elasticity = None
            if None not in (m, lo_m, hi_m) and m and v and v_hi != v_lo:
                elasticity = ((hi_m - lo_m) / m) / ((v_hi - v_lo) / v)
            rows.append({"target": t.name, "metric": t.metric, "parameter": p.key,
                         "value": v, "value_low": v_lo, "value_high": v_hi,
                         "metric_at_best": m, "metric_low": lo_m, "metric_high": hi_m,
                         "elasticity": elasticity})
    return rows


def tornado_figure(rows: list[dict[str, Any]], targets: tuple[Target, ...]) -> dict[str, bytes]:
    """``tornado.png`` and ``tornado.svg`` of `sensitivities` rows."""
    import matplotlib.pyplot as plt

    from sim.report.plot_common import render

    fig, axes = plt.subplots(len(targets), 1, squeeze=False,
                             figsize=(8.0, 1.2 + 0.55 * len(rows) + 0.6 * len(targets)))
    for ax, t in zip(axes[:, 0], targets, strict=True):
        mine = [r for r in rows if r["target"] == t.name and r["metric_at_best"] is not None]
        spans = []
        for r in mine:
            lo = (r["metric_low"] - r["metric_at_best"]) if r["metric_low"] is not None else 0.0
            hi = (r["metric_high"] - r["metric_at_best"]) if r["metric_high"] is not None \
                else 0.0
            spans.append((abs(hi - lo), lo, hi, r))
        spans.sort(key=lambda s: s[0])
        for y, (_, lo, hi, _r) in enumerate(spans):
            ax.barh(y, lo, color="tab:blue", label="parameter low" if y == 0 else None)
            ax.barh(y, hi, color="tab:orange", label="parameter high" if y == 0 else None)
        labels = [f"{r['parameter'].removeprefix('machine.')} {r['value_low']:g}..."
                  f"{r['value_high']:g} {unit_of(r['parameter'])}".rstrip()
                  + (f" (e={r['elasticity']:+.2f})" if r["elasticity"] is not None else "")
                  for _, _, _, r in spans]
        ax.set_yticks(range(len(spans)), labels, fontsize=8)
        ax.axvline(0.0, color="black", linewidth=0.8)
        unit = unit_of(t.metric)
        ax.set_xlabel(f"change of {t.metric}" + (f" ({unit})" if unit else "")
                      + f" from {mine[0]['metric_at_best']:.4g}" if mine else t.metric)
        ax.set_title(f"{t.name}: {t.metric}", fontsize=9)
        if spans:
            ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return render(fig, "tornado")
