"""Normalization strategies as OpGraph rewrites (exact algebra, machine-independent).

Every pass takes the serialized program of `sim.workload` and returns a
`PassResult`; the rewritten graph is validated with the pass's name in errors.
The passes only rewrite ops and edges; the mapping turns tilings into tasks,
and the DES never learns which strategy it runs.

- ``serialized``: statistics -> scalar -> normalize -> linear, each waiting for
  the whole previous op: ``y = (x · r) W``.
- ``pipelined``: as serialized, but normalize and the linear are tiled along the
  linear's input features (row-major): tile *i* of the linear starts as soon as
  chunk *i* of x is normalized.
- ``deferred``: the linear runs on the raw x, tiled along its output features
  (column-major), while the SIMD unit computes the statistics; output tile *i*
  is scaled as soon as it and the scalar are ready: ``y = r · (x W') (+ b')``.
  For RMSNorm ``W' = diag(γ) W``; for LayerNorm ``W' = (I − 11ᵀ/n) diag(γ) W``
  (columns centred) and ``b' = βW + b``, so the epilogue is a fused multiply-add.
- ``deferred_streamed``: deferred, and the all-gather of the raw x streams into
  the linear as pipelined's normalized x does: the linear of every *token* norm
  (RMSNorm, LayerNorm) is tiled along its input features and joined tile to
  tile to the op producing x, so chunk *i* of x feeds input tile *i* as soon as
  it arrives, while the statistics' collective runs. Row-major tiles complete
  the output only with the last one, so the epilogue is one op over the whole
  output: ``y = r · Σ_i x_i W'_i (+ b')``. Softmax keeps deferred's form
  (column-major P·V; see `deferred_streamed`).
- ``in_network``: deferred, and the statistics' reductions are done by the
  routers as the packets meet (``Op.reduce_in_network``: the mapping picks the
  ``in_network`` collective algorithm for them), shortening the collective itself.
- ``static`` (approximate, as static LayerNorm calibration, SLaNC): the
  per-token scalar r of every *token* norm (RMSNorm, LayerNorm) is replaced by
  a constant s calibrated offline for that norm, so its statistics, scalar and
  normalize ops, and their collective, disappear. The linear that follows reads
  the raw x with weights folded offline: ``y = x W_s + b'``, RMSNorm
  ``W_s = s·diag(γ) W``, LayerNorm ``W_s = s·(I − 11ᵀ/n) diag(γ) W`` (the
  centring stays exact), ``b' = βW + b``; no epilogue. The linear is marked
  ``folded_norm: static_gamma`` / ``static_centred`` and ``static_norm: <the
  norm's op prefix>`` (``L0.attn_norm``). A norm.apply also feeding a
  non-linear op keeps its ops for that consumer. Softmax keeps its exact
  deferred form (a constant cannot stand for a per-row sum of exponentials).
  The result differs from the exact one; ``imcsim verify`` measures how much.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TypeVar

from sim.config import StrategyName
from sim.errors import GraphError
from sim.ir import (
    Edge,
    EdgeMode,
    MatmulShape,
    MaxScope,
    Op,
    OpGraph,
    OpKind,
    Role,
    SimdPattern,
    SimdShape,
    TileAxis,
    Tiling,
)
from sim.registry import Registry, RegistryError

__all__ = ["STRATEGIES", "PassResult", "apply_strategy"]

S = TypeVar("S", MatmulShape, SimdShape)


@dataclass(frozen=True)
class PassResult:
    """A pass's output graph and whether it differs from its input."""

    graph: OpGraph
    changed: bool


#: Roles of the matmuls a normalization's scalar commutes with.
LINEAR_ROLES = frozenset({Role.LINEAR, Role.ATTN_PV})


#: Norms whose scalar is per token (not per attention row).
TOKEN_NORMS = frozenset({"rmsnorm", "layernorm"})


def _norm_applies_feeding_linears(
    graph: OpGraph, norms: frozenset[str] | None = None
) -> list[tuple[Op, list[Op]]]:
    """Every ``norm.apply`` op (RMSNorm, LayerNorm, softmax; only ``norms`` if
    given) with the linear matmuls it feeds (graph order)."""
    found = []
    for op in graph.ops:
        if op.role != Role.NORM_APPLY or (norms is not None and op.attrs.get("norm") not in norms):
            continue
        linears = [graph.op(e.dst) for e in graph.successors(op.name)]
        linears = [dst for dst in linears if dst.role in LINEAR_ROLES]
        if linears:
            found.append((op, linears))
    return found


