"""The capacity pre-check of a whole model (`sim.schedule.capacity`, ``workload.whole_model``):
the LM head's weights are counted once, on the group the head is placed on, not once per
layer of every group.

Truth: the bytes by hand (8-bit weights of a block's linears and of the d x V head,
16-bit K and V) and the full plan (`build_plan` with SRAM lifted gives every core's
bytes: the pre-check must accept any SRAM at which that plan fits).
"""

from __future__ import annotations

from typing import Any

import pytest

from sim.config import parse_config
from sim.errors import CapacityError
from sim.runner import check_fits, prepare, rewritten, workload_bits
from sim.schedule import build_plan

D, HEADS, KV_HEADS, FFN, VOCAB = 64, 4, 2, 96, 1000
LAYERS, CORES_PER_GROUP = 4, 4  # blocks 0 and 2 on group 0 (cores 0-3), 1 and 3 on group 1
BATCH, KV_LEN = 2, 9
HEAD = D // HEADS
BLOCK_BYTES = (D * (HEADS + 2 * KV_HEADS) * HEAD + D * D + D * 2 * FFN + FFN * D
               + 2 * BATCH * KV_HEADS * (KV_LEN + 1) * HEAD * 2)
HEAD_BYTES = D * VOCAB  # the LM head, on group LAYERS mod 2 = 0


def _config(sram: int) -> Any:
    return parse_config({
        "machine": {"clock_ghz": 1.0, "matmul": {"array_rows": 8, "array_cols": 8},
                    "simd": {"lanes": 8},
                    "hierarchy": {"cards": 1, "chiplets_per_card": 2,
                                  "cores_per_chiplet": CORES_PER_GROUP},
                    "memory": {"sram_bytes_per_core": sram, "placement": "sram_only"}},
        "workload": {"kind": "transformer", "whole_model": True, "batch": BATCH,
                     "kv_len": KV_LEN, "layers": LAYERS,
                     "model": {"name": "tiny", "hidden_size": D, "num_heads": HEADS,
                               "num_kv_heads": KV_HEADS, "ffn_size": FFN,
                               "activation": "swiglu", "norm": "rmsnorm",
                               "num_layers": LAYERS, "vocab_size": VOCAB}},
        "schedule": {"cores_per_layer": CORES_PER_GROUP, "linear_split": "columns",
                     "norm_stats": "collective"},
        "strategy": "serialized"})


def test_a_whole_model_that_fits_lowered_whole_passes_the_precheck():
    fullest = int(prepare(_config(1 << 30)).plan.stored_bytes.max())
    # counting the head once per block of each group would ask group 0's cores for more
    assert CORES_PER_GROUP * fullest < 2 * (BLOCK_BYTES + HEAD_BYTES)
    check_fits(_config(fullest))  # the pre-check alone
    assert int(prepare(_config(fullest)).plan.stored_bytes.max()) == fullest


def test_a_whole_model_that_does_not_fit_is_rejected_naming_the_group_and_its_bytes():
    need = 2 * BLOCK_BYTES + HEAD_BYTES  # group 0: blocks 0 and 2 and the head
    short = -(-need // CORES_PER_GROUP) - 1
    with pytest.raises(CapacityError) as caught:
        check_fits(_config(short))
    message = str(caught.value)
    assert "cores 0-3 (layer group 0: layers 0, 2)" in message
    assert f"must hold {need:,} B" in message
    assert f"machine.memory.sram_bytes_per_core is {short:,} B" in message
    config = _config(short)
    with pytest.raises(CapacityError):  # and the full plan of the whole graph agrees
        build_plan(rewritten(config), config.machine, config.schedule,
                   workload_bits(config.workload))
