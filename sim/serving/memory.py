"""A served model's bytes per memory tier, from its probes' plans.

`sim.serving.serve` reports what each tier holds for the whole model
(``memory_bytes``: `sim.schedule.tiers.TIER_KEYS`) and must refuse a model
whose LPDDR overflows a card. Planning every layer for that costs seconds on
an 80-layer model; the probes (`sim.serving.probes`) already plan a few.

Why the probes' figures are the whole model's: the tier placement
(`sim.schedule.tiers.place_tiers`) decides core by core (the fullest core sends
one of *its* ops to LPDDR) and a storing op lies on the cores of its layer's
stage only, so each stage's placement depends on that stage's ops and cores
alone. Two stages with one `sim.serving.probes.stage_key` hold the same ops on
cores that differ by a shift, so they store the same bytes in each tier. The
probe's plans hold every sequence's KV cache (``kv_resident_batch``), as the
whole model's does.

Each stage's LPDDR bytes go to its card. That needs every stage on one card; a
stage spanning cards (its bytes split by where the card boundary falls, which
the stage key does not say) makes `probe_memory` return None: plan the whole
model instead.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from sim.config import MachineConfig
from sim.hardware.memory_tier import card_of_core
from sim.ir.plan import LoweringPlan
from sim.schedule.placement import group_of_layer
from sim.schedule.tiers import TIER_KEYS, check_lpddr
from sim.serving.probes import Probe

__all__ = ["probe_memory", "stage_tier_bytes"]


def stage_tier_bytes(plan: LoweringPlan, stages: list[range]) -> list[dict[str, int]]:
    """Per stage of ``stages`` (each a range of layers), the bytes each tier holds
    for its ops (`LoweringPlan.layer_tier_bytes`, a layer's ops going to its stage
    as `sim.schedule.placement.group_of_layer` places them)."""
    out = [dict.fromkeys(TIER_KEYS, 0) for _ in stages]
    for layer, figures in plan.layer_tier_bytes.items():
        into = out[group_of_layer(layer, len(stages), stages)]
        for key, nbytes in figures.items():
            into[key] += nbytes
    return out


def _lpddr_bytes(figures: dict[str, int]) -> int:
    return figures["lpddr_weight_bytes"] + figures["lpddr_kv_bytes"]


def probe_memory(machine: MachineConfig, probes: Sequence[Probe],
                 group_cores: Sequence[tuple[int, ...]],
                 plan_of: Callable[[Probe], tuple[LoweringPlan, list[range]]]
                 ) -> dict[str, int] | None:
    """The served model's bytes per tier (`TIER_KEYS`) from its probes (module
    docstring); None if some stage spans more than one card.

    ``group_cores[t]``: the cores of stage t; ``plan_of(probe)``: the probe's plan
    and its stages' layers.

    Raises
    ------
    CapacityError
        If some card's LPDDR cannot hold its stages' bytes
        (``machine.memory.lpddr.bytes_per_card``).
    """
    if any(card_of_core(cores[0], machine) != card_of_core(cores[-1], machine)
           for cores in group_cores):
        return None
    total = dict.fromkeys(TIER_KEYS, 0)
    per_card = np.zeros(machine.hierarchy.cards, dtype=np.int64)
    for probe in probes:
        plan, stages = plan_of(probe)
        figures = stage_tier_bytes(plan, stages)
        for at, stood in zip(probe.measured, probe.stands_for, strict=True):
            for t in stood:
                for key in TIER_KEYS:
                    total[key] += figures[at][key]
                per_card[card_of_core(group_cores[t][0], machine)] += _lpddr_bytes(figures[at])
    check_lpddr(per_card, machine)
    return total