def _apply_inputs(graph: OpGraph, apply: Op, where: str) -> tuple[str, list[str]]:
    """The ``norm.scalar`` op a ``norm.apply`` reads and its data inputs."""
    preds = graph.predecessors(apply.name)
    scalars = [e.src for e in preds if graph.op(e.src).role == Role.NORM_SCALAR]
    if len(scalars) != 1:
        raise GraphError(f"{where}: {apply.name} needs exactly one norm.scalar input")
    return scalars[0], [e.src for e in preds if e.src != scalars[0]]


def _shape(op: Op, kind: type[S], where: str) -> S:
    """``op``'s shape, which the pass needs to be a ``kind``.

    Raises
    ------
    GraphError
        Naming ``where`` and the op, if its shape is another kind.
    """
    if not isinstance(op.shape, kind):
        raise GraphError(f"{where}: {op.name} ({op.role}) needs a {kind.__name__}")
    return op.shape


def serialized(graph: OpGraph) -> PassResult:
    """The workload's own program: nothing to rewrite."""
    return PassResult(graph, changed=False)


def pipelined(graph: OpGraph) -> PassResult:
    """Tile each normalize and its linears along the linear's input features."""
    targets = _norm_applies_feeding_linears(graph)
    if not targets:
        return PassResult(graph, changed=False)
    retiled: dict[str, Op] = {}
    streamed: set[tuple[str, str]] = set()
    for apply, linears in targets:
        tiling = Tiling(TileAxis.IN, _shape(apply, SimdShape, "strategy pipelined").cols)
        retiled[apply.name] = replace(apply, tiling=tiling)
        for linear in linears:
            retiled[linear.name] = replace(linear, tiling=tiling)
            streamed.add((apply.name, linear.name))
    ops = [retiled.get(op.name, op) for op in graph.ops]
    edges = [
        replace(e, mode=EdgeMode.TILE) if (e.src, e.dst) in streamed else e for e in graph.edges
    ]
    return PassResult(OpGraph.build(ops, edges, where="strategy pipelined"), changed=True)


def _epilogue_instrs(norm: str, bias: bool) -> tuple[str, ...]:
    """The deferred scale: ``r·y`` (mul) or ``r·y + b'`` (fma) per output vector."""
    return ("fma",) if bias or norm == "layernorm" else ("mul",)


def deferred(graph: OpGraph) -> PassResult:
    """Move each normalization's scalar past the linear layers it feeds."""
    return _defer(graph, None, "strategy deferred")


def _defer(graph: OpGraph, norms: frozenset[str] | None, where: str) -> PassResult:
    """The deferred rewrite of the norms in ``norms`` (all if None); ``where`` names
    the pass in errors."""
    targets = _norm_applies_feeding_linears(graph, norms)
    if not targets:
        return PassResult(graph, changed=False)
    ops: dict[str, Op] = {op.name: op for op in graph.ops}
    edges: list[Edge] = list(graph.edges)
    for apply, linears in targets:
        scalar, data_inputs = _apply_inputs(graph, apply, where)
        norm = apply.attrs["norm"]
        for linear in linears:
            shape = _shape(linear, MatmulShape, where)
            tiling = Tiling(TileAxis.OUT, shape.out_features)
            folded = {"layernorm": "centred", "rmsnorm": "gamma"}.get(norm, "none")
            ops[linear.name] = replace(
                linear, tiling=tiling, attrs={**linear.attrs, "folded_norm": folded}
            )
            scale = Op(
                f"{linear.name}.scale",
                OpKind.SIMD,
                SimdShape(SimdPattern.ELEMENTWISE, shape.tokens * shape.groups, shape.out_features,
                          _epilogue_instrs(norm, bool(linear.attrs.get("bias")))),
                Role.NORM_SCALE_OUT,
                tiling=tiling,
                attrs={"norm": norm, **{k: v for k, v in linear.attrs.items() if k == "layer"}},
            )
            ops[scale.name] = scale
            rerouted = []
            for e in edges:
                if e.src == linear.name:  # the linear's consumers now read the scaled output
                    rerouted.append(replace(e, src=scale.name))
                elif not (e.src == apply.name and e.dst == linear.name):
                    rerouted.append(e)
            rerouted += [Edge(src, linear.name) for src in data_inputs]
            rerouted += [Edge(linear.name, scale.name, EdgeMode.TILE), Edge(scalar, scale.name)]
            edges = rerouted
        if not any(e.src == apply.name for e in edges):
            del ops[apply.name]
            edges = [e for e in edges if e.dst != apply.name]
        for e in graph.predecessors(data_inputs[0]) if norm == "softmax" else ():
            # exp(s − c) with any c is exact once rescaled: a local (per-core) max
            # replaces the global one, so the max needs no collective (max_scope local).
            source = ops[e.src]
            if source.role == Role.SOFTMAX_MAX:
                ops[e.src] = replace(source, max_scope=MaxScope.LOCAL)
    return PassResult(OpGraph.build(ops.values(), edges, where=where), changed=True)


