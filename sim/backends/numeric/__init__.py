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
ratio. `verify` reports it for the workload's output and for each
normalization → linear block at its own output
(`sim.backends.numeric.verification`). Inputs: `sim.backends.numeric.inputs`.

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

from sim.backends.numeric.formats import (
    FORMAT_NAMES,
    FORMATS,
    NumberFormat,
    number_format,
    quantize_bf16,
    quantize_bfp,
)
from sim.backends.numeric.inputs import DEFAULT_INPUTS, InputDistribution
from sim.backends.numeric.ops import ROLES
from sim.backends.numeric.params import NumericParameters
from sim.backends.numeric.records import NumericWorkload, numeric_workload
from sim.backends.numeric.run import Workload, reference_output, run_numeric
from sim.backends.numeric.verification import (
    error_metrics,
    norm_linear_blocks,
    verify,
    verify_table,
)

__all__ = [
    "DEFAULT_INPUTS",
    "FORMATS",
    "FORMAT_NAMES",
    "ROLES",
    "InputDistribution",
    "NumberFormat",
    "NumericParameters",
    "NumericWorkload",
    "Workload",
    "error_metrics",
    "norm_linear_blocks",
    "number_format",
    "numeric_workload",
    "quantize_bf16",
    "quantize_bfp",
    "reference_output",
    "run_numeric",
    "verify",
    "verify_table",
]
