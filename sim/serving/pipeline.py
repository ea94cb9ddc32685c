"""A pipeline of synchronous stages: when every micro-batch leaves every stage.

The model (README, "Serving"): the layers are cut into ``p`` contiguous stages,
stage s on layer group s; the batch into ``m`` micro-batches that follow each
other through the stages. A stage takes micro-batch k when

- micro-batch k has left stage s - 1 as a whole (its activations are handed on
  as one message: the stage barrier), and
- the stage has finished micro-batch k - 1 (a group holds one micro-batch at a
  time: its arrays, buffers and KV cache slots are those of one micro-batch),

and then takes ``t_s(b_k)`` cycles, its time alone at that micro-batch's size.
That is a permutation flow shop (Johnson 1954; the GPipe schedule,
Huang et al. 2019)::

    C[k][s] = max(C[k][s - 1], C[k - 1][s]) + t_s(b_k)

It is exact where the stages share no engine and no link (then a stage's
tasks run as they do alone, shifted in time); `sim.serving.replicate` runs the
whole micro-batched task graph in one simulation to check it.

On p equal stages of t cycles and m micro-batches one pass takes (m + p - 1) t,
a micro-batch leaves every t cycles, and the stages idle (p - 1) / (m + p - 1)
of the pass:

>>> pass_ = flow_shop([[10, 10, 10]] * 5)
>>> pass_.makespan_cycles, pass_.interval_cycles, pass_.bubble_fraction
(70, 10, 0.2857142857142857)
>>> (3 - 1) / (5 + 3 - 1)
0.2857142857142857
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["PipelinePass", "flow_shop", "steady_decode_cycles"]


@dataclass(frozen=True)
class PipelinePass:
    """One pass of m micro-batches through p stages (module docstring).

    ``leave_cycles[k][s]``: when micro-batch k leaves stage s (cycles from the
    pass's start); ``stage_cycles[k][s]``: t_s(b_k), its time in stage s.
    """

    leave_cycles: tuple[tuple[int, ...], ...]
    stage_cycles: tuple[tuple[int, ...], ...]
    #: Per engine that several stages share (a card's LPDDR), the cycles it is busy
    #: over the pass: it serves one stage at a time, so the interval is at least
    #: its busy cycles per micro-batch (the recurrence alone does not see it).
    shared_busy_cycles: tuple[int, ...] = ()

    @property
    def micro_batches(self) -> int:
        """m."""
        return len(self.leave_cycles)

    @property
    def stages(self) -> int:
        """p."""
        return len(self.leave_cycles[0])

    @property
    def makespan_cycles(self) -> int:
        """When the last micro-batch leaves the last stage: the recurrence's, or a
        shared engine's busy cycles if more (a lower bound then: the engine
        cannot finish sooner)."""
        return max(self.leave_cycles[-1][-1], max(self.shared_busy_cycles, default=0))

    @property
    def first_out_cycles(self) -> int:
        """When the first micro-batch leaves the last stage (its latency alone:
        the first micro-batch never waits)."""
        return self.leave_cycles[0][-1]

    @property
    def interval_cycles(self) -> int:
        """The steady-state token interval: cycles between micro-batches leaving
        the last stage once the pipeline is full, the busiest stage's time per
        micro-batch (the largest mean over micro-batches of any stage), or a
        shared engine's busy cycles per micro-batch if more."""
        busiest = max(range(self.stages),
                      key=lambda s: (sum(row[s] for row in self.stage_cycles), -s))
        total = max(sum(row[busiest] for row in self.stage_cycles),
                    max(self.shared_busy_cycles, default=0))
        return -(-total // self.micro_batches)

    @property
    def busy_cycles(self) -> tuple[int, ...]:
        """Per stage, the cycles it holds a micro-batch during the pass."""
        return tuple(sum(row[s] for row in self.stage_cycles) for s in range(self.stages))

    @property
    def utilisation(self) -> tuple[float, ...]:
        """Per stage (layer group), the fraction of the pass it is busy."""
        span = self.makespan_cycles
        return tuple(busy / span if span else 0.0 for busy in self.busy_cycles)

    @property
    def bubble_fraction(self) -> float:
        """The fraction of stage-cycles of the pass that are idle:
        ``1 - sum(busy) / (p * makespan)``; (p - 1) / (m + p - 1) on equal stages."""
        span = self.makespan_cycles
        if not span:
            return 0.0
        return 1.0 - sum(self.busy_cycles) / (self.stages * span)


def flow_shop(stage_cycles: Sequence[Sequence[int]],
              shared_busy_cycles: Sequence[int] = ()) -> PipelinePass:
    """The pass of micro-batches whose times per stage are ``stage_cycles[k][s]``
    (module docstring's recurrence).

    Raises
    ------
    ValueError
        If there are no micro-batches or stages, rows differ in length, or a
        time is negative (programming errors: the callers build the rows).
    """
    rows = tuple(tuple(int(t) for t in row) for row in stage_cycles)
    if not rows or not rows[0] or any(len(row) != len(rows[0]) for row in rows):
        raise ValueError("flow_shop: need equal, non-empty rows of stage times")
    if any(t < 0 for row in rows for t in row):
        raise ValueError("flow_shop: a stage time is negative")
    previous = [0] * len(rows[0])
    leave = []
    for row in rows:
        out, ready = [], 0
        for s, t in enumerate(row):
            ready = max(ready, previous[s]) + t
            out.append(ready)
        leave.append(tuple(out))
        previous = out
    return PipelinePass(tuple(leave), rows, tuple(int(c) for c in shared_busy_cycles))


def steady_decode_cycles(one_pass: PipelinePass) -> int:
    """Cycles between two tokens of the same sequence in continuous decoding.

    A micro-batch's next token enters stage 0 when its last one has left the
    last stage (decode is autoregressive), so each micro-batch takes one token
    every ``max(latency alone, m * interval)`` cycles, the latency alone of the
    slowest micro-batch: the pipeline is either latency bound (fewer
    micro-batches than it takes to fill it) or bound by its busiest stage.
    Equal stages of t: ``max(p, m) * t``.

    >>> steady_decode_cycles(flow_shop([[10, 10, 10]] * 2)), steady_decode_cycles(
    ...     flow_shop([[10, 10, 10]] * 5))
    (30, 50)
    """
    alone = max(sum(row) for row in one_pass.stage_cycles)
    return max(alone, one_pass.micro_batches * one_pass.interval_cycles)
