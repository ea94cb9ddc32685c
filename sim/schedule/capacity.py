"""Capacity before lowering: reject a workload that cannot fit without planning it.

`build_plan` checks capacity core by core once every op is placed and tiled,
and the auto mapper (`sim.mapper`) plans many candidates before it learns
that none fits. This module checks a *necessary* condition first, in
milliseconds:

    for every layer group g (layer L runs on group L mod G, `layer_group`):
        sum of the bytes its layers store  <=  cores of g x sram_bytes_per_core

Why it is sound (it never rejects what the full planning accepts): every
byte an op stores lands on a core of its layer's group, and an op's pieces
together store at least what the whole op does, whatever the tiling or the
attention split (`piece_stored_bytes` of the whole shape: columns, rows and 2d
tiles partition the weight matrix, a bias is stored at least once, each
piece rounds up to whole bytes; the KV cache is split over keys and sets,
never dropped). So the fullest core of g holds at least the group's total
over its core count; if that exceeds SRAM, no plan fits.

With an LPDDR tier (``machine.memory.placement`` other than ``sram_only``)
the condition is per card: what a card's groups store beyond its cores' SRAM
must fit its LPDDR (`_check_tiers`); the full placement is `sim.schedule.tiers`.

A transformer's decoder blocks are identical (`sim.workload.transformer`
builds every block from the same model and phase; the block index only
names the ops), so the check reads one block and counts it once per layer of
the group (`block_stored_bytes`; tests hold it to the whole graph's sums).
With ``workload.whole_model`` the one-block graph also holds the ops around
the blocks (`sim.workload.whole_model`): those are counted once, on the group
they are placed on in the whole model (`model_op_layer`: the host input and
the embedding on layer 0's, the final norm, LM head and sampling on layer L's).
"""

from __future__ import annotations

from sim.config import MachineConfig, ScheduleConfig
from sim.errors import CapacityError
from sim.hardware.memory_tier import cores_per_card
from sim.ir import CollectiveShape, Op, OpGraph, Role
from sim.schedule.placement import (
    LayerGroup,
    decoder_layers,
    group_of_layer,
    layer_groups,
    piece_stored_bytes,
    pipeline_stages,
)
from sim.workload.whole_model import WHOLE_MODEL_ROLES

__all__ = ["block_stored_bytes", "check_groups_fit", "group_stored_bytes", "model_op_layer"]

#: Whole-model roles of the step's start (layer 0 of the whole model), once per step.
_STEP_START_ROLES = WHOLE_MODEL_ROLES - {Role.KV_APPEND}


def _op_bytes(op: Op, bits: dict[str, int]) -> int:
    """Bytes the whole of ``op`` stores (a lower bound on what its pieces store)."""
    if isinstance(op.shape, CollectiveShape):
        return 0
    return piece_stored_bytes(op.shape, op, bits)


def model_op_layer(op: Op, layers: int) -> int | None:
    """The layer of the ``layers``-block model on whose group ``op`` of a one-block
    graph runs, if it is an op around the blocks (once per step: ops after the
    block, ``layer`` attr 1, are the final norm, head and sampling, at layer
    ``layers``; the host input and embedding at layer 0); None for a block's op."""
    layer = int(op.attrs.get("layer", 0))
    if layer >= 1:
        return layers - 1 + layer
    return 0 if op.role in _STEP_START_ROLES else None


def block_stored_bytes(graph: OpGraph, bits: dict[str, int]) -> int:
    """Bytes of weights and KV cache the ops of ``graph`` store, all together."""
    return sum(_op_bytes(op, bits) for op in graph.ops)


def group_stored_bytes(graph: OpGraph, groups: int, bits: dict[str, int],
                       layers: int | None = None,
                       stages: list[range] | None = None) -> list[int]:
    """Per layer group, the bytes its layers store.

    ``graph`` is the whole workload (``layers`` None: each op counted on the group
    of its ``layer`` attribute, 0 if it has none), or one decoder block standing
    for ``layers`` identical blocks (block L on group L mod ``groups``, or on its
    pipeline stage's group: ``stages``, `sim.schedule.placement.pipeline_stages`),
    with the ops around the blocks counted once on their own group
    (`model_op_layer`).

    Three blocks of a tiny model on two groups: each block stores 36,864 B of
    8-bit weights (qkv 64 x 128, o_proj 64 x 64, ffn_up 64 x 256, ffn_down
    128 x 64) and 1,024 B of 16-bit K and V (2 KV heads, 8 keys of 16); blocks
    0 and 2 share group 0.

    >>> from sim.config import ModelSpec, TransformerWorkload
    >>> from sim.workload import build_workload
    >>> tiny = ModelSpec(hidden_size=64, num_heads=4, num_kv_heads=2, ffn_size=128,
    ...                  activation="swiglu", norm="rmsnorm", num_layers=3, vocab_size=10)
    >>> g = build_workload(TransformerWorkload(kind="transformer", model=tiny, kv_len=7))
    >>> group_stored_bytes(g, 2, {"weight": 8, "activation": 16})
    [75776, 37888]
    """
    totals = [0] * groups
    if layers is None:
        for op in graph.ops:
            totals[group_of_layer(int(op.attrs.get("layer", 0)), groups, stages)] += _op_bytes(
                op, bits)
        return totals
    block = 0
    for op in graph.ops:
        at = model_op_layer(op, layers)
        if at is None:
            block += _op_bytes(op, bits)
        else:
            totals[group_of_layer(at, groups, stages)] += _op_bytes(op, bits)
    for g in range(groups):
        held = range(g, layers, groups) if stages is None else (
            stages[g] if g < len(stages) else range(0))
        totals[g] += block * len([layer for layer in held if layer < layers])
    return totals


