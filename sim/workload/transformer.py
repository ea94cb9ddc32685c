"""The ``transformer`` workload: decoder blocks of a model, prefill or decode.

One pre-norm decoder block, emitted as the plain (serialized) program::

    x ─> attn_norm (stats -> scalar -> apply) ─> qkv ─> scores ─> softmax ─> pv
      ─> o_proj ─> attn_residual (+x) ─> ffn_norm ─> up (gate+up for SwiGLU)
      ─> act ─> down ─> ffn_residual (+attn_residual) ─> next block

Softmax is a normalization too, written as its steps::

    scores ─> max ─> exp(s − max) ─> sum ─> 1/sum ─> apply (e · 1/sum) ─> pv
       └────────────^      └─────────────────────────^

Shapes (d = hidden size, H heads, G KV heads, h = d/H, B batch): prefill has
T = B·seq_len tokens, each attending causally to its sequence (S = seq_len
keys, the masked half computed and zeroed: full cost); decode has T = B tokens
attending to S = kv_len + 1 keys. Attention matmuls read the KV cache (no
stationary weights) and run ``groups = B·G`` times with ``tokens = q·H/G``
query rows (q = seq_len or 1).

SIMD instructions per element-vector of the activations: ReLU ``max``;
SwiGLU ``silu(g)·u = g·u / (1 + exp(−g))``: exp, add, reciprocal, mul, mul;
GELU (tanh form, ``tanh(z) = 1 − 2/(exp(2z) + 1)``): mul, fma, mul, exp, add,
reciprocal, fma, mul. Residual adds: add.

With ``workload.whole_model`` the step also reads token ids and embeddings
before the first block, appends every block's new K and V to the KV cache,
and ends with the final norm, the LM head, sampling and the sampled ids out
(`sim.workload.whole_model`).
"""

from __future__ import annotations

from dataclasses import replace

from sim.config import ModelSpec, TransformerWorkload
from sim.ir import Edge, MatmulShape, Op, OpGraph, OpKind, Role, SimdPattern, SimdShape
from sim.workload.norm_linear import input_op, norm_ops
from sim.workload.whole_model import kv_append_op, model_input_ops, model_output_ops

__all__ = [
    "ACTIVATION_INSTRS",
    "SOFTMAX_INSTRS",
    "build_transformer",
    "decoder_block",
    "workload_tokens",
]

ACTIVATION_INSTRS: dict[str, tuple[str, ...]] = {
    "relu": ("max",),
    "swiglu": ("exp", "add", "reciprocal", "mul", "mul"),
    "gelu": ("mul", "fma", "mul", "exp", "add", "reciprocal", "fma", "mul"),
    # GELU of the gate (as "gelu"), times the up half
    "geglu": ("mul", "fma", "mul", "exp", "add", "reciprocal", "fma", "mul", "mul"),
}

#: Softmax steps: row max, exp(s - max), row sum, reciprocal, scale.
SOFTMAX_INSTRS: dict[str, tuple[str, ...]] = {
    "max": ("max",),
    "exp": ("add", "exp"),
    "stats": ("add",),
    "scalar": ("reciprocal",),
    "apply": ("mul",),
}


def _simd(name: str, pattern: SimdPattern, rows: int, cols: int, instrs: tuple[str, ...],
          role: Role, **attrs: object) -> Op:
    return Op(name, OpKind.SIMD, SimdShape(pattern, rows, cols, instrs), role, attrs=attrs)


def _linear(name: str, tokens: int, k: int, n: int, bias: bool) -> Op:
    return Op(name, OpKind.MATMUL, MatmulShape(tokens, k, n), Role.LINEAR,
              attrs={"bias": bias, "weight_elems": k * n, "bias_elems": n if bias else 0})


def softmax_ops(prefix: str, rows: int, keys: int, causal: bool) -> list[Op]:
    """The five SIMD ops of a serialized softmax over ``rows x keys`` scores."""
    attrs = {"norm": "softmax", "causal": causal}
    i = SOFTMAX_INSTRS
    return [
        _simd(f"{prefix}.max", SimdPattern.REDUCE, rows, keys, i["max"], Role.SOFTMAX_MAX,
              **attrs),
        _simd(f"{prefix}.exp", SimdPattern.ELEMENTWISE, rows, keys, i["exp"], Role.SOFTMAX_EXP,
              **attrs),
        _simd(f"{prefix}.stats", SimdPattern.REDUCE, rows, keys, i["stats"], Role.NORM_STATS,
              **attrs),
        _simd(f"{prefix}.scalar", SimdPattern.ROWSCALAR, rows, 1, i["scalar"], Role.NORM_SCALAR,
              **attrs),
        _simd(f"{prefix}.apply", SimdPattern.ELEMENTWISE, rows, keys, i["apply"], Role.NORM_APPLY,
              **attrs),
    ]


def workload_tokens(workload: TransformerWorkload) -> int:
    """Token vectors per step: ``batch * seq_len`` in prefill, ``batch`` in decode."""
    return workload.batch * (workload.seq_len if workload.phase == "prefill" else 1)


