"""Whole-model ops (``workload.whole_model``): embedding, KV-cache append, final norm,
LM head, sampling and host I/O, against closed forms on a tiny model and machine."""

from __future__ import annotations

import math
from functools import cache

import numpy as np
import pytest
import yaml
from conftest import REPO

from sim.backends.arrays import evaluate
from sim.backends.numeric import run_numeric, verify
from sim.backends.numeric.values import Sampled
from sim.cli import main
from sim.config import RunConfig, StrategyName
from sim.hardware import matmul_cost
from sim.hardware.model_ops import CANDIDATE_BYTES, STORE_CYCLES_PER_VECTOR
from sim.ir import Role
from sim.ir.plan import MoveStep, OpStep
from sim.network.from_config import Interconnect, build_interconnect
from sim.runner import prepare, simulate
from sim.schedule import apply_strategy
from sim.schedule.model_ops import model_op_pieces
from sim.schedule.placement import LayerGroup, attention_sets
from sim.workload import build_workload
from sim.workload.whole_model import WHOLE_MODEL_ROLES

TINY = {"hidden_size": 64, "num_heads": 4, "num_kv_heads": 2, "ffn_size": 128,
        "activation": "swiglu", "norm": "rmsnorm", "num_layers": 2, "vocab_size": 256}
LAYERS = 2


def _machine(chiplets: int = 2, cores: int = 4) -> dict:
    machine = yaml.safe_load((REPO / "configs/machines/corsair_card.yaml").read_text())["machine"]
    machine["hierarchy"] = {"cards": 1, "chiplets_per_card": chiplets, "cores_per_chiplet": cores}
    machine["memory"]["sram_bytes_per_core"] = 1 << 30
    return machine


def _config(strategy: str = "serialized", machine: dict | None = None, **workload) -> RunConfig:
    return RunConfig.model_validate({
        "machine": machine or _machine(),
        "workload": {"kind": "transformer", "model": TINY, "kv_len": 32, "batch": 2, **workload},
        "strategy": strategy})


@cache
def _net(chiplets: int, cores: int) -> Interconnect:
    """The interconnect of a machine, built once for every run on it."""
    return build_interconnect(_config(machine=_machine(chiplets, cores)).machine)


def _run(config: RunConfig, backend: str = "des", tasks: bool = False):
    hierarchy = config.machine.hierarchy
    return simulate(config, interconnect=_net(hierarchy.chiplets_per_card,
                                              hierarchy.cores_per_chiplet),
                    backend=backend, tasks=tasks)


def _prepare(config: RunConfig):
    hierarchy = config.machine.hierarchy
    return prepare(config, interconnect=_net(hierarchy.chiplets_per_card,
                                             hierarchy.cores_per_chiplet))


def _latency(config: RunConfig, backend: str = "des") -> int:
    return _run(config, backend).latency_cycles


def test_whole_model_false_is_todays_program():
    today = _config()
    off = _config(whole_model=False)
    assert _latency(off) == _latency(today)
    graph = build_workload(off.workload)
    assert not {Role.EMBED, Role.KV_APPEND, Role.HOST_IN} & {op.role for op in graph.ops}
    assert len(graph.ops) == 1 + LAYERS * 20  # x and 20 ops per block, as before


def test_a_whole_prefill_step_has_every_whole_model_role_once_per_block_or_step():
    graph = build_workload(_config(whole_model=True, phase="prefill", seq_len=3).workload)
    roles = [op.role for op in graph.ops]
    assert set(roles) >= WHOLE_MODEL_ROLES
    assert roles.count(Role.KV_APPEND) == LAYERS
    assert all(roles.count(r) == 1 for r in WHOLE_MODEL_ROLES - {Role.KV_APPEND})