def deferred_streamed(graph: OpGraph) -> PassResult:
    """Deferred, with the raw x of every token norm streamed into its linears.

    Algebra. Cut the input features into tiles ``I_1 .. I_k`` (the mapping
    picks their size). As in `deferred`, RMSNorm with ``W' = diag(γ) W`` and
    ``r = 1/√(mean(x²) + ε)``, LayerNorm with ``W' = (I − 11ᵀ/n) diag(γ) W``,
    ``b' = βW + b`` and ``r = 1/√(var(x) + ε)``::

        RMSNorm(x)·(γ∘W)       = r · (x W')      = r · Σ_i x[I_i] W'[I_i, :]
        LayerNorm(x)·W + b     = r · (x W') + b' = r · Σ_i x[I_i] W'[I_i, :] + b'

    (the centring lives in W', so raw chunks need no mean). Each term needs
    only chunk ``x[I_i]``, none needs r: tile *i* of the linear
    starts when chunk *i* of x has arrived (a ``tile`` edge from the op making
    x, which the mapping turns into a chunked all-gather) and accumulates into
    the output, while the SIMD units compute Σx² and the network all-reduces
    it. The sum is complete only after the last tile, for every output column
    at once, so the epilogue ``r·y (+ b')`` is one untiled op over the output
    reading the whole linear (``all`` edge): tiling it by output columns
    cannot start any column earlier and adds a task per tile (measured on
    Llama-3-8B decode: 7 912 cycles tiled, 7 905 untiled).

    Latency, ideally: ``max(T_gather+matmul, T_stats + T_collective) +
    T_epilogue``, where deferred pays ``T_gather + max(T_matmul, ...)`` and
    pipelined ``T_stats + T_collective + T_gather+matmul``. The price: the
    whole epilogue is exposed (deferred exposes one column tile of it), so on
    one core, with nothing to gather, it is slower than deferred (the FlashNorm
    toy: 20 cycles against 17).

    Softmax keeps deferred's form (local max, column-major P·V, epilogue per
    output tile): P·V reads the exponentials on its own cores, so there is no
    gather to stream, and row-major P·V would lose the chunked set reduction
    and the tiled epilogue (measured: streaming P·V too gives 8 088 cycles
    instead of 7 905). A linear whose x comes from an op already tiled
    otherwise keeps deferred's form.
    """
    where = "strategy deferred_streamed"
    token_targets = _norm_applies_feeding_linears(graph, TOKEN_NORMS)
    deferred_result = _defer(graph, None, where)
    rewritten = deferred_result.graph
    if not token_targets:
        return deferred_result
    ops: dict[str, Op] = {op.name: op for op in rewritten.ops}
    streamed: set[tuple[str, str]] = set()  # (x producer, linear): tile edges
    whole: set[tuple[str, str]] = set()  # (linear, scale): now all edges
    for apply, linears in token_targets:
        _, data_inputs = _apply_inputs(graph, apply, where)
        for source in data_inputs:
            data = ops[source]
            if not isinstance(data.shape, SimdShape) or data.kind is OpKind.TRANSFER:
                continue  # a transfer (the embedding lookup) is one task: nothing to stream
            tiling = Tiling(TileAxis.IN, data.shape.cols)
            if data.tiling not in (None, tiling):
                continue  # tiled another way for another consumer: stays deferred
            ops[source] = replace(data, tiling=tiling)
            for linear in linears:
                scale = ops[f"{linear.name}.scale"]
                ops[linear.name] = replace(ops[linear.name], tiling=tiling)
                ops[scale.name] = replace(scale, tiling=None)
                streamed.add((source, linear.name))
                whole.add((linear.name, scale.name))
    edges = [replace(e, mode=EdgeMode.TILE) if (e.src, e.dst) in streamed
             else replace(e, mode=EdgeMode.ALL) if (e.src, e.dst) in whole else e
             for e in rewritten.edges]
    return PassResult(OpGraph.build(ops.values(), edges, where=where), changed=True)


