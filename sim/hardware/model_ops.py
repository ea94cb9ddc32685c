"""Cost of the whole-model ops around the decoder blocks (``workload.whole_model``).

Three kinds of cost, all fixed durations computed in closed form here (the
readers only sequence them):

- **Host transfers** (`TransferShape` ``host``): ``latency_cycles +
  ceil(bytes / bytes_per_cycle)`` of the host link (``machine.memory.host``)
  for the *whole* op's bytes. Every core receiving a part of it holds its SIMD
  unit for that time: the cores share the one port fairly, so every part is
  complete when the last byte of the whole is (assumption: no PCIe resource
  contends in the simulation; each transfer is a fixed-duration task on the
  receiving cores' SIMD units).
- **LPDDR reads** (``lpddr``, the embedding lookup): each core's part is a read
  of its *own* bytes on its card's LPDDR engine (``machine.memory.lpddr``),
  holding it ``ceil(bytes / bytes_per_cycle)`` cycles, complete
  ``latency_cycles`` after that (a stream's first bytes ``latency_cycles`` after
  it starts, its last ``ceil(bytes / bytes_per_cycle)`` later: `EngineCost`
  occupancy and result latency). The card's engine is shared with the weight
  streams (`sim.backends.lpddr_streams`): the parts of one card queue, so P
  parts of b bytes alone on it end ``latency + P * ceil(b / bytes_per_cycle)``
  after the first starts.
- **Stores** into SRAM by the SIMD unit (``sram``, the KV-cache append): one
  vector of ``lanes`` elements written per `STORE_CYCLES_PER_VECTOR` cycles,
  ``ceil(elements / lanes) * STORE_CYCLES_PER_VECTOR`` for the piece's own
  elements (assumption: a store is as cheap as the cheapest vector instruction).
- **Sampling** on the SIMD units, as SIMD instructions (`sampling_instrs`,
  `pick_instrs`) costed by `sim.hardware.simd.simd_cost`: a local argmax is a
  compare-select of the value and one of its index per element-vector (two
  ``max``), top-k keeps k such candidates (k passes: ``2k`` ``max``); the
  candidates of every core are reduced to one root as (fp32 value, int32
  index) pairs of `CANDIDATE_BYTES` each.

Examples
--------
Eight token ids (4 B each) over a 32 B/cycle host link with 2000 cycles of
latency; the 4096-element embedding rows of 8 tokens at 8 bits out of an LPDDR
of 256 B/cycle and 200 cycles; a 2 x 64-element store on 16 lanes:

>>> from sim.config import MachineConfig
>>> from sim.ir import TransferShape
>>> machine = MachineConfig.model_validate({"clock_ghz": 1.0, "simd": {"lanes": 16},
...     "matmul": {"array_rows": 8, "array_cols": 8}})
>>> ids = TransferShape.of("host", 8, 1, 32)
>>> transfer_cost(ids, ids, machine)
EngineCost(occupancy_cycles=2001, result_latency_cycles=0)
>>> rows = TransferShape.of("lpddr", 8, 4096, 8)
>>> transfer_cost(TransferShape.of("lpddr", 8, 256, 8), rows, machine)  # one core's slice
EngineCost(occupancy_cycles=8, result_latency_cycles=200)
>>> kv = TransferShape.of("sram", 2, 64, 16)
>>> transfer_cost(kv, kv, machine)
EngineCost(occupancy_cycles=8, result_latency_cycles=0)
>>> sampling_instrs(1), len(sampling_instrs(5))
(('max', 'max'), 10)
"""

from __future__ import annotations

from sim.config import MachineConfig
from sim.hardware.cost import EngineCost
from sim.hardware.memory_tier import stream_cycles
from sim.ir import TransferShape

__all__ = [
    "CANDIDATE_BYTES",
    "SHARED_MEDIA",
    "STORE_CYCLES_PER_VECTOR",
    "pick_instrs",
    "sampling_instrs",
    "transfer_bytes",
    "transfer_cost",
]

#: Bytes of one sampling candidate on the wire: an fp32 logit and an int32 token id.
CANDIDATE_BYTES = 8

#: Cycles the SIMD unit needs to store one vector of ``lanes`` elements into SRAM.
STORE_CYCLES_PER_VECTOR = 1

#: Transfer media whose port the receiving cores share (costed on the whole op's bytes).
SHARED_MEDIA = ("host", "lpddr")


def _ceil_div(a: int, b: float) -> int:
    return int(-(-a // b))


def transfer_bytes(shape: TransferShape) -> int:
    """Bytes of ``shape``'s elements, rounded up to whole bytes.

    >>> transfer_bytes(TransferShape.of("host", 3, 1, 32))
    12
    """
    return -(-shape.rows * shape.cols * shape.elem_bits // 8)


def transfer_cost(piece: TransferShape, whole: TransferShape,
                  machine: MachineConfig) -> EngineCost:
    """Cycles one core's ``piece`` of the transfer ``whole`` takes (module docstring):
    the host link's latency plus the whole op's bytes over its bandwidth, an LPDDR
    read of the piece's own bytes (held engine cycles, then the latency), or an
    SRAM store of the piece's own elements.

    Raises
    ------
    ValueError
        If the medium is none of ``host``, ``lpddr``, ``sram``.
    """
    if piece.rows == 0 or piece.cols == 0:
        return EngineCost(0)
    if piece.medium == "sram":
        vectors = _ceil_div(piece.rows * piece.cols, machine.simd.lanes)
        return EngineCost(vectors * STORE_CYCLES_PER_VECTOR)
    if piece.medium == "lpddr":
        lpddr = machine.memory.lpddr
        return EngineCost(stream_cycles(transfer_bytes(piece), lpddr), lpddr.latency_cycles)
    if piece.medium != "host":
        raise ValueError(f"unknown transfer medium {piece.medium!r}")
    host = machine.memory.host
    return EngineCost(host.latency_cycles + _ceil_div(transfer_bytes(whole), host.bytes_per_cycle))


def sampling_instrs(candidates: int) -> tuple[str, ...]:
    """SIMD instructions per element-vector of a core's local search for its best
    ``candidates`` logits: a compare-select of the value and of its index (two
    ``max``) per candidate kept (1: argmax; k: top-k as k passes)."""
    if candidates < 1:
        raise ValueError(f"candidates must be >= 1, got {candidates}")
    return ("max", "max") * candidates


def pick_instrs(candidates: int) -> tuple[str, ...]:
    """SIMD instructions per element-vector of the root's pick among the reduced
    ``candidates`` of a token: none beyond a final compare for argmax (the
    reduction's max is the answer), for top-k ``exp(v − v_max)``, their running sum,
    the scaled uniform draw and a compare-select (``add exp add mul max``).

    >>> pick_instrs(1), pick_instrs(4)
    (('max',), ('add', 'exp', 'add', 'mul', 'max'))
    """
    return ("max",) if candidates == 1 else ("add", "exp", "add", "mul", "max")