def test_step_grows_by_at_least_the_head_matmul_embedding_and_host_transfers():
    config = _config(whole_model=True)
    machine, workload = config.machine, config.workload
    batch, d, vocab = workload.batch, TINY["hidden_size"], TINY["vocab_size"]
    cores = machine.hierarchy.cores_per_chiplet  # the head's layer group: one chiplet
    head = matmul_cost(batch, d, -(-vocab // cores), machine.matmul, machine.buffers)
    lpddr, host = machine.memory.lpddr, machine.memory.host
    embedding = lpddr.latency_cycles + math.ceil(batch * d * 1 / lpddr.bytes_per_cycle)
    ids = host.latency_cycles + math.ceil(batch * 4 / host.bytes_per_cycle)
    grown = _latency(config) - _latency(_config())
    assert grown >= head.total_cycles + embedding + 2 * ids
    steps = {s.name: s for s in _prepare(config).plan.steps if isinstance(s, OpStep)}
    # every core's piece holds its card's LPDDR engine for its own columns of the rows,
    # its last bytes the LPDDR latency after (the queue of the card's pieces: L + their sum)
    embed = steps["embed.lookup"]
    piece_cycles = math.ceil(batch * (d // cores) / lpddr.bytes_per_cycle)
    assert embed.card_lpddr and set(embed.occupancy_cycles) == {(piece_cycles,)}
    assert set(embed.result_latency_cycles) == {(lpddr.latency_cycles,)}
    head_root = 4 * (LAYERS % 2)  # the first core of the head's group
    assert steps["host.tokens_in"].cores == (0,) and steps["host.tokens_out"].cores == (head_root,)


def test_lm_head_is_vocab_wide_on_the_next_group_and_its_weights_are_stored():
    on, off = _prepare(_config(whole_model=True)), _prepare(_config())
    head = build_workload(on.config.workload).op("head.lm_head")
    assert head.shape.out_features == TINY["vocab_size"] and head.attrs["layer"] == LAYERS
    step = next(s for s in on.plan.steps if isinstance(s, OpStep) and s.name == "head.lm_head")
    assert step.group == LAYERS % 2 and step.cores == (0, 1, 2, 3)
    added = int(on.plan.stored_bytes.sum() - off.plan.stored_bytes.sum())
    assert added == TINY["hidden_size"] * TINY["vocab_size"]  # 8-bit weights, nothing else


@pytest.mark.parametrize(("sampling", "candidates"), [("argmax", 1), ("top_k", 5)])
def test_sampling_reduces_the_candidates_of_every_head_core_to_its_root(sampling, candidates):
    plan = _prepare(_config(whole_model=True, sampling=sampling, top_k=5)).plan
    moves = [(s, r) for s in plan.steps if isinstance(s, MoveStep) for r in s.requests
             if r.name == "sample.pick<sample.local.reduce"]
    assert len(moves) == 1
    step, request = moves[0]
    assert (step.kind, step.reduce_op) == ("reduce", "max")
    assert request.cores == (0, 1, 2, 3) and request.root == 0  # the head's group
    assert request.nbytes == 2 * candidates * CANDIDATE_BYTES


@pytest.mark.parametrize(("phase", "holders"), [("decode", 4), ("prefill", 16)])
def test_kv_append_stores_every_new_key_and_value_once(phase, holders):
    """16 cores, 4 (sequence, KV head) sets of 4 cores: the one new key of a decode
    step is on each set's last core; a prefill stores every key where it is held."""
    config = _config(whole_model=True, phase=phase, seq_len=33)
    workload, lanes = config.workload, config.machine.simd.lanes
    op = build_workload(workload).op("L0.kv_append")
    scores = build_workload(workload).op("L0.scores").shape
    group = LayerGroup(0, tuple(range(16)))
    sets = attention_sets(scores, group, config.schedule)
    pieces = model_op_pieces(op, group, sets)
    head, new = TINY["hidden_size"] // TINY["num_heads"], 33 if phase == "prefill" else 1
    assert sum(p.shape.rows * p.shape.cols for p in pieces) == 2 * 2 * 2 * new * head
    assert len(pieces) == holders
    if phase == "decode":
        assert pieces.cores == tuple(s[-1] for s in sets.sets)
    step = next(s for s in _prepare(config).plan.steps
                if isinstance(s, OpStep) and s.name == "L0.kv_append")
    assert step.group == 0  # on the 4-core chiplet: a core per set, all its keys
    per_core = 2 * new * head
    assert set(step.occupancy_cycles) == {(math.ceil(per_core / lanes) * STORE_CYCLES_PER_VECTOR,)}


def test_deferred_final_norm_is_exact_and_faster_as_a_blocks_norm_is():
    cfg = _config(whole_model=True)
    graphs = {s: apply_strategy(build_workload(cfg.workload), s).graph
              for s in ("serialized", "deferred")}
    deferred = graphs["deferred"]  # rewritten as a block's norm and linear are
    assert deferred.op("head.lm_head").attrs["folded_norm"] == "gamma"
    assert {e.src for e in deferred.predecessors("head.lm_head.scale")} == {
        "head.lm_head", "final_norm.scalar"}
    rows = verify(cfg.workload, graphs, ["fp64"])
    assert all(r["blocks"]["head.lm_head"] < 1e-12 and r["max_rel_error"] < 1e-12 for r in rows)
    gain = {wm: _latency(_config("serialized", whole_model=wm), "analytic")
            - _latency(_config("deferred", whole_model=wm), "analytic") for wm in (False, True)}
    assert gain[False] > 0 and gain[True] > gain[False]  # the final norm defers too


def test_numeric_argmax_picks_the_best_logit_of_the_whole_vocabulary():
    cfg = _config(whole_model=True, phase="prefill", seq_len=3)
    graph = apply_strategy(build_workload(cfg.workload), StrategyName.DEFERRED).graph
    seen: dict[str, object] = {}
    logits = run_numeric(graph, cfg.workload, "fp64", key_chunks=3,
                         observe=lambda name, value: seen.setdefault(name, value))
    assert logits.shape == (2, TINY["vocab_size"])  # the last token of each sequence
    sampled = seen["host.tokens_out"]
    assert isinstance(sampled, Sampled)
    assert np.array_equal(sampled.ids, np.argmax(logits, axis=-1))


def test_readers_agree_where_no_link_queues():
    config = _config("deferred", _machine(chiplets=2, cores=1), whole_model=True)
    prepared = _prepare(config)
    assert evaluate(prepared.plan, config.machine, prepared.interconnect) is not None
    des = _run(config, "des", tasks=True)
    assert des.link_queueing_cycles() == 0
    assert des.latency_cycles == _latency(config, "analytic") == _run(
        config, "analytic", tasks=True).latency_cycles


@pytest.mark.parametrize(("value", "fragment"), [
    ("0", "workload.top_k: must be > 0"),
    ("257", "workload.top_k: must be <= the model's vocab_size 256"),
])
def test_bad_top_k_is_one_line_exit_2(tmp_path, capsys, value, fragment):
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(_config(whole_model=True).model_dump(mode="json")))
    with pytest.raises(SystemExit) as stop:
        main(["check", str(path), "--set", "workload.sampling=top_k",
              "--set", f"workload.top_k={value}"])
    err = capsys.readouterr().err.strip().splitlines()
    assert stop.value.code == 2 and len(err) == 1 and fragment in err[0], err
