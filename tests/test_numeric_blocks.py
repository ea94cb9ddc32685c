"""The numeric backend's input distribution and its per norm → linear block errors.

The block errors are checked against an independent numpy computation of the
serialized and deferred LayerNorm → linear in bf16 (casts by ml_dtypes directly,
two-pass statistics), not against the backend's own output.
"""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest

from sim.backends.numeric import (
    InputDistribution,
    NumericParameters,
    norm_linear_blocks,
    reference_output,
    verify,
)
from sim.backends.numeric.inputs import draw_inputs
from sim.config import ModelSpec, NormLinearWorkload, StrategyName, TransformerWorkload
from sim.errors import ConfigError
from sim.schedule import apply_strategy
from sim.workload import build_workload


def _graphs(workload, strategies=tuple(StrategyName)):
    return {s.value: apply_strategy(build_workload(workload), s).graph for s in strategies}


def test_inputs_have_signed_outliers_and_per_token_offsets_of_the_stated_spread() -> None:
    dist = InputDistribution(outlier_scale=(20.0, 100.0), token_offset_std=4.0)
    x, (channels, factors) = draw_inputs(np.random.default_rng(7), (2000, 2048), dist)
    assert len(channels) == 4 and len(set(channels.tolist())) == 4  # 2048 // 512
    assert np.all((np.abs(factors) >= 20) & (np.abs(factors) <= 100))
    plain = np.delete(x.astype(np.float64), channels, axis=1)
    offsets = plain.mean(axis=1)  # each token's offset, ± 1/√2044 of noise
    assert np.std(offsets) == pytest.approx(4.0, rel=0.05)
    assert np.std(plain - offsets[:, None]) == pytest.approx(1.0, rel=0.01)
    # an outlier channel is its factor times N(0, 1) plus the token's offset
    ratio = (x[:, channels] - offsets[:, None]).std(axis=0) / np.abs(factors)
    np.testing.assert_allclose(ratio, 1.0, rtol=0.05)
    signs = [np.sign(draw_inputs(np.random.default_rng(s), (1, 2048), dist)[1][1]) for s in
             range(8)]
    assert {-1.0, 1.0} <= set(np.concatenate(signs).tolist())  # both signs occur


def test_inputs_are_seeded_and_offsets_can_be_switched_off() -> None:
    w = NormLinearWorkload(kind="norm_linear", norm="layernorm", hidden_size=512,
                           out_features=8, tokens=64)
    first, again = (NumericParameters(w, 3).inputs() for _ in range(2))
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, NumericParameters(w, 4).inputs())
    flat = NumericParameters(w, 3, distribution=InputDistribution(token_offset_std=0.0))
    assert abs(float(np.median(flat.inputs().astype(np.float64).mean(axis=1)))) < 0.2
    assert np.std(np.median(first, axis=1)) > 2.0  # offsets of std 4 by default


@pytest.mark.parametrize("field, value", [("outlier_scale", (0.5, 2.0)),
                                          ("outlier_scale", (30.0, 20.0)),
                                          ("token_offset_std", -1.0),
                                          ("token_offset_std", float("nan"))])
def test_bad_distributions_are_rejected_naming_the_field(field, value) -> None:
    with pytest.raises(ConfigError, match=field.split("_std")[0]):
        InputDistribution(**{field: value})


def test_blocks_of_a_decoder_layer_are_qkv_and_ffn_up_at_their_outputs() -> None:
    model = ModelSpec(hidden_size=64, num_heads=4, num_kv_heads=2, ffn_size=96,
                      activation="gelu", norm="layernorm", num_layers=2, vocab_size=10,
                      bias=True)
    w = TransformerWorkload(kind="transformer", model=model, phase="prefill", seq_len=4,
                            layers=2)
    graphs = _graphs(w)
    expected = {"L0.qkv": "L0.qkv", "L0.ffn_up": "L0.ffn_up", "L1.qkv": "L1.qkv",
                "L1.ffn_up": "L1.ffn_up"}
    assert norm_linear_blocks(graphs["serialized"]) == expected
    assert norm_linear_blocks(graphs["static"]) == expected
    assert norm_linear_blocks(graphs["deferred"]) == {f"{b}.scale": b for b in expected}
    rows = verify(w, graphs, ["fp64", "bf16"])
    for row in rows:
        assert list(row["blocks"]) == list(expected)
        if row["strategy"] != "static" and row["dtype"] == "fp64":
            assert row["block_max_rel_error"] < 1e-12
    bf16 = {r["strategy"]: r for r in rows if r["dtype"] == "bf16"}
    # bf16 inputs of a norm -> linear: errors of a few 2^-9 relative to the block's output
    assert 2.0**-12 < bf16["serialized"]["blocks"]["L0.qkv"] < 2.0**-4


def _bf16(a: np.ndarray) -> np.ndarray:
    return np.asarray(a, dtype=np.float32).astype(ml_dtypes.bfloat16).astype(np.float32)


def _rel(y: np.ndarray, ref: np.ndarray) -> float:
    return float(np.max(np.abs(y - ref) / np.max(np.abs(ref), axis=1, keepdims=True)))


def _rms(y: np.ndarray, ref: np.ndarray) -> float:
    return float(np.sqrt(np.mean((y - ref) ** 2) / np.mean(ref**2)))


def test_deferred_against_serialized_matches_an_independent_numpy_bf16_model() -> None:
    w = NormLinearWorkload(kind="norm_linear", norm="layernorm", hidden_size=1024,
                           out_features=128, tokens=8, bias=True)
    params = NumericParameters(w, 0)
    x = params.inputs().astype(np.float64)
    norm, linear = params.norm("norm"), params.linear("linear")
    gamma, beta = norm.gamma.astype(np.float64), norm.beta.astype(np.float64)
    weight = linear.weight.astype(np.float64) * gamma[:, None]
    bias = beta @ linear.weight.astype(np.float64) + linear.bias
    mean = x.mean(axis=1, keepdims=True)
    r = 1 / np.sqrt(((x - mean) ** 2).mean(axis=1, keepdims=True) + 1e-5)
    serialized = _bf16((x - mean) * r) @ _bf16(weight) + bias
    deferred = r * (_bf16(x) @ _bf16(weight - weight.mean(axis=0))) + bias
    ref = reference_output(w, params=params)
    numpy_ratio = _rms(deferred, ref) / _rms(serialized, ref)
    rows = verify(w, _graphs(w, (StrategyName.SERIALIZED, StrategyName.DEFERRED)), ["bf16"])
    by = {r["strategy"]: r for r in rows}
    assert by["deferred"]["blocks"]["linear"] == pytest.approx(_rel(deferred, ref), rel=0.1)
    assert by["serialized"]["blocks"]["linear"] == pytest.approx(_rel(serialized, ref), rel=0.1)
    assert numpy_ratio > 1.2  # the offsets cost deferred precision
    assert by["deferred"]["block_rms_rel_error"]["linear"] == pytest.approx(
        _rms(deferred, ref), rel=0.1)
    assert by["deferred"]["vs_serialized"] == pytest.approx(numpy_ratio, rel=0.1)
    # a norm_linear's only block is its output
    assert all(r["blocks"]["linear"] == r["max_rel_error"] for r in rows)
