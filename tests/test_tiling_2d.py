"""2d block tiling of linears: geometry, numerics against numpy, bytes moved, DES, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import REPO

from sim.backends.numeric import NumericParameters, run_numeric
from sim.backends.numeric.records import NORM_EPS
from sim.cli import main
from sim.config import NormLinearWorkload, ScheduleConfig, StrategyName, load_config
from sim.errors import CapacityError, ConfigError
from sim.ir import MatmulShape
from sim.ir.plan import Layout, MoveKind, MoveStep, OpStep
from sim.network.from_config import build_interconnect
from sim.runner import prepare, simulate, simulate_tasks
from sim.schedule.grid import grid_moved_bytes, grid_rows, linear_tiling

CARD = REPO / "configs/machines/corsair_card.yaml"


def _config(tmp_path, workload: str, *overrides: str, cores: int = 8):
    path = tmp_path / "run.yaml"
    path.write_text(f"extends: {CARD}\nworkload: {workload}\n"
                    f"schedule: {{cores_per_layer: {cores}}}\n")
    return load_config(path, list(overrides))


NORM_LINEAR = "{kind: norm_linear, norm: rmsnorm, hidden_size: 96, out_features: 80, tokens: 3}"
GPT2 = "{kind: transformer, model: gpt2, phase: decode, batch: 2, kv_len: 31, layers: 1}"


@pytest.fixture(scope="module")
def net(tmp_path_factory):
    return build_interconnect(_config(tmp_path_factory.mktemp("net"), NORM_LINEAR).machine)


def test_grid_rows_minimizes_the_closed_form_bytes():
    """R is the divisor of P with the fewest moved bytes, by brute force over all R."""
    shape = MatmulShape(2, 4096, 6144)
    for cores in (1, 6, 16, 256):
        chosen = grid_rows(shape, cores, ScheduleConfig(), 2)
        costs = {r: grid_moved_bytes(shape, cores, r, 2)
                 for r in range(1, cores + 1) if cores % r == 0}
        assert costs[chosen] == min(costs.values())
    # the two ends are the column gather and the row partials (closed forms)
    assert grid_moved_bytes(shape, 16, 1, 2) == 2 * 15 / 16 * 4096 * 2
    assert grid_moved_bytes(shape, 16, 16, 2) == 2 * 15 / 16 * 6144 * 4


def test_blocks_tile_the_weight_and_land_on_the_slice_layout():
    """Every (input, output) element of W belongs to exactly one core's block; grid
    column j's cores own the output slices j, C+j, ... (the next op's slice layout)."""
    shape = MatmulShape(1, 50, 37)
    tiling = linear_tiling("2d", shape, 6, ScheduleConfig(linear_grid=2), 2)
    assert (tiling.grid_rows, tiling.grid_cols) == (2, 3)
    owner = np.zeros((50, 37), dtype=int)
    for p in range(6):
        i, j = divmod(p, 3)
        rows = slice(tiling.in_bounds[i], tiling.in_bounds[i + 1])
        owner[rows, tiling.columns_of(j)] += 1
        lo, hi = tiling.out_bounds[p], tiling.out_bounds[p + 1]
        assert set(range(lo, hi)) <= set(tiling.columns_of(j))  # own slice in own column
    assert (owner == 1).all()
    # row group i's inputs are its cores' own slices of the input (balanced over 6)
    slices = np.cumsum([0, 9, 9, 8, 8, 8, 8])
    assert tiling.in_bounds == (0, int(slices[3]), 50)


def test_2d_plan_computes_what_numpy_computes(tmp_path):
    """The 2d plan's linear on real numbers (fp64, per row group, summed) equals
    numpy's RMSNorm(x)·diag(γ)·W + b, and equals the unsplit run to rounding."""
    workload = "{kind: norm_linear, norm: rmsnorm, hidden_size: 96, out_features: 80, " \
               "tokens: 3, bias: true}"
    cfg = _config(tmp_path, workload, "schedule.linear_split=2d", "schedule.linear_grid=4")
    prepared = prepare(cfg, StrategyName.SERIALIZED)
    tiling = prepared.plan.tilings["linear"]
    assert (tiling.split, tiling.grid_rows, tiling.grid_cols) == ("2d", 4, 2)
    w = cfg.workload
    assert isinstance(w, NormLinearWorkload)
    params = NumericParameters(w, 0)
    x = params.inputs().astype(np.float64)
    lin, norm = params.linear("linear"), params.norm("norm")
    r = 1 / np.sqrt((x * x).mean(axis=1, keepdims=True) + NORM_EPS)
    expected = (x * r * norm.gamma) @ lin.weight.astype(np.float64) + lin.bias
    got = run_numeric(prepared.graph, w, "fp64", params=params, tilings=prepared.plan.tilings)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    whole = run_numeric(prepared.graph, w, "fp64", params=params)
    np.testing.assert_allclose(got, whole, rtol=1e-13, atol=1e-13)
    # in a block format each core quantizes its own input slice: a different rounding
    blocked = run_numeric(prepared.graph, w, "bfp4", params=params, tilings=prepared.plan.tilings)
    assert not np.array_equal(blocked, run_numeric(prepared.graph, w, "bfp4", params=params))


