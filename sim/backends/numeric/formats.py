"""Number formats of the numeric backend, emulated in numpy.

A format says how the *inputs* of a matrix multiply are stored (activations
and weights alike) and in which precision everything else runs, following the
Corsair numerics (DOMAIN.md): matmul inputs in the format, accumulation and
matmul outputs in fp32, SIMD work (norms, softmax, activations, residuals) in
fp32. ``fp64`` runs everything in fp64 with no rounding of inputs.

========= ====================================================== ============
name      matmul inputs                                          compute
========= ====================================================== ============
``fp64``  unchanged                                              fp64
``fp32``  rounded to fp32 (round-to-nearest-even)                fp32
``bf16``  fp32 rounded to bfloat16 by RNE on the fp32 bit        fp32
          pattern (8 significand bits incl. the hidden one)
``bfp8``  block floating point: blocks of 64 along the           fp32
          reduction axis share one 8-bit exponent, each element
          keeps an 8-bit significand incl. its sign
``bfp4``  as ``bfp8`` with 4-bit significands, blocks of 128      fp32
========= ====================================================== ============

Block floating point, exactly. For a block with largest magnitude
``a = max|x|`` the shared exponent is ``E = floor(log2 a)`` (clamped to the
8-bit range ``[-127, 127]``), the quantum is ``2**(E - (m - 2))`` for ``m``
significand bits, and each element becomes ``q · quantum`` with ``q`` the
integer nearest to ``x / quantum`` (ties to even), saturated to
``|q| <= 2**(m-1) - 1`` (sign and magnitude: 127 for ``m = 8``, 7 for
``m = 4``). The largest element of a block thus keeps ``m - 1`` significant
bits; an element ``2**k`` times smaller keeps ``m - 1 - k``. A trailing partial
block is padded with zeros. A block holding a non-finite value becomes NaN.
An all-zero block stays zero.

Examples
--------
>>> import numpy as np
>>> quantize_bfp(np.array([1.0, 0.3, -0.01, 2.0**-7, 3 * 2.0**-7]), axis=0, block_elems=64,
...              significand_bits=8).tolist()
[1.0, 0.296875, -0.015625, 0.0, 0.03125]
>>> quantize_bf16(np.array([1.0 + 2.0**-8, 1.0 + 3 * 2.0**-8], dtype=np.float32)).tolist()
[1.0, 1.015625]
>>> number_format("fp8")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
sim.errors.ConfigError: dtype: unknown number format 'fp8' (choose from fp64, fp32, ...)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from sim.registry import Registry

__all__ = [
    "FORMATS",
    "FORMAT_NAMES",
    "NumberFormat",
    "number_format",
    "quantize_bf16",
    "quantize_bfp",
]

#: Shared-exponent range of an 8-bit block exponent.
_BFP_EXPONENT_MIN, _BFP_EXPONENT_MAX = -127, 127


@dataclass(frozen=True, slots=True)
class NumberFormat:
    """One emulated format (see the module docstring).

    Attributes
    ----------
    name : str
        One of `FORMAT_NAMES`.
    compute_dtype : numpy dtype
        Precision of accumulation, matmul outputs and SIMD work.
    block_elems : int or None
        Block length along the reduction axis (block floating point only).
    significand_bits : int or None
        Bits per element including the sign (block floating point only).
    """

    name: str
    compute_dtype: np.dtype[np.floating]
    block_elems: int | None = None
    significand_bits: int | None = None

    def quantize(self, values: npt.ArrayLike, axis: int) -> np.ndarray:
        """``values`` as a matmul input in this format, returned in `compute_dtype`.

        ``axis`` is the reduction axis of the matmul (blocks run along it).
        """
        if self.name == "bf16":
            return quantize_bf16(values)
        if self.block_elems is not None and self.significand_bits is not None:
            return quantize_bfp(values, axis, self.block_elems, self.significand_bits)
        return np.asarray(values, dtype=self.compute_dtype)


#: Every emulated format by name, in report order.
FORMATS = Registry[NumberFormat]("number format")
for _format in (
    NumberFormat("fp64", np.dtype(np.float64)),
    NumberFormat("fp32", np.dtype(np.float32)),
    NumberFormat("bf16", np.dtype(np.float32)),
    NumberFormat("bfp8", np.dtype(np.float32), block_elems=64, significand_bits=8),
    NumberFormat("bfp4", np.dtype(np.float32), block_elems=128, significand_bits=4),
):
    FORMATS.add(_format.name, _format)
del _format

#: Every format the numeric backend emulates, in report order.
FORMAT_NAMES: tuple[str, ...] = FORMATS.names()


def number_format(name: str) -> NumberFormat:
    """The format called ``name``.

    Raises
    ------
    ConfigError
        If ``name`` is not one of `FORMAT_NAMES`.
    """
    return FORMATS.get(name, key="dtype")


def quantize_bf16(values: npt.ArrayLike) -> np.ndarray:
    """Round to bfloat16 (nearest, ties to even) via fp32; returned as float32.

    Inputs are first rounded to fp32. Infinities stay infinite, NaN stays NaN,
    and values beyond the largest bfloat16 round to infinity.

    >>> quantize_bf16([1.0 + 2.0**-9, 3.4e38, -0.0]).tolist()
    [1.0, inf, -0.0]
    """
    single = np.asarray(values, dtype=np.float32)
    bits = single.view(np.uint32)
    rounding = ((bits >> np.uint32(16)) & np.uint32(1)) + np.uint32(0x7FFF)
    rounded = ((bits + rounding) & np.uint32(0xFFFF0000)).view(np.float32)
    return np.where(np.isnan(single), single, rounded)


def quantize_bfp(
    values: npt.ArrayLike, axis: int, block_elems: int, significand_bits: int
) -> np.ndarray:
    """Block floating point along ``axis`` (module docstring); returned as float32.

    Parameters
    ----------
    values : array_like
        Any shape; quantized independently along every line of ``axis``.
    axis : int
        The axis blocks run along (the matmul's reduction axis).
    block_elems : int
        Elements sharing one exponent.
    significand_bits : int
        Bits per element including the sign, at least 2.

    Returns
    -------
    numpy.ndarray
        Same shape as ``values``, float32 (every result is exactly representable).

    Examples
    --------
    >>> import numpy as np
    >>> block = np.array([[3.9, 0.25, 0.1, -2.9]])
    >>> quantize_bfp(block, axis=1, block_elems=2, significand_bits=4).tolist()
    [[3.5, 0.0, 0.0, -3.0]]
    """
    if block_elems < 1 or significand_bits < 2:
        raise ValueError(
            f"block_elems must be >= 1 and significand_bits >= 2, "
            f"got {block_elems} and {significand_bits}"
        )
    x = np.moveaxis(np.asarray(values, dtype=np.float64), axis, -1)
    length = x.shape[-1]
    pad = (-length) % block_elems
    if pad:
        x = np.concatenate([x, np.zeros((*x.shape[:-1], pad))], axis=-1)
    blocks = x.reshape(*x.shape[:-1], -1, block_elems)
    largest = np.max(np.abs(blocks), axis=-1, keepdims=True)
    _, exponent = np.frexp(largest)  # largest = f · 2**exponent, f in [0.5, 1)
    shared = np.clip(exponent - 1, _BFP_EXPONENT_MIN, _BFP_EXPONENT_MAX)
    quantum_exponent = shared - (significand_bits - 2)
    limit = 2.0 ** (significand_bits - 1) - 1
    with np.errstate(invalid="ignore"):
        codes = np.clip(np.rint(np.ldexp(blocks, -quantum_exponent)), -limit, limit)
    result = np.ldexp(codes, quantum_exponent)
    result = np.where(np.isfinite(largest), result, np.nan)
    result = result.reshape(x.shape)[..., :length]
    return np.moveaxis(result, -1, axis).astype(np.float32)
