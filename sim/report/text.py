"""Plain-text tables of run and compare results (deterministic, no wall times)."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

from sim.config import StrategyName, TransformerWorkload
from sim.energy import energy_figures
from sim.figures import per_token_figures, versus
from sim.report.table import TABLE_WIDTH, format_table, token_figures
from sim.results import Summary
from sim.runner import RunResult

__all__ = ["backend_gap_table", "compare_table", "mapping_summary", "run_table", "verify_table"]


def _by_role(decisions: dict[str, str]) -> list[tuple[str, str]]:
    """``decisions`` (op or norm name -> value) with the layer prefix dropped where
    every layer decided alike (``L3.qkv`` -> ``qkv``), in first-seen order."""
    roles: dict[str, set[str]] = {}
    for name, value in decisions.items():
        head, _, rest = name.partition(".")
        key = rest if rest and head[:1] == "L" and head[1:].isdigit() else name
        roles.setdefault(key, set()).add(value)
    if all(len(values) == 1 for values in roles.values()):
        return [(key, next(iter(values))) for key, values in roles.items()]
    return list(decisions.items())


def mapping_summary(tilings: dict[str, str], norm_stats: dict[str, str]) -> str:
    """One line of the mapping's decisions: every linear's tiling, then where each
    token norm computed its statistics (``local``: on every core from the raw
    vector gathered whole; ``collective``: per slice, then an all-reduce).

    >>> mapping_summary({"L0.qkv": "2d 8x32", "L1.qkv": "2d 8x32"}, {"L0.attn_norm": "local"})
    'qkv 2d 8x32; statistics: attn_norm local'
    """
    parts = [", ".join(f"{k} {v}" for k, v in _by_role(tilings)) or "no linears"]
    if norm_stats:
        parts.append("statistics: " + ", ".join(f"{k} {v}" for k, v in _by_role(norm_stats)))
    return "; ".join(parts)


def _token_lines(result: RunResult) -> list[str]:
    """The per-token latency and throughput lines of a transformer run (none otherwise)."""
    figures = per_token_figures(result)
    if not figures:
        return []
    total, simulated = figures["model_layers"], figures["layers_simulated"]
    scaled = f", scaled from {simulated} simulated" if simulated != total else ""
    if figures["whole_model_cycles"]:
        scaled += f"; whole-model ops {figures['whole_model_cycles']} cycles, once"
    rate = figures["tokens_per_s"]
    if "latency_per_token_us" in figures:
        line = (f"per token {figures['latency_per_token_us']:.6g} us (one decode step, all "
                f"{total} layers{scaled})")
        unit = "tokens/s"
    else:
        line = (f"first token {figures['time_to_first_token_us']:.6g} us (prefill, all "
                f"{total} layers{scaled})")
        unit = "prompt tokens/s"
    return [line] + ([f"          {rate:,.0f} {unit} at batch {figures['batch']}"]
                     if rate is not None else [])


def _versus_line(result: RunResult, baseline: RunResult | Summary | None) -> list[str]:
    """The hidden fraction and speedup against the serialized run (none without one)."""
    if baseline is None:
        return []
    base_norm = baseline.shares()["normalization_comm_cycles"]
    figures = versus(result, baseline)
    hidden = (f"{_percent(figures['hidden_fraction'])} of serialized's {base_norm} exposed "
              "normalization-collective cycles" if base_norm
              else "- (serialized exposed no normalization-collective cycles)")
    return [f"hidden    {hidden}",
            f"speedup   {figures['speedup_vs_serialized']:.3f}x over serialized "
            f"({baseline.latency_cycles} cycles)"]


def run_table(result: RunResult, baseline: RunResult | Summary | None = None) -> str:
    """A short report of one run: latency, per-token figures, critical-path
    attribution, sizes; with ``baseline`` (the serialized run of the same config
    and backend) also the hidden fraction and the speedup over it."""
    cfg, b, shares = result.config, result.breakdown, result.shares()
    lines = [
        f"machine   {cfg.machine.name} ({cfg.machine.clock_ghz} GHz)",
        f"workload  {cfg.workload.kind}",
        f"strategy  {result.strategy.value}",
        f"backend   {result.backend}" + (" (collectives played alone on their links)"
                                         if result.backend == "analytic" else ""),
        *([f"warning   {result.analytic_warning}"] if result.analytic_warning else []),
        f"latency   {result.latency_cycles} cycles = {result.latency_us:.6g} us",
        *_token_lines(result),
        "critical path (cycles):",
        f"  matmul                  {b.matmul_cycles}",
        f"  simd                    {b.simd_cycles}",
        f"  exposed communication   {b.exposed_communication_cycles}",
        f"communication in flight   {b.communication_cycles} cycles",
        f"normalization collectives  {shares['normalization_comm_cycles']} cycles on the "
        f"critical path ({_percent(shares['normalization_comm_share'])} of the latency)",
        *_versus_line(result, baseline),
        *_energy_lines(result),
    ]
    if result.closed_form_cycles:
        closed = sum(result.closed_form_cycles.values())
        kind = result.closed_form_kind()
        line = f"closed form (uncontended)  {closed} cycles"
        if kind == "exact":
            line += ", exact (contention-free)"
        elif kind == "lower_bound":
            line += (f", lower bound: DES +{result.latency_cycles - closed} cycles "
                     f"(link queueing {result.link_queueing_cycles()} cycles)")
        lines.append(line)
    links = result.link_traffic()
    if links:
        busiest = sorted(links.items(), key=lambda kv: (-kv[1].busy_cycles, kv[0]))[:5]
        latency = max(result.latency_cycles, 1)
        lines.append(f"busiest links ({len(links)} carried traffic):")
        lines += [f"  {name:<24} {t.bytes} B, busy {t.busy_cycles} cycles "
                  f"({100 * t.busy_cycles / latency:.1f}%)" for name, t in busiest]
    ops = sorted(result.op_table(), key=lambda row: (-row["critical_cycles"], row["op"]))[:8]
    if ops and ops[0]["critical_cycles"]:
        lines.append("ops on the critical path (cycles on it / busy cycles, all cores):")
        lines += [f"  {row['op']:<56} {row['critical_cycles']:>8} / {row['busy_cycles']}"
                  for row in ops if row["critical_cycles"]]
    if result.tilings or result.norm_stats:
        lines.append("mapping (tiling per linear, where norm statistics were computed):")
        lines += [f"  {name:<24} {value}" for name, value in _by_role(result.tilings)]
        lines += [f"  {name:<24} statistics {value}"
                  for name, value in _by_role(result.norm_stats)]
    tiers = result.memory_bytes  # one line once LPDDR holds something (`sim.schedule.tiers`)
    if tiers.get("lpddr_weight_bytes") or tiers.get("lpddr_kv_bytes"):
        held = [f"{tier} weights {tiers[f'{tier}_weight_bytes']:,} B + KV "
                f"{tiers[f'{tier}_kv_bytes']:,} B" for tier in ("sram", "lpddr")]
        lines.append(f"memory    {', '.join(held)} (LPDDR streamed once per run)")
    lines.append(f"cores used {result.cores_used()}, tasks {len(result.taskgraph)}, "
                 f"events {result.timeline.events}")
    return "\n".join(lines)


def _energy_lines(result: RunResult) -> list[str]:
    """The energy, power and breakdown lines of a run (none without counted events)."""
    figures = energy_figures(result)
    if not figures:
        return []
    per = "per token" if "energy_per_token_uj" in figures else "per run"
    head = (f"energy    {figures['energy_per_token_uj']:.6g} uJ per token, "
            f"{figures['tokens_per_joule']:.6g} tokens/J" if "energy_per_token_uj" in figures
            else f"energy    {figures['energy_uj']:.6g} uJ")
    power = figures["power_w"]
    head += (f"; {power:.6g} W average" if power is not None else "") + (
        f" ({figures['static_power_w']:.6g} W static)")
    parts = ", ".join(f"{k} {v:.4g}" for k, v in figures["energy_breakdown_uj"].items() if v)
    return [head, *textwrap.wrap(f"uJ {per}: {parts}", TABLE_WIDTH, initial_indent="  ",
                                 subsequent_indent="    ")]


def _percent(fraction: float | None) -> str:
    return "-" if fraction is None else f"{100 * fraction:.1f}%"


def _token_cell(key: str, value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}" if key == "tokens_per_s" else f"{value:.6g}"


def _workload_title(result: RunResult | Summary) -> str:
    """``machine · workload`` and, for a transformer, its model, phase and layers."""
    cfg = result.config
    workload = cfg.workload
    title = f"{cfg.machine.name} · {workload.kind}"
    if isinstance(workload, TransformerWorkload):
        total = workload.model.num_layers
        simulated = workload.layers or total
        title = (f"{cfg.machine.name} · {workload.model.name} {workload.phase}, batch "
                 f"{workload.batch} · " + (f"{simulated} of {total} layers simulated, token "
                                           f"figures for all {total}" if simulated != total
                                           else f"all {total} layers simulated")
                 + (" · whole-model ops once per step" if workload.whole_model else ""))
    return title + (" · analytic backend" if result.backend == "analytic" else "")


def compare_table(results: Sequence[RunResult | Summary], *, wide: bool = False) -> str:
    """Strategies side by side; speedup is serialized latency / strategy latency.

    Columns: latency (cycles, µs), for transformers the latency per token
    (decode, ``per_token_us``) or time to first token (prefill, ``ttft_us``)
    over all layers and ``tokens_per_s`` (`sim.report.table.token_figures`),
    the normalization collectives' share of the latency (``norm_comm_share``),
    the share of serialized's exposed normalization communication hidden
    (``hidden_fraction``; ``-`` when serialized exposed none), the speedup and
    the critical-path breakdown; with energy counted (`sim.energy.report`) the
    energy per token (transformers) or of the run, and the average power. Wrapped
    into blocks of at most 100 columns unless ``wide``.
    """
    baseline = next(r for r in results if r.strategy is StrategyName.SERIALIZED)
    tokens = [token_figures(r) for r in results]
    token_keys = [k for k in ("per_token_us", "ttft_us", "tokens_per_s")
                  if any(t.get(k) is not None for t in tokens)]
    energy = [energy_figures(r) for r in results]
    energy_keys = ["energy_per_token_uj" if token_keys else "energy_uj", "power_w"] if all(
        energy) else []
    header = ("strategy", "latency_cycles", "latency_us", *token_keys, "norm_comm_share",
              "hidden_fraction", "speedup", "matmul_cycles", "simd_cycles",
              "exposed_comm_cycles", *energy_keys)
    base_norm = baseline.shares()["normalization_comm_cycles"]
    rows = []
    for r, figures, joules in zip(results, tokens, energy, strict=True):
        b, shares = r.breakdown, r.shares()
        hidden = versus(r, baseline)["hidden_fraction"] if base_norm else None
        token_cells = [_token_cell(k, figures.get(k)) for k in token_keys]
        rows.append((
            r.strategy.value,
            str(r.latency_cycles),
            f"{r.latency_us:.6g}",
            *token_cells,
            _percent(shares["normalization_comm_share"]),
            _percent(hidden),
            f"{baseline.latency_cycles / max(r.latency_cycles, 1):.3f}x",
            str(b.matmul_cycles),
            str(b.simd_cycles),
            str(b.exposed_communication_cycles),
            *(f"{joules[k]:.6g}" if joules.get(k) is not None else "-" for k in energy_keys),
        ))
    title = _workload_title(baseline)
    return "\n".join([title if wide else textwrap.fill(title, TABLE_WIDTH),
                      *format_table(header, rows, wide=wide)])


def backend_gap_table(des: Sequence[RunResult | Summary],
                      analytic: Sequence[RunResult | Summary]) -> str:
    """The analytic backend against the DES, strategy by strategy."""
    header = ("strategy", "des_cycles", "analytic_cycles", "gap", "des_link_queueing_cycles")
    rows = []
    for d, a in zip(des, analytic, strict=True):
        gap = a.latency_cycles / max(d.latency_cycles, 1) - 1
        rows.append((d.strategy.value, str(d.latency_cycles), str(a.latency_cycles),
                     f"{gap:+.2%}", str(d.link_queueing_cycles())))
    title = ("analytic backend vs the DES (the truth): gap = analytic / DES - 1; "
             "link queueing 0 = uncontended")
    return "\n".join(["", textwrap.fill(title, TABLE_WIDTH), *format_table(header, rows)])


def verify_table(rows: list[dict[str, str | float]], workload: object) -> str:
    """Errors per strategy and format against the fp64 reference."""
    header = ("strategy", "dtype", "max_abs_error", "max_rel_error")
    body = [header] + [
        (str(r["strategy"]), str(r["dtype"]), f"{r['max_abs_error']:.3e}",
         f"{r['max_rel_error']:.3e}") for r in rows
    ]
    widths = [max(len(row[i]) for row in body) for i in range(len(header))]
    model = getattr(getattr(workload, "model", None), "name", None)
    layers = getattr(workload, "layers", None)
    title = f"errors against the fp64 serialized reference ({model or 'norm_linear'}" + (
        f", {layers} layer{'s' * (layers != 1)})" if layers else ")")
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
             for row in body]
    return "\n".join([title, *lines])