def test_2d_movements_carry_the_closed_form_bytes(tmp_path):
    """Row all-gathers: each grid row's cores gather their own slices (C cores x the
    bytes per core = the row's input bytes); the reduce-scatter: one reduce per
    output slice over its grid column, rooted at its owner, the slice in fp32. Per
    core that is `grid_moved_bytes`."""
    cfg = _config(tmp_path, "{kind: norm_linear, norm: rmsnorm, hidden_size: 128, "
                  "out_features: 64, tokens: 2}", "schedule.linear_split=2d",
                  "schedule.linear_grid=2")
    plan = prepare(cfg, StrategyName.SERIALIZED).plan
    tiling = plan.tilings["linear"]
    rows, cols, cores = tiling.grid_rows, tiling.grid_cols, 8
    moves = [s for s in plan.steps if isinstance(s, MoveStep)]
    gathers = [r for s in moves if s.kind is MoveKind.ALL_GATHER for r in s.requests
               if "rowgather" in r.name]
    reduces = [r for s in moves if s.kind is MoveKind.REDUCE for r in s.requests]
    assert [g.cores for g in gathers] == [tuple(range(i * cols, (i + 1) * cols))
                                          for i in range(rows)]
    assert sum(g.nbytes * len(g.cores) for g in gathers) == 2 * 128 * 2  # x once, bf16
    assert [r.root for r in reduces] == list(range(cores))
    assert all(r.cores == tuple(range(r.root % cols, cores, cols)) for r in reduces)
    assert sum(r.nbytes for r in reduces) == 2 * 64 * 4  # each output element once, fp32
    # every core of a gather receives the other cores' bytes; every non-root of a
    # reduce sends its partial of the slice
    received = sum(len(g.cores) * (len(g.cores) - 1) * g.nbytes for g in gathers) / cores
    sent = sum((len(r.cores) - 1) * r.nbytes for r in reduces) / cores
    assert received + sent == grid_moved_bytes(MatmulShape(2, 128, 64), cores, rows, 2)
    linear = next(s for s in plan.steps if isinstance(s, OpStep) and s.name == "linear")
    assert linear.layout is Layout.GRID


def test_des_runs_the_2d_plan_and_the_analytic_paths_agree(tmp_path, net):
    """The DES runs a 2d transformer layer (the task emitter reads the steps
    generically); the analytic backend gives one figure task by task and in arrays."""
    cfg = _config(tmp_path, GPT2, "schedule.linear_split=2d", cores=16)
    for strategy in (StrategyName.SERIALIZED, StrategyName.DEFERRED):
        des = simulate_tasks(cfg, strategy)
        assert des.tilings["L0.qkv"].startswith("2d")
        ops = {row["op"] for row in des.op_table()}
        assert any(".partials.s" in op for op in ops) and any("rowgather" in op for op in ops)
        tasks = simulate_tasks(cfg, strategy, backend="analytic").latency_cycles
        estimate = simulate(cfg, strategy, backend="analytic")
        assert tasks == estimate.latency_cycles
        # The fast path's promise: within 5% of the DES, or a warning says why not.
        gap = abs(estimate.latency_cycles / des.latency_cycles - 1)
        assert gap <= 0.05 or estimate.analytic_warning, (gap, des.latency_cycles)


def test_a_tiling_that_does_not_fit_names_the_linear_core_and_bytes(tmp_path):
    # 255 x 510 weights over 8 cores: 16,257 B each on average (within SRAM, so the
    # capacity pre-check passes), 16,320 B on the fullest core of a column or row split
    cfg = _config(tmp_path, "{kind: norm_linear, hidden_size: 255, out_features: 510}",
                  "schedule.linear_split=columns", "machine.memory.sram_bytes_per_core=16300",
                  "machine.memory.placement=sram_only")
    with pytest.raises(CapacityError, match=r"core 0 must hold 16,320 B .*largest: linear "
                       r"linear \(columns\) 16,320 B.*sram_bytes_per_core is 16,300 B"):
        prepare(cfg, StrategyName.SERIALIZED)
    auto = _config(tmp_path, "{kind: norm_linear, hidden_size: 255, out_features: 510}",
                   "machine.memory.sram_bytes_per_core=16300",
                   "machine.memory.placement=sram_only")
    with pytest.raises(CapacityError, match=r"largest: linear linear .*auto: no tiling fits"):
        prepare(auto, StrategyName.SERIALIZED)


def test_linear_grid_must_divide_the_group(tmp_path):
    cfg = _config(tmp_path, NORM_LINEAR, "schedule.linear_split=2d", "schedule.linear_grid=3")
    with pytest.raises(ConfigError, match=r"schedule\.linear_grid: 3 row groups"):
        prepare(cfg, StrategyName.SERIALIZED)


def test_an_unknown_tiling_lists_the_valid_ones(capsys):
    """``imcsim check --set schedule.linear_split=diagonal``: one line, exit 2."""
    with pytest.raises(SystemExit) as done:
        main(["check", str(REPO / "configs/flashnorm_toy.yaml"), "--set",
              "schedule.linear_split=diagonal"])
    assert done.value.code == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "imcsim: error: schedule.linear_split: must be one of 'auto', 'columns', 'rows' or "
        "'2d', got 'diagonal'"]