def _layer_list(group: int, groups: int, layers: int | None,
                stages: list[range] | None = None) -> str:
    """``layers 0, 32, 64`` (at most four named) of ``group``; empty if unknown."""
    if layers is None:
        return ""
    held = range(group, layers, groups) if stages is None else stages[group]
    text = ", ".join(str(layer) for layer in held[:4])
    more = f" and {len(held) - 4} more" if len(held) > 4 else ""
    return f"layer{'s' if len(held) > 1 else ''} {text}{more}"


def check_groups_fit(graph: OpGraph, machine: MachineConfig, schedule: ScheduleConfig,
                     bits: dict[str, int], layers: int | None = None) -> None:
    """Raise `CapacityError` if some layer group's layers store more bytes than the
    tiers ``machine.memory.placement`` allows them can hold (module docstring);
    ``graph`` and ``layers`` as in `group_stored_bytes`.

    Raises
    ------
    CapacityError
        ``sram_only``: naming the group's cores, the bytes they must hold and the
        least the fullest of them must hold against
        ``machine.memory.sram_bytes_per_core``; otherwise naming the card and
        ``machine.memory.lpddr.bytes_per_card``; also if
        ``schedule.cores_per_layer`` exceeds the machine (`layer_groups`).
    """
    groups = layer_groups(machine, schedule)
    stages = pipeline_stages(layers or decoder_layers(graph), len(groups), schedule)
    totals = group_stored_bytes(graph, len(groups), bits, layers, stages)
    if machine.memory.placement == "sram_only":
        _check_sram(groups, totals, machine, layers, stages)
    else:
        _check_tiers(groups, totals, machine)


def _check_sram(groups: list[LayerGroup], totals: list[int], machine: MachineConfig,
                layers: int | None, stages: list[range] | None) -> None:
    """Every group's bytes within its cores' SRAM."""
    limit = machine.memory.sram_bytes_per_core
    fullest = max(range(len(groups)), key=lambda g: (totals[g], -g))
    cores = groups[fullest].cores
    need = totals[fullest]
    if need <= len(cores) * limit:
        return
    per_core = -(-need // len(cores))
    held = _layer_list(fullest, len(groups), layers, stages)
    raise CapacityError(
        f"workload does not fit: cores {cores[0]}-{cores[-1]} (layer group {fullest}"
        + (f": {held}" if held else "") + f") must hold {need:,} B of weights and KV cache, "
        f"so some core holds at least {per_core:,} B; machine.memory.sram_bytes_per_core is "
        f"{limit:,} B (short by {per_core - limit:,} B); spread layers over more cores "
        "(schedule.cores_per_layer) or use a larger machine"
    )


def _check_tiers(groups: list[LayerGroup], totals: list[int], machine: MachineConfig) -> None:
    """What SRAM cannot hold within LPDDR, card by card: every byte a group stores
    sits in the SRAM of its cores or in the LPDDR of their cards
    (`sim.schedule.tiers`), so a card's groups (those wholly on it) store at most
    its cores' SRAM plus its LPDDR, and a group spanning cards at most its cores'
    SRAM plus those cards' LPDDR. Necessary, hence sound."""
    per_card = cores_per_card(machine)
    sram, lpddr = machine.memory.sram_bytes_per_core, machine.memory.lpddr.bytes_per_card
    on_card = [0] * machine.hierarchy.cards
    for group, need in zip(groups, totals, strict=True):
        first, last = group.cores[0] // per_card, group.cores[-1] // per_card
        if first == last:
            on_card[first] += need
        else:
            spill = need - len(group.cores) * sram
            if spill > (last - first + 1) * lpddr:
                _lpddr_error(f"cards {first}-{last}", spill, (last - first + 1) * lpddr)
    for card, need in enumerate(on_card):
        spill = need - per_card * sram
        if spill > lpddr:
            _lpddr_error(f"card {card}", spill, lpddr)


def _lpddr_error(where: str, need: int, limit: int) -> None:
    raise CapacityError(
        f"workload does not fit: {where} must hold at least {need:,} B of weights and KV "
        f"cache in LPDDR (what SRAM cannot), machine.memory.lpddr.bytes_per_card gives "
        f"{limit:,} B (short by {need - limit:,} B); use more cards or 4-bit weights "
        "(workload.weight_bits)"
    )
