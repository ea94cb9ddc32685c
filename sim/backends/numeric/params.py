"""Seeded weights, inputs and KV caches of a workload, for the numeric backend.

Every array is drawn from its own `numpy.random.Generator` seeded with
``[seed, crc32(name)]``, so a value depends only on the seed and its name, never
on the order of generation. All values are float32 numbers (weights are
*stored* as float32 to halve memory; every format, fp64 included, starts from
exactly the same values).

Names follow the op names of `sim.workload` (the numeric backend finds a
parameter from the op that uses it):

=========================== ============================================ ===================
name                        what                                          shape
=========================== ============================================ ===================
``L{i}.qkv``                Q, K, V projections, columns ``[Q|K|V]``,       d x (H+2G)·h
                            heads contiguous (head j uses KV head
                            ``j // (H/G)``)
``L{i}.o_proj``             output projection                             H·h x d
``L{i}.ffn_up``             up projection; SwiGLU: columns ``[gate|up]``    d x F (2F)
``L{i}.ffn_down``           down projection                               F x d
``L{i}.attn_norm``,         γ (and β for LayerNorm)                       d
``L{i}.ffn_norm``
``L{i}`` (KV cache)         K and V of the ``kv_len`` cached tokens        B x G x kv_len x h
                            (decode only)
``final_norm``,             whole model: the final norm's γ (β), and      d; d x V
``head.lm_head``            the LM head (no bias)
``norm``, ``linear``        the ``norm_linear`` workload                  n; n x N
=========================== ============================================ ===================

Distributions (realistic scales): weights ~ N(0, 1/√fan_in); biases and β
~ N(0, 0.1²); γ ~ 1 + N(0, 0.25²); cached K, V ~ N(0, 1). Inputs: N(0, 1)
with signed activation outliers as observed in LLMs (LLM.int8), ``max(2, d //
512)`` fixed hidden channels scaled by ±[20, 100], plus a per-token offset
~ N(0, 4²) by default (`sim.backends.numeric.inputs`, the ``distribution``
argument).

Static calibration (the ``static`` strategy): a separate *calibration input*
of the same shape, drawn from the ``calibration`` stream of the same seed
(the same outlier channels and factors as the workload input, its own
offsets), is run through
the fp64 textbook reference (`sim.backends.numeric.reference`); the calibrated
scale of each token norm is the mean over the calibration tokens of its
per-token scalar ``r = 1/√(mean(x²) + ε)`` (RMSNorm) or ``1/√(var(x) + ε)``
(LayerNorm). Computed on first use, once.

Examples
--------
>>> from sim.config import NormLinearWorkload
>>> p = NumericParameters(NormLinearWorkload(kind="norm_linear", hidden_size=8,
...                                          out_features=4, tokens=2))
>>> p.inputs().shape, p.linear("linear").weight.shape, p.linear("linear").bias is None
((2, 8), (8, 4), True)
"""

from __future__ import annotations

import zlib

import numpy as np

from sim.backends.numeric.inputs import DEFAULT_INPUTS, InputDistribution, draw_inputs
from sim.backends.numeric.records import (
    KVCache,
    LinearParams,
    NormParams,
    NumericWorkload,
    numeric_workload,
)
from sim.backends.numeric.reference import calibrate_static_scales
from sim.config import NormLinearWorkload, TransformerWorkload
from sim.errors import ConfigError

__all__ = ["NumericParameters"]

_BIAS_STD = 0.1
_GAMMA_STD = 0.25
_DEFAULT_CACHE_BYTES = 2 * 2**30


def _frozen(array: np.ndarray) -> np.ndarray:
    array.setflags(write=False)
    return array


