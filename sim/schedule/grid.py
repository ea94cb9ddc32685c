"""Tilings of a linear over a layer group: ``columns``, ``rows`` and ``2d`` blocks.

A linear ``y = x W`` (K input features, N outputs, T token rows) runs on the P
cores of its layer group arranged as an R x C grid (R·C = P), group core
``p = i·C + j`` at grid position (i, j):

- **row group i** (cores ``i·C .. i·C + C − 1``, consecutive) holds input
  features ``rows_i``: the union of the ``slice``-layout input slices of its C
  cores (balanced over P), so one all-gather among those C cores gives each of
  them ``x[:, rows_i]``;
- **grid column j** (cores ``j, C + j, 2C + j, ...``) holds the output columns
  ``cols_j``: the union of the output slices ``j, C + j, ...`` (balanced over
  P) of its R cores, so after its partial sums are reduced each of its cores
  owns exactly the slice the ``slice`` layout of the next op expects there.
  (``cols_j`` is not contiguous: a fixed column permutation of W, made offline
  like any weight layout.)

Core (i, j) stores ``W[rows_i, cols_j]`` (K/R x N/C weights) and computes the
partial product ``x[:, rows_i] W[rows_i, cols_j]``; ``y[:, cols_j]`` is its sum
over i. ``columns`` is the 1 x P grid (the whole input on every core, no
reduction), ``rows`` the P x 1 grid (reduced by an all-reduce, the mapping's
existing row split).

The 2d reduction is a *reduce-scatter* along each grid column, built from the
collectives the network provides: for each output slice p one ``reduce`` over
the R cores of its grid column rooted at core p, carrying only slice p (fp32).
An all-reduce would deliver all of ``cols_j`` to every core of the column, R
times the bytes each core needs; the R reduces carry each partial sum once.

Moved bytes per core (our derivation; a = activation bytes, 4 = fp32 partial
sums): the row all-gather brings ``(C − 1)/C · K/R · T · a``, the
reduce-scatter sends ``(R − 1)/R · N/C · T · 4``. Unless ``schedule.linear_grid``
fixes R, `grid_rows` picks the divisor R of P that minimizes their sum (the
smaller R on a tie). With R = 1 this is the column split's gather, with R = P
the row split's partials.

A 2d grid needs every block non-empty (K >= P and N >= P); a smaller linear,
or one whose best grid is 1 x P, is cut by columns instead (its tiling says so).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from itertools import accumulate

from sim.config import ScheduleConfig
from sim.errors import ConfigError
from sim.ir import MatmulShape
from sim.ir.plan import Contribution, LinearTiling, Request, ViewRef
from sim.schedule.placement import LayerGroup, Pieces, balanced

__all__ = [
    "PARTIAL_BYTES",
    "SPLITS",
    "grid_moved_bytes",
    "grid_pieces",
    "grid_rows",
    "linear_key",
    "linear_tiling",
    "reduce_scatter",
    "row_gather",
]

#: The tilings of a linear, in the order a search tries them (ties: the first).
SPLITS = ("columns", "rows", "2d")

#: Partial sums travel as fp32.
PARTIAL_BYTES = 4


def _bounds(total: int, parts: int) -> tuple[int, ...]:
    """Boundaries of ``total`` items balanced over ``parts`` parts.

    >>> _bounds(10, 4)
    (0, 3, 6, 8, 10)
    """
    return tuple(accumulate(balanced(total, parts), initial=0))


def grid_moved_bytes(shape: MatmulShape, cores: int, rows: int, activation_bytes: int) -> float:
    """Bytes one core moves for a linear of ``shape`` on a ``rows`` x (cores/rows)
    grid (module docstring).

    >>> grid_moved_bytes(MatmulShape(1, 4096, 4096), 256, 1, 2)  # the column gather
    8160.0
    """
    cols = cores // rows
    tokens = shape.tokens * shape.groups
    gather = (cols - 1) / cols * shape.in_features / rows * activation_bytes
    reduce = (rows - 1) / rows * shape.out_features / cols * PARTIAL_BYTES
    return tokens * (gather + reduce)


def grid_rows(shape: MatmulShape, cores: int, schedule: ScheduleConfig,
              activation_bytes: int) -> int:
    """R of a 2d linear of ``shape`` on ``cores`` cores: ``schedule.linear_grid``, or
    the divisor of ``cores`` moving the fewest bytes (the smallest on a tie).

    >>> from sim.config import ScheduleConfig
    >>> grid_rows(MatmulShape(1, 4096, 6144), 256, ScheduleConfig(), 2)
    8

    Raises
    ------
    ConfigError
        If ``schedule.linear_grid`` does not divide ``cores``.
    """
    if schedule.linear_grid is not None:
        if cores % schedule.linear_grid:
            raise ConfigError(f"schedule.linear_grid: {schedule.linear_grid} row groups do "
                              f"not divide the {cores} cores of a layer")
        return schedule.linear_grid
    divisors = [r for r in range(1, cores + 1) if cores % r == 0]
    return min(divisors, key=lambda r: (grid_moved_bytes(shape, cores, r, activation_bytes), r))


def linear_tiling(split: str, shape: MatmulShape, cores: int, schedule: ScheduleConfig,
                  activation_bytes: int) -> LinearTiling:
    """The `LinearTiling` of a linear of ``shape`` cut by ``split`` over ``cores``
    cores (a 2d grid that would leave a block empty becomes ``columns``)."""
    k, n = shape.in_features, shape.out_features
    if split == "2d" and min(k, n) >= cores:
        rows = grid_rows(shape, cores, schedule, activation_bytes)
        cols = cores // rows
        if rows == 1:  # the 1 x P grid is the column split
            return LinearTiling("columns", 1, cores, (0, k), _bounds(n, cores))
        slices = _bounds(k, cores)
        return LinearTiling("2d", rows, cols, slices[::cols], _bounds(n, cores))
    if split == "rows":
        return LinearTiling("rows", cores, 1, _bounds(k, cores), _bounds(n, cores))
    return LinearTiling("columns", 1, cores, (0, k), _bounds(n, cores))


def grid_pieces(shape: MatmulShape, tiling: LinearTiling, group: LayerGroup) -> Pieces:
    """Core (i, j)'s block of a 2d linear: ``K_i`` inputs by ``N_j`` outputs."""
    cols, bounds = tiling.grid_cols, tiling.out_bounds
    widths = [bounds[p + 1] - bounds[p] for p in range(len(bounds) - 1)]
    column_widths = [sum(widths[j::cols]) for j in range(cols)]
    distinct: dict[MatmulShape, int] = {}
    which = []
    for p in range(len(group.cores)):
        i, j = divmod(p, cols)
        block = replace(shape, in_features=tiling.in_bounds[i + 1] - tiling.in_bounds[i],
                        out_features=column_widths[j])
        which.append(distinct.setdefault(block, len(distinct)))
    return Pieces(group.cores, tuple(distinct), tuple(which))


