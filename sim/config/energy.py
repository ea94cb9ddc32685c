"""The ``machine.energy`` section: picojoules per counted event, static power, area.

`sim.energy` counts events from the tasks a run executes (MACs, SIMD lane-ops,
bytes over every link, bytes out of LPDDR, ...) and multiplies them by this
table; static energy is the static power of every core, chiplet and card times
the simulated latency (idle time included).

No figure here is a measurement of a Corsair-like card (none is published per
event). Each default says where it comes from: most are order-of-magnitude
assumptions from public figures for the kind of circuit (the 45 nm table of
M. Horowitz, "Computing's energy problem", ISSCC 2014, scaled to a 6-7 nm node by
about 1/4; published digital in-memory-compute macros; the interface standards'
pJ/bit). Move them within the stated ranges; every key must be >= 0.
"""

from __future__ import annotations

from pydantic import Field

from sim.config.section import Section

__all__ = ["AreaConfig", "EnergyConfig", "SimdLaneEnergy"]


def _pj(default: float, description: str) -> float:
    """A non-negative energy field in pJ (or W, mm2) with its reasoning."""
    return Field(default, ge=0, allow_inf_nan=False, description=description)


class SimdLaneEnergy(Section):
    """pJ per lane of one SIMD vector instruction (fp32), by instruction (the names of
    `sim.config.machine.SimdOpCycles`). Horowitz 2014 at 45 nm: fp32 add 0.9 pJ,
    fp32 multiply 3.7 pJ; scaled by ~1/4 and rounded (order-of-magnitude assumption)."""

    add: float = _pj(0.25, "fp32 add per lane (Horowitz 0.9 pJ at 45 nm, scaled ~1/4).")
    mul: float = _pj(0.9, "fp32 multiply per lane (Horowitz 3.7 pJ at 45 nm, scaled ~1/4).")
    fma: float = _pj(1.1, "fp32 fused multiply-add per lane (a multiply and an add).")
    max: float = _pj(0.1, "fp32 compare-select per lane (an integer-add-sized comparator).")
    exp: float = _pj(4.0, "Exponential per lane (assumption: a range reduction and a "
                          "polynomial, about four fma).")
    rsqrt: float = _pj(4.0, "Reciprocal square root per lane (assumption: a table seed "
                            "and Newton steps, about four fma).")
    reciprocal: float = _pj(3.5, "Reciprocal per lane (assumption: a seed and Newton steps).")


class AreaConfig(Section):
    """Optional silicon area in mm2 (None: not reported). Totals: a chiplet is its
    cores plus its uncore, a card its chiplets plus its own."""

    core_mm2: float | None = Field(None, ge=0, allow_inf_nan=False,
                                   description="One core (matmul array, SIMD unit, SRAM).")
    chiplet_uncore_mm2: float | None = Field(
        None, ge=0, allow_inf_nan=False,
        description="A chiplet beyond its cores (NoC, die-to-die PHYs, control).")
    card_uncore_mm2: float | None = Field(
        None, ge=0, allow_inf_nan=False,
        description="A card beyond its chiplets (package, LPDDR and PCIe PHYs).")


class EnergyConfig(Section):
    """Energy per event (pJ), static power (W) and optional area (mm2) of a machine."""

    mac_8bit_pj: float = _pj(
        0.1, "In-memory MAC, 8-bit block format (order-of-magnitude assumption: digital "
             "in-memory-compute macros are published at roughly 10-100 TOPS/W at 4-8 bit, "
             "0.02-0.2 pJ per MAC).")
    mac_4bit_pj: float = _pj(
        0.03, "In-memory MAC, 4-bit block format (weights of <= 4 bits; assumption: about a "
              "third of the 8-bit MAC, multiplier energy growing with the bits squared).")
    array_write_pj_per_byte: float = _pj(
        1.0, "Writing weight bytes into the in-memory arrays when they are streamed in from "
             "LPDDR (assumption: an SRAM write plus bit-line drive of the compute array).")
    simd_pj_per_lane: SimdLaneEnergy = Field(default_factory=SimdLaneEnergy,
                                             description="SIMD lane-op energies by instruction.")
    sram_read_pj_per_byte: float = _pj(
        0.5, "SRAM read per byte (Horowitz: 10-20 pJ per 64-bit read of an 8-32 KB array at "
             "45 nm, 1.3-2.5 pJ/B, scaled ~1/4).")
    sram_write_pj_per_byte: float = _pj(0.6, "SRAM write per byte (a read's, slightly more).")
    output_buffer_pj_per_byte: float = _pj(
        0.3, "Output buffer access per byte (fp32 partial sums; a small SRAM close to the "
             "array, assumption).")
    noc_link_pj_per_byte: float = _pj(
        0.8, "Network-on-chip, per byte per link crossed (order of 0.1 pJ/bit per mm, links "
             "about 1 mm long: assumption).")
    noc_router_pj_per_byte: float = _pj(
        0.5, "Per byte per router traversal (buffer write, read and crossbar; assumption), "
             "one per hop of any link kind.")
    in_network_combine_pj_per_byte: float = _pj(
        0.1, "A router's combine unit, per byte merged (an fp32 add per 4 B plus staging: "
             "assumption).")
    d2d_pj_per_byte: float = _pj(
        4.0, "Die-to-die link per byte (UCIe-class links, about 0.5 pJ/bit: order of "
             "magnitude).")
    c2c_pj_per_byte: float = _pj(
        40.0, "Card-to-card link per byte (PCIe / long-reach SerDes, about 5 pJ/bit: order "
              "of magnitude).")
    host_pj_per_byte: float = _pj(
        40.0, "Host link per byte (PCIe, about 5 pJ/bit: order of magnitude).")
    lpddr_pj_per_byte: float = _pj(
        36.0, "LPDDR per byte read (LPDDR5X about 4-5 pJ/bit including the PHY: order of "
              "magnitude).")
    core_static_w: float = _pj(
        0.02, "Static power of one core in W (leakage of its SRAM and engines; assumption).")
    chiplet_static_w: float = _pj(
        5.0, "Static power of one chiplet beyond its cores in W (clock tree, NoC, PHYs idle; "
             "assumption).")
    card_static_w: float = _pj(
        30.0, "Static power of one card beyond its chiplets in W (LPDDR refresh, PCIe, "
              "board; assumption).")
    area: AreaConfig = Field(default_factory=AreaConfig, description="Optional area (mm2).")
