"""The events energy is counted in, and the events of one tile of an op.

An event is a count with a price in ``machine.energy`` (`sim.config.energy`):
`EVENTS` names them in the order of every count vector, `EVENT_COMPONENT` says
which component of the breakdown each belongs to, and `prices_pj` gives the
price vector, so that the dynamic energy of counts ``c`` is ``c @ prices_pj``.

The events of one tile come from the shape its cycles were costed from
(`sim.ir.plan.OpStep.tile_shapes`), counted as the cost models count work
(assumptions, also in the README's energy section):

- matmul: the array performs ``array_rows x array_cols`` MACs every engine cycle
  it is visited, partial tiles included (as the timing charges them): ``visits =
  groups * tokens * ceil(K / R) * ceil(N / C)``, ``MACs = visits * R * C``, at the
  4-bit price when weights have <= 4 bits; every visit accumulates ``C`` fp32
  partial sums in the output buffer (``4 C`` bytes); the input vectors are read
  from SRAM once (``groups * tokens * K`` activations);
- SIMD: every vector instruction costs ``lanes`` lane-ops of its kind (a partial
  vector still drives every lane, as the timing charges a whole vector), with the
  vectors of `sim.hardware.simd.simd_cost`; the operand is read from SRAM once
  and the result written once (fp32: 4 B per element; a reduce or a row scalar
  writes one value per row, a row scalar reads one per row); a pass of no
  instruction (the workload's input op, 0 cycles) counts nothing;
- transfers (`sim.ir.TransferShape`): a host transfer moves the piece's own bytes
  over the host link, an LPDDR read reads them, an SRAM store writes them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sim.config import MachineConfig
from sim.config.energy import EnergyConfig
from sim.ir import MatmulShape, SimdPattern, SimdShape, TransferShape

__all__ = ["COMPONENTS", "EVENTS", "EVENT_COMPONENT", "FP32_BYTES", "SIMD_KINDS", "event_index",
           "prices_pj", "tile_events"]

#: Bytes of a SIMD element, an output-buffer partial sum and a reduction's partial (fp32).
FP32_BYTES = 4
#: The SIMD instructions with a lane-op price (`sim.config.energy.SimdLaneEnergy`).
SIMD_KINDS = ("add", "mul", "fma", "max", "exp", "rsqrt", "reciprocal")

#: (event, its price key in ``machine.energy``, its component), in count-vector order.
_TABLE: tuple[tuple[str, str, str], ...] = (
    ("mac_8bit", "mac_8bit_pj", "matmul"),
    ("mac_4bit", "mac_4bit_pj", "matmul"),
    ("array_write_bytes", "array_write_pj_per_byte", "array_write"),
    *((f"simd_{k}_lane_ops", f"simd_pj_per_lane.{k}", "simd") for k in SIMD_KINDS),
    ("sram_read_bytes", "sram_read_pj_per_byte", "sram"),
    ("sram_write_bytes", "sram_write_pj_per_byte", "sram"),
    ("output_buffer_bytes", "output_buffer_pj_per_byte", "output_buffer"),
    ("noc_link_bytes", "noc_link_pj_per_byte", "noc"),
    ("router_bytes", "noc_router_pj_per_byte", "noc"),
    ("in_network_combine_bytes", "in_network_combine_pj_per_byte", "in_network"),
    ("d2d_bytes", "d2d_pj_per_byte", "d2d"),
    ("c2c_bytes", "c2c_pj_per_byte", "c2c"),
    ("host_bytes", "host_pj_per_byte", "host"),
    ("lpddr_bytes", "lpddr_pj_per_byte", "lpddr"),
)
EVENTS: tuple[str, ...] = tuple(e for e, _, _ in _TABLE)
EVENT_COMPONENT: dict[str, str] = {e: c for e, _, c in _TABLE}
#: The components of the breakdown, in order (``static`` is added by the report).
COMPONENTS: tuple[str, ...] = tuple(dict.fromkeys(c for _, _, c in _TABLE))
_INDEX = {e: i for i, e in enumerate(EVENTS)}


def event_index(event: str) -> int:
    """The position of ``event`` in every count vector."""
    return _INDEX[event]


def prices_pj(energy: EnergyConfig) -> np.ndarray:
    """pJ per event, in `EVENTS` order, read from ``energy``.

    >>> from sim.config.energy import EnergyConfig
    >>> float(prices_pj(EnergyConfig(mac_8bit_pj=0.5))[event_index("mac_8bit")])
    0.5
    """
    table = energy.model_dump()
    out = np.zeros(len(EVENTS), dtype=np.float64)
    for i, (_, key, _) in enumerate(_TABLE):
        value: Any = table
        for part in key.split("."):
            value = value[part]
        out[i] = float(value)
    return out


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def tile_events(shape: MatmulShape | SimdShape, machine: MachineConfig, weight_bits: int,
                activation_bits: int) -> np.ndarray:
    """The event counts (`EVENTS` order, int64) of one tile of ``shape`` (module
    docstring); zero for an empty tile.

    >>> from sim.config import MachineConfig
    >>> m = MachineConfig.model_validate({"clock_ghz": 1.0, "simd": {"lanes": 128},
    ...     "matmul": {"array_rows": 128, "array_cols": 128}})
    >>> int(tile_events(MatmulShape(1, 512, 512), m, 8, 16)[event_index("mac_8bit")])
    262144
    >>> e = tile_events(SimdShape(SimdPattern.REDUCE, 1, 512, ("fma",)), m, 8, 16)
    >>> int(e[event_index("simd_fma_lane_ops")]), int(e[event_index("sram_read_bytes")])
    (512, 2048)
    """
    out = np.zeros(len(EVENTS), dtype=np.int64)
    if isinstance(shape, MatmulShape):
        if min(shape.tokens, shape.in_features, shape.out_features, shape.groups) == 0:
            return out
        mm = machine.matmul
        visits = (shape.groups * shape.tokens * _ceil_div(shape.in_features, mm.array_rows)
                  * _ceil_div(shape.out_features, mm.array_cols))
        out[_INDEX["mac_4bit" if weight_bits <= 4 else "mac_8bit"]] = (
            visits * mm.array_rows * mm.array_cols)
        out[_INDEX["output_buffer_bytes"]] = visits * mm.array_cols * FP32_BYTES
        out[_INDEX["sram_read_bytes"]] = _ceil_div(
            shape.groups * shape.tokens * shape.in_features * activation_bits, 8)
        return out
    rows, cols = shape.rows, shape.cols
    if rows == 0 or cols == 0:
        return out
    if isinstance(shape, TransferShape):
        nbytes = _ceil_div(rows * cols * shape.elem_bits, 8)
        event = {"host": "host_bytes", "lpddr": "lpddr_bytes", "sram": "sram_write_bytes"}
        out[_INDEX[event[shape.medium]]] = nbytes
        return out
    if not shape.instrs:  # a pass of no instruction (the workload's input): no work
        return out
    lanes = machine.simd.lanes
    rowscalar = shape.pattern is SimdPattern.ROWSCALAR
    vectors = _ceil_div(rows, lanes) if rowscalar else rows * _ceil_div(cols, lanes)
    for instr in shape.instrs:
        out[_INDEX[f"simd_{instr}_lane_ops"]] += vectors * lanes
    read = rows if rowscalar else rows * cols
    written = rows * cols if shape.pattern is SimdPattern.ELEMENTWISE else rows
    out[_INDEX["sram_read_bytes"]] = read * FP32_BYTES
    out[_INDEX["sram_write_bytes"]] = written * FP32_BYTES
    return out