def linear_key(name: str) -> str:
    """A linear's name without its layer prefix: the key of ``schedule.linear_splits``
    and what ties a role's linears across layers.

    >>> linear_key("L12.ffn_up"), linear_key("linear")
    ('ffn_up', 'linear')
    """
    head, _, rest = name.partition(".")
    return rest if rest and head[:1] == "L" and head[1:].isdigit() else name


def row_gather(tiling: LinearTiling, cores: tuple[int, ...], held_bytes: Mapping[int, int],
               source: ViewRef, name: str) -> list[Request]:
    """The all-gathers of a 2d linear's input: one per grid row i, over its C cores,
    each contributing the slice it holds (``held_bytes[core]``; the request's
    bytes per core are the row's total over C), named ``{name}{i}``."""
    cols = tiling.grid_cols
    rows = [cores[i * cols:(i + 1) * cols] for i in range(tiling.grid_rows)]
    return [Request(row, max(1, -(-sum(held_bytes.get(c, 0) for c in row) // cols)),
                    f"{name}{i}", None, Contribution(source))
            for i, row in enumerate(rows)]


def reduce_scatter(tiling: LinearTiling, cores: tuple[int, ...], tokens: int, source: ViewRef,
                   name: str) -> list[Request]:
    """The reduce-scatter of a 2d linear's fp32 partial sums (``tokens`` rows): for
    every output slice p one reduce over the cores of its grid column
    (``p mod C``), rooted at core p, carrying slice p; named ``{name}.s{p}``."""
    bounds, cols = tiling.out_bounds, tiling.grid_cols
    return [Request(cores[p % cols::cols],
                    max(1, tokens * (bounds[p + 1] - bounds[p]) * PARTIAL_BYTES),
                    f"{name}.s{p}", core, Contribution(source))
            for p, core in enumerate(cores)]
