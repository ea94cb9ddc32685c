"""The run and compare tables carry the answer: per-token latency (or time to first
token), tokens per second, the normalization collectives' share and the hidden
fraction, equal to the JSON's figures, in blocks of at most 100 columns."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from sim.config import StrategyName, load_config
from sim.config.presets import resolve_config_name
from sim.network.from_config import build_interconnect
from sim.report.compare_json import compare_dict
from sim.report.table import format_table
from sim.report.text import compare_table, run_table
from sim.runner import RunResult, simulate_tasks

BATCH, SEQ_LEN, LAYERS, SIMULATED = 2, 16, 6, 2
TINY = [  # a small LayerNorm model on 8 cores of the toy machine, so that norms need collectives
    "machine.hierarchy.cores_per_chiplet=16", "machine.memory.sram_bytes_per_core=16777216",
    "workload={kind: transformer, model: {name: tiny, hidden_size: 256, num_heads: 4, "
    "num_kv_heads: 4, ffn_size: 512, activation: gelu, norm: layernorm, "
    f"num_layers: {LAYERS}, vocab_size: 100}}, phase: prefill, batch: {BATCH}, "
    f"seq_len: {SEQ_LEN}, layers: {SIMULATED}}}",
    "schedule.cores_per_layer=8",
]


def _compare(*overrides: str) -> list[RunResult]:
    cfg = load_config(resolve_config_name(Path("flashnorm_toy")), [*TINY, *overrides])
    net = build_interconnect(cfg.machine)
    return [simulate_tasks(cfg, s, net) for s in StrategyName]


@pytest.fixture(scope="module")
def prefill() -> list[RunResult]:
    return _compare()


def _rows(table: str) -> dict[str, dict[str, str]]:
    """Cells by strategy and column, the wrapped blocks joined."""
    cells: dict[str, dict[str, str]] = {}
    header: list[str] = []
    for line in table.splitlines():
        words = line.split()
        if not words or (not header and words[0] != "strategy"):
            continue  # the title
        if words[0] == "strategy":
            header = words
        else:
            cells.setdefault(words[0], {}).update(zip(header[1:], words[1:], strict=True))
    return cells


def test_compare_table_shows_the_json_figures(prefill: list[RunResult]) -> None:
    table = compare_table(prefill)
    assert all(len(line) <= 100 for line in table.splitlines())
    assert f"{SIMULATED} of {LAYERS} layers simulated" in " ".join(table.splitlines()[:2])
    cells = _rows(table)
    document = {r["strategy"]: r for r in compare_dict(prefill)["results"]}
    serialized_norm = document["serialized"]["normalization_comm_cycles"]
    assert serialized_norm > 0  # so that the hidden fractions mean something
    for name, row in cells.items():
        json_row = document[name]
        # independent of the table code: the latency scaled to all layers, in µs
        ttft_us = json_row["latency_cycles"] / 1e3 * LAYERS / SIMULATED  # 1 GHz
        assert float(row["ttft_us"]) == pytest.approx(ttft_us, rel=1e-5)
        assert json_row["time_to_first_token_us"] == pytest.approx(ttft_us)
        tokens = float(row["tokens_per_s"].replace(",", ""))
        assert tokens == pytest.approx(BATCH * SEQ_LEN / (ttft_us * 1e-6), abs=0.5)
        share = json_row["normalization_comm_cycles"] / json_row["latency_cycles"]
        assert row["norm_comm_share"] == f"{100 * share:.1f}%"
        hidden = 1 - json_row["normalization_comm_cycles"] / serialized_norm
        assert row["hidden_fraction"] == f"{100 * hidden:.1f}%"
        assert json_row["hidden_fraction"] == pytest.approx(hidden)
    assert set(cells) == {s.value for s in StrategyName}


def test_wide_is_one_block_with_every_column(prefill: list[RunResult]) -> None:
    wide = compare_table(prefill, wide=True).splitlines()
    assert len(wide) == 2 + len(StrategyName)  # title, header, a row per strategy
    assert wide[1].split() == ["strategy", "latency_cycles", "latency_us", "ttft_us",
                               "tokens_per_s", "norm_comm_share", "hidden_fraction", "speedup",
                               "matmul_cycles", "simd_cycles", "exposed_comm_cycles",
                               "energy_per_token_uj", "power_w"]
    assert _rows("\n".join(wide)) == _rows(compare_table(prefill))


def test_run_table_has_the_token_lines(prefill: list[RunResult]) -> None:
    deferred = prefill[[s for s in StrategyName].index(StrategyName.DEFERRED)]
    text = run_table(deferred)
    ttft = deferred.latency_cycles / 1e3 * LAYERS / SIMULATED
    assert f"first token {ttft:.6g} us (prefill, all {LAYERS} layers, scaled from " \
           f"{SIMULATED} simulated)" in text
    assert f"{BATCH * SEQ_LEN / (ttft * 1e-6):,.0f} prompt tokens/s at batch {BATCH}" in text
    share = deferred.shares()["normalization_comm_cycles"] / deferred.latency_cycles
    assert f"on the critical path ({100 * share:.1f}% of the latency)" in text


def test_decode_reports_per_token_latency() -> None:
    results = _compare("workload.phase=decode", "workload.kv_len=32")
    cells = _rows(compare_table(results))
    for r in results:
        per_token = r.latency_cycles / 1e3 * LAYERS / SIMULATED
        assert float(cells[r.strategy.value]["per_token_us"]) == pytest.approx(per_token,
                                                                               rel=1e-5)
        tokens = float(cells[r.strategy.value]["tokens_per_s"].replace(",", ""))
        assert tokens == pytest.approx(BATCH / (per_token * 1e-6), abs=0.5)
    assert "ttft_us" not in compare_table(results)


@pytest.mark.parametrize("seed", range(40))
def test_wrapping_keeps_every_column_once_and_fits(seed: int) -> None:
    draw = random.Random(seed)
    names = ["c" * draw.randint(1, 30) + str(k) for k in range(draw.randint(1, 12))]
    width = draw.randint(20, 120)
    header = ["key", *names]
    rows = [[f"r{k}", *(str(len(n) * k) for n in names)] for k in range(3)]
    lines = format_table(header, rows, width=width)
    blocks = "\n".join(lines).split("\n\n")
    shown: list[str] = []
    for block in blocks:
        block_lines = block.splitlines()
        assert len(block_lines) == 1 + len(rows)
        assert [line.split()[0] for line in block_lines] == ["key", "r0", "r1", "r2"]
        columns = block_lines[0].split()[1:]
        shown += columns
        if len(columns) > 1:  # a block of one column may exceed the width
            assert all(len(line) <= width for line in block_lines)
    assert shown == names


def test_summaries_give_the_same_table_and_json_as_the_runs(prefill: list[RunResult]) -> None:
    """`compare` without --plot keeps `RunResult.summary` (no task graph): the table and
    the JSON must not change."""
    import pickle

    summaries = [r.summary() for r in prefill]
    assert compare_table(summaries) == compare_table(prefill)
    assert compare_dict(summaries) == compare_dict(prefill)
    assert all(not hasattr(s, "taskgraph") for s in summaries)
    assert len(pickle.dumps(summaries)) < len(pickle.dumps(prefill)) / 10
