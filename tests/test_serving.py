"""Serving (`sim.serving`): the pipeline of layer groups against closed forms, the
stage model against the full micro-batched simulation, and the CLI around it."""

from __future__ import annotations

import json
from functools import cache
from itertools import pairwise

import numpy as np
import pytest
import yaml
from conftest import REPO, run_cli
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.backends.des import run_des
from sim.config import RunConfig
from sim.ir import Category, Engine, EngineKind, Task, TaskGraph
from sim.network.from_config import Interconnect, build_interconnect
from sim.serving import flow_shop, serve, steady_decode_cycles
from sim.serving.replicate import leave_cycles, staged_graph

TINY = {"hidden_size": 64, "num_heads": 4, "num_kv_heads": 2, "ffn_size": 128,
        "activation": "swiglu", "norm": "rmsnorm", "num_layers": 5, "vocab_size": 256}


def _machine(cards: int = 2, chiplets: int = 4, cores: int = 4, **memory) -> dict:
    machine = yaml.safe_load((REPO / "configs/machines/corsair_card.yaml").read_text())["machine"]
    machine["hierarchy"] = {"cards": cards, "chiplets_per_card": chiplets,
                            "cores_per_chiplet": cores}
    machine["memory"]["sram_bytes_per_core"] = 1 << 30
    machine["memory"].update(memory)
    return machine


def _config(batch: int, micro_batches: int, machine: dict | None = None, *,
            whole_model: bool = False, **pipeline) -> RunConfig:
    return RunConfig.model_validate({
        "machine": machine or _machine(),
        "workload": {"kind": "transformer", "model": TINY, "kv_len": 32, "batch": batch,
                     "whole_model": whole_model},
        "schedule": {"linear_split": "columns", "norm_stats": "local",
                     "pipeline": {"micro_batches": micro_batches, **pipeline}},
        "strategy": "deferred"})


@cache
def _net(cards: int = 2) -> Interconnect:
    return build_interconnect(_config(1, 1, _machine(cards)).machine)


# ---------------------------------------------------------------- closed forms
@settings(max_examples=40, deadline=None)
@given(p=st.integers(1, 8), m=st.integers(1, 12), t=st.integers(1, 500))
def test_equal_stages_interval_and_bubble(p, m, t):
    """p equal stages of t cycles, m micro-batches (GPipe, Huang et al. 2019): the pass
    takes (m + p - 1) t, a micro-batch leaves every t, the bubble is (p-1)/(m+p-1)."""
    one = flow_shop([[t] * p] * m)
    assert one.makespan_cycles == (m + p - 1) * t
    assert one.interval_cycles == t
    assert one.bubble_fraction == pytest.approx((p - 1) / (m + p - 1))
    assert steady_decode_cycles(one) == max(p, m) * t


def _synthetic(p: int, t: int) -> tuple[TaskGraph, np.ndarray]:
    """A chain of p stages, each one task of t cycles on its own engine."""
    engines = tuple(Engine(f"core{s}.simd", EngineKind.SIMD, core=s) for s in range(p))
    tasks = [Task(f"s{s}", f"L{s}.op", 0, s, t, 0, Category.SIMD, (s - 1,) if s else ())
             for s in range(p)]
    return TaskGraph(engines, tuple(tasks)), np.arange(p, dtype=np.int64)


@pytest.mark.parametrize(("p", "m", "t"), [(3, 5, 10), (4, 2, 7), (1, 4, 9), (6, 6, 3)])
def test_synthetic_pipeline_in_the_des_matches_the_closed_form(p, m, t):
    """The micro-batched graph (barriers and locks) run by the DES: the last stage
    releases a micro-batch every t cycles after (p - 1) t of filling."""
    graph, stage = _synthetic(p, t)
    staged, cell = staged_graph([graph] * m, [stage] * m, p)
    leave = leave_cycles(staged, run_des(staged).ready_array, cell, m * p).reshape(m, p)
    assert leave[:, -1].tolist() == [(p + k) * t for k in range(m)]
    assert leave.tolist() == [list(row) for row in flow_shop([[t] * p] * m).leave_cycles]


def test_recurrence_of_unequal_stages():
    """Johnson's flow shop by hand: stage times (3, 1) and (2, 4) per micro-batch."""
    one = flow_shop([[3, 1], [2, 4]])
    assert one.leave_cycles == ((3, 4), (5, 9))
    assert one.busy_cycles == (5, 5)
    assert one.bubble_fraction == pytest.approx(1 - 10 / 18)


