"""Block formats: many elements share one power-of-two scale along an axis.

Two families, both with blocks along the matmul's reduction axis, a trailing
partial block padded with zeros, an all-zero block kept zero, and a block that
holds a non-finite value (NaN, ±∞) turned into NaN entirely (our convention:
the scale of such a block has no meaning; the OCP MX scale type E8M0 encodes it
as its NaN, 0xFF).

**Block floating point** (`quantize_bfp`, the machine's ``bfp8``/``bfp4``).
For a block with largest magnitude ``a`` the shared exponent is
``E = floor(log2 a)`` clamped to the 8-bit range ``[-127, 127]``; the quantum is
``2**(E - (m - 2))`` for ``m`` significand bits incl. the sign; each element
becomes ``q · quantum`` with ``q`` the integer nearest ``x / quantum`` (ties to
even), saturated to ``|q| <= 2**(m-1) - 1``: sign and magnitude, symmetric (−127
… 127 for ``m = 8``, −7 … 7 for ``m = 4``; the code −128 of a two's-complement
byte is never produced).

**OCP Microscaling** (`quantize_mx`; OCP Microscaling Formats (MX) Specification
v1.0, section 6.3, "conversion"). Blocks of 32 share an E8M0 scale
``X = 2**s`` with ``s = floor(log2 a) - emax_elem`` clamped to ``[-127, 127]``
(``a = 0`` gives ``s = -127``); ``emax_elem`` is the exponent of the element
type's largest normal. Each element is ``x / X`` cast to the element type by
round-to-nearest-even, *saturating* to the element's largest magnitude, then
multiplied back by ``X``. Element types (`MX_ELEMENTS`):

============ =================== ========= =========================================
element      ml_dtypes type      emax_elem largest magnitude
============ =================== ========= =========================================
``e4m3``     float8_e4m3fn       8         448
``e5m2``     float8_e5m2         15        57344
``e2m3``     float6_e2m3fn       2         7.5
``e3m2``     float6_e3m2fn       4         28
``e2m1``     float4_e2m1fn       2         6
``int8``     (integer k / 64)    0         127/64 (symmetric, see below)
============ =================== ========= =========================================

MXINT8's element is an 8-bit two's-complement integer ``k`` with an implicit
scale ``2**-6`` (the specification's range is −2 … 1 63/64). We use the
*symmetric* range ``k = -127 … 127`` (−1 63/64 … 1 63/64), as the
sign-and-magnitude ``bfp8`` does and as the microxcaling reference library
clamps: the code −128 (−2.0) is never produced, so a value of a block's scale
``x / X`` in ``(-2, -1.9921875]`` saturates to −127/64 instead of reaching −2.
Everything is computed in fp64 from the given values (one rounding: weights
folded in fp64 are not rounded to fp32 first); every result is exact in fp32.

Examples
--------
>>> import numpy as np
>>> quantize_bfp(np.array([3.9, 0.25, 0.1, -2.9]), axis=0, block_elems=2,
...              significand_bits=4).tolist()
[3.5, 0.0, 0.0, -3.0]

A block with largest magnitude 500 has ``s = 8 - 8 = 0``: 0.3 keeps 3 fraction
bits (1.25 · 2**-2), −500 saturates at −448, 2**-12 is below the smallest
subnormal (2**-9). In E2M1 (values 0, 0.5, 1, 1.5, 2, 3, 4, 6) −5 is a tie and
goes to the even significand, 4:

>>> quantize_mx(np.array([1.0, 0.3, -500.0, 2.0**-12]), axis=0, element="e4m3").tolist()
[1.0, 0.3125, -448.0, 0.0]
>>> quantize_mx(np.array([1.0, 0.3, -5.0, 2.0**-12]), axis=0, element="e2m1").tolist()
[1.0, 0.5, -4.0, 0.0]
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from types import MappingProxyType

import ml_dtypes
import numpy as np
import numpy.typing as npt

__all__ = ["MX_BLOCK_ELEMS", "MX_ELEMENTS", "MXElement", "decode_table", "quantize_bfp",
           "quantize_mx"]

#: Range of an 8-bit shared exponent (bfp) and of the E8M0 scale (MX): 2**-127 … 2**127.
_SCALE_EXPONENT_MIN, _SCALE_EXPONENT_MAX = -127, 127

#: Elements per MX block (OCP MX v1.0, Table 1: k = 32 for every concrete format).
MX_BLOCK_ELEMS = 32


@dataclass(frozen=True, slots=True)
class MXElement:
    """An MX element type.

    Attributes
    ----------
    name : str
        ``e4m3``, ..., ``int8``.
    emax : int
        Exponent of the largest normal (``emax_elem`` of the specification).
    max_magnitude : float
        Largest finite magnitude, the saturation bound.
    dtype : numpy dtype or None
        The ml_dtypes type the cast goes through; None for the integer element.
    """

    name: str
    emax: int
    max_magnitude: float
    dtype: np.dtype | None

    def cast(self, scaled: np.ndarray) -> np.ndarray:
        """Saturating round-to-nearest-even of finite fp64 ``scaled`` to this element."""
        clipped = np.clip(scaled, -self.max_magnitude, self.max_magnitude)
        if self.dtype is None:  # int8: k / 64, k = -127 … 127 (symmetric, module docstring)
            return np.rint(clipped * 64.0) / 64.0
        return decode_table(self.dtype)[clipped.astype(self.dtype).view(np.uint8)]


@cache
def decode_table(dtype: np.dtype) -> np.ndarray:
    """The fp64 value of every byte of the one-byte ml_dtypes type ``dtype`` (a
    lookup is several times quicker than ml_dtypes' cast back; bytes that are no
    code of a narrower type are never looked up)."""
    with np.errstate(invalid="ignore", over="ignore"):
        table = np.arange(256, dtype=np.uint8).view(dtype).astype(np.float64)
    table.flags.writeable = False
    return table


def _float_element(name: str, dtype: type) -> MXElement:
    info = ml_dtypes.finfo(dtype)
    return MXElement(name, int(np.log2(float(info.max))), float(info.max), np.dtype(dtype))


#: The MX element types by name (module docstring's table).
MX_ELEMENTS = MappingProxyType({e.name: e for e in (
    _float_element("e4m3", ml_dtypes.float8_e4m3fn),
    _float_element("e5m2", ml_dtypes.float8_e5m2),
    _float_element("e2m3", ml_dtypes.float6_e2m3fn),
    _float_element("e3m2", ml_dtypes.float6_e3m2fn),
    _float_element("e2m1", ml_dtypes.float4_e2m1fn),
    MXElement("int8", 0, 127 / 64, None),
)})


def _blocked(values: npt.ArrayLike, axis: int, block_elems: int) -> tuple[np.ndarray, int, int]:
    """``values`` in fp64 with ``axis`` zero-padded and split into ``(blocks, block_elems)``.

    Returns the blocked array, the (normalized) axis and the unpadded length.
    The block axis is ``axis + 1``; no data is transposed.
    """
    x = np.asarray(values, dtype=np.float64)
    axis = axis % x.ndim if x.ndim else 0
    x = np.atleast_1d(x)
    length = x.shape[axis]
    pad = (-length) % block_elems
    if pad:
        widths = [(0, 0)] * x.ndim
        widths[axis] = (0, pad)
        x = np.pad(x, widths)
    shape = (*x.shape[:axis], x.shape[axis] // block_elems, block_elems, *x.shape[axis + 1:])
    return x.reshape(shape), axis, length


def _unblocked(blocks: np.ndarray, axis: int, length: int, like: npt.ArrayLike) -> np.ndarray:
    """Undo `_blocked`: merge the block axes, drop the padding, return float32."""
    shape = (*blocks.shape[:axis], -1, *blocks.shape[axis + 2:])
    kept = (slice(None),) * axis + (slice(0, length),)
    return blocks.reshape(shape)[kept].reshape(np.shape(like)).astype(np.float32)


def _block_exponent(blocks: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """``floor(log2 max|x|)`` of every block (``-inf``-free: 0 blocks give -1075) and
    whether the block is finite; both keep the block axis (length 1)."""
    largest = np.max(np.abs(blocks), axis=axis + 1, keepdims=True)
    finite = np.isfinite(largest)
    _, exponent = np.frexp(np.where(finite, largest, 0.0))  # largest = f · 2**e, f in [0.5, 1)
    exponent = np.where(largest > 0, exponent - 1, -1075)
    return exponent, finite


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
        Elements sharing one exponent, at least 1.
    significand_bits : int
        Bits per element including the sign, at least 2.

    Raises
    ------
    ValueError
        ``block_elems < 1`` or ``significand_bits < 2``.
    """
    if block_elems < 1 or significand_bits < 2:
        raise ValueError(
            f"block_elems must be >= 1 and significand_bits >= 2, "
            f"got {block_elems} and {significand_bits}"
        )
    blocks, axis, length = _blocked(values, axis, block_elems)
    exponent, finite = _block_exponent(blocks, axis)
    shared = np.clip(exponent, _SCALE_EXPONENT_MIN, _SCALE_EXPONENT_MAX)
    quantum_exponent = shared - (significand_bits - 2)
    limit = 2.0 ** (significand_bits - 1) - 1
    with np.errstate(invalid="ignore", over="ignore"):
        codes = np.clip(np.rint(blocks * np.ldexp(1.0, -quantum_exponent)), -limit, limit)
    result = np.where(finite, codes * np.ldexp(1.0, quantum_exponent), np.nan)
    return _unblocked(result, axis, length, values)


