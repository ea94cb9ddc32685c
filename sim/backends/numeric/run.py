"""Run a rewritten OpGraph on real numbers (`run_numeric`) and the fp64 reference
(`reference_output`); see `sim.backends.numeric` for what each role computes."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

import numpy as np

from sim.backends.numeric.formats import number_format
from sim.backends.numeric.ops import execute_op
from sim.backends.numeric.params import NumericParameters
from sim.backends.numeric.plan import AttentionGeometry, Program, plan_folds
from sim.backends.numeric.records import NumericWorkload
from sim.backends.numeric.reference import textbook_output
from sim.backends.numeric.values import Sampled
from sim.backends.numeric.weight_cache import WeightCache
from sim.config import TransformerWorkload
from sim.errors import ConfigError, GraphError
from sim.ir import OpGraph, Role
from sim.ir.plan import LinearTiling

__all__ = ["Workload", "reference_output", "run_numeric"]

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
    observe: Callable[[str, object], None] | None = None,
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
    observe : callable, optional
        Called as ``observe(op_name, value)`` with every op's value as soon as
        it is computed (to measure intermediate errors); it changes no result.

    Returns
    -------
    numpy.ndarray
        The output of the graph's single sink op (KV-cache appends aside),
        ``tokens x features``, as float64; a whole model's (``host.out``): the
        logits its ids were sampled from.

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
    return _execute(graph, program, observe)


def reference_output(
    workload: Workload,
    seed: int = 0,
    *,
    params: NumericParameters | None = None,
    inputs: np.ndarray | None = None,
    record: dict[str, list[np.ndarray]] | None = None,
    block_outputs: dict[str, np.ndarray] | None = None,
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
    block_outputs : dict, optional
        If given, receives every norm → linear block's output by linear name
        (`sim.backends.numeric.reference.textbook_output`).

    Returns
    -------
    numpy.ndarray
        ``tokens x hidden_size`` (transformer: the last block's output) or
        ``tokens x out_features`` (norm_linear), float64.
    """
    params = params if params is not None else NumericParameters(workload, seed)
    return textbook_output(workload, params, inputs=inputs, record=record,
                           block_outputs=block_outputs)


def _execute(graph: OpGraph, program: Program,
             observe: Callable[[str, object], None] | None = None) -> np.ndarray:
    """Run every op in topological order, dropping values once all consumers ran."""
    order = graph.topological_order("numeric backend")
    waiting = {op.name: len(graph.successors(op.name)) for op in graph.ops}
    sinks = [name for name, count in waiting.items()  # a KV-cache append stores, outputs none
             if count == 0 and graph.op(name).role != Role.KV_APPEND]
    if len(sinks) != 1:
        raise GraphError(f"numeric backend: the graph needs exactly one output op, has {sinks}")
    values: dict[str, object] = {}
    for op in order:
        producers = [e.src for e in graph.predecessors(op.name)]
        values[op.name] = execute_op(program, op, [values[name] for name in producers])
        if observe is not None:
            observe(op.name, values[op.name])
        for name in producers:
            waiting[name] -= 1
            if waiting[name] == 0:
                del values[name]
    output = values[sinks[0]]
    if isinstance(output, Sampled):  # a whole model: the logits the ids were drawn from
        output = output.logits
    if not isinstance(output, np.ndarray):
        raise GraphError(
            f"numeric backend: output op {sinks[0]!r} yields {type(output).__name__}, "
            "not token activations"
        )
    return output.astype(np.float64)
