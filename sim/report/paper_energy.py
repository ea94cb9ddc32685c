"""The "Energy" section of ``reports/paper_reproduction.md``: energy per token, power and
tokens per joule of every bundled paper config (``configs/paper/``) under every strategy
and of every serving config (``configs/serving/``) under serialized and deferred, the
breakdown by component and by purpose, what deferring the normalization costs or saves,
the top ops of one case, the assumptions, and the implied power per card against
public figures (`sim.report.paper_energy_notes`).

Every figure comes from the analytic backend (the arrays, `sim.runner.simulate`; serving:
`sim.serving.serve` with `sim.energy.serving`): its dynamic energy counts the events the
DES counts (tested), its static energy follows its latency. ``python -m sim.report.paper
--energy-only`` regenerates this section alone (`regenerate_energy`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sim.config import RunConfig, StrategyName, load_config
from sim.config.energy import EnergyConfig
from sim.energy.report import energy_by_op_uj, energy_figures
from sim.energy.serving import serving_energy_figures
from sim.figures import per_token_figures
from sim.network.from_config import build_interconnect
from sim.output import write_files_atomically
from sim.report.paper_energy_notes import (
    NOT_MODELLED,
    PUBLIC_CARD_POWER,
    REFERENCE_CARD,
    assumption_lines,
    sanity_lines,
)
from sim.report.progress import progress_bar
from sim.report.sections import replace_section
from sim.runner import simulate
from sim.serving import serve

__all__ = ["BACKEND", "PER_OP_CASE", "SERVING_STRATEGIES", "EnergyRow", "regenerate_energy",
           "render_energy", "run_energy"]

#: The backend every figure of the section comes from.
BACKEND = "analytic"
#: The strategies a serving config is served under (as in the Serving section).
SERVING_STRATEGIES = (StrategyName.SERIALIZED, StrategyName.DEFERRED)
#: The case of the per-op table: a paper config's file name.
PER_OP_CASE = "llama3_8b_decode.yaml"
_SHOWN_OPS = 10


@dataclass(frozen=True)
class EnergyRow:
    """One config under one strategy: its energy keys (`sim.energy.report.energy_figures`
    or `sim.energy.serving.serving_energy_figures`) and per-token figures."""

    case: str  # ``paper/<file>`` or ``serving/<file>``
    strategy: StrategyName
    cards: int
    energy: EnergyConfig  # the machine's energy table
    figures: dict[str, Any]
    by_op: dict[str, dict[str, float]] = field(default_factory=dict)  # the per-op case only
    op_purpose: dict[str, str] = field(default_factory=dict)

    @property
    def uj(self) -> float:
        """Energy per token in uJ."""
        return float(self.figures["energy_per_token_uj"])


def _paper_rows(config: RunConfig, case: str, strategies: tuple[StrategyName, ...],
                keep_ops: bool, advance: Any) -> list[EnergyRow]:
    net = build_interconnect(config.machine)
    rows = []
    for strategy in strategies:
        result = simulate(config, strategy, net, BACKEND)
        figures = {**per_token_figures(result), **energy_figures(result)}
        rows.append(EnergyRow(case, strategy, config.machine.hierarchy.cards,
                              config.machine.energy, figures,
                              energy_by_op_uj(result) if keep_ops else {},
                              {op: str(p) for op, p in result.op_purpose.items()}
                              if keep_ops else {}))
        advance(f"{case} {strategy.value}")
    return rows


def _serving_rows(config: RunConfig, case: str, advance: Any) -> list[EnergyRow]:
    net = build_interconnect(config.machine)
    rows = []
    for strategy in SERVING_STRATEGIES:
        result = serve(config, strategy, BACKEND, interconnect=net)
        figures = {**result.figures(), **serving_energy_figures(result, net)}
        rows.append(EnergyRow(case, strategy, config.machine.hierarchy.cards,
                              config.machine.energy, figures))
        advance(f"{case} {strategy.value}")
    return rows


def run_energy(paper_dir: Path, serving_dir: Path | None,
               strategies: tuple[StrategyName, ...] = tuple(StrategyName),
               per_op_case: str = PER_OP_CASE) -> tuple[list[EnergyRow], float]:
    """Every paper config of ``paper_dir`` under ``strategies`` and every serving config
    of ``serving_dir`` (None: none) under `SERVING_STRATEGIES`, the per-op energies kept
    for the paper config named ``per_op_case``; and the wall seconds."""
    began = time.perf_counter()
    papers = sorted(paper_dir.glob("*.yaml"))
    servings = sorted(serving_dir.glob("*.yaml")) if serving_dir is not None else []
    rows: list[EnergyRow] = []
    total = len(papers) * len(strategies) + len(servings) * len(SERVING_STRATEGIES)
    with progress_bar(total, "energy", unit=f"runs ({BACKEND})") as advance:
        for path in papers:
            rows += _paper_rows(load_config(path, []), f"paper/{path.name}", strategies,
                                path.name == per_op_case, advance)
        for path in servings:
            rows += _serving_rows(load_config(path, []), f"serving/{path.name}", advance)
    return rows, time.perf_counter() - began


def _by_case(rows: list[EnergyRow]) -> dict[str, dict[StrategyName, EnergyRow]]:
    out: dict[str, dict[StrategyName, EnergyRow]] = {}
    for row in rows:
        out.setdefault(row.case, {})[row.strategy] = row
    return out


def _label(row: EnergyRow) -> str:
    batch = row.figures.get("batch")
    return f"`{row.case}` (batch {batch})" if batch is not None else f"`{row.case}`"


def _main_table(rows: list[EnergyRow]) -> list[str]:
    lines = ["| case | strategy | uJ/token | vs serialized | power [W] | cards | W per card "
             "| tokens/J | static share | us/token (prefill: TTFT) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for case in _by_case(rows).values():
        base = case.get(StrategyName.SERIALIZED)
        for row in case.values():
            f = row.figures
            versus = f"{row.uj / base.uj - 1:+.1%}" if base is not None else "-"
            lines.append(
                f"| {_label(row)} | {row.strategy.value} | {row.uj:,.1f} | {versus} | "
                f"{f['power_w']:,.1f} | {row.cards} | {f['power_w'] / row.cards:.1f} | "
                f"{f['tokens_per_joule']:,.1f} | "
                f"{f['energy_breakdown_uj']['static'] / row.uj:.1%} | "
                f"{f.get('latency_per_token_us', f.get('time_to_first_token_us', 0.0)):,.1f}"
                " |")
    return lines


def _split_table(rows: list[EnergyRow], key: str) -> list[str]:
    """uJ per token by component or purpose (``key``), serialized and deferred rows,
    columns that are zero in every row left out."""
    shown = [r for r in rows if r.strategy in SERVING_STRATEGIES]
    names = list(dict.fromkeys(k for r in shown for k in r.figures[key]))
    names = [n for n in names if any(abs(r.figures[key].get(n, 0.0)) > 0 for r in shown)]
    lines = ["| case | strategy | " + " | ".join(names) + " | total |",
             "|---|---|" + "---|" * (len(names) + 1)]
    for r in shown:
        cells = " | ".join(f"{r.figures[key].get(n, 0.0):,.1f}" for n in names)
        lines.append(f"| {_label(r)} | {r.strategy.value} | {cells} | {r.uj:,.1f} |")
    return lines


def _delta_table(rows: list[EnergyRow]) -> list[str]:
    """Deferred minus serialized, uJ per token, by purpose."""
    purposes = ("compute", "normalization", "normalization_comm", "data_comm", "static")
    lines = ["| case | " + " | ".join(purposes) + " | total |",
             "|---|" + "---|" * (len(purposes) + 1)]
    for case in _by_case(rows).values():
        s, d = case.get(StrategyName.SERIALIZED), case.get(StrategyName.DEFERRED)
        if s is None or d is None:
            continue
        ds = [d.figures["energy_by_purpose_uj"].get(p, 0.0)
              - s.figures["energy_by_purpose_uj"].get(p, 0.0) for p in purposes]
        lines.append(f"| {_label(s)} | " + " | ".join(f"{v:+,.1f}" for v in ds)
                     + f" | {d.uj - s.uj:+,.1f} |")
    return lines


def _op_sum(row: EnergyRow, suffix: str, purpose: str, component: str | None = None) -> float:
    return sum((v[component] if component else sum(v.values()))
               for op, v in row.by_op.items()
               if op.endswith(suffix) and row.op_purpose.get(op, "compute") == purpose)


def _top_ops(rows: list[EnergyRow]) -> list[str]:
    kept = [r.case for r in rows if r.by_op]
    case = _by_case(rows).get(kept[0], {}) if kept else {}
    s, d = case.get(StrategyName.SERIALIZED), case.get(StrategyName.DEFERRED)
    if s is None or d is None or not s.by_op:
        return []

    def top(row: EnergyRow) -> list[str]:
        return sorted(row.by_op, key=lambda op: -sum(row.by_op[op].values()))[:_SHOWN_OPS]

    ops = list(dict.fromkeys([*top(s), *top(d)]))
    total = {op: max(sum(r.by_op.get(op, {}).values()) for r in (s, d)) for op in ops}
    ops.sort(key=lambda op: -total[op])

    def cell(row: EnergyRow, op: str) -> str:
        return f"{sum(row.by_op[op].values()):,.1f}" if op in row.by_op else "-"

    def main(op: str) -> str:
        parts = {**s.by_op.get(op, {})} if op in s.by_op else dict(d.by_op[op])
        return max(parts, key=lambda c: parts[c])

    lines = [f"### Top ops by dynamic energy: `{s.case}`, serialized and deferred",
             "", f"The {_SHOWN_OPS} ops of most dynamic energy under each strategy, in uJ per "
             "token (one layer simulated, scaled to the whole model; static energy is no op's).",
             "", "| op | purpose | serialized | deferred | largest component |",
             "|---|---|---|---|---|"]
    for op in ops:
        purpose = s.op_purpose.get(op) or d.op_purpose.get(op) or "compute"
        lines.append(f"| `{op}` | {purpose} | {cell(s, op)} | {cell(d, op)} | {main(op)} |")
    apply_uj = _op_sum(s, ".apply", "normalization")
    scale_uj = _op_sum(d, ".scale", "normalization")
    stats_s, stats_d = (_op_sum(r, ".stats", "normalization") for r in (s, d))
    sram_s, sram_d = (sum(v["sram"] for op, v in r.by_op.items()
                          if r.op_purpose.get(op, "compute") == "compute") for r in (s, d))
    lines += ["", f"- Normalize pass against epilogue scale: serialized's separate normalize "
              f"passes (`*.apply`) cost {apply_uj:,.1f} uJ/token, deferred's scales of the "
              f"matmul outputs (`*.scale`) {scale_uj:,.1f}: a pass over the whole activation "
              "vector on every core that needs it against a multiply of each core's output "
              "slice.",
              f"- Statistics: {stats_s:,.1f} uJ/token serialized against {stats_d:,.1f} "
              "deferred (`*.stats`): a norm whose statistics are `local` (the mapping table) "
              "computes them on every core from the whole gathered vector, the same sum many "
              "times over; deferred computes them per slice and reduces them.",
              f"- The matmuls' SRAM reads (compute ops): {sram_s:,.1f} uJ/token serialized, "
              f"{sram_d:,.1f} deferred. Each output tile reads its input vector from SRAM again "
              "(README, Energy model), and deferred's mapping cuts some linears into more "
              "column tiles per core (`OpStep.tiles`), so the same vector is read more often."]
    return lines


def _findings(rows: list[EnergyRow]) -> list[str]:
    cases = _by_case(rows)
    out = []
    shares = [r.figures["energy_breakdown_uj"]["static"] / r.uj for r in rows]
    out.append(f"- Static energy is {min(shares):.0%} to {max(shares):.0%} of the energy per "
               "token: every core, chiplet and card leaks for the whole step while one layer "
               "group works, so a strategy saves energy mostly by saving time.")
    pairs = [(c[StrategyName.SERIALIZED], c[StrategyName.DEFERRED]) for c in cases.values()
             if StrategyName.SERIALIZED in c and StrategyName.DEFERRED in c]
    if pairs:
        saved = [1 - d.uj / s.uj for s, d in pairs]
        dyn = [(d.uj - d.figures["energy_breakdown_uj"]["static"])
               - (s.uj - s.figures["energy_breakdown_uj"]["static"]) for s, d in pairs]
        out.append(f"- Deferred against serialized: {min(saved):.1%} to {max(saved):.1%} "
                   "less energy per token over the cases; its dynamic energy changes by "
                   f"{min(dyn):+,.1f} to {max(dyn):+,.1f} uJ/token, the rest is static energy, "
                   "which follows the latency.")
    net = [(c[StrategyName.DEFERRED], c[StrategyName.IN_NETWORK]) for c in cases.values()
           if StrategyName.DEFERRED in c and StrategyName.IN_NETWORK in c]
    if net:
        combine = max(n.figures["energy_breakdown_uj"].get("in_network", 0.0) for _, n in net)
        diff = [n.uj - d.uj for d, n in net]
        out.append(f"- Combine units (in_network): the routers' merges cost at most "
                   f"{combine:,.3f} uJ/token; in_network differs from deferred by "
                   f"{min(diff):+,.1f} to {max(diff):+,.1f} uJ/token in all (the statistics' "
                   "collectives are a few bytes per token).")
    lpddr = [r for r in rows if r.figures["energy_breakdown_uj"].get("lpddr", 0.0) > 0]
    for r in lpddr[:len(SERVING_STRATEGIES)]:
        share = r.figures["energy_breakdown_uj"]["lpddr"] / r.uj
        out.append(f"- LPDDR, {_label(r)} {r.strategy.value}: "
                   f"{r.figures['energy_breakdown_uj']['lpddr']:,.1f} uJ/token ({share:.0%}): "
                   "every micro-batch streams the weights SRAM does not hold and its own KV "
                   "cache again.")
    for r in (r for r in rows if "static_in_bubbles_uj" in r.figures):
        f = r.figures
        out.append(f"- Static during bubbles, {_label(r)} {r.strategy.value}: the stages are "
                   f"idle {f['idle_share']:.0%} of the token interval, "
                   f"{f['static_in_bubbles_uj']:,.1f} uJ/token of static energy; cores that "
                   f"hold no stage leak {f['static_unstaged_uj']:,.1f} more.")
    return out


def _sanity_summary(rows: list[EnergyRow]) -> list[str]:
    """The sanity line: the range of the implied power per card against the reference
    card, and how much of it is the static power the energy table assumes."""
    shown = [r for r in rows if r.strategy is StrategyName.DEFERRED]
    per_card = [float(r.figures["power_w"]) / r.cards for r in shown]
    static = [float(r.figures["static_power_w"]) / r.cards for r in shown]
    ref = REFERENCE_CARD
    if not shown or ref.watts is None:
        return []
    dynamic = [p - q for p, q in zip(per_card, static, strict=True)]
    busiest = shown[dynamic.index(max(dynamic))]
    ceiling = max(p.watts or 0.0 for p in PUBLIC_CARD_POWER)
    return [f"Sanity: the implied power is {min(per_card):.0f} to {max(per_card):.0f} W per "
            f"card, {min(per_card) / ref.watts:.2f}x to {max(per_card) / ref.watts:.2f}x the "
            f"{ref.watts:g} W of the {ref.card.split(' (')[0]} (Corsair's own is not "
            f"published), {'within' if max(per_card) <= ceiling else 'beyond'} the "
            f"{ceiling:g} W a PCIe card may draw. Of it, {min(static):.0f} to "
            f"{max(static):.0f} W per card is the static power the table assumes (cores, "
            "chiplets and card), so the ratio mostly restates that assumption; the dynamic "
            f"part is largest in {_label(busiest)}: {max(dynamic):.0f} W per card."]


def render_energy(rows: list[EnergyRow], wall_seconds: float) -> list[str]:
    """The section's markdown lines; the assumptions table shows the first row's
    machine's energy table (the note says where a row's machine differs)."""
    table = rows[0].energy
    differ = sorted({r.case for r in rows if r.energy != table})
    lines = ["## Energy", "",
             f"Generated by `python -m sim.report.paper --energy-only` on the `{BACKEND}` "
             f"backend in {wall_seconds:.0f} s: the paper configs under every strategy, the "
             "serving configs at their batch under serialized and deferred (`imcsim serve`). "
             "Energy is counted from the executed events times the table below, plus static "
             "power times the time (README, Energy model); the dynamic part is the events the "
             "DES counts, the static part follows the analytic latency (the analytic backend "
             "against the DES: the section above). Per token: one step of the whole model "
             "(scaled from the simulated layers) over its tokens; serving: one steady token "
             "interval (`sim/energy/serving.py`). *power*: energy over time for the whole "
             "machine; *W per card*: power over the machine's cards.", "",
             *_main_table(rows), "", "### By component and by purpose", "",
             "uJ per token, serialized and deferred (components zero in every row left out):",
             "", *_split_table(rows, "energy_breakdown_uj"), "",
             *_split_table(rows, "energy_by_purpose_uj"), "",
             "What deferring costs or saves, deferred minus serialized, uJ per token:", "",
             *_delta_table(rows), "", *_findings(rows), "", *_top_ops(rows), "",
             "### Sanity: implied power per card", "",
             "The machine's average power (deferred) over its cards, against published "
             "figures for PCIe inference cards:", "",
             *sanity_lines([(_label(r), float(r.figures["power_w"]), r.cards) for r in rows
                            if r.strategy is StrategyName.DEFERRED]), "",
             *_sanity_summary(rows), "",
             "### Assumptions", "",
             f"The energy table of `{rows[0].case}`'s machine (`machine.energy`, "
             "`sim/config/energy.py`"
             + (f"; these cases set other figures: {', '.join(differ)}" if differ else
                ", the same in every case") + "); no figure of it is a measurement of a "
             "Corsair card:", "",
             *assumption_lines(table), "", "Not modelled:", "",
             *[f"- {item}." for item in NOT_MODELLED], ""]
    return lines


def regenerate_energy(out: Path, configs: Path) -> None:
    """Regenerate the Energy section of ``out/paper_reproduction.md`` in place (every
    other section untouched; appended when the report has none)."""
    path = out / "paper_reproduction.md"
    text = path.read_text(encoding="utf-8")
    rows, seconds = run_energy(configs, configs.parent / "serving")
    write_files_atomically(out, {"paper_reproduction.md":
                                 replace_section(text, "Energy", render_energy(rows, seconds))})
    print(f"wrote the Energy section of {path}")
