"""When the analytic backend's figure may be more than 5% off the DES: `analytic_warning`.

The analytic backend plays each collective alone on its links with every
contribution ready at once (`sim.backends.collective_profile`) and adds, for the
collectives of one movement step, what the others hold on shared links as if
they all ran at once. Both are exact or pessimistic only in those settings. In a
run the DES may lie anywhere between the uncontended closed form and that
estimate (contributions ready at different times contend less; collectives of
different steps running together contend more). So each collective op on the
critical path carries an *uncertainty*: its critical-path cycles times the share
of its estimate that is queueing, ``1 - closed form / estimate``. The DES may
then be as low as the analytic latency less the uncertainties' sum U, a gap
(analytic / DES - 1, as the agreement benchmark measures it) of up to
U / (latency - U); where that exceeds `TOLERANCE` the run is flagged with a
one-line reason naming the largest.

Assumption (stated in the README's model section): compute and the combine blocks
charged to the SIMD units are exact to the FIFO rules, so they carry no
uncertainty; collectives alone with simultaneous contributions (a ``collective``
workload) are exact and carry none either.
"""

from __future__ import annotations

from sim.backends.collective_profile import Request, step_shapes
from sim.config import MachineConfig
from sim.ir.plan import LoweringPlan, MoveStep
from sim.network.from_config import Interconnect, collective_options

__all__ = ["TOLERANCE", "analytic_warning"]

#: The share of the latency the analytic figure is trusted to (issue 12: 5%).
TOLERANCE = 0.05


def _uncertain_ops(plan: LoweringPlan, machine: MachineConfig,
                   net: Interconnect) -> dict[str, tuple[float, str]]:
    """Per collective op of the plan with queueing in its estimate: the share of the
    estimate that is queueing, and why."""
    out: dict[str, tuple[float, str]] = {}
    for step in plan.steps:
        if not isinstance(step, MoveStep):
            continue
        moving = [r for r in step.requests if len(r.cores) > 1]
        if not moving:
            continue
        wanted = [Request(step.kind, step.algorithm, r.cores, r.nbytes,
                          collective_options(machine, reduce_op=step.reduce_op, root=r.root,
                                             arity=step.arity)) for r in moving]
        profiles, shapes = step_shapes(net.router, net.engines, wanted)
        for request, profile, shape in zip(moving, profiles, shapes, strict=True):
            estimate = int(shape.cycles[-1])
            closed = profile.closed_form_cycles
            if estimate <= closed:
                continue
            shared = estimate - profile.latency_cycles
            why = (f"{step.algorithm} {step.kind} {request.name} queues on links "
                   f"(closed form {closed} cycles, alone {profile.latency_cycles}"
                   + (f", +{shared} for the step's other collectives on its links" if shared
                      else "") + ")")
            out[request.name] = (1 - closed / estimate, why)
    return out


def analytic_warning(plan: LoweringPlan, machine: MachineConfig, net: Interconnect,
                     latency_cycles: int, critical_cycles: dict[str, int]) -> str | None:
    """Why the analytic figure of a run (its latency and critical-path cycles per op)
    may be more than `TOLERANCE` off the DES, in one line; None if it is trusted."""
    if latency_cycles <= 0:
        return None
    uncertain = _uncertain_ops(plan, machine, net)
    worst: tuple[float, str] | None = None
    total = 0.0
    for op, cycles in critical_cycles.items():
        share = uncertain.get(op)
        if share is None:
            continue
        cycles_off = cycles * share[0]
        total += cycles_off
        if worst is None or cycles_off > worst[0]:
            worst = (cycles_off, share[1])
    if worst is None or total <= TOLERANCE * (latency_cycles - total):
        return None
    return (f"up to {total / latency_cycles:.0%} of the latency is link queueing the "
            f"analytic backend estimates: {worst[1]}; run the DES to confirm")
