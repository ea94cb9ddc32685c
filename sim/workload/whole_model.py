"""The ops of a whole per-token step around the decoder blocks (``workload.whole_model``).

With ``L`` blocks (``workload.layers``, default all), B sequences and T tokens
per step (``B`` in decode, ``B·seq_len`` in prefill)::

    host.tokens_in ─> embed.lookup ─> L0 … L{L-1} ─> [final.select] ─> final_norm
      (stats -> scalar -> apply) ─> head.lm_head ─> sample.local ─> sample.pick
      ─> host.tokens_out

and in every block ``L{i}.qkv ─> L{i}.kv_append`` (a sink: the cache must be
written before the next step, nothing in this one waits for it).

- ``host.tokens_in``: T token ids of 4 B over the host link (`TransferShape`
  ``host``), on the first core of layer 0's group;
- ``embed.lookup``: every token's row of the ``vocab_size x hidden_size``
  table, ``weight_bits`` per element, read from the card's LPDDR (``lpddr``;
  the table does not belong in SRAM: 525 MB for Llama-3-8B at 8 bits), split
  by columns over layer 0's group as layer 0 expects its input (core i reads
  columns i of every row);
- ``L{i}.kv_append``: the step's new K and V (``2 · kv_heads · head_size``
  elements per token, ``activation_bits`` each) stored into the KV cache by
  the SIMD units of the attention cores holding the new keys (``sram``);
- ``final.select`` (prefill only): each sequence's last token, the one whose
  logits are sampled (no instruction, no time); the final norm, the head and
  sampling then run on B tokens;
- ``final_norm``: the model's norm (RMSNorm or LayerNorm, the ops of
  `sim.workload.norm_linear.norm_ops`), so every strategy rewrites it with
  the head as it does a block's norm with its linear;
- ``head.lm_head``: the linear ``hidden_size -> vocab_size`` (no bias), placed
  like a layer: attr ``layer = L``, on layer group ``L mod G``, tiled by the
  mapping like any linear (``schedule.linear_splits`` key ``head.lm_head``);
- ``sample.local``: each core's best candidates (1 for argmax, ``top_k``)
  of its slice of the logits, a SIMD reduce (`sim.hardware.model_ops.sampling_instrs`);
- ``sample.pick``: on the group's first core after the candidates are reduced
  to it (`sim.hardware.model_ops.pick_instrs`);
- ``host.tokens_out``: the B sampled ids (4 B each) over the host link.
"""

from __future__ import annotations

from sim.config import TransformerWorkload
from sim.hardware.model_ops import pick_instrs, sampling_instrs
from sim.ir import (
    Edge,
    MatmulShape,
    Op,
    OpKind,
    Role,
    SimdPattern,
    SimdShape,
    TransferShape,
)
from sim.workload.norm_linear import norm_ops

__all__ = ["TOKEN_ID_BITS", "WHOLE_MODEL_ROLES", "kv_append_op", "model_input_ops",
           "model_output_ops"]

#: Bits of one token id over the host link.
TOKEN_ID_BITS = 32

#: The roles only a whole model has (``select.last_token`` in prefill only).
WHOLE_MODEL_ROLES = frozenset({Role.HOST_IN, Role.EMBED, Role.KV_APPEND, Role.TOKEN_SELECT,
                               Role.SAMPLE_LOCAL, Role.SAMPLE_PICK, Role.HOST_OUT})


def _tokens(workload: TransformerWorkload) -> int:
    return workload.batch * (workload.seq_len if workload.phase == "prefill" else 1)


def _at(op: Op, layer: int, **attrs: object) -> Op:
    return Op(op.name, op.kind, op.shape, op.role, attrs={**op.attrs, **attrs, "layer": layer})


def model_input_ops(workload: TransformerWorkload) -> tuple[list[Op], list[Edge], str]:
    """``host.tokens_in`` and ``embed.lookup`` (layer 0), their edge, and the name
    of the op producing layer 0's input."""
    tokens, d = _tokens(workload), workload.model.hidden_size
    ids = Op("host.tokens_in", OpKind.TRANSFER, TransferShape.of("host", tokens, 1, TOKEN_ID_BITS),
             Role.HOST_IN, attrs={"layer": 0})
    embed = Op("embed.lookup", OpKind.TRANSFER,
               TransferShape.of("lpddr", tokens, d, workload.weight_bits), Role.EMBED,
               attrs={"layer": 0, "vocab_size": workload.model.vocab_size})
    return [ids, embed], [Edge(ids.name, embed.name)], embed.name


def kv_append_op(layer: int, workload: TransformerWorkload) -> Op:
    """``L{layer}.kv_append``: the K and V of the step's new tokens, one row of
    ``head_size`` per (token, KV head, K or V)."""
    m = workload.model
    new_per_sequence = workload.seq_len if workload.phase == "prefill" else 1
    rows = 2 * workload.batch * m.num_kv_heads * new_per_sequence
    return Op(f"L{layer}.kv_append", OpKind.TRANSFER,
              TransferShape.of("sram", rows, m.head_size, workload.activation_bits),
              Role.KV_APPEND, attrs={"layer": layer, "new_keys_per_set": new_per_sequence})


def model_output_ops(workload: TransformerWorkload, layers: int,
                     last_block_output: str) -> tuple[list[Op], list[Edge]]:
    """The ops after the last block (module docstring) and their edges; the head's
    ops carry ``layer = layers``, ``final.select`` the last block's layer."""
    model, batch = workload.model, workload.batch
    d, vocab, k = model.hidden_size, model.vocab_size, workload.candidates
    ops: list[Op] = []
    edges: list[Edge] = []
    source = last_block_output
    if _tokens(workload) != batch:  # prefill: sample each sequence's last token only
        select = Op("final.select", OpKind.SIMD, SimdShape(SimdPattern.ELEMENTWISE, batch, d, ()),
                    Role.TOKEN_SELECT, attrs={"layer": layers - 1,
                                              "tokens_per_sequence": workload.seq_len})
        ops.append(select)
        edges.append(Edge(source, select.name))
        source = select.name
    stats, scalar, apply = (_at(op, layers) for op in norm_ops("final_norm", model.norm, batch, d))
    head = Op("head.lm_head", OpKind.MATMUL, MatmulShape(batch, d, vocab), Role.LINEAR,
              attrs={"bias": False, "weight_elems": d * vocab, "bias_elems": 0,
                     "layer": layers})
    sampling = {"sampling": workload.sampling, "candidates": k, "layer": layers}
    local = Op("sample.local", OpKind.SIMD,
               SimdShape(SimdPattern.REDUCE, batch, vocab, sampling_instrs(k)),
               Role.SAMPLE_LOCAL, attrs=sampling)
    pick = Op("sample.pick", OpKind.SIMD,
              SimdShape(SimdPattern.ELEMENTWISE, batch, 1 if k == 1 else k, pick_instrs(k)),
              Role.SAMPLE_PICK, attrs=sampling)
    out = Op("host.tokens_out", OpKind.TRANSFER, TransferShape.of("host", batch, 1, TOKEN_ID_BITS),
             Role.HOST_OUT, attrs={"layer": layers})
    ops += [stats, scalar, apply, head, local, pick, out]
    edges += [Edge(source, stats.name), Edge(stats.name, scalar.name),
              Edge(scalar.name, apply.name), Edge(source, apply.name),
              Edge(apply.name, head.name), Edge(head.name, local.name),
              Edge(local.name, pick.name), Edge(pick.name, out.name)]
    return ops, edges
