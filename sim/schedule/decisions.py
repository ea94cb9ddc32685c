"""The mapping's per-op decisions, before any step is planned: the tiling of every
linear (`sim.schedule.grid`) and where every token norm computes its statistics.

Each decision comes from the first of: a search's `MappingChoice` (``auto``,
`sim.mapper`), the per-linear ``schedule.linear_splits``, the config's
``schedule.linear_split`` / ``schedule.norm_stats``; an unresolved ``auto``
(a plan built without a search) is the column split and collective statistics.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from sim.config import ScheduleConfig
from sim.ir import MatmulShape, Op, OpGraph, Role
from sim.ir.plan import Layout, LinearTiling, MappingChoice
from sim.schedule.grid import grid_pieces, linear_key, linear_tiling
from sim.schedule.model_ops import model_op_pieces
from sim.schedule.placement import (
    AttentionSets,
    LayerGroup,
    Pieces,
    group_of_layer,
    op_layout,
    op_pieces,
)

__all__ = ["decide", "largest_stored", "layer_group", "linear_tilings", "norm_stats_placement",
           "placed_layout", "placed_pieces"]

#: Norms whose statistics are per token (softmax's are per attention row).
_TOKEN_NORMS = ("rmsnorm", "layernorm")

GroupOf = Callable[[Op], LayerGroup]


def layer_group(op: Op, groups: list[LayerGroup],
                stages: list[range] | None = None) -> LayerGroup:
    """The group ``op``'s layer runs on: layer L on group L mod G, or on its pipeline
    stage's group (`sim.schedule.placement.pipeline_stages`)."""
    return groups[group_of_layer(int(op.attrs.get("layer", 0)), len(groups), stages)]


def decide(graph: OpGraph, groups: list[LayerGroup], schedule: ScheduleConfig,
           bits: dict[str, int], choice: MappingChoice,
           stages: list[range] | None = None
           ) -> tuple[dict[str, LinearTiling], dict[str, str]]:
    """`linear_tilings` and `norm_stats_placement` of ``graph`` on ``groups``."""
    def group_of(op: Op) -> LayerGroup:
        return layer_group(op, groups, stages)
    tilings = linear_tilings(graph, group_of, schedule, bits, choice)
    return tilings, norm_stats_placement(graph, group_of, tilings, schedule, choice)


def linear_tilings(graph: OpGraph, group_of: GroupOf, schedule: ScheduleConfig,
                   bits: dict[str, int], choice: MappingChoice) -> dict[str, LinearTiling]:
    """Every linear's `LinearTiling`, by op name (module docstring)."""
    default = schedule.linear_split if schedule.linear_split != "auto" else "columns"
    activation_bytes = max(1, bits["activation"] // 8)
    tilings = {}
    for op in graph.ops:
        if op.role == Role.LINEAR and isinstance(op.shape, MatmulShape):
            split = choice.splits.get(op.name) or schedule.linear_splits.get(
                linear_key(op.name), default)
            tilings[op.name] = linear_tiling(split, op.shape, len(group_of(op).cores), schedule,
                                             activation_bytes)
    return tilings


def norm_stats_placement(graph: OpGraph, group_of: GroupOf, tilings: dict[str, LinearTiling],
                         schedule: ScheduleConfig, choice: MappingChoice) -> dict[str, str]:
    """``local`` or ``collective`` for every token norm with a normalize op, by its
    op prefix (``L0.attn_norm``).

    Local where asked (the choice names it, or ``schedule.norm_stats: local``)
    and possible: the normalize feeds only column-split linears of its own
    layer group, of more than one core. Those cores receive the whole
    normalized vector anyway; gathering it raw instead lets each compute the
    statistics and normalize on all of it, with no all-reduce of the sums (the
    price: P times the statistics' and normalize's SIMD work, on every core).
    """
    placed = {}
    for op in graph.ops:
        if op.role != Role.NORM_APPLY or op.attrs.get("norm") not in _TOKEN_NORMS:
            continue
        prefix = op.name.rsplit(".", 1)[0]
        consumers = [graph.op(e.dst) for e in graph.successors(op.name)]
        possible = len(group_of(op).cores) > 1 and bool(consumers) and all(
            c.name in tilings and tilings[c.name].split == "columns"
            and group_of(c) == group_of(op) for c in consumers)
        asked = prefix in choice.local_stats or schedule.norm_stats == "local"
        placed[prefix] = "local" if asked and possible else "collective"
    return placed


def largest_stored(stored_by_op: list[tuple[str, np.ndarray, np.ndarray]], core: int,
                   tilings: dict[str, LinearTiling]) -> str:
    """What stores the most on ``core``, for a capacity error:
    ``linear L0.ffn_up (columns) 58,720,256 B``. ``stored_by_op`` lists per op its
    pieces' cores and stored bytes."""
    sizes = [(int(b[c == core].sum()), name) for name, c, b in stored_by_op]
    size, name = max(sizes, default=(0, ""))
    if not size:
        return ""
    tiling = tilings.get(name)
    what = f"linear {name} ({tiling.label()})" if tiling else f"{name} (KV cache)"
    return f"{what} {size:,} B"


def placed_layout(op: Op, graph: OpGraph, tilings: dict[str, LinearTiling],
                  norm_stats: dict[str, str]) -> Layout:
    """``op``'s layout (`sim.schedule.placement.op_layout`) under the decisions: a
    linear's by its tiling, a locally computed norm's statistics and normalize
    ``every`` (the whole vector on every core)."""
    tiling = tilings.get(op.name)
    if op.role == Role.KV_APPEND:  # stored by the attention cores (`sim.schedule.model_ops`)
        return Layout.ATTN
    if op.role in (Role.NORM_STATS, Role.NORM_APPLY) and norm_stats.get(
            op.name.rsplit(".", 1)[0]) == "local":
        return Layout.EVERY
    return op_layout(op, graph, tiling.split if tiling else "columns")


def placed_pieces(op: Op, layout: Layout, group: LayerGroup, attention: AttentionSets | None,
                  tiling: LinearTiling | None) -> Pieces:
    """``op``'s pieces: a 2d linear's blocks (`sim.schedule.grid.grid_pieces`), a
    whole-model op's (`sim.schedule.model_ops.model_op_pieces`), else
    `sim.schedule.placement.op_pieces`."""
    placed = model_op_pieces(op, group, attention)
    if placed is not None:
        return placed
    if layout is Layout.GRID and tiling is not None and isinstance(op.shape, MatmulShape):
        return grid_pieces(op.shape, tiling, group)
    return op_pieces(op, layout, group, attention)
