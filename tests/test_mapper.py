"""The auto mapper: deterministic, never slower on the fast path than a fixed split,
local norm statistics where they pay, per-linear overrides kept."""

from __future__ import annotations

import pytest
from conftest import REPO, shared_interconnect

from sim.config import StrategyName, load_config
from sim.ir.plan import MoveStep, Purpose
from sim.mapper import choose, clear_cache
from sim.network.from_config import build_interconnect
from sim.runner import prepare, rewritten, simulate, simulate_tasks

CARD = REPO / "configs/machines/corsair_card.yaml"
GPT2 = "{kind: transformer, model: gpt2, phase: decode, batch: 2, kv_len: 31, layers: 1}"
PAPER = ["llama2_7b_decode", "llama2_7b_prefill", "llama3_8b_decode", "llama3_8b_prefill"]


def _small(tmp_path, *overrides: str):
    path = tmp_path / "run.yaml"
    path.write_text(f"extends: {CARD}\nworkload: {GPT2}\nschedule: {{cores_per_layer: 16}}\n")
    return load_config(path, list(overrides))


def _fast(config, strategy) -> int:
    return simulate(config, strategy, backend="analytic").latency_cycles


def test_the_choice_is_deterministic(tmp_path):
    """The same config twice (cache cleared, a fresh interconnect) gives the same choice."""
    cfg = _small(tmp_path)
    graph = rewritten(cfg, StrategyName.SERIALIZED)
    clear_cache()
    first = choose(cfg, StrategyName.SERIALIZED, graph, build_interconnect(cfg.machine))
    clear_cache()
    again = choose(load_config(tmp_path / "run.yaml"), StrategyName.SERIALIZED,
                   rewritten(cfg, StrategyName.SERIALIZED), build_interconnect(cfg.machine))
    assert (first.splits, first.local_stats) == (again.splits, again.local_stats)
    assert set(first.splits) == {"L0.qkv", "L0.o_proj", "L0.ffn_up", "L0.ffn_down"}


@pytest.mark.parametrize("name", PAPER)
def test_auto_is_never_slower_than_a_fixed_split_on_the_paper_configs(name):
    """Fast path, one layer, short context: auto <= columns, rows and 2d (serialized;
    deferred too on Llama-3-8B decode)."""
    path = REPO / f"configs/paper/{name}.yaml"
    small = ["workload.layers=1",
             "workload.kv_len=63" if "decode" in name else "workload.seq_len=16"]
    auto = load_config(path, small)
    net = shared_interconnect(auto.machine)
    strategies = [StrategyName.SERIALIZED] + (
        [StrategyName.DEFERRED] if name == "llama3_8b_decode" else [])
    for strategy in strategies:
        fastest = simulate(auto, strategy, net, "analytic").latency_cycles
        for split in ("columns", "rows", "2d"):
            fixed = load_config(path, [*small, f"schedule.linear_split={split}"])
            assert fastest <= simulate(fixed, strategy, net, "analytic").latency_cycles, split


def test_local_statistics_where_they_pay(tmp_path):
    """Serialized, columns: where the mapper computes a norm's statistics locally,
    that norm has no statistics all-reduce, the fast path is strictly faster than
    with the collective, the graph (what the numeric backend runs) is the same,
    and the DES runs it."""
    local = _small(tmp_path, "schedule.linear_split=columns")
    collective = _small(tmp_path, "schedule.linear_split=columns",
                        "schedule.norm_stats=collective")
    chosen = prepare(local, StrategyName.SERIALIZED)
    placed = chosen.plan.norm_stats
    assert set(placed) == {"L0.attn_norm", "L0.ffn_norm"} and "local" in placed.values()
    stats_moves = [r.name for s in chosen.plan.steps if isinstance(s, MoveStep)
                   and s.purpose is Purpose.NORMALIZATION_COMM for r in s.requests]
    for norm, where in placed.items():
        assert any(name.startswith(norm) for name in stats_moves) == (where == "collective")
    assert _fast(local, StrategyName.SERIALIZED) < _fast(collective, StrategyName.SERIALIZED)
    baseline = prepare(collective, StrategyName.SERIALIZED)
    assert [op.name for op in chosen.graph.ops] == [op.name for op in baseline.graph.ops]
    result = simulate_tasks(local, StrategyName.SERIALIZED)
    assert result.norm_stats == placed and result.latency_cycles > 0
    # nothing to decide where the normalize is gone (deferred) or the split is not columns
    assert prepare(local, StrategyName.DEFERRED).plan.norm_stats == {}
    rows = prepare(_small(tmp_path, "schedule.linear_split=rows", "schedule.norm_stats=local"),
                   StrategyName.SERIALIZED)
    assert set(rows.plan.norm_stats.values()) == {"collective"}


def test_per_linear_overrides_are_kept(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text(f"extends: {CARD}\nworkload: {GPT2}\nschedule: {{cores_per_layer: 16, "
                    "linear_splits: {qkv: rows, ffn_down: 2d}}\n")
    tilings = prepare(load_config(path), StrategyName.DEFERRED).plan.tilings
    assert tilings["L0.qkv"].split == "rows" and tilings["L0.ffn_down"].split == "2d"


def test_one_core_has_nothing_to_choose(repo):
    """The FlashNorm toy (one core): every split is the same plan; 24/21/17 stand."""
    cfg = load_config(repo / "configs/flashnorm_toy.yaml")
    got = {s: simulate(cfg, s).latency_cycles
           for s in (StrategyName.SERIALIZED, StrategyName.PIPELINED, StrategyName.DEFERRED)}
    assert list(got.values()) == [24, 21, 17]
    assert prepare(cfg, StrategyName.SERIALIZED).plan.tilings["linear"].split == "columns"


def test_two_representative_layers_choose_what_the_whole_graph_does(tmp_path, monkeypatch):
    """Four layers on four groups of 16 cores: the search on the first two layers
    picks what the search on all four does; with more layers than groups (layers
    share cores and SRAM) the whole graph is searched."""
    import sim.mapper as mapper

    cfg = _small(tmp_path, "workload.layers=4")
    cut = mapper.representative(cfg)
    assert cut is not None and cut.workload.layers == 2
    net = build_interconnect(cfg.machine)
    for strategy in (StrategyName.SERIALIZED, StrategyName.DEFERRED):
        graph = rewritten(cfg, strategy)
        clear_cache()
        fast = choose(cfg, strategy, graph, net)
        clear_cache()
        monkeypatch.setattr(mapper, "representative", lambda config: None)
        whole = choose(cfg, strategy, graph, net)
        monkeypatch.undo()
        assert (fast.splits, fast.local_stats) == (whole.splits, whole.local_stats)
        assert len(fast.splits) == 16  # every layer's four linears
    crowded = _small(tmp_path, "workload.layers=4", "schedule.cores_per_layer=2048")
    assert mapper.representative(crowded) is None
    assert mapper.representative(_small(tmp_path, "workload.layers=2")) is None
