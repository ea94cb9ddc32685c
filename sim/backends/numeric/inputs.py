"""The distribution of the numeric backend's input activations (`InputDistribution`).

An input is ``tokens x hidden`` float32, drawn in three steps from one
`numpy.random.Generator` (so the same seed gives the same array, bit for bit):

1. a base ``z ~ N(0, 1)`` for every element;
2. *signed per-channel outliers*, as LLM activations have (LLM.int8):
   ``max(2, hidden // 512)`` hidden channels (at most ``hidden``), the same for
   every token, are multiplied by a factor drawn uniformly from
   ``outlier_scale`` with a random sign per channel;
3. *per-token offsets*: token t adds ``o_t ~ N(0, token_offset_std²)`` to all
   its channels (the DC component of a residual stream, which LayerNorm
   removes and RMSNorm does not).

The calibration input of the ``static`` strategy keeps the workload input's
outlier channels and factors (`draw_inputs` with ``outliers`` given) and draws
its own base values and offsets.

Why offsets matter: a deferred LayerNorm quantizes the raw ``x = μ + (x − μ)``
to the format before centring (the centring is folded into ``W'``), so a
narrow format spends its precision on μ; serialized quantizes ``(x − μ)·r``.
With ``token_offset_std = 0`` the two see nearly the same numbers.

>>> import numpy as np
>>> dist = InputDistribution(token_offset_std=0.0)
>>> x, (channels, factors) = draw_inputs(np.random.default_rng(0), (3, 1024), dist)
>>> x.dtype, x.shape, len(channels), bool(np.all(np.abs(factors) >= 20))
(dtype('float32'), (3, 1024), 2, True)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sim.errors import ConfigError

__all__ = ["DEFAULT_INPUTS", "InputDistribution", "draw_inputs"]


@dataclass(frozen=True, slots=True)
class InputDistribution:
    """How input activations are drawn (module docstring).

    Attributes
    ----------
    outlier_scale : (float, float)
        Range of the outlier channels' factor magnitudes, ``1 <= low <= high``.
    token_offset_std : float
        Standard deviation of the per-token offset, in units of the base
        values' standard deviation (1); 0 for none.

    Raises
    ------
    ConfigError
        A range out of order, or a negative or non-finite value (names the field).
    """

    outlier_scale: tuple[float, float] = (20.0, 100.0)
    token_offset_std: float = 4.0

    def __post_init__(self) -> None:
        low, high = self.outlier_scale
        if not (math.isfinite(low) and math.isfinite(high) and 1.0 <= low <= high):
            raise ConfigError(f"outlier_scale: must be finite with 1 <= low <= high, "
                              f"got {self.outlier_scale!r}")
        std = self.token_offset_std
        if isinstance(std, bool) or not isinstance(std, int | float) or not (
                math.isfinite(std) and std >= 0):
            raise ConfigError(f"token_offset: must be a finite number >= 0, got {std!r}")


#: The distribution `verify` uses unless told otherwise.
DEFAULT_INPUTS = InputDistribution()


def draw_inputs(
    rng: np.random.Generator,
    shape: tuple[int, int],
    dist: InputDistribution,
    outliers: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """Draw one ``tokens x hidden`` float32 input from ``rng``.

    Parameters
    ----------
    rng : numpy.random.Generator
    shape : (int, int)
        ``(tokens, hidden)``.
    dist : InputDistribution
    outliers : (channels, signed factors), optional
        Reuse these outlier channels instead of drawing new ones.

    Returns
    -------
    (numpy.ndarray, (numpy.ndarray, numpy.ndarray))
        The input, and its outlier channels with their signed factors.
    """
    tokens, hidden = shape
    x = rng.standard_normal(shape, dtype=np.float32)
    if outliers is None:
        count = min(hidden, max(2, hidden // 512))
        channels = rng.choice(hidden, size=count, replace=False)
        signs = rng.choice(np.array([-1.0, 1.0]), size=count)
        factors = (signs * rng.uniform(*dist.outlier_scale, size=count)).astype(np.float32)
        outliers = (channels, factors)
    channels, factors = outliers
    x[:, channels] *= factors
    if dist.token_offset_std > 0:
        offsets = dist.token_offset_std * rng.standard_normal(tokens)
        x += offsets.astype(np.float32)[:, None]
    return x, outliers
