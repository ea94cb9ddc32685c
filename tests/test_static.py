"""The ``static`` strategy: token norms with a calibrated constant scalar
(SLaNC-like), softmax deferred. No statistics, no collective, no normalize for
RMSNorm/LayerNorm; the result is approximate, and exact only when every token's
scalar equals the calibrated one."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from conftest import SMALL_CHIPLET, shared_interconnect

from sim.backends.numeric import (
    NumericParameters,
    error_metrics,
    reference_output,
    run_numeric,
)
from sim.backends.numeric.records import NORM_EPS
from sim.backends.numeric.reference import calibrate_static_scales
from sim.config import (
    ModelSpec,
    NormLinearWorkload,
    StrategyName,
    TransformerWorkload,
    load_config,
)
from sim.errors import GraphError
from sim.ir import Edge, Op, OpGraph, OpKind, SimdPattern, SimdShape
from sim.runner import prepare, simulate
from sim.schedule import apply_strategy
from sim.workload import build_workload

EXACT = 1e-12
TOKEN_NORMS = ("rmsnorm", "layernorm")


def _model(norm: str, bias: bool = False, activation: str = "swiglu") -> ModelSpec:
    return ModelSpec(hidden_size=128, num_heads=8, num_kv_heads=2, ffn_size=256,
                     activation=activation, norm=norm, num_layers=2, vocab_size=10, bias=bias)


def _block(norm: str, phase: str = "decode", **kw: object) -> TransformerWorkload:
    return TransformerWorkload(kind="transformer", model=_model(norm, **kw), phase=phase,
                               batch=4, seq_len=9, kv_len=37)


def _graph(workload, strategy: StrategyName) -> OpGraph:
    return apply_strategy(build_workload(workload), strategy).graph


# ----------------------------------------------------------------------------- graph


@pytest.mark.parametrize("norm", TOKEN_NORMS)
def test_static_graph_has_no_token_norm_ops_and_folds_the_linears(norm: str) -> None:
    graph = _graph(_block(norm), StrategyName.STATIC)
    token_norm_ops = [op.name for op in graph.ops if op.attrs.get("norm") in TOKEN_NORMS]
    assert token_norm_ops == []
    folded = {op.name: (op.attrs["folded_norm"], op.attrs["static_norm"])
              for op in graph.ops if op.role == "linear" and "folded_norm" in op.attrs}
    kind = "static_gamma" if norm == "rmsnorm" else "static_centred"
    assert folded == {f"L{i}.{lin}": (kind, f"L{i}.{src}") for i in (0, 1)
                      for lin, src in (("qkv", "attn_norm"), ("ffn_up", "ffn_norm"))}
    # the linears read the norms' raw inputs; nothing scales their outputs
    assert {e.src for e in graph.predecessors("L0.qkv")} == {"x"}
    assert {e.src for e in graph.predecessors("L1.qkv")} == {"L0.ffn_residual"}
    assert {e.src for e in graph.predecessors("L0.ffn_up")} == {"L0.attn_residual"}
    assert all(e.mode.value == "all" for name in folded for e in graph.predecessors(name))
    scaled = [op.name for op in graph.ops if op.role == "norm.scale_out"]
    assert scaled == ["L0.pv.scale", "L1.pv.scale"]  # softmax stays deferred


@pytest.mark.parametrize("norm", TOKEN_NORMS)
def test_static_softmax_is_the_deferred_one(norm: str) -> None:
    workload = _block(norm)
    static, deferred = (_graph(workload, s) for s in (StrategyName.STATIC,
                                                      StrategyName.DEFERRED))
    softmax = [op for op in deferred.ops if op.attrs.get("norm") == "softmax"
               or op.role.startswith(("softmax.", "attn."))]
    def inputs(graph: OpGraph, name: str) -> set[tuple[str, str]]:
        # deferred's scores and P·V read the QKV epilogue, static's the QKV itself
        return {(e.src.replace(".qkv.scale", ".qkv"), e.mode.value)
                for e in graph.predecessors(name)}

    for op in softmax:
        assert static.op(op.name) == op
        assert inputs(static, op.name) == inputs(deferred, op.name)


def test_static_lowers_without_token_norm_collectives(repo) -> None:
    config = load_config(repo / "configs/paper/llama3_8b_decode.yaml")
    prepared = prepare(config, StrategyName.STATIC, shared_interconnect(config.machine))
    assert not [t.op for t in prepared.emit("hops").tasks if "_norm" in t.op]
    normalization_comm = [op for op, p in prepared.plan.purposes.items()
                          if p == "normalization_comm"]
    assert normalization_comm and all("softmax" in op for op in normalization_comm)


def test_a_norm_apply_feeding_a_non_linear_keeps_its_ops() -> None:
    workload = NormLinearWorkload(kind="norm_linear", hidden_size=64, out_features=32)
    base = build_workload(workload)
    extra = Op("extra", OpKind.SIMD, SimdShape(SimdPattern.ELEMENTWISE, 1, 64, ("add",)),
               "residual")
    graph = OpGraph.build([*base.ops, extra],
                          [*base.edges, Edge("norm.apply", "extra"), Edge("x", "extra")],
                          where="test")
    static = apply_strategy(graph, StrategyName.STATIC).graph
    assert {"norm.stats", "norm.scalar", "norm.apply"} <= {op.name for op in static.ops}
    assert [e.dst for e in static.successors("norm.apply")] == ["extra"]
    assert [e.src for e in static.predecessors("linear")] == ["x"]
    assert static.op("linear").attrs["folded_norm"] == "static_gamma"


def test_toy_static_is_just_the_matmul(repo) -> None:
    config = load_config(repo / "configs/flashnorm_toy.yaml")
    result = simulate(config, StrategyName.STATIC)
    assert result.latency_cycles == 16
    assert (result.breakdown.matmul_cycles, result.breakdown.simd_cycles) == (16, 0)


@pytest.mark.parametrize("norm", TOKEN_NORMS)
def test_static_is_not_slower_than_deferred_on_many_cores(repo, norm: str) -> None:
    # two 64-core chiplets: many cores, and a quarter of the DES time of 256-core ones
    card = load_config(repo / "configs/paper/llama3_8b_decode.yaml", list(SMALL_CHIPLET))
    workload = TransformerWorkload(kind="transformer", model=_model(norm), batch=4, kv_len=256)
    config = card.model_copy(update={"workload": workload})
    net = shared_interconnect(config.machine)
    latency = {s: simulate(config, s, net).latency_cycles
               for s in (StrategyName.DEFERRED, StrategyName.STATIC)}
    assert latency[StrategyName.STATIC] <= latency[StrategyName.DEFERRED]


# ----------------------------------------------------------------------------- numerics


@pytest.mark.parametrize("spec", [dict(norm="rmsnorm"), dict(norm="layernorm", bias=True,
                                                              activation="gelu"),
                                  dict(norm="rmsnorm", phase="prefill")])
def test_static_is_approximate_and_deferred_stays_exact(spec: dict) -> None:
    workload = _block(**spec)
    params = NumericParameters(workload)
    reference = reference_output(workload, params=params)
    static = run_numeric(_graph(workload, StrategyName.STATIC), workload, "fp64",
                         params=params)
    deferred = run_numeric(_graph(workload, StrategyName.DEFERRED), workload, "fp64",
                           params=params)
    static_error = error_metrics(static, reference)[1]
    assert np.isfinite(static_error) and 1e-6 < static_error < 10
    assert error_metrics(deferred, reference)[1] < EXACT


class _SameScale(NumericParameters):
    """Every input and calibration row is a permutation of one row, possibly negated:
    mean(x²), and var(x), are the same for every token, so is the scalar r."""

    def _rows(self, stream: int) -> np.ndarray:
        base = super().inputs()[0]
        rng = np.random.default_rng(stream)
        rows = [np.sign(rng.standard_normal()) * rng.permutation(base)
                for _ in range(self.workload.tokens)]
        return np.asarray(rows, dtype=np.float32)

    def inputs(self) -> np.ndarray:
        return self._rows(1)

    def calibration_inputs(self) -> np.ndarray:
        return self._rows(2)


@pytest.mark.parametrize("norm", TOKEN_NORMS)
@pytest.mark.parametrize("bias", [False, True])
def test_static_is_exact_when_every_token_has_the_calibrated_scale(norm: str,
                                                                   bias: bool) -> None:
    workload = NormLinearWorkload(kind="norm_linear", norm=norm, hidden_size=256,
                                  out_features=96, tokens=5, bias=bias)
    params = _SameScale(workload)
    assert not np.array_equal(params.inputs(), params.calibration_inputs())
    static = run_numeric(_graph(workload, StrategyName.STATIC), workload, "fp64",
                         params=params)
    assert error_metrics(static, reference_output(workload, params=params))[1] < EXACT
    # the ordinary calibration input gives other scales: approximate
    plain = NumericParameters(workload)
    static = run_numeric(_graph(workload, StrategyName.STATIC), workload, "fp64", params=plain)
    assert error_metrics(static, reference_output(workload, params=plain))[1] > 1e-6


@pytest.mark.parametrize("norm", TOKEN_NORMS)
def test_calibration_is_the_mean_scalar_over_calibration_tokens(norm: str) -> None:
    workload = NormLinearWorkload(kind="norm_linear", norm=norm, hidden_size=512,
                                  out_features=8, tokens=7)
    params = NumericParameters(workload, seed=5)
    c = params.calibration_inputs().astype(np.float64)
    if norm == "rmsnorm":
        r = 1 / np.sqrt(np.mean(c * c, axis=1) + NORM_EPS)
    else:
        r = 1 / np.sqrt(np.var(c, axis=1) + NORM_EPS)
    assert params.static_scale("norm") == pytest.approx(np.mean(r), rel=1e-14)
    assert params.static_scale("norm") is params.static_scale("norm")  # computed once
    with pytest.raises(KeyError):
        params.static_scale("L0.attn_norm")


def test_calibration_input_is_another_draw_with_the_same_outliers() -> None:
    workload = NormLinearWorkload(kind="norm_linear", hidden_size=2048, out_features=8,
                                  tokens=64)
    params = NumericParameters(workload)
    x, c = params.inputs(), params.calibration_inputs()
    assert c.shape == x.shape and c.dtype == np.float32 and not c.flags.writeable
    assert not np.array_equal(x, c)

    def outliers(a: np.ndarray) -> set[int]:
        return set(np.flatnonzero(np.sqrt(np.mean(a.astype(np.float64) ** 2, axis=0)) > 10))

    assert outliers(x) == outliers(c) and len(outliers(x)) == 4
    again = NumericParameters(workload)
    np.testing.assert_array_equal(again.calibration_inputs(), c)  # order-independent
    np.testing.assert_array_equal(again.inputs(), x)


def test_recording_does_not_change_the_reference() -> None:
    workload = _block("layernorm", bias=True, activation="gelu")
    params = NumericParameters(workload)
    record: dict[str, list[np.ndarray]] = {}
    recorded = reference_output(workload, params=params, inputs=params.inputs(), record=record)
    np.testing.assert_array_equal(recorded, reference_output(workload, params=params))
    assert sorted(record) == ["L0.attn_norm", "L0.ffn_norm", "L1.attn_norm", "L1.ffn_norm"]
    assert all(len(v) == 1 and v[0].shape == (4,) for v in record.values())
    scales = calibrate_static_scales(params)
    assert scales.keys() == record.keys()
    assert scales["L1.ffn_norm"] == params.static_scale("L1.ffn_norm")
    with pytest.raises(ValueError, match="inputs"):
        reference_output(workload, params=params, inputs=np.zeros((3, 128)))


def test_a_static_linear_with_an_epilogue_or_without_its_norm_is_rejected() -> None:
    workload = NormLinearWorkload(kind="norm_linear", hidden_size=64, out_features=32)
    deferred = _graph(workload, StrategyName.DEFERRED)
    relabeled = OpGraph.build(
        [dataclasses.replace(op, attrs={**op.attrs, "folded_norm": "static_gamma",
                                        "static_norm": "norm"})
         if op.role == "linear" else op for op in deferred.ops], deferred.edges, where="test")
    with pytest.raises(GraphError, match=r"norm\.scale_out"):
        run_numeric(relabeled, workload, "fp64")
    static = _graph(workload, StrategyName.STATIC)
    unnamed = OpGraph.build(
        [dataclasses.replace(op, attrs={k: v for k, v in op.attrs.items() if k != "static_norm"})
         for op in static.ops], static.edges, where="test")
    with pytest.raises(GraphError, match="static_norm"):
        run_numeric(unnamed, workload, "fp64")
    wrong_kind = OpGraph.build(
        [dataclasses.replace(op, attrs={**op.attrs, "folded_norm": "static_centred"})
         if op.role == "linear" else op for op in static.ops], static.edges, where="test")
    with pytest.raises(GraphError, match=r"the workload's norm is rmsnorm"):
        run_numeric(wrong_kind, workload, "fp64")
