"""Number formats through ml_dtypes, checked against gfloat (an independent
implementation of the OCP FP8 and MX formats) and against hand-derived values."""

from __future__ import annotations

import numpy as np
import pytest
from gfloat import compute_scale_amax, quantize_block, round_ndarray
from gfloat.formats import (
    format_info_mxfp4_e2m1,
    format_info_mxfp6_e2m3,
    format_info_mxfp6_e3m2,
    format_info_mxfp8_e4m3,
    format_info_mxfp8_e5m2,
    format_info_mxint8,
    format_info_ocp_e4m3,
    format_info_ocp_e5m2,
)

from sim.backends.numeric import FORMAT_NAMES, number_format, quantize_bf16
from sim.errors import ConfigError

MX_ORACLES = {
    "mxfp8_e4m3": format_info_mxfp8_e4m3,
    "mxfp8_e5m2": format_info_mxfp8_e5m2,
    "mxfp6_e2m3": format_info_mxfp6_e2m3,
    "mxfp6_e3m2": format_info_mxfp6_e3m2,
    "mxfp4": format_info_mxfp4_e2m1,
    "mxint8": format_info_mxint8,
}


def _hand_bf16(values: np.ndarray) -> np.ndarray:
    """The hand-written bf16 rounding that ml_dtypes replaced: RNE on the fp32 bits."""
    single = np.asarray(values, dtype=np.float32)
    bits = single.view(np.uint32)
    rounding = ((bits >> np.uint32(16)) & np.uint32(1)) + np.uint32(0x7FFF)
    rounded = ((bits + rounding) & np.uint32(0xFFFF0000)).view(np.float32)
    return np.where(np.isnan(single), single, rounded)


def _edge_values() -> np.ndarray:
    """Ties, subnormals, values beyond every format's range, zeros, NaN and ±∞."""
    base = [0.0, -0.0, np.nan, np.inf, -np.inf, 1e6, -1e6, 448.0, 464.0, 480.0,
            57344.0, 61440.0, 1 + 1 / 16, 1 + 3 / 16, 1 + 1 / 8, 1 + 1 / 4 + 1 / 8,
            1.5 * 2.0**-9, 2.5 * 2.0**-9, 2.0**-10, 0.75 * 2.0**-9, 1.5 * 2.0**-16,
            2.0**-17, 0.75 * 2.0**-16, 2.0**-6 * 1.0625, 7.5, 6.0, 5.0, 28.0, 0.3]
    ties = [k * 2.0**e for k in (1.5, 2.5, 3.5, 4.5, 17, 33) for e in range(-20, 17, 3)]
    values = np.array(base + ties)
    return np.concatenate([values, -values])


def test_bf16_is_bit_identical_to_the_hand_written_rounding() -> None:
    rng = np.random.default_rng(17)
    bits = rng.integers(0, 2**32, size=1 << 20, dtype=np.uint64).astype(np.uint32)
    ties = (rng.integers(0, 2**16, size=1 << 16).astype(np.uint32) << 16) | 0x8000
    values = np.concatenate([bits, ties]).view(np.float32)
    values = np.concatenate([values, _edge_values().astype(np.float32)])
    np.testing.assert_array_equal(quantize_bf16(values).view(np.uint32)[~np.isnan(values)],
                                  _hand_bf16(values).view(np.uint32)[~np.isnan(values)])
    assert np.isnan(quantize_bf16(values)[np.isnan(values)]).all()


@pytest.mark.parametrize(("name", "oracle"), [("fp8_e4m3", format_info_ocp_e4m3),
                                              ("fp8_e5m2", format_info_ocp_e5m2)])
def test_fp8_matches_gfloat_with_saturation(name: str, oracle: object) -> None:
    rng = np.random.default_rng(3)
    values = np.concatenate([_edge_values(), rng.standard_normal(4000) * 2.0**rng.integers(
        -20, 18, size=4000)])
    expected = round_ndarray(oracle, values, sat=True)
    got = number_format(name).quantize(values, axis=0)
    np.testing.assert_array_equal(got, expected)  # NaN == NaN for assert_array_equal


