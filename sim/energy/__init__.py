"""Energy, power and area counted from the events a run executes (issue 15).

`sim.energy.events` names the events and prices them from ``machine.energy``;
`sim.energy.count` counts them per op from a task graph (the DES) or from the
plan (the analytic backend), the same events either way; `sim.energy.report`
turns counts into the figures the JSON, the tables and the sweeps carry.
"""

from sim.energy.count import EventCounts, count_plan, count_tasks
from sim.energy.report import energy_figures, static_power_w

__all__ = ["EventCounts", "count_plan", "count_tasks", "energy_figures", "static_power_w"]
