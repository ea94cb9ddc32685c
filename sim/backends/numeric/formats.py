"""Number formats of the numeric backend, emulated in numpy and ml_dtypes.

A format says how the *inputs* of a matrix multiply are stored (activations
and weights alike) and in which precision everything else runs, following the
Corsair numerics (DOMAIN.md): matmul inputs in the format, accumulation and
matmul outputs in fp32, SIMD work (norms, softmax, activations, residuals) in
fp32. ``fp64`` runs everything in fp64 with no rounding of inputs. `FORMATS`
maps each name to its `NumberFormat`, whose ``quantizer`` does the rounding.

============== ================================================================ =======
name           matmul inputs                                                    compute
============== ================================================================ =======
``fp64``       unchanged                                                        fp64
``fp32``       rounded to fp32 (round-to-nearest-even)                          fp32
``bf16``       rounded to fp32, then to bfloat16 (RNE; ml_dtypes' cast)         fp32
``fp8_e4m3``   OCP FP8 E4M3 (ml_dtypes float8_e4m3fn), saturating, no scale     fp32
``fp8_e5m2``   OCP FP8 E5M2 (ml_dtypes float8_e5m2), saturating, no scale       fp32
``bfp8``       the machine's block floating point: blocks of 64 along the       fp32
               reduction axis share an 8-bit exponent, 8-bit significands
``bfp4``       as ``bfp8`` with 4-bit significands, blocks of 128               fp32
``mxfp8_e4m3`` OCP MX: blocks of 32 share an E8M0 scale, E4M3 elements          fp32
``mxfp8_e5m2`` OCP MX, E5M2 elements                                            fp32
``mxfp6_e2m3`` OCP MX, FP6 E2M3 elements                                        fp32
``mxfp6_e3m2`` OCP MX, FP6 E3M2 elements                                        fp32
``mxfp4``      OCP MX, FP4 E2M1 elements                                        fp32
``mxint8``     OCP MX, 8-bit integer elements (symmetric −127 … 127, · 2**-6)   fp32
============== ================================================================ =======

The block formats are defined in `sim.backends.numeric.blocks` (bfp's symmetric
sign-and-magnitude codes, MXINT8's −128 convention, non-finite blocks).

The plain fp8 formats cast each value on its own (ml_dtypes, round to nearest,
ties to even, subnormals kept) with *no* tensor scale: a value smaller than the
smallest subnormal (E4M3 2**-9, E5M2 2**-16) flushes to zero, which is what
the MX formats' shared scale avoids. Values beyond the largest finite value,
±∞ included, saturate to it (448, 57344), as a "saturate to finite" conversion
does (gfloat's ``sat=True``); NaN stays NaN.

Examples
--------
>>> import numpy as np
>>> quantize_bf16(np.array([1.0 + 2.0**-8, 1.0 + 3 * 2.0**-8], dtype=np.float32)).tolist()
[1.0, 1.015625]
>>> number_format("fp8_e4m3").quantize(np.array([0.3, 500.0, 2.0**-11]), axis=0).tolist()
[0.3125, 448.0, 0.0]
>>> number_format("fp8")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
sim.errors.ConfigError: dtype: unknown number format 'fp8' (choose from fp64, fp32, bf16, ...)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

import ml_dtypes
import numpy as np
import numpy.typing as npt

from sim.backends.numeric.blocks import MX_BLOCK_ELEMS, decode_table, quantize_bfp, quantize_mx
from sim.registry import Registry

__all__ = [
    "FORMATS",
    "FORMAT_NAMES",
    "NumberFormat",
    "number_format",
    "quantize_bf16",
    "quantize_bfp",
    "quantize_fp8",
    "quantize_mx",
]

#: A quantizer: ``(values, reduction axis) -> values in the format, as float32``.
Quantizer = Callable[[npt.ArrayLike, int], np.ndarray]


@dataclass(frozen=True, slots=True)
class NumberFormat:
    """One emulated format (see the module docstring).

    Attributes
    ----------
    name : str
        One of `FORMAT_NAMES`.
    compute_dtype : numpy dtype
        Precision of accumulation, matmul outputs and SIMD work.
    quantizer : callable or None
        Rounds matmul inputs to the format; None keeps them (in `compute_dtype`).
    block_elems : int or None
        Block length along the reduction axis (block formats only).
    significand_bits : int or None
        Bits per element including the sign (block floating point only).
    """

    name: str
    compute_dtype: np.dtype[np.floating]
    quantizer: Quantizer | None = field(default=None, repr=False)
    block_elems: int | None = None
    significand_bits: int | None = None

    def quantize(self, values: npt.ArrayLike, axis: int) -> np.ndarray:
        """``values`` as a matmul input in this format, returned in `compute_dtype`.

        ``axis`` is the reduction axis of the matmul (blocks run along it).
        """
        if self.quantizer is None:
            return np.asarray(values, dtype=self.compute_dtype)
        return self.quantizer(values, axis).astype(self.compute_dtype, copy=False)


def quantize_bf16(values: npt.ArrayLike, axis: int = -1) -> np.ndarray:
    """Round to bfloat16 (nearest, ties to even) via fp32; returned as float32.

    Inputs are first rounded to fp32 (the machine's compute precision), then
    cast by ml_dtypes. Infinities stay infinite, NaN stays NaN, and values
    beyond the largest bfloat16 round to infinity. ``axis`` is ignored (an
    elementwise format).

    >>> quantize_bf16([1.0 + 2.0**-9, 3.4e38, -0.0]).tolist()
    [1.0, inf, -0.0]
    """
    single = np.asarray(values, dtype=np.float32)
    with np.errstate(invalid="ignore"):  # NaN casts to NaN; numpy warns all the same
        return single.astype(ml_dtypes.bfloat16).astype(np.float32)


def quantize_fp8(values: npt.ArrayLike, axis: int = -1, *, dtype: type) -> np.ndarray:
    """Cast to the ml_dtypes fp8 type ``dtype`` elementwise, saturating (module
    docstring); returned as float32. ``axis`` is ignored.

    >>> quantize_fp8([1e6, -np.inf, 2.0**-17, np.nan], dtype=ml_dtypes.float8_e5m2).tolist()
    [57344.0, -57344.0, 0.0, nan]
    """
    largest = float(ml_dtypes.finfo(dtype).max)
    saturated = np.clip(np.asarray(values, dtype=np.float64), -largest, largest)  # NaN stays
    return decode_table(np.dtype(dtype))[saturated.astype(dtype).view(np.uint8)].astype(
        np.float32)


_F32, _F64 = np.dtype(np.float32), np.dtype(np.float64)

#: Every emulated format by name, in report order.
FORMATS = Registry[NumberFormat]("number format")
for _format in (
    NumberFormat("fp64", _F64),
    NumberFormat("fp32", _F32),
    NumberFormat("bf16", _F32, quantize_bf16),
    NumberFormat("fp8_e4m3", _F32, partial(quantize_fp8, dtype=ml_dtypes.float8_e4m3fn)),
    NumberFormat("fp8_e5m2", _F32, partial(quantize_fp8, dtype=ml_dtypes.float8_e5m2)),
    NumberFormat("bfp8", _F32, partial(quantize_bfp, block_elems=64, significand_bits=8),
                 block_elems=64, significand_bits=8),
    NumberFormat("bfp4", _F32, partial(quantize_bfp, block_elems=128, significand_bits=4),
                 block_elems=128, significand_bits=4),
    *(NumberFormat(name, _F32, partial(quantize_mx, element=element),
                   block_elems=MX_BLOCK_ELEMS)
      for name, element in (("mxfp8_e4m3", "e4m3"), ("mxfp8_e5m2", "e5m2"),
                            ("mxfp6_e2m3", "e2m3"), ("mxfp6_e3m2", "e3m2"),
                            ("mxfp4", "e2m1"), ("mxint8", "int8"))),
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
        If ``name`` is not one of `FORMAT_NAMES` (the message lists them).
    """
    return FORMATS.get(name, key="dtype")