def quantize_mx(
    values: npt.ArrayLike, axis: int, element: str, block_elems: int = MX_BLOCK_ELEMS
) -> np.ndarray:
    """An OCP MX format along ``axis`` (module docstring); returned as float32.

    Parameters
    ----------
    values : array_like
        Any shape; quantized independently along every line of ``axis``.
    axis : int
        The axis blocks run along (the matmul's reduction axis).
    element : str
        A key of `MX_ELEMENTS`.
    block_elems : int
        Elements sharing one E8M0 scale (32 in the specification).

    Raises
    ------
    ValueError
        Unknown ``element`` or ``block_elems < 1``.
    """
    if element not in MX_ELEMENTS or block_elems < 1:
        raise ValueError(f"element must be one of {', '.join(MX_ELEMENTS)} and "
                         f"block_elems >= 1, got {element!r} and {block_elems}")
    kind = MX_ELEMENTS[element]
    blocks, axis, length = _blocked(values, axis, block_elems)
    exponent, finite = _block_exponent(blocks, axis)
    scale_exponent = np.clip(exponent - kind.emax, _SCALE_EXPONENT_MIN, _SCALE_EXPONENT_MAX)
    with np.errstate(invalid="ignore", over="ignore"):
        scaled = np.where(finite, blocks * np.ldexp(1.0, -scale_exponent), 0.0)
    result = np.where(finite, kind.cast(scaled) * np.ldexp(1.0, scale_exponent), np.nan)
    return _unblocked(result, axis, length, values)
