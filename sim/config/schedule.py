"""The ``schedule`` section: mapping and tiling choices."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from sim.config.names import CollectiveAlgorithm
from sim.config.section import Section

__all__ = ["ScheduleConfig"]


class ScheduleConfig(Section):
    """Mapping and tiling choices (machine-dependent, strategy-independent)."""

    tile_elems: int | None = Field(
        None,
        gt=0,
        description="Elements per tile of a tiled op; default: the matmul array rows "
        "(input tiles) or columns (output tiles).",
    )
    max_tiles_per_op: int = Field(
        8, gt=0, description="At most this many tiles per op on one core (coarser tiles beyond)."
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
    linear_split: Literal["columns", "rows"] = Field(
        "columns",
        description="How a linear is cut over a layer's cores: by output columns (each core "
        "needs the whole input: an all-gather before it) or by rows (each core uses its slice "
        "of the input and makes partial sums of every output: an all-reduce after it).",
    )
    min_keys_per_core: int = Field(
        64, gt=0, description="Split a sequence's keys over cores only down to this many per core."
    )
