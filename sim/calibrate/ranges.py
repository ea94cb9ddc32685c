"""The documented plausible ranges of the machine figures no one has published.

A calibration spec may free any of these keys without giving a range: it then
moves within the range below (`DOCUMENTED_RANGES`). Each range is an
assumption, stated with its reason; the README's Calibration section repeats the
table. A key not listed here needs an explicit ``low`` and ``high``.

The defaults of the bundled Corsair-like machine (``configs/machines/``) lie
inside every range.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DOCUMENTED_RANGES", "DocumentedRange", "unit_of"]


@dataclass(frozen=True)
class DocumentedRange:
    """A plausible ``[low, high]`` for one config key, its unit and why."""

    low: float
    high: float
    unit: str
    reason: str


#: Dotted config key -> its documented plausible range.
DOCUMENTED_RANGES: dict[str, DocumentedRange] = {
    "machine.network.router_latency_cycles": DocumentedRange(
        1, 8, "cycles", "one-stage bypass router to a deep 4-stage router at 2 GHz, x2"),
    "machine.network.endpoint_overhead_cycles": DocumentedRange(
        0, 200, "cycles", "none to ~100 ns of DMA/injection set-up per message at 2 GHz"),
    "machine.network.noc.bytes_per_cycle": DocumentedRange(
        8, 64, "B/cycle", "64-bit to 512-bit on-chip mesh links"),
    "machine.network.noc.latency_cycles": DocumentedRange(
        1, 4, "cycles", "a short mesh wire, registered once to a few times"),
    "machine.network.d2d.bytes_per_cycle": DocumentedRange(
        16, 128, "B/cycle", "~0.2-2 TB/s per chiplet over 7 die-to-die links at 2 GHz"),
    "machine.network.d2d.latency_cycles": DocumentedRange(
        10, 100, "cycles", "5-50 ns die-to-die (UCIe-class PHY and adapter)"),
    "machine.network.c2c.bytes_per_cycle": DocumentedRange(
        8, 64, "B/cycle", "PCIe 5.0 x4 to x16 and beyond (16-128 GB/s at 2 GHz)"),
    "machine.network.c2c.latency_cycles": DocumentedRange(
        200, 4000, "cycles", "100 ns to 2 us card to card over PCIe with a switch"),
    "machine.network.in_network_combine_cycles": DocumentedRange(
        1, 8, "cycles", "a router's adder, pipelined or not"),
    "machine.simd.op_cycles.exp": DocumentedRange(
        1, 16, "cycles", "a pipelined exp unit to a polynomial on the FMA pipe"),
    "machine.simd.op_cycles.rsqrt": DocumentedRange(
        1, 16, "cycles", "a table lookup to Newton steps on the FMA pipe"),
    "machine.simd.op_cycles.reciprocal": DocumentedRange(
        1, 16, "cycles", "a table lookup to Newton steps on the FMA pipe"),
    "machine.simd.reduction_tree_latency_cycles": DocumentedRange(
        0, 16, "cycles", "0 to two cycles per stage of a 64-lane adder tree"),
    "machine.simd.lanes": DocumentedRange(
        16, 128, "elements", "a core's share of a slice's SIMD unit"),
    "machine.buffers.output_buffer_latency_cycles": DocumentedRange(
        0, 8, "cycles", "DIMC result to the shared output buffer"),
    "machine.matmul.pipeline_latency_engine_cycles": DocumentedRange(
        0, 16, "engine cycles", "array input to its output"),
    "machine.memory.lpddr.bytes_per_cycle": DocumentedRange(
        100, 300, "B/cycle", "LPDDR5X per card (sim/config/memory.py)"),
    "machine.memory.lpddr.latency_cycles": DocumentedRange(
        100, 400, "cycles", "LPDDR first-byte latency (sim/config/memory.py)"),
    "machine.memory.host.latency_cycles": DocumentedRange(
        1000, 10000, "cycles", "PCIe and driver round trip (sim/config/memory.py)"),
}

#: Key endings and their units, for keys outside `DOCUMENTED_RANGES`.
_SUFFIX_UNITS: tuple[tuple[str, str], ...] = (
    ("bytes_per_cycle", "B/cycle"), ("_cycles", "cycles"), ("_bytes", "B"), ("_us", "us"),
    ("_ghz", "GHz"), ("_pj", "pJ"), ("_w", "W"), ("_share", "fraction"),
    ("_fraction", "fraction"), ("tokens_per_s", "tokens/s"),
)


def unit_of(key: str) -> str:
    """The unit of a config key or metric, from the table or its name's ending.

    >>> unit_of("machine.network.noc.bytes_per_cycle"), unit_of("latency_per_token_us")
    ('B/cycle', 'us')
    >>> unit_of("machine.simd.op_cycles.exp"), unit_of("bubble_fraction")
    ('cycles', 'fraction')
    """
    if key in DOCUMENTED_RANGES:
        return DOCUMENTED_RANGES[key].unit
    name = key.rsplit(".", 1)[-1]
    for suffix, unit in _SUFFIX_UNITS:
        if name.endswith(suffix):
            return unit
    return ""
