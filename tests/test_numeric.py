"""The numeric backend: the rewritten OpGraphs computed on real numbers.

Deferred normalization must be exact (fp64, to 1e-12 relative) against an
fp64 textbook reference written without the OpGraph, for softmax with causal
masks, LayerNorm and RMSNorm on whole decoder blocks; the emulated formats
must round as documented.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from sim.backends.numeric import (
    FORMAT_NAMES,
    InputDistribution,
    NumericParameters,
    error_metrics,
    number_format,
    quantize_bf16,
    quantize_bfp,
    reference_output,
    run_numeric,
    verify,
)
from sim.config import ModelSpec, NormLinearWorkload, StrategyName, TransformerWorkload
from sim.errors import ConfigError, GraphError
from sim.ir import Edge, MaxScope, OpGraph
from sim.schedule import apply_strategy
from sim.workload import build_workload

EXACT = 1e-12


def _model(norm: str = "rmsnorm", activation: str = "swiglu", bias: bool = False,
           d: int = 128, heads: int = 8, kv_heads: int = 2, ffn: int = 256,
           layers: int = 2) -> ModelSpec:
    return ModelSpec(hidden_size=d, num_heads=heads, num_kv_heads=kv_heads, ffn_size=ffn,
                     activation=activation, norm=norm, num_layers=layers, vocab_size=10,
                     bias=bias)


def _block(phase: str = "decode", **model: object) -> TransformerWorkload:
    return TransformerWorkload(kind="transformer", model=_model(**model), phase=phase,
                               batch=2, seq_len=19, kv_len=37)


def _graph(workload: TransformerWorkload | NormLinearWorkload, strategy: StrategyName) -> OpGraph:
    return apply_strategy(build_workload(workload), strategy).graph


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    return error_metrics(a, b)[1]


BLOCKS = [
    pytest.param(dict(phase="prefill", norm="rmsnorm", activation="swiglu"),
                 id="prefill-rms-swiglu"),
    pytest.param(dict(phase="decode", norm="rmsnorm", activation="swiglu"), id="decode-rms-swiglu"),
    pytest.param(dict(phase="prefill", norm="layernorm", activation="gelu", bias=True),
                 id="prefill-ln-gelu-bias"),
    pytest.param(dict(phase="decode", norm="layernorm", activation="gelu", bias=True),
                 id="decode-ln-gelu-bias"),
    pytest.param(dict(phase="prefill", norm="layernorm", activation="relu", kv_heads=8),
                 id="prefill-ln-relu-mha"),
    pytest.param(dict(phase="decode", norm="rmsnorm", activation="relu", bias=True, kv_heads=1,
                      layers=1), id="decode-rms-relu-mqa-bias"),
]


@pytest.mark.parametrize("spec", BLOCKS)
def test_deferred_equals_serialized_and_reference_in_fp64(spec: dict) -> None:
    workload = _block(**spec)
    params = NumericParameters(workload)
    reference = reference_output(workload, params=params)
    serialized = run_numeric(_graph(workload, StrategyName.SERIALIZED), workload, "fp64",
                             params=params)
    deferred = run_numeric(_graph(workload, StrategyName.DEFERRED), workload, "fp64",
                           params=params)
    assert _rel(serialized, reference) < EXACT
    assert _rel(deferred, reference) < EXACT
    assert _rel(deferred, serialized) < EXACT
    assert not np.array_equal(deferred, serialized)  # a different program, not a copy


@pytest.mark.parametrize("spec", BLOCKS[:4])
def test_pipelined_equals_serialized_bit_for_bit(spec: dict) -> None:
    workload = _block(**spec)
    params = NumericParameters(workload)
    for dtype in ("fp64", "fp32"):
        serialized = run_numeric(_graph(workload, StrategyName.SERIALIZED), workload, dtype,
                                 params=params)
        pipelined = run_numeric(_graph(workload, StrategyName.PIPELINED), workload, dtype,
                                params=params)
        np.testing.assert_array_equal(pipelined, serialized)


@pytest.mark.parametrize("key_chunks", [1, 2, 3, 7, 1000])
def test_local_softmax_max_is_exact_for_any_key_split(key_chunks: int) -> None:
    # prefill: the first queries see only the first chunk, later chunks are all masked
    workload = _block(phase="prefill", layers=1)
    deferred = run_numeric(_graph(workload, StrategyName.DEFERRED), workload, "fp64",
                           key_chunks=key_chunks)
    assert _rel(deferred, reference_output(workload)) < EXACT


def test_key_chunks_change_the_rounding_but_not_the_value() -> None:
    workload = _block(phase="decode", layers=1)
    graph = _graph(workload, StrategyName.DEFERRED)
    one, four = (run_numeric(graph, workload, "fp32", key_chunks=c) for c in (1, 4))
    assert not np.array_equal(one, four)
    assert _rel(one, four) < 1e-5


def test_local_max_in_a_serialized_softmax_is_still_exact() -> None:
    """The chunk rescaling belongs to the sum and apply ops, not to the strategy."""
    workload = _block(phase="prefill", layers=1)
    graph = _graph(workload, StrategyName.SERIALIZED)
    local = OpGraph.build(
        [dataclasses.replace(op, max_scope=MaxScope.LOCAL)
         if op.role == "softmax.max" else op for op in graph.ops],
        graph.edges, where="test")
    exact = run_numeric(local, workload, "fp64")
    assert _rel(exact, reference_output(workload)) < EXACT
    assert not np.array_equal(exact, run_numeric(graph, workload, "fp64"))  # max_scope is read


@pytest.mark.parametrize("norm", ["rmsnorm", "layernorm"])
@pytest.mark.parametrize("bias", [False, True])
def test_norm_linear_strategies_are_exact(norm: str, bias: bool) -> None:
    workload = NormLinearWorkload(kind="norm_linear", norm=norm, hidden_size=256,
                                  out_features=96, tokens=5, bias=bias)
    exact = [s for s in StrategyName if s is not StrategyName.STATIC]  # static: approximate
    rows = verify(workload, {s.value: _graph(workload, s) for s in exact}, ["fp64", "fp32"])
    assert [(r["strategy"], r["dtype"]) for r in rows] == [
        (s.value, d) for s in exact for d in ("fp64", "fp32")]
    for row in rows:
        assert row["max_rel_error"] < (EXACT if row["dtype"] == "fp64" else 1e-5)


@pytest.mark.parametrize("spec", BLOCKS[:4])
def test_fp32_deferred_within_1e5_and_narrow_formats_are_worse(spec: dict) -> None:
    workload = _block(**spec)
    rows = verify(workload, {"deferred": _graph(workload, StrategyName.DEFERRED)},
                  ["fp32", "bf16", "bfp8", "bfp4"])
    error = {r["dtype"]: r["max_rel_error"] for r in rows}
    assert all(np.isfinite(e) for e in error.values())
    assert error["fp32"] < 1e-5
    assert error["fp32"] < error["bf16"]
    assert error["fp32"] < error["bfp8"] < error["bfp4"]


def test_verify_rows_are_json_ready_and_ordered() -> None:
    workload = _block(phase="decode", layers=1)
    graphs = [(s, _graph(workload, s)) for s in (StrategyName.DEFERRED, StrategyName.SERIALIZED)]
    rows = verify(workload, graphs, ["bfp8", "fp64"])
    assert [(r["strategy"], r["dtype"]) for r in rows] == [
        ("deferred", "bfp8"), ("deferred", "fp64"), ("serialized", "bfp8"),
        ("serialized", "fp64")]
    keys = {"strategy", "dtype", "max_abs_error", "max_rel_error", "blocks",
            "block_max_rel_error", "block_rms_rel_error", "vs_serialized"}
    assert all(set(r) == keys for r in rows)
    assert all(list(r["blocks"]) == ["L0.qkv", "L0.ffn_up"] for r in rows)
    assert json.loads(json.dumps(rows)) == rows


# ----------------------------------------------------------------------------- determinism


def test_same_seed_same_numbers_and_other_seed_other_numbers() -> None:
    workload = _block(phase="decode", layers=1)
    graph = _graph(workload, StrategyName.DEFERRED)
    first, again = (run_numeric(graph, workload, "bfp8", seed=3) for _ in range(2))
    np.testing.assert_array_equal(first, again)
    np.testing.assert_array_equal(reference_output(workload, 3), reference_output(workload, 3))
    assert not np.array_equal(first, run_numeric(graph, workload, "bfp8", seed=4))
    assert not np.array_equal(reference_output(workload, 3), reference_output(workload, 4))


def test_parameters_are_float32_read_only_with_outlier_channels() -> None:
    workload = _block(phase="prefill", d=512, heads=8, layers=1)
    params = NumericParameters(workload, seed=0,
                               distribution=InputDistribution(token_offset_std=0.0))
    x = params.inputs()
    weight = params.linear("L0.qkv").weight
    assert x.dtype == weight.dtype == np.float32
    assert not x.flags.writeable and not weight.flags.writeable
    channel_scale = np.sqrt(np.mean(x.astype(np.float64) ** 2, axis=0))
    assert np.sum(channel_scale > 10) == 2  # max(2, 512 // 512) outlier channels
    assert np.median(channel_scale) == pytest.approx(1.0, abs=0.2)
    assert np.std(weight) == pytest.approx(1 / np.sqrt(512), rel=0.05)
    assert params.kv_cache("L0") is None  # prefill has no cache


def test_decode_attends_to_the_kv_cache() -> None:
    short, long = (TransformerWorkload(kind="transformer", model=_model(layers=1), kv_len=k)
                   for k in (0, 64))
    graph = _graph(short, StrategyName.DEFERRED)
    assert _rel(run_numeric(graph, short, "fp64"), reference_output(short)) < EXACT
    assert not np.allclose(reference_output(short), reference_output(long))


# ----------------------------------------------------------------------------- errors


def test_unknown_dtype_is_a_config_error() -> None:
    workload = _block(layers=1)
    graph = _graph(workload, StrategyName.SERIALIZED)
    with pytest.raises(ConfigError, match=r"^dtype: unknown number format 'fp8'"):
        run_numeric(graph, workload, "fp8")
    with pytest.raises(ConfigError, match="int4"):
        verify(workload, {"serialized": graph}, ["fp32", "int4"])


@pytest.mark.parametrize(("kwargs", "key"), [({"seed": -1}, "seed"), ({"key_chunks": 0},
                                                                       "key_chunks")])
def test_bad_seed_or_key_chunks_is_a_config_error(kwargs: dict, key: str) -> None:
    workload = _block(layers=1)
    with pytest.raises(ConfigError, match=f"^{key}:"):
        run_numeric(_graph(workload, StrategyName.SERIALIZED), workload, "fp64", **kwargs)


def test_unknown_role_names_the_role() -> None:
    workload = _block(layers=1)
    graph = _graph(workload, StrategyName.DEFERRED)
    renamed = OpGraph.build(
        [dataclasses.replace(op, role="softmax.static_max") if op.role == "softmax.max" else op
         for op in graph.ops], graph.edges, where="test")
    with pytest.raises(GraphError, match=r"'softmax\.static_max'"):
        run_numeric(renamed, workload, "fp32")


def test_a_deferred_linear_without_its_epilogue_is_rejected() -> None:
    workload = NormLinearWorkload(kind="norm_linear", hidden_size=64, out_features=32)
    graph = _graph(workload, StrategyName.DEFERRED)
    kept = [op for op in graph.ops if op.role != "norm.scale_out"]
    names = {op.name for op in kept}
    broken = OpGraph.build(kept, [e for e in graph.edges if {e.src, e.dst} <= names],
                           where="test")
    with pytest.raises(GraphError, match=r"norm\.scale_out"):
        run_numeric(broken, workload, "fp64")


def test_the_graph_structure_decides_what_runs() -> None:
    """Skipping the normalize (raw x into a plain linear) is computed, and is wrong."""
    workload = NormLinearWorkload(kind="norm_linear", hidden_size=64, out_features=32, tokens=3)
    graph = _graph(workload, StrategyName.SERIALIZED)
    kept = [op for op in graph.ops if op.role == "linear"]
    unnormalized = OpGraph.build(kept, [], where="test")
    assert _rel(run_numeric(unnormalized, workload, "fp64"), reference_output(workload)) > 0.1
    with_edge = OpGraph.build(graph.ops, [*graph.edges, Edge("norm.stats", "linear")],
                              where="test")
    with pytest.raises(GraphError, match="'linear'"):
        run_numeric(with_edge, workload, "fp64")


# ----------------------------------------------------------------------------- formats


def test_bfp8_round_trips_representable_blocks_exactly() -> None:
    rng = np.random.default_rng(0)
    codes = rng.integers(-127, 128, size=(3, 128))
    codes[:, [0, 64]] = 127  # each block's max sets its exponent
    exponents = np.array([[-3], [0], [9]])
    values = np.ldexp(codes.astype(np.float64), exponents - 6)  # quantum 2**(E-6)
    quantized = quantize_bfp(values, axis=1, block_elems=64, significand_bits=8)
    np.testing.assert_array_equal(quantized, values)
    np.testing.assert_array_equal(number_format("bfp8").quantize(values.T, axis=0), values.T)


def test_bfp8_rounds_hand_computed_block() -> None:
    # max 3.0 -> E = 1, quantum 2**-5; ties go to even codes
    block = np.array([3.0, 0.1, 2.5 * 2**-5, 3.5 * 2**-5, -2.5 * 2**-5, 0.5 * 2**-5, 1e-9])
    expected = np.array([3.0, 3 * 2**-5, 2 * 2**-5, 4 * 2**-5, -2 * 2**-5, 0.0, 0.0])
    np.testing.assert_array_equal(quantize_bfp(block, 0, 64, 8), expected)


def test_bfp8_saturates_blocks_independently_and_pads() -> None:
    values = np.zeros(70)
    values[0] = 1.999  # E = 0: 1.999·64 = 127.9 rounds to 128, saturates at 127
    values[1] = 2.0**-8  # a quarter quantum: 0
    values[64] = 2.0**-8  # its own (partial, zero-padded) block: kept exactly
    values[65] = 3 * 2.0**-14  # quantum of that block: 2**(-8-6)
    out = quantize_bfp(values, axis=0, block_elems=64, significand_bits=8)
    assert out[0] == 127 / 64 and out[1] == 0.0
    assert out[64] == 2.0**-8 and out[65] == 3 * 2.0**-14
    assert out.shape == (70,) and out.dtype == np.float32


def test_bfp_zero_and_non_finite_blocks() -> None:
    values = np.array([[0.0, 0.0], [1.0, np.inf]])
    out = quantize_bfp(values, axis=1, block_elems=2, significand_bits=8)
    assert out[0].tolist() == [0.0, 0.0]
    assert np.isnan(out[1]).all()


def test_bfp4_uses_blocks_of_128_and_three_magnitude_bits() -> None:
    values = np.zeros(256)
    values[0], values[1], values[128] = 1.0, 0.3, 0.3  # quantum 2**-2 / 2**-4
    out = number_format("bfp4").quantize(values, axis=0)
    assert out[0] == 1.0 and out[1] == 0.25 and out[128] == 0.3125
    assert quantize_bfp(np.array([1.99]), 0, 128, 4)[0] == 7 / 4  # saturates at 7


def test_bf16_rounds_to_nearest_even() -> None:
    ulp = 2.0**-7  # at 1.0
    values = np.array([1 + ulp / 2, 1 + 3 * ulp / 2, 1 + ulp / 2 + 2.0**-20, -(1 + ulp / 4)],
                      dtype=np.float32)
    assert quantize_bf16(values).tolist() == [1.0, 1 + 2 * ulp, 1 + ulp, -1.0]
    assert np.isnan(quantize_bf16(np.array([np.nan], dtype=np.float32))).all()


def test_format_table() -> None:
    assert FORMAT_NAMES == ("fp64", "fp32", "bf16", "fp8_e4m3", "fp8_e5m2", "bfp8", "bfp4",
                            "mxfp8_e4m3", "mxfp8_e5m2", "mxfp6_e2m3", "mxfp6_e3m2", "mxfp4",
                            "mxint8")
    assert number_format("fp64").compute_dtype == np.float64
    assert {number_format(n).compute_dtype for n in FORMAT_NAMES[1:]} == {np.dtype(np.float32)}
    assert (number_format("bfp8").block_elems, number_format("bfp8").significand_bits) == (64, 8)