def test_a_shared_engine_bounds_the_interval():
    """Two stages of 10 cycles that hold one engine 8 cycles each per micro-batch: the
    engine, busy 16 cycles a micro-batch, sets the interval."""
    one = flow_shop([[10, 10]] * 4, shared_busy_cycles=[64])
    assert one.interval_cycles == 16
    assert one.makespan_cycles == 64


# ---------------------------------------------------------------- stage model vs full
@pytest.mark.parametrize(("batch", "m", "pipeline", "whole", "exact"), [
    (8, 4, {}, False, True),
    (7, 3, {"stages": 3}, False, False),
    (4, 2, {"stages": 2, "head_stage": True}, True, True),
    (6, 6, {"stage_layers": [1, 3, 1]}, True, True),
])
def test_probes_and_stages_equal_the_full_simulation(batch, m, pipeline, whole, exact):
    """The probes give every stage the time the whole lowering gives it; the
    recurrence over them gives what the simulation of every micro-batch at once
    gives, exactly where no two stages contend for a link, within 0.5% here
    where a hand-off shares one."""
    config = _config(batch, m, whole_model=whole, **pipeline)
    probes, stages, full = (serve(config, mode=mode, interconnect=_net())
                            for mode in ("probes", "stages", "full"))
    assert probes.one_pass.leave_cycles == stages.one_pass.leave_cycles
    ours, truth = np.asarray(stages.one_pass.leave_cycles), np.asarray(full.one_pass.leave_cycles)
    assert (ours == truth).all() == exact
    np.testing.assert_allclose(ours, truth, rtol=0.005)
    assert ours[-1, -1] <= truth[-1, -1]  # contention only delays


def test_lpddr_shared_by_stages_sets_the_interval():
    """Four stages on one card streaming their weights from its LPDDR at 4 B/cycle:
    the full simulation's micro-batches leave one LPDDR pass apart, the bound the
    stage model adds; its decode cycle is within 1% of the full pass."""
    machine = _machine(1, 4, 4, placement="lpddr_weights",
                       lpddr={"bytes_per_cycle": 4.0, "latency_cycles": 200})
    config = _config(8, 8, machine, stages=4)
    net = build_interconnect(config.machine)
    probes, full = (serve(config, mode=mode, interconnect=net) for mode in ("probes", "full"))
    gaps = np.diff(np.asarray(full.one_pass.leave_cycles)[:, -1])
    assert gaps[0] == probes.one_pass.interval_cycles
    assert probes.one_pass.interval_cycles == probes.one_pass.shared_busy_cycles[0] // 8
    assert probes.one_pass.makespan_cycles == pytest.approx(full.one_pass.makespan_cycles,
                                                            rel=0.01)


def test_more_sequences_never_lower_throughput_until_saturation():
    """Tokens/s grows with the batch (one micro-batch per sequence) until the
    pipeline saturates; the result says when it is."""
    rates, saturated = [], []
    for batch in (1, 2, 4, 5, 8):
        r = serve(_config(batch, min(batch, 5)), interconnect=_net())
        rates.append(r.figures()["tokens_per_s"])
        saturated.append(r.saturated)
    first = saturated.index(True)
    assert all(a < b for a, b in pairwise(rates[:first + 1]))
    assert not any(saturated[:first]) and first <= 3


def test_deterministic():
    config = _config(6, 3)
    a = serve(config, interconnect=_net()).to_dict()
    b = serve(config, interconnect=_net()).to_dict()
    a.pop("wall_seconds"), b.pop("wall_seconds")
    assert a == b