def test_fp8_hand_values() -> None:
    e4m3 = number_format("fp8_e4m3").quantize
    # ties to even at 1 (quantum 1/8), in the subnormals (quantum 2**-9), saturation at 448
    assert e4m3(np.array([1 + 1 / 16, 1 + 3 / 16, 1.5 * 2.0**-9, 2.5 * 2.0**-9, 2.0**-10,
                          470.0, -np.inf]), 0).tolist() == [
        1.0, 1.25, 2 * 2.0**-9, 2 * 2.0**-9, 0.0, 448.0, -448.0]
    e5m2 = number_format("fp8_e5m2").quantize
    assert e5m2(np.array([1 + 1 / 8, 1.5 * 2.0**-16, 60000.0]), 0).tolist() == [
        1.0, 2 * 2.0**-16, 57344.0]


def _mx_blocks(rng: np.random.Generator, blocks: int) -> np.ndarray:
    """Blocks of 32 over a wide range of scales, some with an outlier, some with a
    largest element just below a power of two (the scale's edge), some with ties."""
    values = rng.standard_normal((blocks, 32)) * 2.0 ** rng.integers(-30, 30, (blocks, 1))
    values[::5, 7] *= 50.0
    values[1::5, 0] = np.sign(values[1::5, 0]) * 2.0 ** rng.integers(-10, 10, blocks // 5) * (
        1.999)
    values[2::5, :] = np.round(values[2::5, :] * 16) / 16 + 1 / 32  # halfway points
    return values


@pytest.mark.parametrize("name", list(MX_ORACLES))
def test_mx_matches_gfloat_block_quantization(name: str) -> None:
    rng = np.random.default_rng(len(name))
    values = _mx_blocks(rng, 60)
    expected = np.stack([quantize_block(MX_ORACLES[name], block, compute_scale_amax)
                         for block in values])
    if name == "mxint8":  # gfloat's int8 is two's complement (-2.0); ours symmetric
        scales = np.stack([compute_scale_amax(0, block) for block in values])[:, None]
        expected = np.maximum(expected, -127 / 64 * scales)
    got = number_format(name).quantize(values, axis=1)
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(number_format(name).quantize(values.T, axis=0), got.T)


def test_mxint8_symmetric_minus_128_convention() -> None:
    block = np.zeros(32)
    block[0], block[1], block[2] = -1.996, 1.996, 0.5 / 64  # x / X with X = 1 (amax < 2)
    out = number_format("mxint8").quantize(block, axis=0)
    assert out[:3].tolist() == [-127 / 64, 127 / 64, 0.0]  # -128 never produced; ties to even


def test_mx_blocks_special_cases() -> None:
    q = number_format("mxfp4").quantize
    values = np.zeros(40)
    values[:3] = [np.inf, 1.0, 2.0]  # first block non-finite: NaN entirely
    values[33:35] = [5.0, 0.2]  # partial second block, zero-padded: scale from 5 (X = 1)
    out = q(values, 0)
    assert np.isnan(out[:32]).all()
    assert out[32:].tolist() == [0.0, 4.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    assert q(np.zeros(64), 0).tolist() == [0.0] * 64 and out.dtype == np.float32
    # a block of tiny values keeps its precision (shared scale), unlike the plain fp8 cast
    tiny = np.full(32, 3 * 2.0**-30)
    assert q(tiny, 0).tolist() == tiny.tolist()
    assert number_format("fp8_e4m3").quantize(tiny, 0).tolist() == [0.0] * 32


def test_registry_lists_every_format_on_a_bad_name() -> None:
    with pytest.raises(ConfigError) as info:
        number_format("mxfp5")
    message = str(info.value)
    assert message.startswith("dtype: unknown number format 'mxfp5'")
    assert all(name in message for name in FORMAT_NAMES)
    assert {number_format(n).compute_dtype for n in FORMAT_NAMES[1:]} == {np.dtype(np.float32)}
