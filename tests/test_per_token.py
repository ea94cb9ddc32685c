"""Per-token figures over the whole model (`sim.figures.per_token_figures`): only the
decoder blocks scale with the layer count, the whole-model ops (host I/O,
embedding, final norm, LM head, sampling) run once per step; tokens per second
is batch / per-token latency; ``run`` reports the hidden fraction against its own
serialized run, equal to ``compare``'s."""

from __future__ import annotations

import json

import pytest
import yaml
from conftest import REPO
from test_tables import TINY as TABLE_TINY

from sim.cli import main
from sim.config import RunConfig, StrategyName, load_config
from sim.ir import Role
from sim.report.text import compare_table, run_table
from sim.runner import simulate_tasks
from sim.workload import build_workload

MODEL_LAYERS, SIMULATED, BATCH = 8, 2, 2
TINY = {"hidden_size": 64, "num_heads": 4, "num_kv_heads": 2, "ffn_size": 128,
        "activation": "swiglu", "norm": "rmsnorm", "num_layers": MODEL_LAYERS,
        "vocab_size": 256}


def _config(whole_model: bool, phase: str = "decode") -> RunConfig:
    machine = yaml.safe_load((REPO / "configs/machines/corsair_card.yaml").read_text())["machine"]
    machine["hierarchy"] = {"cards": 1, "chiplets_per_card": 2, "cores_per_chiplet": 4}
    machine["memory"]["sram_bytes_per_core"] = 1 << 30
    return RunConfig.model_validate({
        "machine": machine, "strategy": "deferred",
        "workload": {"kind": "transformer", "model": TINY, "kv_len": 32, "batch": BATCH,
                     "seq_len": 4, "phase": phase, "layers": SIMULATED,
                     "whole_model": whole_model}})


def _whole_model_ops(config: RunConfig) -> set[str]:
    """The workload's ops outside the blocks, from the graph's roles and layer attrs
    (not from op names): host input, embedding, the prefill's last-token selection,
    and what sits past the last block."""
    once = (Role.HOST_IN, Role.EMBED, Role.TOKEN_SELECT)
    return {op.name for op in build_workload(config.workload).ops
            if op.role in once or op.attrs.get("layer") == SIMULATED}


def _belongs(task_op: str, names: set[str]) -> bool:
    # a collective counts with the op it feeds (``C<P.gather``), a move with its op (``P>move``)
    consumer = task_op.split("<", 1)[0].split(">", 1)[0]
    return any(consumer == n or consumer.startswith(n + ".") for n in names)


@pytest.mark.parametrize("phase", ["decode", "prefill"])
def test_only_the_blocks_scale_with_the_layer_count(phase: str) -> None:
    config = _config(True, phase)
    result = simulate_tasks(config)
    document = result.to_dict()
    names = _whole_model_ops(config)
    head_part = sum(row["critical_cycles"] for row in document["ops"]
                    if _belongs(row["op"], names))
    layer_part = result.latency_cycles - head_part
    assert head_part > 0 and layer_part > 0  # both parts are exercised
    step_cycles = head_part + MODEL_LAYERS / SIMULATED * layer_part
    step_us = step_cycles / (config.machine.clock_ghz * 1e3)
    key = "latency_per_token_us" if phase == "decode" else "time_to_first_token_us"
    assert document[key] == pytest.approx(step_us)
    assert document[key] < result.latency_us * MODEL_LAYERS / SIMULATED  # the old overcount
    assert document["whole_model_cycles"] == head_part
    tokens = BATCH * (1 if phase == "decode" else 4)
    assert document["tokens_per_s"] == pytest.approx(tokens / (step_us * 1e-6))


def test_without_whole_model_ops_the_whole_latency_scales() -> None:
    result = simulate_tasks(_config(False))
    document = result.to_dict()
    per_token = result.latency_us * MODEL_LAYERS / SIMULATED
    assert document["whole_model_cycles"] == 0
    assert document["latency_per_token_us"] == pytest.approx(per_token)
    assert document["tokens_per_s"] == pytest.approx(BATCH / (per_token * 1e-6))
    assert f"per token {per_token:.6g} us" in run_table(result)
    assert f"{BATCH / (per_token * 1e-6):,.0f} tokens/s at batch {BATCH}" in run_table(result)