# ---------------------------------------------------------------- the CLI
def _write(tmp_path, config: RunConfig, name: str = "serve.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(config.model_dump(mode="json")))
    return str(path)


def test_run_prints_tokens_per_second_and_ms_per_token(tmp_path):
    path = _write(tmp_path, _config(4, 2))
    done = run_cli("run", path, "--backend", "analytic", "--quiet")
    assert done.returncode == 0, done.stderr
    assert "tokens/s" in done.stdout and " ms) per sequence" in done.stdout
    js = run_cli("run", path, "--backend", "analytic", "--format", "json", "--quiet")
    figures = json.loads(js.stdout)["serving"]
    assert figures["tokens_per_s"] == pytest.approx(
        4 / (figures["latency_per_token_us"] * 1e-6))
    assert {"token_interval_us", "bubble_fraction", "group_utilisation"} <= set(figures)


def test_serve_over_batches_writes_json_and_figure(tmp_path):
    path = _write(tmp_path, _config(1, 1, stages=5))
    out = tmp_path / "out"
    done = run_cli("serve", path, "--batch", "1,2,4", "--backend", "analytic", "--out",
                   str(out), "--quiet")
    assert done.returncode == 0, done.stderr
    rows = json.loads((out / "serving.json").read_text())
    assert [(r["serving"]["batch"], r["strategy"]) for r in rows] == [
        (b, s) for b in (1, 2, 4) for s in ("serialized", "deferred")]
    assert (out / "serving.png").stat().st_size and (out / "serving.svg").stat().st_size
    assert "tokens/s" in done.stdout and "saturated" in done.stdout


@pytest.mark.parametrize(("update", "fragment"), [
    ({"micro_batches": 9}, "schedule.pipeline.micro_batches: 9 micro-batches, the batch has 4"),
    ({"stages": 20}, "schedule.pipeline.stages: 20 stages"),
    ({"head_stage": True}, "schedule.pipeline.head_stage"),
    ({"stage_layers": [2, 2]}, "schedule.pipeline.stage_layers"),
])
def test_bad_pipeline_is_one_line_exit_2(tmp_path, update, fragment):
    data = _config(4, 2).model_dump(mode="json")
    data["schedule"]["pipeline"].update(update)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    done = run_cli("run", str(path), "--backend", "analytic", "--out", str(tmp_path / "o"))
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and fragment in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "o").exists()


def test_a_tier_too_small_is_one_line_exit_2(tmp_path):
    machine = _machine(placement="lpddr_weights", lpddr={"bytes_per_card": 1024})
    path = _write(tmp_path, _config(4, 2, machine))
    done = run_cli("run", path, "--backend", "analytic")
    assert done.returncode == 2 and "machine.memory.lpddr.bytes_per_card" in done.stderr
    assert done.stderr.count("\n") == 1


@pytest.mark.parametrize("batch", ["0", "1,1", "x", ""])
def test_bad_batch_list_is_one_line_exit_2(tmp_path, batch):
    path = _write(tmp_path, _config(4, 2))
    done = run_cli("serve", path, "--batch", batch)
    assert done.returncode == 2 and "--batch" in done.stderr


def test_bundled_serving_configs_load():
    from sim.config import load_config
    from sim.serving import is_pipelined

    for name in ("llama3_8b_server8", "llama3_70b_rack16"):
        config = load_config(REPO / f"configs/serving/{name}.yaml", [])
        assert is_pipelined(config) and config.workload.batch == 64


def test_paper_serving_section_renders_from_runs(tmp_path):
    """The report's Serving section: every row's figures from the runs, the ratio to
    the published figure, the figure file written."""
    from sim.report.paper_serving import (
        ServingCase,
        render_serving,
        run_serving,
        serving_figures,
    )

    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(_config(4, 2).model_dump(mode="json")))
    case = ServingCase("tiny", "tiny.yaml", 1.0, 1000.0, "serving_tiny")
    runs = run_serving(tmp_path, "analytic", (case,), (1, 4))
    lines = render_serving(runs, serving_figures(runs, tmp_path))
    text = "\n".join(lines)
    assert (tmp_path / "serving_tiny.png").stat().st_size > 1000
    for r in runs[0][1]:
        f = r.figures()
        ms = f["latency_per_token_us"] / 1e3
        assert f"| {f['batch']} | {f['micro_batches']} | {r.strategy.value} | {ms:.3f} |" in text
        assert f"{ms / 1.0:.2f} | {f['tokens_per_s'] / 1000.0:.2f} |" in text
    assert text.startswith("## Serving") and "No parameter was moved" in text


def test_a_pipelined_sweep_point_is_served():
    """A sweep row of a pipelined config carries the serving figures of `serve`."""
    from sim.sweep.execute import PointTask, run_point

    config = _config(4, 2)
    rows = run_point(PointTask(config.model_dump(mode="json"), ("serialized", "deferred"),
                               "analytic"))
    for row in rows:
        figures = serve(config, row["strategy"], "analytic", interconnect=_net()).figures()
        assert row["status"] == "ok"
        assert row["tokens_per_s"] == figures["tokens_per_s"]
        assert row["latency_us"] == figures["latency_per_token_us"]
        assert row["bubble_fraction"] == figures["bubble_fraction"]
    assert rows[0]["speedup_vs_serialized"] == 1.0
