"""The energy breakdown figure of ``imcsim compare --plot`` (``energy.png``/``.svg``).

One stacked bar per strategy: its energy per token (a transformer) or per run
by component (`sim.energy.report`: matmul, SIMD, SRAM, output buffer, NoC,
in-network combines, die-to-die, card-to-card, host, LPDDR, array writes and
static), the total written above the bar. Components that are zero in every run
are left out of the legend.
"""

from __future__ import annotations

from collections.abc import Sequence

from sim.energy import energy_figures
from sim.figures import Figures
from sim.report.plot_common import render

__all__ = ["energy_figure"]


def energy_figure(results: Sequence[Figures], stem: str = "energy") -> dict[str, bytes]:
    """The energy breakdown figure (module docstring); empty when no result counted
    its energy."""
    import matplotlib.pyplot as plt

    figures = [energy_figures(r) for r in results]
    if not figures or not all(figures):
        return {}
    per_token = "energy_per_token_uj" in figures[0]
    parts = [f["energy_breakdown_uj"] for f in figures]
    components = [c for c in parts[0] if any(p[c] for p in parts)]
    fig, ax = plt.subplots(figsize=(max(6.0, 1.1 * len(results) + 3), 4.5))
    x = list(range(len(results)))
    bottom = [0.0] * len(results)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for k, component in enumerate(components):
        values = [p[component] for p in parts]
        ax.bar(x, values, bottom=bottom, width=0.6, label=component,
               color="lightgray" if component == "static" else colors[k % len(colors)])
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    for k, total in enumerate(bottom):
        ax.text(k, total, f"{total:.4g}", ha="center", va="bottom", fontsize=8)
    ax.set_xticks(x, [r.strategy.value for r in results], rotation=20, ha="right")
    ax.set_ylabel("energy per token (µJ)" if per_token else "energy per run (µJ)")
    ax.set_title(f"{results[0].config.machine.name}: energy by component", fontsize=10)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    return render(fig, stem)
