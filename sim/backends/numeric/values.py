"""The values that flow along OpGraph edges in the numeric backend.

Token activations are plain ``tokens x features`` arrays (`Tokens`) in the
compute precision; everything else is one of these small frozen records, so an
op can check that its inputs are what the algebra expects. Attention tensors
are ``batch x heads x queries x keys``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "Candidates",
    "ChunkMax",
    "NormScalar",
    "NormStatistics",
    "PartialPV",
    "Probabilities",
    "Sampled",
    "Scores",
    "ShiftedExp",
    "SoftmaxScalar",
    "SoftmaxSum",
    "StoredKV",
    "TokenIds",
    "Tokens",
    "Unscaled",
]

#: Token activations: a ``tokens x features`` array.
Tokens = np.ndarray


@dataclass(frozen=True, slots=True)
class NormStatistics:
    """Per-token Σx (LayerNorm only) and Σx² over ``count`` features."""

    norm: str
    sum_x: np.ndarray | None
    sum_sq: np.ndarray
    count: int


@dataclass(frozen=True, slots=True)
class NormScalar:
    """Per-token ``r`` (and ``μ`` for LayerNorm)."""

    norm: str
    scale: np.ndarray
    mean: np.ndarray | None


@dataclass(frozen=True, slots=True)
class Scores:
    """Attention logits ``batch x heads x queries x keys``; masked entries are −∞."""

    logits: np.ndarray


@dataclass(frozen=True, slots=True)
class ChunkMax:
    """Per key chunk: the shift ``m_c`` (0 where the chunk is all masked) and validity."""

    shift: np.ndarray
    valid: np.ndarray
    bounds: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class ShiftedExp:
    """``exp(s − m_c)`` for the keys of every chunk c, with the chunks' maxima."""

    values: np.ndarray
    chunks: ChunkMax


@dataclass(frozen=True, slots=True)
class SoftmaxSum:
    """The merged sum ``l`` and the reference shift ``m`` per query row."""

    total: np.ndarray
    reference: np.ndarray


@dataclass(frozen=True, slots=True)
class SoftmaxScalar:
    """``1/l`` and the reference shift ``m`` per query row."""

    inverse: np.ndarray
    reference: np.ndarray


@dataclass(frozen=True, slots=True)
class Probabilities:
    """Normalized attention weights ``batch x heads x queries x keys``."""

    values: np.ndarray


@dataclass(frozen=True, slots=True)
class Unscaled:
    """A deferred linear's ``x·W'`` and the bias its epilogue adds after scaling."""

    product: np.ndarray
    bias: np.ndarray | None


@dataclass(frozen=True, slots=True)
class PartialPV:
    """``e_c·V_c`` per key chunk: ``chunks x batch x kv_heads x rows x head_size``."""

    partials: np.ndarray
    chunks: ChunkMax


@dataclass(frozen=True, slots=True)
class TokenIds:
    """The step's ``count`` token ids as they arrive from the host (whole model)."""

    count: int


@dataclass(frozen=True, slots=True)
class StoredKV:
    """A block's new K and V, written into its KV cache (a sink: nothing reads it)."""

    rows: int


@dataclass(frozen=True, slots=True)
class Candidates:
    """Per token and vocabulary chunk, the best ``values`` and their vocabulary
    ``indices`` (``tokens x chunks x candidates``), with the logits they come from."""

    logits: np.ndarray
    values: np.ndarray
    indices: np.ndarray


@dataclass(frozen=True, slots=True)
class Sampled:
    """The sampled token id of every sequence, with the logits it was drawn from
    (what the numeric backend compares against the reference)."""

    logits: np.ndarray
    ids: np.ndarray
