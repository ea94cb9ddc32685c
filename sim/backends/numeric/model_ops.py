"""What the whole-model ops compute in the numeric backend (``workload.whole_model``).

=================== =======================================================================
role                computation
=================== =======================================================================
``host.in``         the step's token ids (`TokenIds`; their values are not modelled)
``embed.lookup``    the workload's input activations: they stand for the embedding rows
                    of the token ids (the table itself is not generated)
``kv.append``       the block's new K and V stored (`StoredKV`, a sink nothing reads: the
                    attention of this step reads them from the QKV projection)
``select.last_token`` prefill: the last token of each sequence (``tokens_per_sequence``)
``sample.local``    per vocabulary chunk (``key_chunks`` contiguous chunks, as the cores
                    holding the logits would), the best ``candidates`` logits and their ids
``sample.pick``     the best ``candidates`` of all chunks (ties: the lower id); argmax
                    takes the first, top-k draws one from the softmax of their logits
                    with a generator seeded ``[seed, crc32("sample")]``
``host.out``        the sampled ids, with the logits they were drawn from (the logits are
                    the graph's output the reference is compared with)
=================== =======================================================================
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType

import numpy as np

from sim.backends.numeric.plan import Program
from sim.backends.numeric.values import Candidates, Sampled, StoredKV, TokenIds
from sim.errors import GraphError
from sim.ir import Op, SimdShape

__all__ = ["MODEL_HANDLERS"]


def _inputs(op: Op, inputs: Sequence[object], kinds: Sequence[type]) -> list:
    """``inputs``, which must be one value of each of ``kinds`` in order."""
    if len(inputs) != len(kinds) or not all(
            isinstance(v, k) for v, k in zip(inputs, kinds, strict=True)):
        got = [type(v).__name__ for v in inputs]
        want = [k.__name__ for k in kinds]
        raise GraphError(f"numeric backend: op {op.name!r} ({op.role}) takes {want}, got {got}")
    return list(inputs)


def _rows(op: Op) -> int:
    if not isinstance(op.shape, SimdShape):
        raise GraphError(f"numeric backend: op {op.name!r} ({op.role}) needs a SIMD shape")
    return op.shape.rows


def _host_in(program: Program, op: Op, inputs: Sequence[object]) -> object:
    _inputs(op, inputs, [])
    return TokenIds(_rows(op))


def _embed(program: Program, op: Op, inputs: Sequence[object]) -> object:
    (ids,) = _inputs(op, inputs, [TokenIds])
    if ids.count != program.inputs.shape[0]:
        raise GraphError(f"numeric backend: op {op.name!r} looks up {ids.count} tokens, the "
                         f"workload has {program.inputs.shape[0]}")
    return program.inputs


def _kv_append(program: Program, op: Op, inputs: Sequence[object]) -> object:
    (qkv,) = _inputs(op, inputs, [np.ndarray])
    return StoredKV(qkv.shape[0])


def _select_last(program: Program, op: Op, inputs: Sequence[object]) -> object:
    (x,) = _inputs(op, inputs, [np.ndarray])
    per_sequence = int(op.attrs.get("tokens_per_sequence", 1))
    if x.shape[0] % per_sequence:
        raise GraphError(f"numeric backend: op {op.name!r} reads {x.shape[0]} tokens, not "
                         f"sequences of {per_sequence}")
    return x.reshape(-1, per_sequence, x.shape[-1])[:, -1, :]


def _best(values: np.ndarray, ids: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``count`` largest ``values`` of every row (ties: the lower id), with their ids."""
    order = np.lexsort((ids, -values), axis=-1)[..., :count]
    return np.take_along_axis(values, order, -1), np.take_along_axis(ids, order, -1)


def _sample_local(program: Program, op: Op, inputs: Sequence[object]) -> object:
    (logits,) = _inputs(op, inputs, [np.ndarray])
    count = int(op.attrs.get("candidates", 1))
    vocab = logits.shape[-1]
    bounds = np.linspace(0, vocab, min(vocab, program.key_chunks) + 1).astype(np.int64)
    values, indices = [], []
    for lo, hi in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
        chunk = logits[:, lo:hi].astype(np.float64)
        ids = np.broadcast_to(np.arange(lo, hi), chunk.shape)
        best, at = _best(chunk, ids, count)
        pad = count - best.shape[-1]  # a chunk shorter than the candidates kept
        values.append(np.pad(best, ((0, 0), (0, pad)), constant_values=-np.inf))
        indices.append(np.pad(at, ((0, 0), (0, pad)), constant_values=vocab))
    return Candidates(logits, np.stack(values, axis=1), np.stack(indices, axis=1))


def _sample_pick(program: Program, op: Op, inputs: Sequence[object]) -> object:
    (found,) = _inputs(op, inputs, [Candidates])
    count = int(op.attrs.get("candidates", 1))
    tokens = found.values.shape[0]
    values, ids = _best(found.values.reshape(tokens, -1), found.indices.reshape(tokens, -1),
                        count)
    if op.attrs.get("sampling", "argmax") == "argmax":
        return Sampled(found.logits, ids[:, 0])
    weights = np.exp(values - values[:, :1])
    cumulative = np.cumsum(weights, axis=-1)
    rng = np.random.default_rng([program.params.seed, zlib.crc32(b"sample")])
    draw = rng.uniform(size=(tokens, 1)) * cumulative[:, -1:]
    chosen = np.minimum((cumulative < draw).sum(axis=-1), count - 1)
    return Sampled(found.logits, ids[np.arange(tokens), chosen])


def _host_out(program: Program, op: Op, inputs: Sequence[object]) -> object:
    (sampled,) = _inputs(op, inputs, [Sampled])
    return sampled


#: The whole-model roles and what computes them (module docstring).
MODEL_HANDLERS: Mapping[str, Callable[[Program, Op, Sequence[object]], object]] = (
    MappingProxyType({
        "host.in": _host_in,
        "embed.lookup": _embed,
        "kv.append": _kv_append,
        "select.last_token": _select_last,
        "sample.local": _sample_local,
        "sample.pick": _sample_pick,
        "host.out": _host_out,
    }))
