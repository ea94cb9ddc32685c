"""The ``machine`` section: clock, core hierarchy, engines, memory and interconnect."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from sim.config.energy import EnergyConfig
from sim.config.memory import MemoryConfig
from sim.config.names import TopologyName
from sim.config.section import Section

__all__ = [
    "BufferConfig",
    "HierarchyConfig",
    "LinkConfig",
    "MachineConfig",
    "MatmulEngineConfig",
    "MemoryConfig",
    "NetworkConfig",
    "SimdConfig",
    "SimdOpCycles",
]

#: The most cores a machine may have (8x the 16-card rack preset's 32,768): a
#: typo such as ``cores_per_chiplet: 100000000`` is refused while validating,
#: not after building its interconnect.
MAX_TOTAL_CORES = 1 << 18
#: The most cards, chiplets per card or cores per chiplet.
MAX_HIERARCHY_COUNT = 1 << 16
#: The widest SIMD unit (lanes) and matmul array (rows, columns).
MAX_ENGINE_WIDTH = 1 << 16


class HierarchyConfig(Section):
    """How many cores the machine has: cards x chiplets per card x cores per chiplet."""

    cards: int = Field(1, gt=0, le=MAX_HIERARCHY_COUNT, description="Cards in the system.")
    chiplets_per_card: int = Field(1, gt=0, le=MAX_HIERARCHY_COUNT,
                                   description="Chiplets on each card.")
    cores_per_chiplet: int = Field(
        1, gt=0, le=MAX_HIERARCHY_COUNT,
        description="Cores (slices: one matmul engine + one SIMD unit) per chiplet."
    )

    @model_validator(mode="after")
    def _bounded(self) -> HierarchyConfig:
        if self.total_cores > MAX_TOTAL_CORES:
            raise ValueError(f"{self.total_cores} cores (cards x chiplets_per_card x "
                             f"cores_per_chiplet), more than the {MAX_TOTAL_CORES} supported")
        return self

    @property
    def total_cores(self) -> int:
        """Cores in the whole system."""
        return self.cards * self.chiplets_per_card * self.cores_per_chiplet


class MatmulEngineConfig(Section):
    """An in-memory matmul engine: a weight-stationary array of rows x columns.

    One engine cycle multiplies an input vector of ``array_rows`` elements with
    the stored ``array_rows x array_cols`` weight tile (``array_rows *
    array_cols`` MACs). The engine runs ``clock_divider`` times slower than the
    reference clock.
    """

    array_rows: int = Field(gt=0, le=MAX_ENGINE_WIDTH,
                            description="Input elements consumed per engine cycle.")
    array_cols: int = Field(gt=0, le=MAX_ENGINE_WIDTH,
                            description="Output elements produced per engine cycle.")
    clock_divider: int = Field(
        1, gt=0, description="Reference-clock cycles per engine cycle (2 = half rate)."
    )
    pipeline_latency_engine_cycles: int = Field(
        0,
        ge=0,
        description="Engine cycles from the last input to its output (fill/drain latency).",
    )

    @property
    def macs_per_engine_cycle(self) -> int:
        """Multiply-accumulates per engine cycle."""
        return self.array_rows * self.array_cols


class SimdOpCycles(Section):
    """Reference-clock cycles the SIMD unit needs per element-vector (``lanes``
    elements) for each instruction. Zero means the instruction is free (a toy
    machine that counts only vector passes)."""

    add: int = Field(1, ge=0, description="Add or subtract.")
    mul: int = Field(1, ge=0, description="Multiply.")
    fma: int = Field(1, ge=0, description="Fused multiply-add (also square-and-accumulate).")
    max: int = Field(1, ge=0, description="Maximum.")
    exp: int = Field(4, ge=0, description="Exponential.")
    rsqrt: int = Field(4, ge=0, description="Reciprocal square root.")
    reciprocal: int = Field(4, ge=0, description="Reciprocal.")


class SimdConfig(Section):
    """The non-linear SIMD unit of a core."""

    lanes: int = Field(gt=0, le=MAX_ENGINE_WIDTH, description="Elements per vector instruction.")
    op_cycles: SimdOpCycles = Field(default_factory=SimdOpCycles)
    reduction_tree_latency_cycles: int = Field(
        0, ge=0, description="Latency of the cross-lane reduction tree (pipelined)."
    )


class BufferConfig(Section):
    """Buffers that cost time."""

    output_buffer_latency_cycles: int = Field(
        0,
        ge=0,
        description="Cycles for a matmul result to land in the shared output buffer "
        "where the SIMD unit can read it.",
    )


class LinkConfig(Section):
    """One kind of directed link."""

    bytes_per_cycle: float = Field(gt=0, allow_inf_nan=False,
                                   description="Bytes the link carries per cycle (one flit).")
    latency_cycles: int = Field(ge=0, description="Cycles for a flit to cross the link.")


class NetworkConfig(Section):
    """The interconnect: topology, links, routers, and collective parameters.

    ``card``: every chiplet is a ``mesh_width x mesh_height`` mesh of cores on
    ``noc`` links; chiplets of a card are joined all-to-all by ``d2d`` links
    between their gateway cores; cards all-to-all by ``c2c`` links. The flat
    topologies (``ring``, ``mesh``, ``torus``, ``tree``, ``fully_connected``)
    join all cores of the machine with ``noc`` links.
    """

    topology: TopologyName = "card"
    router_latency_cycles: int = Field(
        1, ge=0, description="Cycles a packet head spends in a router."
    )
    noc: LinkConfig = Field(
        default_factory=lambda: LinkConfig(bytes_per_cycle=32, latency_cycles=1),
        description="Links between cores of a chiplet (network-on-chip).",
    )
    d2d: LinkConfig = Field(
        default_factory=lambda: LinkConfig(bytes_per_cycle=64, latency_cycles=20),
        description="Die-to-die links between chiplets of a card.",
    )
    c2c: LinkConfig = Field(
        default_factory=lambda: LinkConfig(bytes_per_cycle=32, latency_cycles=200),
        description="Card-to-card links.",
    )
    mesh_width: int | None = Field(
        None, gt=0,
        description="Mesh columns (of a chiplet for card, of the machine for mesh/torus); "
        "default: the most square factorization of the core count.",
    )
    tree_arity: int = Field(4, gt=1, le=MAX_TOTAL_CORES,
                            description="Children per switch of the tree topology.")
    max_packet_bytes: int | None = Field(
        None, gt=0, description="Longest packet; longer messages are split (default: no limit)."
    )
    in_network_combine_cycles: int = Field(
        1, ge=0, description="Cycles a router adds when it merges packets (in-network reduction)."
    )
    endpoint_overhead_cycles: int = Field(
        0, ge=0,
        description="Cycles a message waits at its source before its first hop (injection, DMA "
        "and NIC setup), once per message, as latency (no queue of set-ups). Default 0: no "
        "published figure for these machines, and 0 keeps every earlier result.",
    )
    switching: Literal["cut_through", "store_and_forward"] = Field(
        "cut_through",
        description="cut_through: a router forwards a packet's head as it arrives (F flits over "
        "H hops: sum(router + link) + F - 1); store_and_forward: only once all of it arrived "
        "(sum over hops of (router + link + F - 1)).",
    )


class MachineConfig(Section):
    """The accelerator: clock, core hierarchy, and the engines of every core."""

    name: str = Field("unnamed", description="Label used in reports.")
    clock_ghz: float = Field(gt=0, allow_inf_nan=False,
                             description="Reference clock; all cycles count this clock.")
    hierarchy: HierarchyConfig = Field(default_factory=HierarchyConfig)
    matmul: MatmulEngineConfig
    simd: SimdConfig
    buffers: BufferConfig = Field(default_factory=BufferConfig)
    memory: MemoryConfig = Field(default_factory=MemoryConfig)
    network: NetworkConfig = Field(default_factory=NetworkConfig)
    energy: EnergyConfig = Field(default_factory=EnergyConfig,
                                 description="pJ per event, static power, area (sim.energy).")
