"""Capacity before lowering (`sim.schedule.capacity`): sound, exact in its bytes, and quick.

Truth: the bytes a decoder block stores from the model's shapes (the
transformer's linears and its K and V, written out here), and the plan itself
(`build_plan` with SRAM lifted gives every core's bytes: the pre-check must
accept any SRAM at which that plan fits).
"""

from __future__ import annotations

import math
import time
from typing import Any

import pytest
from conftest import REPO

from sim.cli import main
from sim.config import StrategyName, load_config, parse_config
from sim.errors import CapacityError
from sim.runner import prepare, rewritten, workload_bits
from sim.schedule import build_plan
from sim.schedule.capacity import check_groups_fit, group_stored_bytes
from sim.schedule.placement import layer_groups

TINY = {"name": "tiny", "hidden_size": 64, "num_heads": 4, "num_kv_heads": 2, "ffn_size": 96,
        "activation": "swiglu", "norm": "rmsnorm", "num_layers": 5, "vocab_size": 10}


def _tree(sram: int, *, split: str = "columns", layers: int = 5, bias: bool = False,
          phase: str = "decode", cores_per_layer: int = 4) -> dict[str, Any]:
    """Two chiplets of four cores; layers share groups when more than two."""
    return {
        "machine": {"clock_ghz": 1.0, "matmul": {"array_rows": 8, "array_cols": 8},
                    "simd": {"lanes": 8},
                    "hierarchy": {"cards": 1, "chiplets_per_card": 2, "cores_per_chiplet": 4},
                    "memory": {"sram_bytes_per_core": sram, "placement": "sram_only"}},
        "workload": {"kind": "transformer", "model": {**TINY, "bias": bias}, "phase": phase,
                     "batch": 2, "seq_len": 6, "kv_len": 9, "layers": layers},
        "schedule": {"cores_per_layer": cores_per_layer, "linear_split": split,
                     "norm_stats": "collective"},
    }


def _block_bytes(tree: dict[str, Any]) -> int:
    """Bytes of one block, by hand: 8-bit weights (and biases) of qkv, o_proj,
    ffn_up (gate and up), ffn_down; 16-bit K and V of every (sequence, KV head)."""
    m, w = tree["workload"]["model"], tree["workload"]
    d, h, heads, kv = m["hidden_size"], m["hidden_size"] // m["num_heads"], m["num_heads"], \
        m["num_kv_heads"]
    shapes = [(d, (heads + 2 * kv) * h), (heads * h, d), (d, 2 * m["ffn_size"]),
              (m["ffn_size"], d)]
    weights = sum(k * n + (n if m["bias"] else 0) for k, n in shapes)
    keys = w["seq_len"] if w["phase"] == "prefill" else w["kv_len"] + 1
    return weights + 2 * w["batch"] * kv * keys * h * 2


CASES = [
    {"split": "columns"},
    {"split": "rows", "bias": True},
    {"split": "2d"},
    {"split": "columns", "phase": "prefill", "layers": 3},
    {"split": "rows", "layers": 2, "cores_per_layer": 8},
    {"split": "columns", "layers": 1},
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(map(str, c.values())))
def test_the_pre_check_counts_the_blocks_bytes_and_never_rejects_a_plan_that_fits(case):
    roomy = parse_config(_tree(1 << 30, **case))
    bits = workload_bits(roomy.workload)
    groups = layer_groups(roomy.machine, roomy.schedule)
    layers = roomy.workload.layers
    block = _block_bytes(_tree(0, **case))
    expected = [block * len(range(g, layers, len(groups))) for g in range(len(groups))]
    graph = rewritten(roomy, StrategyName.DEFERRED)
    # one block standing for all of them is the whole graph's count, by hand
    assert group_stored_bytes(graph, len(groups), bits) == expected
    one = roomy.model_copy(update={"workload": roomy.workload.model_copy(update={"layers": 1})})
    assert group_stored_bytes(rewritten(one, StrategyName.DEFERRED), len(groups), bits,
                              layers) == expected
    stored = build_plan(graph, roomy.machine, roomy.schedule, bits).stored_bytes
    for g, group in enumerate(groups):  # what the plan stores is at least the bound
        assert int(stored[list(group.cores)].sum()) >= expected[g]
    fullest = int(stored.max())
    average = max(math.ceil(e / len(groups[0].cores)) for e in expected)
    assert average <= fullest
    # at the plan's own limit prepare (pre-check, then the plan) accepts; one byte
    # less and the plan rejects; the pre-check alone rejects exactly below the average
    prepare(parse_config(_tree(fullest, **case)), StrategyName.DEFERRED)
    with pytest.raises(CapacityError):
        prepare(parse_config(_tree(fullest - 1, **case)), StrategyName.DEFERRED)
    for sram, fits in ((average, True), (average - 1, False)):
        tight = parse_config(_tree(sram, **case))
        if fits:
            check_groups_fit(graph, tight.machine, tight.schedule, bits)
        else:
            with pytest.raises(CapacityError, match=f"sram_bytes_per_core is {sram:,} B"):
                check_groups_fit(graph, tight.machine, tight.schedule, bits)


@pytest.mark.parametrize("strategy", [StrategyName.SERIALIZED, StrategyName.STATIC])
def test_the_pre_check_lets_the_auto_mapper_reach_what_fits(strategy):
    """prepare with the mapper's search: at the SRAM the chosen plan needs, the
    pre-check lets the search run again and pick a plan that fits."""
    roomy = parse_config(_tree(1 << 30, split="auto", layers=2))
    fullest = int(prepare(roomy, strategy).plan.stored_bytes.max())
    prepare(parse_config(_tree(fullest, split="auto", layers=2)), strategy)


def test_llama3_70b_on_16_cards_is_rejected_in_milliseconds_naming_cores_and_bytes():
    config = load_config(REPO / "configs/paper/llama3_70b_decode.yaml",
                         ["workload.layers=80", "machine.memory.placement=sram_only"])
    model = config.workload.model
    d, h, kv = model.hidden_size, model.head_size, model.num_kv_heads
    weights = (d * (model.num_heads + 2 * kv) * h + model.num_heads * h * d
               + d * 2 * model.ffn_size + model.ffn_size * d)
    block = weights + 2 * 1 * kv * (config.workload.kv_len + 1) * h * 2
    cores = config.schedule.cores_per_layer
    groups = config.machine.hierarchy.total_cores // cores
    need = block * len(range(0, 80, groups))  # layers 0, 32 and 64 share group 0
    began = time.perf_counter()
    with pytest.raises(CapacityError) as error:
        prepare(config)
    assert time.perf_counter() - began < 0.5
    message = str(error.value)
    assert f"cores 0-{cores - 1} (layer group 0: layers 0, 32, 64)" in message
    assert f"must hold {need:,} B" in message
    assert f"at least {math.ceil(need / cores):,} B" in message
    assert "\n" not in message


def test_the_cli_says_it_in_one_line_with_status_2(capsys):
    with pytest.raises(SystemExit) as exit_status:
        main(["check", str(REPO / "configs/paper/llama3_70b_decode.yaml"), "--set",
              "workload.layers=80", "--set", "machine.memory.placement=sram_only"])
    assert exit_status.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("imcsim: error: workload does not fit: cores 0-1023 ")
