"""The fp64 textbook reference of a workload, written without the OpGraph.

This is what the numeric backend's graph execution is compared against, so it
shares nothing with it but the parameters, read through `ParameterSource`
(`NumericParameters` is one; `sim.backends.numeric.reference_output` makes one
from a seed):

- LayerNorm ``(x − mean) / √(var + ε) · γ + β`` with the two-pass variance
  ``mean((x − mean)²)``; RMSNorm ``x / √(mean(x²) + ε) · γ``; ε = the model's
  ``norm_eps`` (`NORM_EPS` for ``norm_linear``); γ and β applied explicitly (never folded).
- Pre-norm decoder block: ``x += o_proj(attention(norm(x)))``, then
  ``x += down(act(up(norm(x))))``; linear layers ``y = x·W + b``.
- Whole model (``workload.whole_model``): the blocks' input stands for the
  embedding rows; the output is the logits ``lm_head(final_norm(x))`` of each
  sequence's last token (``batch x vocab_size``).
- Attention: ``softmax(q·kᵀ/√h) · v`` per head with the true row max; GQA
  query head j reads KV head ``j // (H/G)``; prefill: each of the ``batch``
  sequences attends causally to itself; decode: each sequence's one new token
  attends to its ``kv_len`` cached tokens followed by itself. No positional
  encoding (no RoPE): positions enter only through the causal mask.
- Activations: ReLU; GELU in its tanh form (GPT-2's ``gelu_new``, as the
  workload's SIMD program computes it); SwiGLU ``silu(gate)·up`` and GeGLU
  ``gelu(gate)·up`` with ``[gate|up]`` the two halves of the up projection's outputs.

`calibrate_static_scales` runs this reference on the calibration input and
returns, per token norm, the mean of its per-token scalar ``r`` (the constant
of the ``static`` strategy).

Examples
--------
>>> from sim.backends.numeric.params import NumericParameters
>>> from sim.config import NormLinearWorkload
>>> w = NormLinearWorkload(kind="norm_linear", hidden_size=16, out_features=4, tokens=3)
>>> textbook_output(w, NumericParameters(w)).shape
(3, 4)
"""

from __future__ import annotations

import numpy as np

from sim.backends.numeric.records import (
    LinearParams,
    NormParams,
    NumericWorkload,
    ParameterSource,
    norm_eps,
)
from sim.config import NormLinearWorkload, TransformerWorkload

__all__ = ["calibrate_static_scales", "textbook_output"]

#: Weight elements converted to fp64 at a time (bounds the reference's memory).
_CHUNK_ELEMS = 2**23


def textbook_output(
    workload: NumericWorkload,
    params: ParameterSource,
    *,
    inputs: np.ndarray | None = None,
    record: dict[str, list[np.ndarray]] | None = None,
    block_outputs: dict[str, np.ndarray] | None = None,
) -> np.ndarray:
    """The workload's output computed in fp64 the textbook way.

    Parameters
    ----------
    workload : TransformerWorkload or NormLinearWorkload
    params : ParameterSource
        The parameters and inputs of ``workload``.
    inputs : numpy.ndarray, optional
        Run on these ``tokens x hidden`` activations instead of
        ``params.inputs()`` (the static calibration's input).
    record : dict, optional
        If given, every token norm appends its per-token scalar ``r`` (a
        ``tokens`` fp64 array) to ``record[name]`` (``L0.attn_norm``, ``norm``).
        Recording does not change the result.
    block_outputs : dict, optional
        If given, the output of every linear a token norm feeds (a norm →
        linear block: ``L0.qkv``, ``L0.ffn_up``, ``linear``), fp64
        ``tokens x out_features``, is stored under the linear's name.

    Returns
    -------
    numpy.ndarray
        ``tokens x hidden_size`` (transformer: the last block's output; a whole
        model: ``batch x vocab_size`` logits) or ``tokens x out_features``
        (norm_linear), float64.

    Raises
    ------
    ValueError
        If ``inputs`` is not shaped like ``params.inputs()``.
    """
    if inputs is not None and inputs.shape != params.inputs().shape:
        raise ValueError(f"inputs: shape {inputs.shape}, the workload's is {params.inputs().shape}")
    x = (params.inputs() if inputs is None else inputs).astype(np.float64)

    def norm_linear(x: np.ndarray, norm: str, kind: str, linear: str) -> np.ndarray:
        h = _normalize(x, params.norm(norm), kind, norm_eps(workload), record, norm)
        y = _affine(h, params.linear(linear))
        if block_outputs is not None:
            block_outputs[linear] = y
        return y

    if isinstance(workload, NormLinearWorkload):
        return norm_linear(x, "norm", workload.norm, "linear")
    model = workload.model
    for layer in range(workload.layers or model.num_layers):
        p = f"L{layer}"
        qkv = norm_linear(x, f"{p}.attn_norm", model.norm, f"{p}.qkv")
        x = x + _affine(_attention(qkv, workload, params, p), params.linear(f"{p}.o_proj"))
        u = norm_linear(x, f"{p}.ffn_norm", model.norm, f"{p}.ffn_up")
        x = x + _affine(_activation(u, model.activation), params.linear(f"{p}.ffn_down"))
    if workload.whole_model:  # each sequence's last token through the final norm and head
        per_sequence = workload.seq_len if workload.phase == "prefill" else 1
        last = x.reshape(workload.batch, per_sequence, -1)[:, -1, :]
        return norm_linear(last, "final_norm", model.norm, "head.lm_head")
    return x


