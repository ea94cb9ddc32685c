"""The numeric backend: execute a rewritten OpGraph on real numbers in numpy.

It runs *the graph a strategy pass produced* (``apply_strategy(...).graph``),
interpreting each op by its ``role`` and ``attrs`` only, so the claim
"deferred is exact" is tested by the same rewrite that is timed. Nothing here
knows which strategy made the graph: how the ops are wired decides what runs.

Roles and what they compute (``dt`` = the format's compute precision):

=================== =======================================================================
role                computation
=================== =======================================================================
``norm.stats``      RMSNorm: Σx²; LayerNorm: Σx and Σx² (one pass); softmax: the partial
                    sum of every key chunk, combined (see below)
``norm.scalar``     RMSNorm ``r = 1/√(Σx²/n + ε)``; LayerNorm ``μ = Σx/n``,
                    ``r = 1/√(max(Σx²/n − μ², 0) + ε)``; softmax ``1/l``
``norm.apply``      RMSNorm ``x·r``; LayerNorm ``(x − μ)·r``; softmax ``e·1/l``
``linear``          ``x·W + b`` with its inputs quantized to the format (folding below)
``norm.scale_out``  the deferred epilogue ``r·y (+ b')``; softmax: combine partial P·V
``softmax.max``     the row max (``Op.max_scope`` local: one max per key chunk)
``softmax.exp``     ``exp(s − max)`` with the max of the key's chunk
``attn.scores``     ``q·kᵀ`` per head (GQA: head j reads KV head ``j // (H/G)``), times
                    ``1/√h`` on the fp32 output; ``causal``: masked scores are −∞
``attn.pv``         ``P·V``; fed the un-normalized ``e`` it returns one partial per chunk
``residual``        ``a + b``
``ffn.act``         ReLU, GELU (tanh form), SwiGLU ``g·u/(1 + exp(−g))`` or GeGLU
                    ``gelu(g)·u`` (``[g|u]``)
=================== =======================================================================

Conventions.

- ε is the model's ``norm_eps`` (`sim.backends.numeric.records.norm_eps`).

- γ (and β) are folded offline (in fp64, then stored in the format) into the
  linear layer a normalization feeds, in every strategy. A linear fed by a
  ``norm.apply`` uses ``W* = diag(γ)W`` and ``b* = βW + b``. A linear marked
  ``folded_norm`` (deferred) runs on its raw input with ``W' = diag(γ)W``
  (``gamma``, RMSNorm), ``W' = (I − 11ᵀ/n)diag(γ)W`` (``centred``, LayerNorm:
  every column of diag(γ)W centred) or ``W`` (``none``), and leaves its bias
  ``b' = βW + b`` to the ``norm.scale_out`` that follows, which computes
  ``r·(xW') + b'``. A linear marked ``static_gamma`` or ``static_centred``
  (the ``static`` strategy) has no epilogue: it computes ``x·W_s + b'`` with
  ``W_s = s·W'``, s the calibrated constant of the norm named by its
  ``static_norm`` attr (`NumericParameters.static_scale`). A ``norm.apply``
  of RMSNorm or LayerNorm may feed only linear layers.
- Softmax with a local max (the scheme that makes deferred softmax exact):
  the keys are split into ``key_chunks`` contiguous chunks of near-equal size
  (as the cores holding them would), each chunk c shifts by its own max
  ``m_c`` (a global max is the case of one chunk). The sum's reduction is the
  online-softmax merge: ``m = max_c m_c`` and ``l = Σ_c exp(m_c − m)·l_c`` ride
  on the one collective. ``norm.apply`` multiplies chunk c's exponentials by
  ``exp(m_c − m)/l``; a ``norm.scale_out`` after P·V sums the chunks' partial
  products ``e_c·V_c`` weighted by ``exp(m_c − m)`` and scales by ``1/l``. A
  chunk whose keys are all masked has weight 0.
- Formats (`sim.backends.numeric.formats`): both inputs of every matmul
  (activations, weights, the un-normalized operand of a deferred layer, Q, K,
  P or e, V, the KV cache) are quantized to the format with blocks along the
  reduction axis (per key chunk for partial P·V); accumulation, matmul outputs
  and all SIMD work are in fp32 (fp64 for ``fp64``). Biases stay in ``dt``.
- Tiling is ignored: tiles change when a value is ready, not its value (each
  matmul output is one dot product), so pipelined computes what serialized does.
- A data operand no op produces is the workload's input (the first block's
  norm, its residual, or a deferred first linear read it).
- Parameters are found by op name (`sim.backends.numeric.params`): a linear's
  weights under its name, a norm's γ, β under the prefix of its ``norm.scalar``
  or ``norm.apply`` op (``L0.attn_norm``), a KV cache under the prefix of the
  attention ops (``L0``).

Error metric (`error_metrics`): ``max_abs_error = max |y − y_ref|`` over all
elements; ``max_rel_error = max |y[t, j] − y_ref[t, j]| / max_j' |y_ref[t, j']|``,
the error relative to the largest reference magnitude of the same token row
(floored at the smallest normal fp64), so near-zero elements do not blow up the
ratio.

Examples
--------
>>> from sim.config import NormLinearWorkload, StrategyName
>>> from sim.schedule import apply_strategy
>>> from sim.workload import build_workload
>>> w = NormLinearWorkload(kind="norm_linear", norm="layernorm", hidden_size=64,
...                        out_features=32, tokens=2, bias=True)
>>> deferred = apply_strategy(build_workload(w), StrategyName.DEFERRED).graph
>>> y = run_numeric(deferred, w, "fp64")
>>> error_metrics(y, reference_output(w))[1] < 1e-14
True
>>> [(r["dtype"], r["max_rel_error"] < 1e-5) for r in verify(w, {"deferred": deferred},
...                                                           ["fp32", "bfp8"])]
[('fp32', True), ('bfp8', False)]
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from types import MappingProxyType

import numpy as np

from sim.backends.numeric.formats import (
    FORMAT_NAMES,
    FORMATS,
    NumberFormat,
    number_format,
    quantize_bf16,
    quantize_bfp,
)
from sim.backends.numeric.ops import ROLES, execute_op
from sim.backends.numeric.params import NumericParameters
from sim.backends.numeric.plan import AttentionGeometry, Program, plan_folds
from sim.backends.numeric.records import NumericWorkload, numeric_workload
from sim.backends.numeric.reference import textbook_output
from sim.backends.numeric.weight_cache import WeightCache
from sim.config import TransformerWorkload
from sim.errors import ConfigError, GraphError
from sim.ir import OpGraph
from sim.ir.plan import LinearTiling

__all__ = [
    "FORMATS",
    "FORMAT_NAMES",
    "ROLES",
    "NumberFormat",
    "NumericParameters",
    "NumericWorkload",
    "error_metrics",
    "number_format",
    "numeric_workload",
    "quantize_bf16",
    "quantize_bfp",
    "reference_output",
    "run_numeric",
    "verify",
]

Workload = NumericWorkload


def run_numeric(
    graph: OpGraph,
    workload: Workload,
    dtype: str,
    seed: int = 0,
    key_chunks: int = 4,
    *,
    params: NumericParameters | None = None,
    tilings: Mapping[str, LinearTiling] | None = None,
    weight_cache: WeightCache | None = None,
) -> np.ndarray:
    """Execute ``graph`` (the workload's graph after a strategy pass) in format ``dtype``.

    Parameters
    ----------
    graph : OpGraph
        Built from ``workload`` by `sim.workload.build_workload`, then rewritten.
    workload : TransformerWorkload or NormLinearWorkload
        Supplies the shapes of the attention and of the parameters.
    dtype : str
        One of `FORMAT_NAMES`.
    seed : int
        Seed of the weights, inputs and KV cache (`NumericParameters`).
    key_chunks : int
        Key chunks of a softmax whose max is local (module docstring).
    params : NumericParameters, optional
        Parameters already generated for ``(workload, seed)``, to reuse.
    tilings : mapping of str to LinearTiling, optional
        The plan's tiling of each linear (`LoweringPlan.tilings`): a linear cut
        along its inputs (``rows``, ``2d``) is computed as the plan computes it,
        per-row-group partial products summed (`sim.backends.numeric.plan.Program`).
    weight_cache : WeightCache, optional
        Folded, quantized weights shared between runs on the same ``params``
        (`sim.backends.numeric.weight_cache`); it changes no result.

    Returns
    -------
    numpy.ndarray
        The output of the graph's single sink op, ``tokens x features``, as float64.

    Raises
    ------
    ConfigError
        Unknown ``dtype``, bad ``seed`` or ``key_chunks``, or ``params`` of
        another workload or seed.
    GraphError
        An op with an unknown role or attribute, or wired or shaped unlike
        ``workload`` (names the op).
    """
    fmt = number_format(dtype)
    if isinstance(key_chunks, bool) or not isinstance(key_chunks, int) or key_chunks < 1:
        raise ConfigError(f"key_chunks: must be a positive integer, got {key_chunks!r}")
    if params is None:
        params = NumericParameters(workload, seed)
    elif params.workload != workload or params.seed != seed:
        raise ConfigError("params: generated for another workload or seed")
    if weight_cache is not None and weight_cache.owner is not params:
        raise ConfigError("weight_cache: holds the weights of other params")
    geometry = None
    if isinstance(workload, TransformerWorkload):
        m = workload.model
        queries = workload.seq_len if workload.phase == "prefill" else 1
        geometry = AttentionGeometry(workload.batch, queries, m.num_heads, m.num_kv_heads,
                                     m.head_size)
    program = Program(fmt, params, key_chunks, geometry,
                      params.inputs().astype(fmt.compute_dtype), plan_folds(graph),
                      MappingProxyType(dict(tilings or {})), weight_cache)
    return _execute(graph, program)


def reference_output(
    workload: Workload,
    seed: int = 0,
    *,
    params: NumericParameters | None = None,
    inputs: np.ndarray | None = None,
    record: dict[str, list[np.ndarray]] | None = None,
) -> np.ndarray:
    """The workload's output computed in fp64 the textbook way
    (`sim.backends.numeric.reference.textbook_output`).

    Parameters
    ----------
    workload : TransformerWorkload or NormLinearWorkload
    seed : int
        Seed of the parameters and inputs (ignored when ``params`` is given).
    params : NumericParameters, optional
        Reuse already generated parameters (must be of ``workload``).
    inputs : numpy.ndarray, optional
        Run on these ``tokens x hidden`` activations instead of
        ``params.inputs()`` (the static calibration's input).
    record : dict, optional
        If given, every token norm appends its per-token scalar ``r`` (a
        ``tokens`` fp64 array) to ``record[name]`` (``L0.attn_norm``, ``norm``).
        Recording does not change the result.

    Returns
    -------
    numpy.ndarray
        ``tokens x hidden_size`` (transformer: the last block's output) or
        ``tokens x out_features`` (norm_linear), float64.
    """
    params = params if params is not None else NumericParameters(workload, seed)
    return textbook_output(workload, params, inputs=inputs, record=record)


def _execute(graph: OpGraph, program: Program) -> np.ndarray:
    """Run every op in topological order, dropping values once all consumers ran."""
    order = graph.topological_order("numeric backend")
    waiting = {op.name: len(graph.successors(op.name)) for op in graph.ops}
    sinks = [name for name, count in waiting.items() if count == 0]
    if len(sinks) != 1:
        raise GraphError(f"numeric backend: the graph needs exactly one output op, has {sinks}")
    values: dict[str, object] = {}
    for op in order:
        producers = [e.src for e in graph.predecessors(op.name)]
        values[op.name] = execute_op(program, op, [values[name] for name in producers])
        for name in producers:
            waiting[name] -= 1
            if waiting[name] == 0:
                del values[name]
    output = values[sinks[0]]
    if not isinstance(output, np.ndarray):
        raise GraphError(
            f"numeric backend: output op {sinks[0]!r} yields {type(output).__name__}, "
            "not token activations"
        )
    return output.astype(np.float64)


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


def verify(
    workload: Workload,
    graphs: Mapping[str, OpGraph] | Iterable[tuple[str, OpGraph]],
    dtypes: Sequence[str] = FORMAT_NAMES,
    seed: int = 0,
    key_chunks: int = 4,
    on_row: Callable[[dict[str, str | float]], None] | None = None,
    tilings: Mapping[str, Mapping[str, LinearTiling]] | None = None,
) -> list[dict[str, str | float]]:
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
        Called with each result row as soon as it is measured (progress).
    tilings : mapping, optional
        Strategy name -> its plan's linear tilings (as in `run_numeric`).

    Returns
    -------
    list of dict
        One ``{"strategy", "dtype", "max_abs_error", "max_rel_error"}`` per
        pair, strategies in the given order, formats in the given order within
        each (`error_metrics` defines the errors). The runs go format by format
        (``on_row`` sees them in that order), sharing each format's folded,
        quantized weights between strategies (`WeightCache`, up to 1 GiB).

    Raises
    ------
    ConfigError
        Any unknown dtype (checked before running anything), bad seed or key_chunks.
    """
    for dtype in dtypes:
        number_format(dtype)
    pairs = list(graphs.items() if isinstance(graphs, Mapping) else graphs)
    params = NumericParameters(workload, seed)
    reference = reference_output(workload, params=params)
    rows: dict[tuple[int, int], dict[str, str | float]] = {}
    cache = WeightCache(params)
    for d, dtype in enumerate(dtypes):
        cache.clear()  # one format's weights at a time
        for s, (strategy, graph) in enumerate(pairs):
            output = run_numeric(graph, workload, dtype, seed, key_chunks, params=params,
                                 tilings=(tilings or {}).get(str(strategy)),
                                 weight_cache=cache)
            max_abs, max_rel = error_metrics(output, reference)
            rows[s, d] = {"strategy": str(strategy), "dtype": dtype,
                          "max_abs_error": max_abs, "max_rel_error": max_rel}
            if on_row is not None:
                on_row(rows[s, d])
    return [rows[key] for key in sorted(rows)]
