"""A result's energy figures: counted events x ``machine.energy``, plus static power x time.

Dynamic energy is ``counts @ prices_pj`` (`sim.energy.events`), per op, from the
events its backend counted (`sim.energy.count`). Static power is every core's,
chiplet's and card's of the machine, busy or idle::

    static_w = cores * core_static_w + chiplets * chiplet_static_w + cards * card_static_w

and static energy is ``static_w`` times the simulated latency (seconds at the
reference clock). A transformer's figures cover one step of the whole model as
`sim.figures.per_token_figures` does: the blocks' dynamic energy is scaled by
``num_layers / layers`` like their cycles, the whole-model ops' is not, and the
static energy is ``static_w * step_seconds``; per token divides by the tokens of a
step (``batch`` in decode, ``batch * seq_len`` in prefill).

Keys (`energy_figures`): ``energy_uj`` (the simulated run), ``static_power_w``,
``power_w`` (energy over time), ``energy_breakdown_uj`` (per component, ``static``
last; per token for a transformer, per run otherwise: it sums to
``energy_per_token_uj`` or ``energy_uj``), ``energy_by_purpose_uj`` (likewise, by
what an op is for: ``normalization``, ``normalization_comm``, ``data_comm`` or
``compute``, static apart), and for a transformer ``energy_per_token_uj`` and
``tokens_per_joule``; ``area_mm2`` when ``machine.energy.area`` gives a core's.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sim.config import MachineConfig, TransformerWorkload
from sim.energy.count import EventCounts
from sim.energy.events import COMPONENTS, EVENT_COMPONENT, EVENTS, prices_pj
from sim.figures import Figures, is_block_op, per_token_figures

__all__ = ["ENERGY_KEYS", "PJ_PER_UJ", "area_mm2", "dynamic_pj_by_op", "energy_by_op_uj",
           "energy_figures", "static_power_w"]

#: The keys `energy_figures` may return.
ENERGY_KEYS = ("energy_uj", "static_power_w", "power_w", "energy_per_token_uj",
               "tokens_per_joule", "energy_breakdown_uj", "energy_by_purpose_uj", "area_mm2")
#: Picojoules in a microjoule.
PJ_PER_UJ = 1e6
_COLUMN = np.asarray([COMPONENTS.index(EVENT_COMPONENT[e]) for e in EVENTS], dtype=np.int64)


def static_power_w(machine: MachineConfig) -> float:
    """Static power of the whole machine in W (module docstring)."""
    h, e = machine.hierarchy, machine.energy
    return (h.total_cores * e.core_static_w + h.cards * h.chiplets_per_card * e.chiplet_static_w
            + h.cards * e.card_static_w)


def area_mm2(machine: MachineConfig) -> dict[str, float] | None:
    """Area of a chiplet, a card and the machine in mm2 (None without ``core_mm2``)."""
    area, h = machine.energy.area, machine.hierarchy
    if area.core_mm2 is None:
        return None
    chiplet = h.cores_per_chiplet * area.core_mm2 + (area.chiplet_uncore_mm2 or 0.0)
    card = h.chiplets_per_card * chiplet + (area.card_uncore_mm2 or 0.0)
    return {"core": area.core_mm2, "chiplet": chiplet, "card": card, "machine": h.cards * card}


def dynamic_pj_by_op(counts: EventCounts, machine: MachineConfig) -> np.ndarray:
    """(ops, components): dynamic pJ of every op by component (`COMPONENTS` order)."""
    per_event = counts.counts.astype(np.float64) * prices_pj(machine.energy)
    out = np.zeros((len(counts.ops), len(COMPONENTS)), dtype=np.float64)
    np.add.at(out.T, _COLUMN, per_event.T)
    return out


def _scaled(result: Figures, counts: EventCounts) -> tuple[np.ndarray, float, float]:
    """(ops, components) dynamic pJ of ``result``'s counts over one step of the whole
    model (module docstring: blocks' ops scaled by ``num_layers / layers``), the
    tokens of a step (1.0 for a run that is no transformer's) and the step's seconds."""
    machine = result.config.machine
    by_op = dynamic_pj_by_op(counts, machine)
    seconds = result.latency_cycles / (machine.clock_ghz * 1e9)
    scale, per, step_s = np.ones(len(counts.ops)), 1.0, seconds
    tokens = per_token_figures(result)
    workload = result.config.workload
    if tokens and isinstance(workload, TransformerWorkload):
        ratio = tokens["model_layers"] / tokens["layers_simulated"]
        scale = np.asarray([ratio if is_block_op(op) else 1.0 for op in counts.ops])
        step_s = tokens["step_cycles"] / (machine.clock_ghz * 1e9)
        per = float(workload.batch * (workload.seq_len if workload.phase == "prefill" else 1))
    return by_op * scale[:, None], per, step_s


def energy_by_op_uj(result: Figures) -> dict[str, dict[str, float]]:
    """Dynamic energy of every op by component (`COMPONENTS`, no static), in uJ per
    token for a transformer (the ops of the simulated blocks scaled to the whole
    model, as in `energy_figures`), per run otherwise; empty when nothing was counted.
    Summed over ops and with the static energy it gives ``energy_breakdown_uj``."""
    counts: EventCounts | None = getattr(result, "energy", None)
    if counts is None:
        return {}
    scaled, per, _ = _scaled(result, counts)
    return {op: {c: float(v) / per / PJ_PER_UJ for c, v in zip(COMPONENTS, row, strict=True)}
            for op, row in zip(counts.ops, scaled.tolist(), strict=True)}


def energy_figures(result: Figures) -> dict[str, Any]:
    """The energy keys of ``result`` (module docstring); empty when it counted none.
    A `sim.results.Summary` keeps no counts: its document (the run's JSON) has them."""
    counts: EventCounts | None = getattr(result, "energy", None)
    if counts is None:
        document = getattr(result, "document", None)
        return {k: v for k, v in (document or {}).items() if k in ENERGY_KEYS}
    machine = result.config.machine
    static_w = static_power_w(machine)
    seconds = result.latency_cycles / (machine.clock_ghz * 1e9)
    out: dict[str, Any] = {
        "energy_uj": (dynamic_pj_by_op(counts, machine).sum()
                      + static_w * seconds * 1e12) / PJ_PER_UJ,
        "static_power_w": static_w,
    }
    scaled, per, step_s = _scaled(result, counts)
    tokens = per_token_figures(result)
    static_pj = static_w * step_s * 1e12
    total_pj = float(scaled.sum()) + static_pj
    breakdown = {c: float(v) / per / PJ_PER_UJ for c, v in zip(COMPONENTS, scaled.sum(axis=0),
                                                              strict=True)}
    breakdown["static"] = static_pj / per / PJ_PER_UJ
    purposes: dict[str, float] = {}
    for op, pj in zip(counts.ops, scaled.sum(axis=1).tolist(), strict=True):
        key = str(result.op_purpose.get(op, "compute"))
        purposes[key] = purposes.get(key, 0.0) + pj / per / PJ_PER_UJ
    purposes["static"] = breakdown["static"]
    out["power_w"] = total_pj * 1e-12 / step_s if step_s else None
    if tokens:
        out["energy_per_token_uj"] = total_pj / per / PJ_PER_UJ
        out["tokens_per_joule"] = per / (total_pj * 1e-12) if total_pj else None
    out["energy_breakdown_uj"] = breakdown
    out["energy_by_purpose_uj"] = purposes
    area = area_mm2(machine)
    if area is not None:
        out["area_mm2"] = area
    return out
