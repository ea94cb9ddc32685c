"""Transformer presets and the decoder-block OpGraph (shapes, edges, strategy rewrites)."""

from __future__ import annotations

import pytest

from sim.config import StrategyName, model_presets, parse_config
from sim.ir import EdgeMode, MaxScope, Role, TileAxis
from sim.runner import simulate
from sim.schedule import apply_strategy
from sim.workload import build_workload
from sim.workload.whole_model import WHOLE_MODEL_ROLES

PRESETS = ["gpt2", "gpt2-xl", "opt-6.7b", "opt-66b", "llama-2-7b", "llama-2-70b",
           "llama-3-8b", "llama-3-70b"]

MACHINE = {"clock_ghz": 1.0, "matmul": {"array_rows": 64, "array_cols": 64},
           "simd": {"lanes": 64}, "memory": {"sram_bytes_per_core": 1 << 40}}


def _config(model, **workload):
    return parse_config({"machine": MACHINE,
                         "workload": {"kind": "transformer", "model": model, "layers": 1,
                                      **workload}})


def test_every_preset_named_in_the_issue_is_bundled():
    assert set(PRESETS) <= set(model_presets())


@pytest.mark.parametrize(("name", "d", "heads", "kv", "ffn", "act", "norm", "layers"), [
    ("gpt2", 768, 12, 12, 3072, "gelu", "layernorm", 12),
    ("gpt2-xl", 1600, 25, 25, 6400, "gelu", "layernorm", 48),
    ("opt-6.7b", 4096, 32, 32, 16384, "relu", "layernorm", 32),
    ("opt-66b", 9216, 72, 72, 36864, "relu", "layernorm", 64),
    ("llama-2-7b", 4096, 32, 32, 11008, "swiglu", "rmsnorm", 32),
    ("llama-2-70b", 8192, 64, 8, 28672, "swiglu", "rmsnorm", 80),
    ("llama-3-8b", 4096, 32, 8, 14336, "swiglu", "rmsnorm", 32),
    ("llama-3-70b", 8192, 64, 8, 28672, "swiglu", "rmsnorm", 80),
])
def test_preset_shapes(name, d, heads, kv, ffn, act, norm, layers):
    m = _config(name).workload.model
    assert (m.hidden_size, m.num_heads, m.num_kv_heads, m.ffn_size, m.activation, m.norm,
            m.num_layers) == (d, heads, kv, ffn, act, norm, layers)


def test_llama3_8b_decode_shapes():
    g = build_workload(_config("llama-3-8b", phase="decode", batch=2, kv_len=1023).workload)
    assert g.op("L0.qkv").shape.out_features == (32 + 2 * 8) * 128
    scores = g.op("L0.scores").shape
    # GQA: 4 query heads share each of 8 KV heads, for 2 sequences; 1024 keys.
    assert (scores.tokens, scores.in_features, scores.out_features, scores.groups) == (
        4, 128, 1024, 16)
    assert g.op("L0.ffn_up").shape.out_features == 2 * 14336  # gate and up, fused
    assert g.op("L0.softmax.exp").shape.rows == 2 * 32


def test_prefill_is_causal_over_the_prompt():
    g = build_workload(_config("gpt2", phase="prefill", batch=1, seq_len=64).workload)
    assert g.op("L0.scores").shape.out_features == 64
    assert g.op("L0.softmax.max").attrs["causal"] is True
    assert g.op("L0.qkv").shape.tokens == 64


def test_layers_chain_through_the_residual_stream():
    g = build_workload(_config("gpt2", layers=2).workload)
    into_l1 = {e.src for e in g.predecessors("L1.attn_residual")}
    assert into_l1 == {"L1.o_proj", "L0.ffn_residual"}


def test_deferred_defers_both_norms_and_softmax():
    g = build_workload(_config("llama-3-8b").workload)
    d = apply_strategy(g, StrategyName.DEFERRED).graph
    names = {op.name for op in d.ops}
    assert {"L0.attn_norm.apply", "L0.ffn_norm.apply", "L0.softmax.apply"}.isdisjoint(names)
    for linear in ("L0.qkv", "L0.ffn_up", "L0.pv"):
        assert d.op(linear).tiling.axis is TileAxis.OUT
        scale = d.op(f"{linear}.scale")
        assert scale.role == "norm.scale_out"
        assert scale.attrs["layer"] == 0  # placed with its layer
        assert {e.mode for e in d.predecessors(scale.name)} == {EdgeMode.TILE, EdgeMode.ALL}
    # P·V reads exp(s − c) directly; the max becomes local (no collective needed).
    assert {e.src for e in d.predecessors("L0.pv")} == {"L0.softmax.exp", "L0.qkv.scale"}
    assert d.op("L0.softmax.max").max_scope is MaxScope.LOCAL
    assert g.op("L0.softmax.max").max_scope is MaxScope.GLOBAL  # serialized: the true max
    # Consumers of the deferred linears now read the scaled outputs.
    assert {e.src for e in d.predecessors("L0.scores")} == {"L0.qkv.scale"}


@pytest.mark.parametrize("name", PRESETS)
@pytest.mark.parametrize("phase", ["decode", "prefill"])
def test_single_core_strategies_never_lose(name, phase):
    cfg = _config(name, phase=phase, seq_len=32, kv_len=256)
    latency = {s: simulate(cfg, s).latency_cycles for s in StrategyName}
    assert latency[StrategyName.DEFERRED] <= latency[StrategyName.SERIALIZED]
    assert latency[StrategyName.PIPELINED] <= latency[StrategyName.SERIALIZED]


def test_every_role_of_the_workloads_is_a_role():
    g = build_workload(_config("llama-3-8b", layers=2).workload)
    assert all(type(op.role) is Role for op in g.ops)
    assert {op.role for op in g.ops} == set(Role) - {
        Role.NORM_SCALE_OUT, Role.COLLECTIVE_REDUCE, Role.COLLECTIVE_BROADCAST,
        Role.COLLECTIVE_ALL_REDUCE, Role.COLLECTIVE_ALL_GATHER,
        *WHOLE_MODEL_ROLES}  # tests/test_whole_model.py
    assert Role.LINEAR == "linear" and Role.NORM_STATS == "norm.stats"  # old strings still match


def test_in_network_marks_exactly_the_statistics_and_maxima():
    g = build_workload(_config("llama-3-8b").workload)
    marked = {op.name for op in apply_strategy(g, StrategyName.IN_NETWORK).graph.ops
              if op.reduce_in_network}
    assert marked == {"L0.attn_norm.stats", "L0.ffn_norm.stats", "L0.softmax.stats",
                      "L0.softmax.max"}
    for strategy in StrategyName:
        if strategy is not StrategyName.IN_NETWORK:
            assert not any(op.reduce_in_network
                           for op in apply_strategy(g, strategy).graph.ops), strategy
        assert not any("scope" in op.attrs or "reduce_in_network" in op.attrs
                       for op in apply_strategy(g, strategy).graph.ops)