def test_tables_show_the_json_per_token_figures() -> None:
    config = _config(True)
    results = [simulate_tasks(config, s) for s in (StrategyName.SERIALIZED,
                                                   StrategyName.DEFERRED)]
    lines = compare_table(results, wide=True).splitlines()
    header = lines[1].split()
    for result, line in zip(results, lines[2:], strict=True):
        cells = dict(zip(header, line.split(), strict=True))
        document = result.to_dict()
        assert float(cells["per_token_us"]) == pytest.approx(document["latency_per_token_us"],
                                                             rel=1e-5)
        assert float(cells["tokens_per_s"].replace(",", "")) == pytest.approx(
            document["tokens_per_s"], abs=0.5)
    text = run_table(results[1])
    assert f"per token {results[1].to_dict()['latency_per_token_us']:.6g} us" in text
    assert "whole-model ops" in text


def test_run_reports_the_hidden_fraction_of_compare(tmp_path, capsys) -> None:
    """``run`` (with its serialized baseline) and ``compare`` agree, in JSON and table;
    a LayerNorm model on 8 cores exposes normalization collectives under serialized."""
    config = ["flashnorm_toy", *(a for o in TABLE_TINY for a in ("--set", o))]
    with pytest.raises(SystemExit):
        main(["compare", *config, "--format", "json", "-q"])
    rows = {r["strategy"]: r for r in json.loads(capsys.readouterr().out)["results"]}
    assert rows["serialized"]["normalization_comm_cycles"] > 0
    for strategy in ("pipelined", "serialized"):
        with pytest.raises(SystemExit):
            main(["run", *config, "-s", strategy, "--format", "json", "-q",
                  "--out", str(tmp_path / strategy)])
        run = json.loads(capsys.readouterr().out)
        written = json.loads((tmp_path / strategy / "result.json").read_text())
        assert written["hidden_fraction"] == run["hidden_fraction"]  # --out: the same JSON
        assert run["hidden_fraction"] == pytest.approx(rows[strategy]["hidden_fraction"])
        assert run["speedup_vs_serialized"] == pytest.approx(
            rows[strategy]["speedup_vs_serialized"])
        with pytest.raises(SystemExit):
            main(["run", *config, "-s", strategy, "-q"])
        table = capsys.readouterr().out
        assert f"hidden    {100 * rows[strategy]['hidden_fraction']:.1f}% of serialized" in table
        assert all(len(line) <= 100 for line in table.splitlines())
    with pytest.raises(SystemExit):
        main(["run", *config, "-s", "pipelined", "--no-baseline", "--format", "json", "-q"])
    assert "hidden_fraction" not in json.loads(capsys.readouterr().out)


def test_sweep_rows_carry_the_runs_per_token_figures(tmp_path, capsys) -> None:
    overrides = [*TABLE_TINY, "workload.phase=decode", "workload.kv_len=32"]
    spec = tmp_path / "tiny.yaml"
    spec.write_text(yaml.safe_dump({
        "base": str(REPO / "configs/flashnorm_toy.yaml"), "strategies": ["deferred"],
        "overrides": overrides, "axes": {"workload.batch": [3]}}))
    with pytest.raises(SystemExit):
        main(["sweep", str(spec), "--out", str(tmp_path / "out"), "--workers", "1", "-q"])
    capsys.readouterr()
    (row,) = [json.loads(line) for line in (tmp_path / "out/results.jsonl").open()]
    cfg = load_config(REPO / "configs/flashnorm_toy.yaml", [*overrides, "workload.batch=3"])
    document = simulate_tasks(cfg, StrategyName.DEFERRED).to_dict()
    assert row["latency_per_token_us"] == pytest.approx(document["latency_per_token_us"])
    assert row["tokens_per_s"] == pytest.approx(3 / (row["latency_per_token_us"] * 1e-6))
    assert row["time_to_first_token_us"] is None
