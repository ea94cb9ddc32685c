"""What each op role computes in the numeric backend (see `sim.backends.numeric`).

Values flowing along edges are those of `sim.backends.numeric.values`. An op
checks the kinds of its inputs, so a graph wired unlike the algebra fails with
a `GraphError` naming the op instead of computing something else. The plan
they read (folds, attention shape, format) is `sim.backends.numeric.plan`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from itertools import pairwise
from types import MappingProxyType

import numpy as np

from sim.backends.numeric.model_ops import MODEL_HANDLERS
from sim.backends.numeric.plan import (
    STATIC_FOLDS,
    AttentionGeometry,
    Program,
    norm_of,
    param_prefix,
)
from sim.backends.numeric.records import LinearParams, norm_eps
from sim.backends.numeric.values import (
    ChunkMax,
    NormScalar,
    NormStatistics,
    PartialPV,
    Probabilities,
    Scores,
    ShiftedExp,
    SoftmaxScalar,
    SoftmaxSum,
    Tokens,
    Unscaled,
)
from sim.backends.numeric.weight_cache import FoldedWeights
from sim.errors import GraphError
from sim.ir import MatmulShape, MaxScope, Op, SimdShape

__all__ = ["ROLES", "execute_op"]

#: Weight elements folded and quantized at a time (bounds memory on large layers).
_CHUNK_ELEMS = 2**23


# ----------------------------------------------------------------------------- helpers


def _kind_name(kind: type | tuple) -> str:
    if isinstance(kind, tuple):
        return "/".join(_kind_name(k) for k in kind)
    return "Tokens" if kind is np.ndarray else kind.__name__


def _operands(program: Program, op: Op, inputs: Sequence[object], kinds: Sequence[type | tuple],
              implicit: bool = False) -> list:
    """Match ``inputs`` to ``kinds`` in order; with ``implicit`` one missing token
    operand is the workload's input."""
    pool = list(inputs)
    matched: list = []
    for kind in kinds:
        index = next((i for i, value in enumerate(pool) if isinstance(value, kind)), None)
        if index is not None:
            matched.append(pool.pop(index))
        elif implicit and kind is np.ndarray:
            matched.append(program.inputs)
            implicit = False
        else:
            break
    if pool or len(matched) != len(kinds):
        got = [_kind_name(type(v)) for v in inputs]
        want = [_kind_name(k) for k in kinds]
        raise GraphError(f"numeric backend: op {op.name!r} ({op.role}) takes {want}, got {got}")
    return matched


def _geometry(program: Program, op: Op) -> AttentionGeometry:
    if program.geometry is None:
        raise GraphError(f"numeric backend: op {op.name!r} ({op.role}) in a workload "
                         "without attention")
    return program.geometry


def _heads(program: Program, op: Op, qkv: Tokens, part: str) -> np.ndarray:
    """Q as ``batch x heads x queries x h``; K or V as ``batch x kv_heads x keys x h``
    (the KV cache first, then the new tokens)."""
    g = _geometry(program, op)
    width = (g.heads + 2 * g.kv_heads) * g.head_size
    if qkv.shape != (g.batch * g.queries, width):
        raise GraphError(f"numeric backend: op {op.name!r} reads {qkv.shape}, "
                         f"expected ({g.batch * g.queries}, {width}) from the QKV projection")
    per_token = qkv.reshape(g.batch, g.queries, g.heads + 2 * g.kv_heads, g.head_size)
    if part == "q":
        return per_token[:, :, :g.heads].transpose(0, 2, 1, 3)
    start = g.heads if part == "k" else g.heads + g.kv_heads
    new = per_token[:, :, start:start + g.kv_heads].transpose(0, 2, 1, 3)
    try:
        cache = program.params.kv_cache(param_prefix(op.name))
    except KeyError:
        raise GraphError(f"numeric backend: no KV cache for op {op.name!r}") from None
    if cache is None:
        return new
    cached = cache.keys if part == "k" else cache.values
    return np.concatenate([cached.astype(program.dt), new], axis=2)


