"""The energy of a serving run (`sim.serving.serve`): the events of one pass of every
micro-batch through the stages, plus static power over the steady token interval.

In continuous decoding every sequence yields a token each ``decode_cycles``
(`sim.serving.ServingResult.decode_cycles`), and in that interval every
micro-batch passes once through every stage. So, per interval::

    dynamic = sum over micro-batches k of the events of micro-batch k's pass
    static  = static_power_w(machine) * decode_seconds

and per token both divide by the batch. A micro-batch's events are counted from
its own plan (`sim.serving.serve.stage_config`: the same stages, its sequences,
the KV residency of the whole batch) by `sim.energy.count.count_plan`, the events
the analytic backend counts for a run; so what the plan streams out of LPDDR
(weights that SRAM does not hold, and the micro-batch's own KV cache) is counted
once per micro-batch, as the serving timing charges it (README, Serving).

Assumptions (also in the README's energy section): the pass's events do not
depend on how the passes overlap in time (contention changes when, not what);
static power runs on every core, chiplet and card of the machine for the whole
interval, whether a stage is busy, idle in a pipeline bubble, or holds no layer.
``static_in_bubbles_uj`` is the static energy per token times the stages' idle
share of the interval (``1 - sum of stage busy cycles / (stages * interval)``),
spreading static power evenly over the stages (an approximation: the cores that
hold no stage are counted apart, in ``static_unstaged_uj``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sim.energy.count import count_plan
from sim.energy.events import COMPONENTS
from sim.energy.report import PJ_PER_UJ, dynamic_pj_by_op, static_power_w
from sim.network.from_config import Interconnect, build_interconnect
from sim.runner import prepare, workload_bits
from sim.schedule.placement import layer_groups
from sim.serving import ServingResult
from sim.serving.serve import stage_config

__all__ = ["serving_energy_figures"]


def _pass_pj(result: ServingResult, net: Interconnect) -> tuple[np.ndarray, dict[str, float]]:
    """Dynamic pJ of one pass of every micro-batch: by component, and by purpose."""
    machine = result.config.machine
    stages = len(result.stage_layers)
    components = np.zeros(len(COMPONENTS))
    purposes: dict[str, float] = {}
    sizes = result.micro_batch_sizes
    for batch in sorted(set(sizes), reverse=True):
        times = sizes.count(batch)
        prepared = prepare(stage_config(result.config, batch, stages), result.strategy, net)
        counts = count_plan(prepared.plan, machine, net, workload_bits(result.config.workload))
        by_op = dynamic_pj_by_op(counts, machine) * times
        components += by_op.sum(axis=0)
        for op, pj in zip(counts.ops, by_op.sum(axis=1).tolist(), strict=True):
            key = str(prepared.plan.purposes.get(op, "compute"))
            purposes[key] = purposes.get(key, 0.0) + pj
    return components, purposes


def _staged_cores(result: ServingResult) -> int:
    """Cores in the layer groups the stages run on."""
    schedule = result.config.schedule
    groups = layer_groups(result.config.machine, schedule)
    first = schedule.pipeline.first_group
    return sum(len(g.cores) for g in groups[first:first + len(result.stage_layers)])


def serving_energy_figures(result: ServingResult,
                           interconnect: Interconnect | None = None) -> dict[str, Any]:
    """The energy keys of `sim.energy.report.energy_figures` for a serving run, per
    token over the steady interval (module docstring): ``static_power_w``,
    ``power_w``, ``energy_per_token_uj``, ``tokens_per_joule``,
    ``energy_breakdown_uj``, ``energy_by_purpose_uj``, plus ``static_in_bubbles_uj``,
    ``static_unstaged_uj`` and ``idle_share`` (the stages' idle share of the interval).
    ``interconnect``: the machine's, shared with the serving run (built if None)."""
    machine = result.config.machine
    net = interconnect or build_interconnect(machine)
    components, purposes = _pass_pj(result, net)
    interval_s = result.decode_cycles / (machine.clock_ghz * 1e9)
    static_w = static_power_w(machine)
    static_pj = static_w * interval_s * 1e12
    tokens = float(result.workload.batch)
    total_pj = float(components.sum()) + static_pj
    busy = sum(sum(row) for row in result.one_pass.stage_cycles)
    stages = len(result.stage_layers)
    idle = max(0.0, 1.0 - busy / (stages * result.decode_cycles)) if result.decode_cycles else 0.0
    staged = _staged_cores(result) / machine.hierarchy.total_cores
    static_uj = static_pj / tokens / PJ_PER_UJ
    breakdown = {c: float(v) / tokens / PJ_PER_UJ for c, v in zip(COMPONENTS, components,
                                                                 strict=True)}
    breakdown["static"] = static_uj
    by_purpose = {k: v / tokens / PJ_PER_UJ for k, v in purposes.items()}
    by_purpose["static"] = static_uj
    return {
        "static_power_w": static_w,
        "power_w": total_pj * 1e-12 / interval_s if interval_s else None,
        "energy_per_token_uj": total_pj / tokens / PJ_PER_UJ,
        "tokens_per_joule": tokens / (total_pj * 1e-12) if total_pj else None,
        "energy_breakdown_uj": breakdown,
        "energy_by_purpose_uj": by_purpose,
        "idle_share": idle,
        "static_in_bubbles_uj": static_uj * staged * idle,
        "static_unstaged_uj": static_uj * (1.0 - staged),
    }