def calibrate_static_scales(params: ParameterSource) -> dict[str, float]:
    """Per token norm (by name), the mean over the calibration tokens of its
    per-token scalar ``r``, from this reference run on
    ``params.calibration_inputs()`` (the ``static`` strategy's constants)."""
    record: dict[str, list[np.ndarray]] = {}
    textbook_output(params.workload, params, inputs=params.calibration_inputs(),
                    record=record)
    return {name: float(np.mean(np.concatenate(scales))) for name, scales in record.items()}


def _normalize(x: np.ndarray, norm: NormParams, kind: str, eps: float,
               record: dict[str, list[np.ndarray]] | None = None, name: str = "") -> np.ndarray:
    gamma = norm.gamma.astype(np.float64)
    if kind == "rmsnorm":
        root = np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps)
        if record is not None:
            record.setdefault(name, []).append(1 / root[:, 0])
        return x / root * gamma
    mean = np.mean(x, axis=-1, keepdims=True)
    var = np.mean((x - mean) ** 2, axis=-1, keepdims=True)
    beta = norm.beta.astype(np.float64) if norm.beta is not None else 0.0
    root = np.sqrt(var + eps)
    if record is not None:
        record.setdefault(name, []).append(1 / root[:, 0])
    return (x - mean) / root * gamma + beta


def _affine(x: np.ndarray, linear: LinearParams) -> np.ndarray:
    """``x·W + b`` in fp64, converting W a column block at a time."""
    in_features, out_features = linear.weight.shape
    step = max(1, _CHUNK_ELEMS // in_features)
    y = np.empty((x.shape[0], out_features))
    for start in range(0, out_features, step):
        y[:, start:start + step] = x @ linear.weight[:, start:start + step].astype(np.float64)
    if linear.bias is not None:
        y += linear.bias.astype(np.float64)
    return y


def _attention(
    qkv: np.ndarray, workload: TransformerWorkload, params: ParameterSource, layer: str
) -> np.ndarray:
    m = workload.model
    heads, kv_heads, h = m.num_heads, m.num_kv_heads, m.head_size
    prefill = workload.phase == "prefill"
    queries = workload.seq_len if prefill else 1
    per_token = qkv.reshape(workload.batch, queries, heads + 2 * kv_heads, h)
    q = per_token[:, :, :heads].transpose(0, 2, 1, 3)  # batch, head, query, h
    k = per_token[:, :, heads:heads + kv_heads].transpose(0, 2, 1, 3)
    v = per_token[:, :, heads + kv_heads:].transpose(0, 2, 1, 3)
    cache = params.kv_cache(layer)
    if cache is not None:
        k = np.concatenate([cache.keys.astype(np.float64), k], axis=2)
        v = np.concatenate([cache.values.astype(np.float64), v], axis=2)
    group = heads // kv_heads
    k, v = np.repeat(k, group, axis=1), np.repeat(v, group, axis=1)  # head j -> KV head j//group
    scores = q @ k.transpose(0, 1, 3, 2) / np.sqrt(h)
    if prefill:
        causal = np.tril(np.ones((queries, queries), dtype=bool))
        scores = np.where(causal, scores, -np.inf)
    weights = np.exp(scores - scores.max(axis=-1, keepdims=True))
    weights /= weights.sum(axis=-1, keepdims=True)
    out = weights @ v  # batch, head, query, h
    return out.transpose(0, 2, 1, 3).reshape(workload.batch * queries, heads * h)


def _activation(u: np.ndarray, kind: str) -> np.ndarray:
    if kind == "relu":
        return np.maximum(u, 0.0)
    if kind == "gelu":
        return 0.5 * u * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (u + 0.044715 * u**3)))
    gate, up = np.split(u, 2, axis=-1)
    if kind == "geglu":
        return _activation(gate, "gelu") * up
    with np.errstate(over="ignore"):
        return gate / (1.0 + np.exp(-gate)) * up