def _grouped(array: np.ndarray, g: AttentionGeometry) -> np.ndarray:
    """``batch x heads x queries x n`` -> ``batch x kv_heads x (heads/kv_heads·queries) x n``."""
    b, _, q, n = array.shape
    return array.reshape(b, g.kv_heads, (g.heads // g.kv_heads) * q, n)


def _per_key(per_chunk: np.ndarray, bounds: tuple[int, ...]) -> np.ndarray:
    """Repeat a per-chunk value over the keys of its chunk (last axis)."""
    return np.repeat(per_chunk, np.diff(bounds), axis=-1)


def _chunk_weights(chunks: ChunkMax, reference: np.ndarray) -> np.ndarray:
    """``exp(m_c − m)`` per chunk, 0 for all-masked chunks."""
    return np.where(chunks.valid, np.exp(chunks.shift - reference[..., None]), 0).astype(
        chunks.shift.dtype)


def _matmul_shape(op: Op) -> MatmulShape:
    """The op's shape, which its role needs to be a `MatmulShape`."""
    if not isinstance(op.shape, MatmulShape):
        raise GraphError(f"numeric backend: op {op.name!r} ({op.role}) has a "
                         f"{type(op.shape).__name__}, expected a MatmulShape")
    return op.shape


def _simd_shape(op: Op) -> SimdShape:
    """The op's shape, which its role needs to be a `SimdShape`."""
    if not isinstance(op.shape, SimdShape):
        raise GraphError(f"numeric backend: op {op.name!r} ({op.role}) has a "
                         f"{type(op.shape).__name__}, expected a SimdShape")
    return op.shape


def _check(op: Op, what: str, got: int, expected: int) -> None:
    if got != expected:
        raise GraphError(f"numeric backend: op {op.name!r} has {what} {expected}, "
                         f"the workload gives {got}")


# ----------------------------------------------------------------------------- roles


def _norm_stats(program: Program, op: Op, inputs: Sequence[object]) -> object:
    norm = norm_of(op)
    if norm == "softmax":
        (e,) = _operands(program, op, inputs, [ShiftedExp])
        starts = np.asarray(e.chunks.bounds[:-1])
        partial = np.add.reduceat(e.values, starts, axis=-1)
        reference = np.max(np.where(e.chunks.valid, e.chunks.shift, -np.inf), axis=-1)
        total = np.sum(_chunk_weights(e.chunks, reference) * partial, axis=-1)
        return SoftmaxSum(total, reference.astype(program.dt))
    (x,) = _operands(program, op, inputs, [np.ndarray], implicit=True)
    sum_x = np.sum(x, axis=-1) if norm == "layernorm" else None
    return NormStatistics(norm, sum_x, np.sum(x * x, axis=-1), x.shape[-1])


def _norm_scalar(program: Program, op: Op, inputs: Sequence[object]) -> object:
    norm = norm_of(op)
    if norm == "softmax":
        (s,) = _operands(program, op, inputs, [SoftmaxSum])
        return SoftmaxScalar(1 / s.total, s.reference)
    (s,) = _operands(program, op, inputs, [NormStatistics])
    eps, n = program.dt.type(norm_eps(program.params.workload)), program.dt.type(s.count)
    if norm == "rmsnorm":
        return NormScalar(norm, 1 / np.sqrt(s.sum_sq / n + eps), None)
    mean = s.sum_x / n
    var = np.maximum(s.sum_sq / n - mean * mean, 0)
    return NormScalar(norm, 1 / np.sqrt(var + eps), mean)


def _norm_apply(program: Program, op: Op, inputs: Sequence[object]) -> object:
    norm = norm_of(op)
    if norm == "softmax":
        scalar, e = _operands(program, op, inputs, [SoftmaxScalar, ShiftedExp])
        weights = _chunk_weights(e.chunks, scalar.reference) * scalar.inverse[..., None]
        return Probabilities(e.values * _per_key(weights, e.chunks.bounds))
    scalar, x = _operands(program, op, inputs, [NormScalar, np.ndarray], implicit=True)
    if scalar.norm != norm:
        raise GraphError(f"numeric backend: op {op.name!r} ({norm}) is fed a {scalar.norm} scalar")
    if scalar.mean is not None:
        x = x - scalar.mean[:, None]
    return x * scalar.scale[:, None]


def _linear(program: Program, op: Op, inputs: Sequence[object]) -> object:
    (x,) = _operands(program, op, inputs, [np.ndarray], implicit=True)
    try:
        params = program.params.linear(op.name)
    except KeyError:
        raise GraphError(f"numeric backend: the workload has no weights for {op.name!r}") from None
    in_features, out_features = params.weight.shape
    shape = _matmul_shape(op)
    _check(op, "in_features", in_features, shape.in_features)
    _check(op, "out_features", out_features, shape.out_features)
    _check(op, "in_features", x.shape[-1], shape.in_features)
    fold = program.folds[op.name]
    gamma = beta = None
    static: float | None = None
    if fold.norm is not None:
        try:
            norm = program.params.norm(fold.norm)
        except KeyError:
            raise GraphError(f"numeric backend: the workload has no norm {fold.norm!r} "
                             f"(for {op.name!r})") from None
        gamma, beta = norm.gamma.astype(np.float64), norm.beta
        if fold.mode in STATIC_FOLDS:
            if STATIC_FOLDS[fold.mode] != program.params.norm_kind:
                raise GraphError(f"numeric backend: op {op.name!r} has folded_norm "
                                 f"{fold.mode!r}, the workload's norm is "
                                 f"{program.params.norm_kind}")
            static = program.params.static_scale(fold.norm)
    fmt = program.fmt
    tiling = program.tilings.get(op.name)
    # row groups of the mapping's tiling (rows, 2d): each core quantizes its own
    # input slice and weight block, and the partial products are summed (in dt,
    # row group order); columns and no tiling: one group, the whole input
    groups = list(pairwise(tiling.in_bounds)) if tiling is not None else [(0, in_features)]
    _check(op, "in_features of its tiling", groups[-1][1], in_features)
    x_in = [fmt.quantize(x[:, a:b], axis=-1) for a, b in groups]
    # the folded, quantized weights: from the runs' shared cache, or computed
    # chunk by chunk (and kept when the cache has room for them)
    key = (op.name, fold.norm, fold.centred, static, tuple(groups), fmt.name)
    cache = program.weights
    cached = cache.get(key) if cache is not None else None
    step = max(1, _CHUNK_ELEMS // in_features)
    chunks = cached.chunks if cached is not None else _folded_chunks(
        program, params, groups, gamma, fold.centred, static, step)
    keep = cached is None and cache is not None and cache.has_room(
        in_features * out_features * program.dt.itemsize)
    kept = []
    product = np.empty((x.shape[0], out_features), dtype=program.dt)
    for start, blocks in chunks:
        partial = x_in[0] @ blocks[0]
        for x_part, block in zip(x_in[1:], blocks[1:], strict=True):
            partial = partial + x_part @ block
        product[:, start:start + partial.shape[1]] = partial
        if keep:
            kept.append((start, blocks))
    bias = cached.bias if cached is not None else _folded_bias(params, beta, step)
    if keep and cache is not None:
        cache.put(key, FoldedWeights(tuple(kept), bias))
    bias_dt = bias.astype(program.dt) if bias is not None else None
    if fold.deferred:
        return Unscaled(product, bias_dt)
    return product if bias_dt is None else product + bias_dt


def _folded_chunks(program: Program, params: LinearParams, groups: list[tuple[int, int]],
                   gamma: np.ndarray | None, centred: bool, static: float | None,
                   step: int) -> Iterator[tuple[int, tuple[np.ndarray, ...]]]:
    """The linear's weights folded in fp64 (γ, centring, the static scale) and
    quantized per row group, ``step`` columns at a time: ``(first column, blocks)``."""
    for start in range(0, params.weight.shape[1], step):
        weight = params.weight[:, start:start + step].astype(np.float64)
        if gamma is not None:
            weight *= gamma[:, None]
        if centred:
            weight -= weight.mean(axis=0)
        if static is not None:
            weight *= static
        yield start, tuple(program.fmt.quantize(weight[a:b], axis=0) for a, b in groups)


def _folded_bias(params: LinearParams, beta: np.ndarray | None, step: int) -> np.ndarray | None:
    """The folded bias ``βW + b`` in fp64 (``b`` alone without β; None without both),
    summed ``step`` columns at a time as the weights are folded."""
    bias = params.bias.astype(np.float64) if params.bias is not None else None
    if beta is None:
        return bias
    bias = np.zeros(params.weight.shape[1]) if bias is None else bias
    for start in range(0, params.weight.shape[1], step):
        cols = slice(start, start + step)
        bias[cols] += beta.astype(np.float64) @ params.weight[:, cols].astype(np.float64)
    return bias


def _scale_out(program: Program, op: Op, inputs: Sequence[object]) -> object:
    norm = norm_of(op)
    if norm == "softmax":
        partial, scalar = _operands(program, op, inputs, [PartialPV, SoftmaxScalar])
        g = _geometry(program, op)
        weights = _chunk_weights(partial.chunks, scalar.reference) * scalar.inverse[..., None]
        weights = np.moveaxis(_grouped(weights, g), -1, 0)[..., None]  # chunk, b, kv, row, 1
        out = np.sum(weights * partial.partials, axis=0)  # batch, kv_heads, rows, h
        out = out.reshape(g.batch, g.heads, g.queries, g.head_size)
        return out.transpose(0, 2, 1, 3).reshape(g.batch * g.queries, g.heads * g.head_size)
    unscaled, scalar = _operands(program, op, inputs, [Unscaled, NormScalar])
    if scalar.norm != norm:
        raise GraphError(f"numeric backend: op {op.name!r} ({norm}) is fed a {scalar.norm} scalar")
    out = unscaled.product * scalar.scale[:, None]
    return out if unscaled.bias is None else out + unscaled.bias


def _softmax_max(program: Program, op: Op, inputs: Sequence[object]) -> object:
    (scores,) = _operands(program, op, inputs, [Scores])
    scope = op.max_scope
    if scope not in (MaxScope.GLOBAL, MaxScope.LOCAL):
        raise GraphError(f"numeric backend: op {op.name!r} has unknown max_scope {scope!r}")
    keys = scores.logits.shape[-1]
    chunks = min(keys, program.key_chunks) if scope == MaxScope.LOCAL else 1
    sizes = [keys // chunks + (1 if c < keys % chunks else 0) for c in range(chunks)]
    bounds = tuple(int(b) for b in np.cumsum([0, *sizes]))
    maxima = np.maximum.reduceat(scores.logits, np.asarray(bounds[:-1]), axis=-1)
    valid = np.isfinite(maxima)
    return ChunkMax(np.where(valid, maxima, 0).astype(program.dt), valid, bounds)


def _softmax_exp(program: Program, op: Op, inputs: Sequence[object]) -> object:
    scores, chunks = _operands(program, op, inputs, [Scores, ChunkMax])
    return ShiftedExp(np.exp(scores.logits - _per_key(chunks.shift, chunks.bounds)), chunks)


def _attn_scores(program: Program, op: Op, inputs: Sequence[object]) -> object:
    (qkv,) = _operands(program, op, inputs, [np.ndarray])
    g = _geometry(program, op)
    q, k = _heads(program, op, qkv, "q"), _heads(program, op, qkv, "k")
    _check(op, "keys (out_features)", k.shape[2], _matmul_shape(op).out_features)
    fmt = program.fmt
    logits = _grouped(fmt.quantize(q, axis=-1), g) @ fmt.quantize(k, axis=-1).transpose(0, 1, 3, 2)
    logits = logits.reshape(g.batch, g.heads, g.queries, -1) * program.dt.type(
        1 / np.sqrt(g.head_size))
    if op.attrs.get("causal"):
        _check(op, "keys for a causal mask", k.shape[2], g.queries)
        logits = np.where(np.tril(np.ones((g.queries, g.queries), dtype=bool)), logits, -np.inf)
    return Scores(logits.astype(program.dt))


def _attn_pv(program: Program, op: Op, inputs: Sequence[object]) -> object:
    weights, qkv = _operands(program, op, inputs, [(Probabilities, ShiftedExp), np.ndarray])
    g, fmt = _geometry(program, op), program.fmt
    v = _heads(program, op, qkv, "v")
    _check(op, "keys (in_features)", v.shape[2], _matmul_shape(op).in_features)
    if isinstance(weights, Probabilities):
        out = _grouped(fmt.quantize(weights.values, axis=-1), g) @ fmt.quantize(v, axis=-2)
        out = out.reshape(g.batch, g.heads, g.queries, g.head_size)
        return out.transpose(0, 2, 1, 3).reshape(g.batch * g.queries, g.heads * g.head_size)
    if "folded_norm" not in op.attrs:
        raise GraphError(f"numeric backend: op {op.name!r} is fed un-normalized exponentials "
                         "but is not a deferred (folded_norm) matmul")
    e, bounds = _grouped(weights.values, g), weights.chunks.bounds
    partials = [fmt.quantize(e[..., a:b], axis=-1) @ fmt.quantize(v[..., a:b, :], axis=-2)
                for a, b in pairwise(bounds)]
    return PartialPV(np.stack(partials), weights.chunks)


def _residual(program: Program, op: Op, inputs: Sequence[object]) -> object:
    a, b = _operands(program, op, inputs, [np.ndarray, np.ndarray], implicit=True)
    return a + b


def _ffn_act(program: Program, op: Op, inputs: Sequence[object]) -> object:
    (u,) = _operands(program, op, inputs, [np.ndarray])
    kind, t = op.attrs.get("activation"), program.dt.type
    if kind == "relu":
        out = np.maximum(u, t(0))
    elif kind == "gelu":
        inner = t(np.sqrt(2 / np.pi)) * (u + t(0.044715) * u * u * u)
        out = t(0.5) * u * (t(1) + np.tanh(inner))
    elif kind == "swiglu":
        gate, up = np.split(u, 2, axis=-1)
        with np.errstate(over="ignore"):
            out = gate * up / (t(1) + np.exp(-gate))
    elif kind == "geglu":  # GELU (tanh form) of the gate, times the up half
        gate, up = np.split(u, 2, axis=-1)
        inner = t(np.sqrt(2 / np.pi)) * (gate + t(0.044715) * gate * gate * gate)
        out = t(0.5) * gate * (t(1) + np.tanh(inner)) * up
    else:
        raise GraphError(f"numeric backend: op {op.name!r} has unknown activation {kind!r}")
    _check(op, "columns", out.shape[-1], _simd_shape(op).cols)
    return out


def _input(program: Program, op: Op, inputs: Sequence[object]) -> object:
    """The workload's input activations (the graph's source op)."""
    if inputs:
        raise GraphError(f"numeric backend: input op {op.name!r} must have no predecessors")
    return program.inputs


_HANDLERS: Mapping[str, Callable[[Program, Op, Sequence[object]], object]] = MappingProxyType({
    "input": _input,
    "norm.stats": _norm_stats,
    "norm.scalar": _norm_scalar,
    "norm.apply": _norm_apply,
    "norm.scale_out": _scale_out,
    "linear": _linear,
    "softmax.max": _softmax_max,
    "softmax.exp": _softmax_exp,
    "attn.scores": _attn_scores,
    "attn.pv": _attn_pv,
    "residual": _residual,
    "ffn.act": _ffn_act,
    **MODEL_HANDLERS,  # the whole-model ops (`sim.backends.numeric.model_ops`)
})

#: The op roles the numeric backend executes.
ROLES: tuple[str, ...] = tuple(sorted(_HANDLERS))


def execute_op(program: Program, op: Op, inputs: Sequence[object]) -> object:
    """The value of ``op`` given the values of its predecessors (graph edge order).

    Raises
    ------
    GraphError
        If the role is unknown or the inputs do not fit it.
    """
    handler = _HANDLERS.get(op.role)
    if handler is None:
        raise GraphError(f"numeric backend: op {op.name!r} has role {op.role!r}, which it "
                         f"cannot execute (known roles: {', '.join(ROLES)})")
    return handler(program, op, inputs)