def in_network(graph: OpGraph) -> PassResult:
    """Deferred, with every normalization statistic (token-norm sums, softmax
    maxima and sums) reduced in the routers: sets their ``Op.reduce_in_network``."""
    rewritten = deferred(graph).graph
    marked = [
        replace(op, reduce_in_network=True)
        if op.role in (Role.NORM_STATS, Role.SOFTMAX_MAX) else op
        for op in rewritten.ops
    ]
    return PassResult(OpGraph.build(marked, rewritten.edges, where="strategy in_network"),
                      changed=True)


def _static_token_norms(graph: OpGraph) -> tuple[OpGraph, bool]:
    """Replace the scalar of every RMSNorm/LayerNorm feeding linears by a calibrated
    constant folded into their weights: the linears read the norm's raw input."""
    targets = [(apply, [lin for lin in linears if lin.role == Role.LINEAR])
               for apply, linears in _norm_applies_feeding_linears(graph, TOKEN_NORMS)]
    targets = [(apply, linears) for apply, linears in targets if linears]
    if not targets:
        return graph, False
    ops: dict[str, Op] = {op.name: op for op in graph.ops}
    edges: list[Edge] = list(graph.edges)
    for apply, linears in targets:
        scalar, data_inputs = _apply_inputs(graph, apply, "strategy static")
        folded = {"layernorm": "static_centred", "rmsnorm": "static_gamma"}[apply.attrs["norm"]]
        prefix = apply.name.rsplit(".", 1)[0]
        folded_into = {linear.name for linear in linears}
        for linear in linears:
            ops[linear.name] = replace(linear, attrs={**linear.attrs, "folded_norm": folded,
                                                      "static_norm": prefix})
        edges = [e for e in edges if not (e.src == apply.name and e.dst in folded_into)]
        present = {(e.src, e.dst) for e in edges}
        edges += [Edge(src, linear.name) for linear in linears for src in data_inputs
                  if (src, linear.name) not in present]
        # drop the norm's ops from the apply backwards, each once nothing reads it
        for name in (apply.name, scalar,
                     *(e.src for e in graph.predecessors(scalar)
                       if graph.op(e.src).role == Role.NORM_STATS)):
            if not any(e.src == name for e in edges):
                del ops[name]
                edges = [e for e in edges if e.dst != name]
    return OpGraph.build(ops.values(), edges, where="strategy static"), True


def static(graph: OpGraph) -> PassResult:
    """Token norms with a calibrated constant scalar folded into the following
    linears (no statistics, no collective); softmax deferred (exact)."""
    rewritten, changed = _static_token_norms(graph)
    result = _defer(rewritten, frozenset({"softmax"}), "strategy static")
    return PassResult(result.graph, changed=changed or result.changed)


#: The one implementation of each strategy, by `StrategyName`.
STRATEGIES: Registry[Callable[[OpGraph], PassResult]] = Registry("strategy")
for _name, _implementation in (
    (StrategyName.SERIALIZED, serialized),
    (StrategyName.PIPELINED, pipelined),
    (StrategyName.DEFERRED, deferred),
    (StrategyName.IN_NETWORK, in_network),
    (StrategyName.STATIC, static),
    (StrategyName.DEFERRED_STREAMED, deferred_streamed),
):
    STRATEGIES.add(_name, _implementation)
if set(STRATEGIES) != set(StrategyName):  # pragma: no cover - a registry bug, caught at import
    raise RegistryError(f"strategies missing: {set(StrategyName) - set(STRATEGIES)}")


def apply_strategy(graph: OpGraph, strategy: StrategyName | str) -> PassResult:
    """Run the pass of ``strategy`` on ``graph``.

    Raises
    ------
    ConfigError
        If ``strategy`` names no strategy (the message lists the valid ones).
    """
    return STRATEGIES.get(strategy, key="strategy")(graph)
