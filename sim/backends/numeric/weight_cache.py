"""Folded, quantized weights of linear layers, shared by the runs of one `verify`.

Every strategy but ``static`` folds the same γ into the same weights and so
quantizes the same matrices (a LayerNorm's centred fold and a different tiling
make different ones). Folding and quantizing 200 M weights of a Llama-3-8B
block costs seconds per format; the matmul of a decode token on them, a tenth
of that. A `WeightCache` keeps the folded, quantized column chunks of each
linear under a key of everything they depend on, so the second strategy with
the same fold reuses them. It changes no value: a hit returns the arrays the
miss computed.

Contract: one cache serves one `NumericParameters` (the key does not hold the
weights' seed); `sim.backends.numeric.run_numeric` checks it. The cache keeps
entries until ``max_bytes`` is reached and then stops storing (no eviction:
runs ordered format by format, as `verify` does, hit on what came first).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["FoldedWeights", "WeightCache", "WeightKey"]

#: ``(linear op, norm whose γ/β is folded or None, centred, static scale or None,
#: row-group bounds, format name)``.
WeightKey = tuple[str, str | None, bool, float | None, tuple[tuple[int, int], ...], str]


@dataclass(frozen=True, slots=True)
class FoldedWeights:
    """A linear's weights after folding and quantization.

    Attributes
    ----------
    chunks : tuple of (int, tuple of numpy.ndarray)
        Column chunks: the first output column and, per row group of the
        tiling, the quantized ``rows x columns`` block (in the compute dtype).
    bias : numpy.ndarray or None
        The folded bias ``βW + b`` in fp64 (None without bias and β).
    """

    chunks: tuple[tuple[int, tuple[np.ndarray, ...]], ...]
    bias: np.ndarray | None

    @property
    def nbytes(self) -> int:
        """Bytes held by the quantized blocks and the bias."""
        blocks = sum(b.nbytes for _, group in self.chunks for b in group)
        return blocks + (self.bias.nbytes if self.bias is not None else 0)


class WeightCache:
    """Folded, quantized weights by `WeightKey`, up to ``max_bytes`` (module docstring).

    Parameters
    ----------
    owner : object
        The `NumericParameters` whose weights the entries are.
    max_bytes : int
        Total size of the entries kept; further entries are not stored.
    """

    def __init__(self, owner: object, max_bytes: int = 1 << 30) -> None:
        self.owner = owner
        self.max_bytes = max_bytes
        self._entries: dict[WeightKey, FoldedWeights] = {}
        self._bytes = 0

    def get(self, key: WeightKey) -> FoldedWeights | None:
        """The entry under ``key``, or None."""
        return self._entries.get(key)

    def has_room(self, nbytes: int) -> bool:
        """Whether an entry of ``nbytes`` would still be kept."""
        return self._bytes + nbytes <= self.max_bytes

    def put(self, key: WeightKey, weights: FoldedWeights) -> None:
        """Keep ``weights`` under ``key`` if they fit in what is left of ``max_bytes``."""
        if key not in self._entries and self.has_room(weights.nbytes):
            self._entries[key] = weights
            self._bytes += weights.nbytes

    def clear(self) -> None:
        """Drop every entry."""
        self._entries.clear()
        self._bytes = 0
