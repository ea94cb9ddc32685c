"""Cost of the LPDDR tier: streaming weights (or the KV cache) into a core.

A piece whose weights sit in its card's LPDDR (`sim.schedule.tiers`) has them
streamed into the in-memory arrays each time its linear runs; a piece whose
KV cache sits there reads it once per step. The card has one LPDDR interface
of ``bytes_per_cycle`` shared by all its cores: a stream holds it for

    stream_cycles = ceil(bytes / bytes_per_cycle)

and its first bytes arrive ``latency_cycles`` after it starts. The matmul
consumes the weights as they arrive (a pipelined stream), so a piece alone on
its card, its inputs ready, takes

    piece_cycles = max(compute_cycles, stream_cycles) + latency_cycles

``compute_cycles`` being the piece's matmul cycles to its result (occupancy
plus result latency, `sim.hardware.matmul.matmul_cost`). Two cores of a card
streaming at once share the interface: the readers hold one LPDDR engine per
card for ``stream_cycles`` per stream, so the second waits for the first.

Assumptions (README, Timing model, "Memory tier"): the array write is not a
separate cost (a DIMC array written at SRAM speed, far above the 256 B/cycle
of a card's LPDDR, keeps pace with the stream); compute never stalls in the
middle of a stream (the piece ends at the later of compute and stream); no
SRAM is reserved for staging streamed weights.
"""

from __future__ import annotations

import math

from sim.config import LpddrConfig, MachineConfig

__all__ = ["card_of_core", "cores_per_card", "stream_cycles", "streamed_piece_cycles"]


def cores_per_card(machine: MachineConfig) -> int:
    """Cores on one card of ``machine`` (cards hold contiguous cores)."""
    return machine.hierarchy.chiplets_per_card * machine.hierarchy.cores_per_chiplet


def card_of_core(core: int, machine: MachineConfig) -> int:
    """The card ``core`` is on (and whose LPDDR it streams from)."""
    return core // cores_per_card(machine)


def stream_cycles(nbytes: int, lpddr: LpddrConfig) -> int:
    """Cycles a stream of ``nbytes`` holds its card's LPDDR interface.

    >>> from sim.config import LpddrConfig
    >>> stream_cycles(1000, LpddrConfig(bytes_per_cycle=256.0))
    4
    >>> stream_cycles(0, LpddrConfig())
    0
    """
    if nbytes < 0:
        raise ValueError(f"stream bytes must be >= 0, got {nbytes}")
    return math.ceil(nbytes / lpddr.bytes_per_cycle)


def streamed_piece_cycles(compute_cycles: int, nbytes: int, lpddr: LpddrConfig) -> int:
    """Cycles of a piece streaming ``nbytes`` from LPDDR while its matmul of
    ``compute_cycles`` consumes them, alone on its card (module docstring).

    A 64 x 64 linear in 8-bit weights (4,096 B) at 64 B/cycle with 100 cycles of
    latency: the stream (64 cycles) hides a 16-cycle matmul, not a 200-cycle one.

    >>> from sim.config import LpddrConfig
    >>> lpddr = LpddrConfig(bytes_per_cycle=64.0, latency_cycles=100)
    >>> streamed_piece_cycles(16, 4096, lpddr)
    164
    >>> streamed_piece_cycles(200, 4096, lpddr)
    300
    """
    return max(compute_cycles, stream_cycles(nbytes, lpddr)) + lpddr.latency_cycles
