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

from collections.abc import Callable, Mapping
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


#: The one implementation of each strategy.
STRATEGIES: Mapping[StrategyName, Callable[[OpGraph], PassResult]] = {
    StrategyName.SERIALIZED: serialized,
    StrategyName.PIPELINED: pipelined,
    StrategyName.DEFERRED: deferred,
    StrategyName.IN_NETWORK: in_network,
    StrategyName.STATIC: static,
}
if set(STRATEGIES) != set(StrategyName):  # pragma: no cover - a registry bug, caught at import
    raise RuntimeError(f"strategies missing: {set(StrategyName) - set(STRATEGIES)}")


def apply_strategy(graph: OpGraph, strategy: StrategyName) -> PassResult:
    """Run the pass of ``strategy`` on ``graph``."""
    return STRATEGIES[strategy](graph)
