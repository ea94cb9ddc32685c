"""The ``schedule`` section: mapping and tiling choices."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from sim.config.names import CollectiveAlgorithm
from sim.config.section import Section

__all__ = ["PipelineConfig", "ScheduleConfig"]

#: The most micro-batches of a pipeline (a batch of this many sequences split one per
#: micro-batch).
MAX_MICRO_BATCHES = 4096


class PipelineConfig(Section):
    """Pipeline parallelism across layer groups (`sim.serving`): the batch split into
    micro-batches that follow each other through the groups, each group holding a
    contiguous run of layers (tensor parallel inside it, as without a pipeline)."""

    micro_batches: int = Field(
        1, gt=0, le=MAX_MICRO_BATCHES,
        description="Micro-batches the batch is split into (at most the batch's sequences); "
        "1: no pipelining, the whole batch goes through the layers at once.",
    )
    stages: int | None = Field(
        None, gt=0,
        description="Layer groups (pipeline stages) the layers are split into, contiguously "
        "and as evenly as they go; default: one layer per group while there are groups, else "
        "every group of the machine.",
    )
    stage_layers: list[int] | None = Field(
        None, max_length=MAX_MICRO_BATCHES,
        description="Decoder layers of each stage, in order (each at least 1, summing to the "
        "workload's layers); overrides stages. Default: the layers split as evenly as they go.",
    )
    head_stage: bool = Field(
        False,
        description="Give the whole-model ops after the last block (final norm, LM head, "
        "sampling: workload.whole_model) a stage and layer group of their own, after the "
        "last layer's, instead of the last layer's group.",
    )
    first_group: int = Field(
        0, ge=0,
        description="Layer group of the first stage; the stages take consecutive groups from "
        "it (serving runs simulate a stage's neighbourhood this way).",
    )


class ScheduleConfig(Section):
    """Mapping and tiling choices (machine-dependent, strategy-independent)."""

    tile_elems: int | None = Field(
        None,
        gt=0,
        description="Elements per tile of a tiled op; default: the matmul array rows "
        "(input tiles) or columns (output tiles).",
    )
    max_tiles_per_op: int = Field(
        8, gt=0, le=65536,
        description="At most this many tiles per op on one core (coarser tiles beyond)."
    )
    cores_per_layer: int | None = Field(
        None, gt=0,
        description="Cores a transformer layer is spread over (tensor parallel); layers go to "
        "consecutive groups of this many cores, round robin. Default: one chiplet.",
    )
    gather_algorithm: CollectiveAlgorithm = Field(
        "row_column",
        description="Algorithm of the activation all-gathers the mapping inserts (row_column: "
        "every core multicasts its block along its mesh row, then what it gathered along its "
        "column; the fastest measured on the paper configs, README Collectives).",
    )
    reduction_algorithm: CollectiveAlgorithm = Field(
        "tree",
        description="Algorithm of the reductions the mapping inserts: normalization "
        "statistics, softmax maxima and sums, partial P·V.",
    )
    collective_arity: int = Field(4, gt=0, description="Children per node of tree collectives.")
    linear_split: Literal["auto", "columns", "rows", "2d"] = Field(
        "auto",
        description="How a linear is cut over a layer's cores: by output columns (each core "
        "needs the whole input: an all-gather before it), by rows (each core uses its slice "
        "of the input and makes partial sums of every output: an all-reduce after it), in 2d "
        "blocks (an R x C grid of cores: input slices all-gathered along grid rows, partial "
        "sums reduce-scattered along grid columns), or auto: for each linear the tiling with "
        "the lowest fast-path latency that fits SRAM (sim.mapper).",
    )
    linear_grid: int | None = Field(
        None, gt=0,
        description="Row groups R of a 2d linear (R x C = cores_per_layer, R must divide it); "
        "default: the factorization that moves the fewest bytes per core.",
    )
    linear_splits: dict[str, Literal["columns", "rows", "2d"]] = Field(
        default_factory=dict,
        description="Per-linear tilings, by the linear's name without its layer prefix "
        "(qkv, o_proj, ffn_up, ffn_down): they override linear_split, and auto keeps them.",
    )
    norm_stats: Literal["auto", "collective", "local"] = Field(
        "auto",
        description="Where a normalization's statistics are computed when every core of its "
        "linear needs the whole vector anyway (serialized and pipelined, column-split "
        "linears): collective (each core its slice, an all-reduce of the sums), local (the "
        "raw vector all-gathered first, every core computes them on all of it, no "
        "all-reduce), or auto: whichever is faster on the fast path (sim.mapper).",
    )
    attention_cores_per_set: int | None = Field(
        None, gt=0,
        description="Cores each (sequence, KV head) attention set splits its keys over "
        "(fewer if it has fewer keys); default and at most: the layer's cores divided by the "
        "sets. Fixed, not derived from kv_len, so more keys never run faster.",
    )
    pipeline: PipelineConfig = Field(
        default_factory=PipelineConfig,
        description="Pipeline parallelism across layer groups: micro-batches and stages.",
    )