class NumericParameters:
    """All parameters of one ``(workload, seed)``, generated on first use.

    Linear weights are kept once generated while their total stays within
    ``cache_bytes``; beyond it they are regenerated on each use (identical
    values, bounded memory for many-layer models).

    Parameters
    ----------
    workload : TransformerWorkload or NormLinearWorkload
    seed : int
        Non-negative.
    cache_bytes : int
        Budget for kept linear weights.
    distribution : InputDistribution
        How the inputs are drawn (`sim.backends.numeric.inputs`).

    Raises
    ------
    ConfigError
        A negative or non-integer seed, or an unsupported workload.
    """

    workload: NumericWorkload

    def __init__(
        self,
        workload: NumericWorkload,
        seed: int = 0,
        cache_bytes: int = _DEFAULT_CACHE_BYTES,
        distribution: InputDistribution = DEFAULT_INPUTS,
    ) -> None:
        if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
            raise ConfigError(f"seed: must be a non-negative integer, got {seed!r}")
        self.workload = numeric_workload(workload)
        self.seed = int(seed)
        self.distribution = distribution
        self._cache_bytes = cache_bytes
        self._linear_shapes, self._norm_sizes, self._cache_shape = _shapes(workload)
        self._linears: dict[str, LinearParams] = {}
        self._norms: dict[str, NormParams] = {}
        self._kv_caches: dict[str, KVCache] = {}
        self._inputs: np.ndarray | None = None
        self._calibration: np.ndarray | None = None
        self._outliers: tuple[np.ndarray, np.ndarray] | None = None
        self._static_scales: dict[str, float] | None = None

    @property
    def norm_kind(self) -> str:
        """``rmsnorm`` or ``layernorm``."""
        w = self.workload
        return w.model.norm if isinstance(w, TransformerWorkload) else w.norm

    def _rng(self, kind: str, name: str) -> np.random.Generator:
        return np.random.default_rng([self.seed, zlib.crc32(f"{kind}:{name}".encode())])

    def inputs(self) -> np.ndarray:
        """The workload's input activations, ``tokens x hidden`` (read-only float32)."""
        if self._inputs is None:
            x, self._outliers = draw_inputs(self._rng("inputs", "x"),
                                            _input_shape(self.workload), self.distribution)
            self._inputs = _frozen(x)
        return self._inputs

    def calibration_inputs(self) -> np.ndarray:
        """The static calibration's input: shaped and distributed as `inputs`, with
        the same outlier channels and factors, drawn from the ``calibration``
        stream (read-only float32)."""
        if self._calibration is None:
            self.inputs()  # fixes the outlier channels
            x, _ = draw_inputs(self._rng("calibration", "x"), _input_shape(self.workload),
                               self.distribution, self._outliers)
            self._calibration = _frozen(x)
        return self._calibration

    def static_scale(self, name: str) -> float:
        """The calibrated constant that replaces the per-token scalar of the token
        norm ``name`` (``L0.attn_norm``, ``norm``) in the ``static`` strategy: the
        mean of its scalar over the calibration tokens (module docstring).

        Raises
        ------
        KeyError
            If the workload has no normalization of that name.
        """
        if self._static_scales is None:
            self._static_scales = calibrate_static_scales(self)
        return self._static_scales[name]

    def linear(self, name: str) -> LinearParams:
        """Weight and bias of the linear layer ``name`` (see the module docstring).

        Raises
        ------
        KeyError
            If the workload has no linear layer of that name.
        """
        if name in self._linears:
            return self._linears[name]
        in_features, out_features, has_bias = self._linear_shapes[name]
        rng = self._rng("linear", name)
        weight = rng.standard_normal((in_features, out_features), dtype=np.float32)
        weight *= np.float32(1.0 / np.sqrt(in_features))
        bias = None
        if has_bias:
            bias = _frozen((_BIAS_STD * rng.standard_normal(out_features)).astype(np.float32))
        params = LinearParams(_frozen(weight), bias)
        kept = sum(p.weight.nbytes for p in self._linears.values())
        if kept + weight.nbytes <= self._cache_bytes:
            self._linears[name] = params
        return params

    def norm(self, name: str) -> NormParams:
        """γ (and β for LayerNorm) of the normalization ``name``.

        Raises
        ------
        KeyError
            If the workload has no normalization of that name.
        """
        if name not in self._norms:
            size = self._norm_sizes[name]
            rng = self._rng("norm", name)
            gamma = (1.0 + _GAMMA_STD * rng.standard_normal(size)).astype(np.float32)
            beta = None
            if self.norm_kind == "layernorm":
                beta = _frozen((_BIAS_STD * rng.standard_normal(size)).astype(np.float32))
            self._norms[name] = NormParams(_frozen(gamma), beta)
        return self._norms[name]

    def kv_cache(self, layer: str) -> KVCache | None:
        """The KV cache of decoder block ``layer`` (``L0``, ...); None in prefill.

        Raises
        ------
        KeyError
            If the workload has no decoder block of that name.
        """
        if f"{layer}.qkv" not in self._linear_shapes:
            raise KeyError(layer)
        if self._cache_shape is None:
            return None
        if layer not in self._kv_caches:
            rng = self._rng("kv_cache", layer)
            keys = rng.standard_normal(self._cache_shape, dtype=np.float32)
            values = rng.standard_normal(self._cache_shape, dtype=np.float32)
            self._kv_caches[layer] = KVCache(_frozen(keys), _frozen(values))
        return self._kv_caches[layer]


def _input_shape(workload: TransformerWorkload | NormLinearWorkload) -> tuple[int, int]:
    if isinstance(workload, NormLinearWorkload):
        return workload.tokens, workload.hidden_size
    per_seq = workload.seq_len if workload.phase == "prefill" else 1
    return workload.batch * per_seq, workload.model.hidden_size


def _shapes(
    workload: TransformerWorkload | NormLinearWorkload,
) -> tuple[dict[str, tuple[int, int, bool]], dict[str, int], tuple[int, int, int, int] | None]:
    """Linear shapes ``(in, out, bias)``, norm sizes, and the KV-cache shape."""
    if isinstance(workload, NormLinearWorkload):
        linear = {"linear": (workload.hidden_size, workload.out_features, workload.bias)}
        return linear, {"norm": workload.hidden_size}, None
    m = workload.model
    d, h = m.hidden_size, m.head_size
    up = 2 * m.ffn_size if m.gated_ffn else m.ffn_size
    linears: dict[str, tuple[int, int, bool]] = {}
    norms: dict[str, int] = {}
    for layer in range(workload.layers or m.num_layers):
        p = f"L{layer}"
        linears[f"{p}.qkv"] = (d, (m.num_heads + 2 * m.num_kv_heads) * h, m.has_qkv_bias)
        linears[f"{p}.o_proj"] = (m.num_heads * h, d, m.bias)
        linears[f"{p}.ffn_up"] = (d, up, m.bias)
        linears[f"{p}.ffn_down"] = (m.ffn_size, d, m.bias)
        norms[f"{p}.attn_norm"] = d
        norms[f"{p}.ffn_norm"] = d
    if workload.whole_model:  # the final norm and the LM head (no bias)
        norms["final_norm"] = d
        linears["head.lm_head"] = (d, m.vocab_size, False)
    cache = None
    if workload.phase == "decode":
        cache = (workload.batch, m.num_kv_heads, workload.kv_len, h)
    return linears, norms, cache
