"""What the numeric backend decides before running a graph: how every linear
folds γ/β (`plan_folds`), the attention's shape, and the `Program` each op
reads (see `sim.backends.numeric`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

from sim.backends.numeric.formats import NumberFormat
from sim.backends.numeric.params import NumericParameters
from sim.backends.numeric.weight_cache import WeightCache
from sim.errors import GraphError
from sim.ir import Op, OpGraph, Role
from sim.ir.plan import LinearTiling

__all__ = [
    "DEFERRED_FOLDS",
    "FOLD_NORM",
    "STATIC_FOLDS",
    "TOKEN_NORMS",
    "AttentionGeometry",
    "Fold",
    "Program",
    "norm_of",
    "param_prefix",
    "plan_folds",
]

#: ``folded_norm`` values of a deferred linear (its epilogue adds the bias).
DEFERRED_FOLDS = ("gamma", "centred", "none")
#: The norm whose scalar a deferred fold's epilogue must apply.
FOLD_NORM = MappingProxyType({"gamma": "rmsnorm", "centred": "layernorm", "none": "softmax"})
#: ``static`` folds: the norm's calibrated constant scales the folded weights.
STATIC_FOLDS = MappingProxyType({"static_gamma": "rmsnorm", "static_centred": "layernorm"})
#: Normalizations of a token vector (softmax is the other kind).
TOKEN_NORMS = ("rmsnorm", "layernorm")


@dataclass(frozen=True, slots=True)
class AttentionGeometry:
    """Attention shape: ``batch`` sequences of ``queries`` query tokens each."""

    batch: int
    queries: int
    heads: int
    kv_heads: int
    head_size: int


@dataclass(frozen=True, slots=True)
class Fold:
    """How a linear op uses its weights.

    ``mode``: ``plain`` (W, b), ``scaled`` (fed a ``norm.apply``: diag(γ)W,
    βW + b), a deferred ``folded_norm`` (``gamma``, ``centred``, ``none``)
    whose bias waits for the ``norm.scale_out``, or a static one
    (``static_gamma``: s·diag(γ)W, ``static_centred``: s·(I − 11ᵀ/n)diag(γ)W;
    bias βW + b; s the norm's calibrated constant). ``norm`` names the γ/β
    (and s).
    """

    mode: str
    norm: str | None

    @property
    def deferred(self) -> bool:
        """The bias is added by the following ``norm.scale_out``."""
        return self.mode in DEFERRED_FOLDS

    @property
    def centred(self) -> bool:
        """The folded weights' columns are centred (LayerNorm)."""
        return self.mode in ("centred", "static_centred")


@dataclass(frozen=True)
class Program:
    """Everything an op needs besides its inputs."""

    fmt: NumberFormat
    params: NumericParameters
    key_chunks: int
    geometry: AttentionGeometry | None
    inputs: np.ndarray
    folds: Mapping[str, Fold]
    #: The mapping's tiling of each linear (`sim.ir.plan.LinearTiling`), by op name:
    #: a linear cut along its inputs sums per-row-group partial products, each
    #: quantized on its own core (absent: the whole input on one core).
    tilings: Mapping[str, LinearTiling] = field(default_factory=dict)
    #: Folded, quantized weights shared with other runs on the same parameters
    #: (`sim.backends.numeric.weight_cache`); None: fold and quantize every time.
    weights: WeightCache | None = None

    @property
    def dt(self) -> np.dtype[np.floating]:
        """The compute precision."""
        return self.fmt.compute_dtype


def param_prefix(name: str) -> str:
    """The op name without its last part, under which its parameters are found
    (``L0.attn_norm.apply`` -> ``L0.attn_norm``)."""
    return name.rsplit(".", 1)[0]


def norm_of(op: Op) -> str:
    """The op's ``norm`` attr (``rmsnorm``, ``layernorm`` or ``softmax``).

    Raises
    ------
    GraphError
        Any other value, naming the op.
    """
    norm = op.attrs.get("norm")
    if norm not in (*TOKEN_NORMS, "softmax"):
        raise GraphError(f"numeric backend: op {op.name!r} has unknown norm {norm!r}")
    return norm


def plan_folds(graph: OpGraph) -> dict[str, Fold]:
    """How every ``linear`` op of ``graph`` folds γ/β (see `Fold`).

    Raises
    ------
    GraphError
        A deferred linear without exactly one ``norm.scale_out`` (with one
        ``norm.scalar``) after it, a ``folded_norm`` that does not match the
        norm, a static linear without ``static_norm`` or followed by a
        ``norm.scale_out``, or an RMSNorm/LayerNorm ``norm.apply`` feeding a
        non-linear op.
    """
    folds: dict[str, Fold] = {}
    for op in graph.ops:
        if op.role == Role.NORM_APPLY and norm_of(op) in TOKEN_NORMS:
            for edge in graph.successors(op.name):
                consumer = graph.op(edge.dst)
                if consumer.role != Role.LINEAR or "folded_norm" in consumer.attrs:
                    raise GraphError(
                        f"numeric backend: {op.name!r} feeds {consumer.name!r} "
                        f"({consumer.role}); γ and β fold only into a following linear"
                    )
        if op.role != Role.LINEAR:
            continue
        folded = op.attrs.get("folded_norm")
        if folded is None:
            applies = [graph.op(e.src) for e in graph.predecessors(op.name)
                       if graph.op(e.src).role == Role.NORM_APPLY]
            token_applies = [a for a in applies if norm_of(a) in TOKEN_NORMS]
            folds[op.name] = (Fold("scaled", param_prefix(token_applies[0].name)) if token_applies
                              else Fold("plain", None))
            continue
        if folded in STATIC_FOLDS:
            source = op.attrs.get("static_norm")
            if not isinstance(source, str):
                raise GraphError(f"numeric backend: static linear {op.name!r} names no "
                                 "static_norm")
            if any(graph.op(e.dst).role == Role.NORM_SCALE_OUT for e in graph.successors(op.name)):
                raise GraphError(f"numeric backend: static linear {op.name!r} must not feed "
                                 "a norm.scale_out (its scale is folded into the weights)")
            folds[op.name] = Fold(folded, source)
            continue
        if folded not in DEFERRED_FOLDS:
            raise GraphError(f"numeric backend: op {op.name!r} has unknown folded_norm {folded!r}")
        epilogues = [graph.op(e.dst) for e in graph.successors(op.name)
                     if graph.op(e.dst).role == Role.NORM_SCALE_OUT]
        if len(epilogues) != 1 or len(graph.successors(op.name)) != 1:
            raise GraphError(f"numeric backend: deferred linear {op.name!r} must feed exactly "
                             "one norm.scale_out and nothing else")
        scalars = [graph.op(e.src) for e in graph.predecessors(epilogues[0].name)
                   if graph.op(e.src).role == Role.NORM_SCALAR]
        if len(scalars) != 1 or norm_of(scalars[0]) != FOLD_NORM[folded]:
            raise GraphError(f"numeric backend: {op.name!r} has folded_norm {folded!r} but its "
                             f"epilogue {epilogues[0].name!r} is not scaled by one "
                             f"{FOLD_NORM[folded]} norm.scalar")
        folds[op.name] = Fold(folded, None if folded == "none" else param_prefix(scalars[0].name))
    return folds
