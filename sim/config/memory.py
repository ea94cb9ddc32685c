"""The memory sections of ``machine``: on-chip SRAM, the LPDDR tier of each card,
and the host link (PCIe) tokens enter and leave by.

Defaults are those of a Corsair-like card (``../shared/DOMAIN.md``: 256 GB of
LPDDR5X per card, PCIe 5.0 x16 to the host); what is not published is an
assumption stated next to its key, with the range it may be moved in.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from sim.config.section import Section

__all__ = ["HostLinkConfig", "LpddrConfig", "MemoryConfig", "PlacementPolicy"]

#: Where weights go when SRAM is short (`MemoryConfig.placement`).
PlacementPolicy = Literal["sram_first", "sram_only", "lpddr_weights"]


class LpddrConfig(Section):
    """The off-chip memory of one card, shared by all of its chiplets.

    Weights placed here are streamed into the in-memory arrays each time their
    linear runs; the KV cache placed here is read once per decode step.
    """

    bytes_per_card: int = Field(
        256 << 30, ge=0,
        description="LPDDR capacity of each card in bytes (public: 256 GB of LPDDR5X per card; "
        "0: no LPDDR tier).",
    )
    bytes_per_cycle: float = Field(
        256.0, gt=0, allow_inf_nan=False,
        description="LPDDR bandwidth of one card in bytes per reference cycle (assumption: "
        "512 GB/s at 2 GHz, a 512-bit LPDDR5X interface at 8533 MT/s is 546 GB/s; plausible "
        "range 100-300 B/cycle).",
    )
    latency_cycles: int = Field(
        200, ge=0,
        description="Cycles from a read request to its first bytes (assumption: 100 ns at "
        "2 GHz; plausible range 100-400).",
    )


class HostLinkConfig(Section):
    """The link between a card and the host (token ids in, sampled ids out)."""

    bytes_per_cycle: float = Field(
        32.0, gt=0, allow_inf_nan=False,
        description="Host link bandwidth in bytes per reference cycle (PCIe 5.0 x16: 64 GB/s, "
        "32 B/cycle at 2 GHz).",
    )
    latency_cycles: int = Field(
        2000, ge=0,
        description="Cycles of one host transfer's fixed cost (assumption: 1 us of PCIe and "
        "driver round trip at 2 GHz; plausible range 1000-10000).",
    )


class MemoryConfig(Section):
    """Memory that holds the stationary weights and the KV cache: SRAM on each core,
    LPDDR on each card, and the policy deciding what goes where."""

    sram_bytes_per_core: int = Field(
        1 << 20, gt=0, description="SRAM bytes each core can devote to weights and KV cache."
    )
    lpddr: LpddrConfig = Field(default_factory=LpddrConfig,
                               description="The LPDDR tier of each card.")
    placement: PlacementPolicy = Field(
        "sram_first",
        description="sram_first: weights and KV cache in SRAM while they fit, the rest in the "
        "card's LPDDR; sram_only: everything in SRAM (a workload that does not fit is an "
        "error); lpddr_weights: every weight in LPDDR, SRAM for the KV cache.",
    )
    host: HostLinkConfig = Field(default_factory=HostLinkConfig,
                                 description="The host link of each card.")
