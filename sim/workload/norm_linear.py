"""The ``norm_linear`` workload: a normalization followed by one linear layer.

It is emitted as the plain (serialized) program; strategy passes rewrite it::

    x ─> norm.stats ─> norm.scalar ─> norm.apply ─> linear
    └──────────────────────────────────^

``x`` is an explicit source op (role ``input``, no instructions, no time): on
many cores it says where the input lives (sliced like any activation), so
every strategy pays to move it.

SIMD instructions per element-vector (γ, and for LayerNorm β, are folded into
the linear layer's weights and bias offline in every strategy, so the
strategies differ only in where the per-token scalar is applied):

========== ===================== ======================= ==================
norm       stats (reduce)        scalar (per token)      apply (elementwise)
========== ===================== ======================= ==================
rmsnorm    fma (Σx²)             rsqrt                   mul (x·r)
layernorm  add, fma (Σx, Σx²)    mul, fma, rsqrt         add, mul ((x−μ)·r)
========== ===================== ======================= ==================

For RMSNorm the 1/n and ε need no instruction: the Σx² accumulator starts at
n·ε and √n is folded into γ, since rsqrt(Σx² + nε)·√n = rsqrt(mean(x²) + ε).
"""

from __future__ import annotations

from sim.config import NormLinearWorkload
from sim.ir import Edge, MatmulShape, Op, OpGraph, OpKind, Role, SimdPattern, SimdShape

__all__ = ["NORM_INSTRS", "build_norm_linear", "input_op", "norm_ops"]

#: SIMD instructions of each normalization step, per norm kind.
NORM_INSTRS: dict[str, dict[str, tuple[str, ...]]] = {
    "rmsnorm": {"stats": ("fma",), "scalar": ("rsqrt",), "apply": ("mul",)},
    "layernorm": {
        "stats": ("add", "fma"),
        "scalar": ("mul", "fma", "rsqrt"),
        "apply": ("add", "mul"),
    },
}


def norm_ops(prefix: str, norm: str, tokens: int, hidden_size: int) -> list[Op]:
    """The three SIMD ops of a serialized normalization of ``tokens x hidden_size``.

    Named ``{prefix}.stats``, ``{prefix}.scalar`` and ``{prefix}.apply``; to be
    chained in that order.
    """
    instrs = NORM_INSTRS[norm]
    attrs = {"norm": norm}
    return [
        Op(f"{prefix}.stats", OpKind.SIMD,
           SimdShape(SimdPattern.REDUCE, tokens, hidden_size, instrs["stats"]),
           Role.NORM_STATS, attrs=attrs),
        Op(f"{prefix}.scalar", OpKind.SIMD,
           SimdShape(SimdPattern.ROWSCALAR, tokens, 1, instrs["scalar"]),
           Role.NORM_SCALAR, attrs=attrs),
        Op(f"{prefix}.apply", OpKind.SIMD,
           SimdShape(SimdPattern.ELEMENTWISE, tokens, hidden_size, instrs["apply"]),
           Role.NORM_APPLY, attrs=attrs),
    ]


def input_op(tokens: int, hidden_size: int) -> Op:
    """The source op ``x`` holding the workload's ``tokens x hidden_size`` input."""
    return Op("x", OpKind.SIMD, SimdShape(SimdPattern.ELEMENTWISE, tokens, hidden_size, ()),
              Role.INPUT)


def build_norm_linear(workload: NormLinearWorkload) -> OpGraph:
    """The serialized OpGraph of a norm followed by a linear layer.

    >>> from sim.config import NormLinearWorkload
    >>> g = build_norm_linear(NormLinearWorkload(kind="norm_linear", hidden_size=512,
    ...                                          out_features=512))
    >>> [op.name for op in g.topological_order()]
    ['x', 'norm.stats', 'norm.scalar', 'norm.apply', 'linear']
    """
    stats, scalar, apply = norm_ops("norm", workload.norm, workload.tokens, workload.hidden_size)
    linear = Op(
        "linear",
        OpKind.MATMUL,
        MatmulShape(workload.tokens, workload.hidden_size, workload.out_features),
        Role.LINEAR,
        attrs={"bias": workload.bias,
               "weight_elems": workload.hidden_size * workload.out_features,
               "bias_elems": workload.out_features if workload.bias else 0},
    )
    x = input_op(workload.tokens, workload.hidden_size)
    edges = [Edge(x.name, stats.name), Edge(stats.name, scalar.name), Edge(scalar.name, apply.name),
             Edge(x.name, apply.name), Edge(apply.name, linear.name)]
    return OpGraph.build([x, stats, scalar, apply, linear], edges, where="workload norm_linear")
