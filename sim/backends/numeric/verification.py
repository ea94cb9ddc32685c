"""Errors of strategies and formats against the fp64 reference (`verify`), per
normalization → linear block and for the workload's output, and their table.

Two figures per (strategy, format):

- *output-level* (``max_abs_error``, ``max_rel_error``): the workload's output
  (a transformer: the last decoder block's residual stream) against the
  reference's (`error_metrics`). Residual outlier channels dominate the
  denominator, so this understates what the normalizations and linears add.
- *per block* (``blocks``): every normalization → linear block (a linear a
  token norm feeds, named by the linear: ``L0.qkv``, ``L0.ffn_up``,
  ``linear``) measured at its own output, the linear's (serialized,
  pipelined, static) or its ``norm.scale_out`` epilogue's (deferred),
  against the reference's value of that linear, relative to the reference's
  largest magnitude in the same token row. The block's input is what the
  strategy computed upstream (for ``L0.qkv`` the exact workload input; later
  blocks carry the error of the ops before them).

``block_max_rel_error`` is the worst block. ``block_rms_rel_error`` gives each
block's root-mean-square error over all its elements relative to the
reference's root-mean-square value, and ``vs_serialized`` the worst over blocks
of ``its rms error / serialized's rms error of the same block`` in the same
format (> 1: the strategy loses precision that serialized keeps; None
without a serialized run, or where serialized's error is below `ROUNDOFF_RMS`:
the fp64 reference's own round-off, as in fp64 itself, where a ratio of two
round-offs says nothing). The ratio is of root-
mean-square errors because a ratio of two maxima swings with a few rounding
errors of the outlier channels. Between seeds, the ratio of computations that
lose nothing to each other (deferred RMSNorm; LayerNorm without offsets) lies
within about ±35% of 1 for one token and within 0.96–1.04 for 64 tokens
(measured on 4096 x 1024 norm → linear blocks, seeds 0–3); the table marks a
ratio above `WORSE_RATIO` as ``worse``.

>>> from sim.config import NormLinearWorkload, StrategyName
>>> from sim.schedule import apply_strategy
>>> from sim.workload import build_workload
>>> w = NormLinearWorkload(kind="norm_linear", norm="layernorm", hidden_size=256,
...                        out_features=64, tokens=4, bias=True)
>>> graphs = {s.value: apply_strategy(build_workload(w), s).graph
...           for s in (StrategyName.SERIALIZED, StrategyName.DEFERRED)}
>>> rows = verify(w, graphs, ["bf16"])
>>> [(r["strategy"], list(r["blocks"]), r["vs_serialized"] > 1) for r in rows]
[('serialized', ['linear'], False), ('deferred', ['linear'], True)]
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from sim.backends.numeric.formats import FORMAT_NAMES, number_format
from sim.backends.numeric.inputs import DEFAULT_INPUTS, InputDistribution
from sim.backends.numeric.params import NumericParameters
from sim.backends.numeric.plan import DEFERRED_FOLDS, plan_folds
from sim.backends.numeric.run import Workload, reference_output, run_numeric
from sim.backends.numeric.weight_cache import WeightCache
from sim.ir import OpGraph, Role
from sim.ir.plan import LinearTiling

__all__ = ["ROUNDOFF_RMS", "WORSE_RATIO", "Row", "error_metrics", "norm_linear_blocks",
           "rms_rel_error", "verify", "verify_table"]

#: One result row of `verify` (keys in the module docstring).
Row = dict[str, Any]

#: Folds of a linear that a token norm (RMSNorm, LayerNorm) feeds.
_TOKEN_NORM_FOLDS = ("scaled", "gamma", "centred", "static_gamma", "static_centred")
#: A block's rms relative error at or below this is the fp64 reference's own
#: round-off (fp64's epsilon is 2.2e-16; a block sums thousands of products): no
#: ratio is taken against it (`vs_serialized` is None, the table shows ``-``).
ROUNDOFF_RMS = 1e-12
#: Above this `vs_serialized` ratio the table says ``worse`` (beyond the seed-to-seed
#: spread of 64-token blocks, module docstring).
WORSE_RATIO = 1.1
#: Up to this many blocks the table has a column per block, beyond it the worst one.
_BLOCK_COLUMNS = 4


def error_metrics(output: np.ndarray, reference: np.ndarray) -> tuple[float, float]:
    """``(max_abs_error, max_rel_error)`` of ``output`` against ``reference``.

    The relative error of an element is its absolute error divided by the
    largest magnitude of the reference in the same row (last axis), floored at
    the smallest normal fp64 number.

    >>> import numpy as np
    >>> error_metrics(np.array([[1.0, 2.1], [0.0, 0.01]]), np.array([[1.0, 2.0], [0.0, 0.02]]))
    (0.10000000000000009, 0.5)

    Raises
    ------
    ValueError
        If the shapes differ.
    """
    out = np.asarray(output, dtype=np.float64)
    ref = np.asarray(reference, dtype=np.float64)
    if out.shape != ref.shape:
        raise ValueError(f"shapes differ: output {out.shape}, reference {ref.shape}")
    error = np.abs(out - ref)
    scale = np.maximum(np.max(np.abs(ref), axis=-1, keepdims=True), np.finfo(np.float64).tiny)
    return float(np.max(error)), float(np.max(error / scale))


def rms_rel_error(output: np.ndarray, reference: np.ndarray) -> float:
    """``√mean((y − y_ref)²) / √mean(y_ref²)`` over all elements (0 where the
    reference is all zero and the output equals it, inf where only the reference is).

    >>> import numpy as np
    >>> rms_rel_error(np.array([[1.0, 3.0]]), np.array([[1.0, 1.0]]))
    1.4142135623730951
    """
    error = np.sqrt(np.mean(np.square(np.asarray(output, np.float64) - reference)))
    scale = np.sqrt(np.mean(np.square(np.asarray(reference, np.float64))))
    if scale == 0:
        return 0.0 if error == 0 else math.inf
    return float(error / scale)


def norm_linear_blocks(graph: OpGraph) -> dict[str, str]:
    """The op whose value is each normalization → linear block's output -> the
    block's (linear's) name.

    A block is a linear fed by an RMSNorm/LayerNorm ``norm.apply`` or with a
    token-norm ``folded_norm``; its output is the linear's value, or that of
    the ``norm.scale_out`` after a deferred linear.

    Raises
    ------
    GraphError
        As `sim.backends.numeric.plan.plan_folds`.
    """
    blocks: dict[str, str] = {}
    for name, fold in plan_folds(graph).items():
        if fold.mode not in _TOKEN_NORM_FOLDS:
            continue
        output = name
        if fold.mode in DEFERRED_FOLDS:
            output = next(e.dst for e in graph.successors(name)
                          if graph.op(e.dst).role == Role.NORM_SCALE_OUT)
        blocks[output] = name
    return blocks


def verify(
    workload: Workload,
    graphs: Mapping[str, OpGraph] | Iterable[tuple[str, OpGraph]],
    dtypes: Sequence[str] = FORMAT_NAMES,
    seed: int = 0,
    key_chunks: int = 4,
    on_row: Callable[[Row], None] | None = None,
    tilings: Mapping[str, Mapping[str, LinearTiling]] | None = None,
    distribution: InputDistribution = DEFAULT_INPUTS,
) -> list[Row]:
    """Errors of every (strategy graph, format) against the fp64 textbook reference.

    Parameters
    ----------
    workload : TransformerWorkload or NormLinearWorkload
    graphs : mapping or iterable of (name, OpGraph)
        Strategy name -> the workload's graph after that strategy's pass. (The
        caller runs the passes: backends do not import `sim.schedule`.)
    dtypes : sequence of str
        Formats, each one of `FORMAT_NAMES`.
    seed, key_chunks : int
        As in `run_numeric`; parameters are generated once and shared.
    on_row : callable, optional
        Called with each result row as soon as it is measured (progress;
        ``vs_serialized`` is filled in only at the end).
    tilings : mapping, optional
        Strategy name -> its plan's linear tilings (as in `run_numeric`).
    distribution : InputDistribution
        How the inputs are drawn (`sim.backends.numeric.inputs`).

    Returns
    -------
    list of dict
        One ``{"strategy", "dtype", "max_abs_error", "max_rel_error", "blocks",
        "block_max_rel_error", "block_rms_rel_error", "vs_serialized"}`` per
        pair (module docstring), strategies in the given order, formats in the
        given order within each.
        The runs go format by format (``on_row`` sees them in that order),
        sharing each format's folded, quantized weights between strategies
        (`WeightCache`, up to 1 GiB). The fp64 reference output of every block
        is kept for the whole call (``8 · tokens · width`` bytes per block: for a
        Llama-3-8B layer 0.28 MB in decode, 570 MB in a 2048-token prefill).

    Raises
    ------
    ConfigError
        Any unknown dtype (checked before running anything), bad seed or key_chunks.
    """
    for dtype in dtypes:
        number_format(dtype)
    pairs = list(graphs.items() if isinstance(graphs, Mapping) else graphs)
    params = NumericParameters(workload, seed, distribution=distribution)
    block_refs: dict[str, np.ndarray] = {}
    reference = reference_output(workload, params=params, block_outputs=block_refs)
    blocks_of = {s: norm_linear_blocks(graph) for s, (_, graph) in enumerate(pairs)}
    rows: dict[tuple[int, int], Row] = {}
    cache = WeightCache(params)
    for d, dtype in enumerate(dtypes):
        cache.clear()  # one format's weights at a time
        for s, (strategy, graph) in enumerate(pairs):
            block_errors: dict[str, float] = {}
            block_rms: dict[str, float] = {}

            def observe(op_name: str, value: object, blocks: dict[str, str] = blocks_of[s],
                        errors: dict[str, float] = block_errors,
                        rms: dict[str, float] = block_rms) -> None:
                if op_name in blocks and isinstance(value, np.ndarray):
                    block = blocks[op_name]
                    errors[block] = error_metrics(value, block_refs[block])[1]
                    rms[block] = rms_rel_error(value, block_refs[block])

            output = run_numeric(graph, workload, dtype, seed, key_chunks, params=params,
                                 tilings=(tilings or {}).get(str(strategy)),
                                 weight_cache=cache, observe=observe)
            max_abs, max_rel = error_metrics(output, reference)
            rows[s, d] = {"strategy": str(strategy), "dtype": dtype,
                          "max_abs_error": max_abs, "max_rel_error": max_rel,
                          "blocks": block_errors,  # in execution order
                          "block_max_rel_error": max(block_errors.values(), default=None),
                          "block_rms_rel_error": block_rms,
                          "vs_serialized": None}
            if on_row is not None:
                on_row(rows[s, d])
    _compare_with_serialized(rows)
    return [rows[key] for key in sorted(rows)]


def _compare_with_serialized(rows: dict[tuple[int, int], Row]) -> None:
    """Fill in ``vs_serialized`` (module docstring) where a serialized row exists."""
    baseline = {d: row for (_, d), row in rows.items() if row["strategy"] == "serialized"}
    for (_, d), row in rows.items():
        base = baseline.get(d)
        if base is None:
            continue
        base_rms = base["block_rms_rel_error"]
        ratios = [error / base_rms[name] for name, error in row["block_rms_rel_error"].items()
                  if base_rms.get(name, 0.0) > ROUNDOFF_RMS]
        row["vs_serialized"] = max(ratios) if ratios else None


def _sci(value: float | None) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.3e}"


def verify_table(rows: Sequence[Row], workload: object) -> str:
    """The rows of `verify` as a text table: output-level errors, each norm →
    linear block's error relative to its own output (the worst one when there
    are more than four blocks), and the worst ratio to serialized's."""
    names = list(dict.fromkeys(name for row in rows for name in row["blocks"]))
    per_block = len(names) <= _BLOCK_COLUMNS
    header = ["strategy", "dtype", "max_abs_error", "max_rel_error"]
    header += [f"{name} rel" for name in names] if per_block else ["worst block rel"]
    header.append("vs serialized")
    body = [header]
    for r in rows:
        cells = [str(r["strategy"]), str(r["dtype"]), _sci(r["max_abs_error"]),
                 _sci(r["max_rel_error"])]
        if per_block:
            cells += [_sci(r["blocks"].get(name)) for name in names]
        else:
            cells.append(_sci(r["block_max_rel_error"]))
        ratio = r["vs_serialized"]
        cells.append("-" if ratio is None else
                     f"{ratio:.2f}x" + (" worse" if ratio > WORSE_RATIO else ""))
        body.append(cells)
    widths = [max(len(row[i]) for row in body) for i in range(len(header))]
    model = getattr(getattr(workload, "model", None), "name", None)
    layers = getattr(workload, "layers", None) or (1 if model else None)  # verify's default
    title = f"errors against the fp64 serialized reference ({model or 'norm_linear'}" + (
        f", {layers} layer{'s' * (layers != 1)})" if layers else ")")
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
             for row in body]
    notes = ("'<block> rel': max error of the norm -> linear block relative to its own "
             "output; 'vs serialized': worst ratio of a block's rms error to serialized's in "
             f"the same format ('worse' above {WORSE_RATIO}; one token: ±35% is noise)")
    return "\n".join([title, *lines, notes])