def decoder_block(
    layer: int, model: ModelSpec, workload: TransformerWorkload, block_input: str
) -> tuple[list[Op], list[Edge], str]:
    """Ops (named ``L{layer}.*``, with attr ``layer``) and edges of one block;
    returns them and the name of its output op.

    ``block_input`` is the op producing the block's input (the model's ``x``
    source op for layer 0).
    """
    prefix = f"L{layer}"
    d, h = model.hidden_size, model.head_size
    heads, kv_heads = model.num_heads, model.num_kv_heads
    prefill = workload.phase == "prefill"
    q_per_seq = workload.seq_len if prefill else 1
    keys = workload.seq_len if prefill else workload.kv_len + 1
    tokens = workload.batch * q_per_seq
    rows_per_group = q_per_seq * heads // kv_heads
    groups = workload.batch * kv_heads
    ffn_up = 2 * model.ffn_size if model.gated_ffn else model.ffn_size

    attn_norm = norm_ops(f"{prefix}.attn_norm", model.norm, tokens, d)
    ffn_norm = norm_ops(f"{prefix}.ffn_norm", model.norm, tokens, d)
    softmax = softmax_ops(f"{prefix}.softmax", workload.batch * heads * q_per_seq, keys, prefill)
    qkv = _linear(f"{prefix}.qkv", tokens, d, (heads + 2 * kv_heads) * h, model.has_qkv_bias)
    resident = workload.kv_resident_batch or workload.batch  # KV caches stored (README)
    scores = Op(f"{prefix}.scores", OpKind.MATMUL, MatmulShape(rows_per_group, h, keys, groups),
                Role.ATTN_SCORES, attrs={"causal": prefill, "kv_resident": (resident,
                                                                           workload.batch)})
    pv = Op(f"{prefix}.pv", OpKind.MATMUL, MatmulShape(rows_per_group, keys, h, groups),
            Role.ATTN_PV, attrs={"causal": prefill})
    o_proj = _linear(f"{prefix}.o_proj", tokens, heads * h, d, model.bias)
    attn_res = _simd(f"{prefix}.attn_residual", SimdPattern.ELEMENTWISE, tokens, d, ("add",),
                     Role.RESIDUAL)
    up = _linear(f"{prefix}.ffn_up", tokens, d, ffn_up, model.bias)
    act = _simd(f"{prefix}.ffn_act", SimdPattern.ELEMENTWISE, tokens, model.ffn_size,
                ACTIVATION_INSTRS[model.activation], Role.FFN_ACT, activation=model.activation)
    down = _linear(f"{prefix}.ffn_down", tokens, model.ffn_size, d, model.bias)
    ffn_res = _simd(f"{prefix}.ffn_residual", SimdPattern.ELEMENTWISE, tokens, d, ("add",),
                    Role.RESIDUAL)

    a_stats, a_scalar, a_apply = attn_norm
    f_stats, f_scalar, f_apply = ffn_norm
    s_max, s_exp, s_sum, s_scalar, s_apply = softmax
    chain = [
        (a_stats, a_scalar), (a_scalar, a_apply), (a_apply, qkv), (qkv, scores),
        (scores, s_max), (scores, s_exp), (s_max, s_exp), (s_exp, s_sum), (s_sum, s_scalar),
        (s_scalar, s_apply), (s_exp, s_apply), (s_apply, pv), (qkv, pv), (pv, o_proj),
        (o_proj, attn_res), (attn_res, f_stats), (attn_res, f_apply), (f_stats, f_scalar),
        (f_scalar, f_apply), (f_apply, up), (up, act), (act, down), (down, ffn_res),
        (attn_res, ffn_res),
    ]
    edges = [Edge(a.name, b.name) for a, b in chain]
    edges += [Edge(block_input, a_stats.name), Edge(block_input, a_apply.name),
              Edge(block_input, attn_res.name)]
    ops = [*attn_norm, qkv, scores, *softmax, pv, o_proj, attn_res, *ffn_norm, up, act, down,
           ffn_res]
    if workload.whole_model:  # the new K and V into the cache, from the QKV projection
        append = kv_append_op(layer, workload)  # listed after the scores, which it never delays
        ops.insert(ops.index(scores) + 1, append)
        edges.append(Edge(qkv.name, append.name))
    return [replace(op, attrs={**op.attrs, "layer": layer}) for op in ops], edges, ffn_res.name


def build_transformer(workload: TransformerWorkload) -> OpGraph:
    """The serialized OpGraph of ``workload.layers`` (default: all) decoder blocks.

    >>> from sim.config import ModelSpec, TransformerWorkload
    >>> tiny = ModelSpec(hidden_size=64, num_heads=4, num_kv_heads=2, ffn_size=128,
    ...                  activation="swiglu", norm="rmsnorm", num_layers=2, vocab_size=10)
    >>> g = build_transformer(TransformerWorkload(kind="transformer", model=tiny, kv_len=7))
    >>> len(g.ops), g.op("L1.pv").shape
    (41, MatmulShape(tokens=2, in_features=8, out_features=16, groups=2))
    """
    model = workload.model
    layers = workload.layers or model.num_layers
    if workload.whole_model:  # token ids in, embedding lookup (`sim.workload.whole_model`)
        ops, edges, output = model_input_ops(workload)
    else:
        model_input = replace(input_op(workload_tokens(workload), model.hidden_size),
                              attrs={"layer": 0})
        ops, edges, output = [model_input], [], model_input.name
    for layer in range(layers):
        block_ops, block_edges, output = decoder_block(layer, model, workload, output)
        ops += block_ops
        edges += block_edges
    if workload.whole_model:  # final norm, LM head, sampling, sampled ids out
        tail_ops, tail_edges = model_output_ops(workload, layers, output)
        ops += tail_ops
        edges += tail_edges
    return OpGraph.build(ops, edges, where=f"workload transformer ({model.name})")
