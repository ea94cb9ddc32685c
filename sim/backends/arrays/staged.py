"""Pipeline stages in arrays: a plan's stage times under the stage barrier, without tasks.

`sim.serving.replicate.staged_graph` makes every task of stage s that waits for
nothing in its own stage also wait for a zero-time join of all of stage s - 1's
tasks (the *barrier*), and the analytic backend plays that graph task by task.
`evaluate_staged` gives what that run gives per stage (the cycle its last result
is visible, the cycles its tasks hold LPDDR engines, the engines its tasks use)
from the array evaluator (`sim.backends.arrays.evaluate`), changed at each
stage's first step:

- a *floor*: no task of stage s is ready before the barrier moment M, when the
  last result of stage s - 1 is visible (and so the join's). Every task of
  stage s waits, directly or through tasks of its stage, for one of the stage's
  sources, and every result of an earlier stage is visible by M (by induction,
  stage s - 1 waited for stage s - 2's barrier), so flooring every task's ready
  moment at M is the same as flooring the sources' (what the join does);
- the *opening streams* of stage s (each core's first streamed piece in the
  stage: its previous piece, of an earlier stage, is visible by M) are ready
  together at M, so each card's LPDDR engine takes them first, one after another
  in program order from M's cycle: `CardEngines.lay_out` lays them out there as
  it lays out a plan's openings from cycle 0.

Exact under conditions it checks; otherwise it declines (None: play the staged
task graph instead):

- each stage's steps are contiguous in plan order and the stages follow one
  another with none skipped (an empty stage s - 1 gives stage s no barrier: it
  could run alongside stage s - 2); a step that emits no task has stage -1 and
  must emit none here either;
- at each barrier every engine (the cores' units, the combine lanes, the cards'
  LPDDR engines) is free by M, so the stage starts on an idle machine, which the
  floor and the lay-out assume (a task whose result is visible before it frees
  its engine, a read out of LPDDR of negative result latency, could break it);
- every condition of `evaluate` (FIFO order on every engine), checked as there.

The batches' engine predecessors are not the barrier run's across a barrier: the
critical path (`sim.backends.arrays.path`) is not read from a staged evaluation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from sim.backends.arrays.batches import (
    Batch,
    ChainBatch,
    CombineBatch,
    MessageBatch,
    OpBatch,
    cycle_of,
)
from sim.backends.arrays.evaluate import DeclinedError, _Evaluator
from sim.backends.arrays.streams import JoinBatch, StreamBatch, TailBatch
from sim.backends.lpddr_streams import card_engine_name
from sim.backends.task_emitter import combine_lane_name
from sim.config import MachineConfig
from sim.ir import OpKind
from sim.ir.plan import LoweringPlan, MoveStep, OpStep
from sim.network.from_config import Interconnect
from sim.network.transport import NetworkEngines

__all__ = ["StagedEvaluation", "evaluate_staged"]


@dataclass(frozen=True)
class StagedEvaluation:
    """A plan evaluated in arrays under the stage barrier: per stage, the cycle its
    last result is visible (-1: it has no task) and the cycles its tasks hold
    LPDDR engines; the engines tasks of more than one stage use, with those
    stages (as `sim.serving.replicate.shared_engines` names them); and the number
    of tasks the emitted graph has."""

    leave_cycles: np.ndarray
    memory_busy_cycles: list[int]
    shared_engines: dict[str, tuple[int, ...]]
    task_count: int


class _Usage:
    """Per stage, the engines its tasks use and the cycles they hold LPDDR engines."""

    def __init__(self, n_stages: int, engines: NetworkEngines, cards: int) -> None:
        self.units = np.zeros((n_stages, len(engines.engines)), dtype=bool)  # by engine index
        self.matmul = np.asarray(engines.matmul, dtype=np.int64)  # core -> its matmul unit
        self.simd = np.asarray(engines.simd, dtype=np.int64)
        self.cards = np.zeros((n_stages, cards), dtype=bool)
        self.lanes: dict[str, np.ndarray] = {}  # purpose -> (stage, core) bools
        self.memory_cycles = [0] * n_stages


def _none(ev: _StagedEvaluator, batch: Batch) -> None:
    """Tasks on private engines (one task each: never shared, never LPDDR)."""


def _cards(ev: _StagedEvaluator, batch: Batch) -> None:
    """Tasks on their cores' cards' LPDDR engines (streams, reads out of LPDDR)."""
    assert isinstance(batch, OpBatch)  # the registry keys it
    usage, stage = ev.usage, ev.current
    usage.cards[stage, batch.cores // ev.cards.per_card] = True
    usage.memory_cycles[stage] += int((cycle_of(batch.end) - batch.start).sum())


def _op_tiles(ev: _StagedEvaluator, batch: Batch) -> None:
    """An op step's tiles on their cores' matmul or SIMD units (or, a read out of
    LPDDR, on the cards' engines)."""
    assert isinstance(batch, OpBatch)
    step = ev.plan.steps[ev.index]
    assert isinstance(step, OpStep)  # only an op step files a plain OpBatch
    if step.card_lpddr:
        _cards(ev, batch)
        return
    units = ev.usage.matmul if step.kind is OpKind.MATMUL else ev.usage.simd
    ev.usage.units[ev.current, units[batch.cores]] = True


def _lanes(ev: _StagedEvaluator, batch: Batch) -> None:
    """Combine blocks on their cores' lanes of the step's purpose."""
    assert isinstance(batch, CombineBatch)
    step = ev.plan.steps[ev.index]
    assert isinstance(step, MoveStep)  # only a movement files combine blocks
    lanes = ev.usage.lanes.setdefault(
        step.purpose.value, np.zeros((len(ev.usage.memory_cycles), ev.total_cores), dtype=bool))
    lanes[ev.current, batch.cores] = True


#: What each kind of batch holds, by its exact class (a class not listed declines).
_USES: dict[type[Batch], Callable[[_StagedEvaluator, Batch], None]] = {
    OpBatch: _op_tiles, StreamBatch: _cards, CombineBatch: _lanes, TailBatch: _none,
    JoinBatch: _none, ChainBatch: _none, MessageBatch: _none,
}


class _StagedEvaluator(_Evaluator):
    """The evaluator with a barrier before each stage (module docstring)."""

    def __init__(self, plan: LoweringPlan, machine: MachineConfig, net: Interconnect,
                 step_stages: np.ndarray, n_stages: int) -> None:
        super().__init__(plan, machine, net)
        self.step_stages = step_stages.tolist()
        self.n_stages = n_stages
        self.current = -1  # the stage being evaluated (-1: none yet)
        self.index = -1  # the step being evaluated
        self.latest: list[int | None] = [None] * n_stages  # per stage, its last visible moment
        self.usage = _Usage(n_stages, net.engines, len(self.cards.dispatched))
        self.stage_end: dict[int, int] = {}  # a stage's first step -> the step after its last
        begun, last = -1, -1
        for index, stage in enumerate(self.step_stages):
            if stage >= 0 and stage != last:
                if begun >= 0:
                    self.stage_end[begun] = index
                begun, last = index, stage
        if begun >= 0:
            self.stage_end[begun] = len(self.step_stages)

    def _laid_out(self) -> range:
        return range(0)  # per stage, from its barrier (`_enter`)

    def _enter(self, index: int) -> None:
        self.index = index
        stage = self.step_stages[index]
        if stage < 0 or stage == self.current:
            return
        if stage >= self.n_stages or (self.current >= 0 and stage != self.current + 1):
            raise DeclinedError(f"step {index}: stage {stage} after stage {self.current}")
        if self.current >= 0:
            barrier = self.latest[self.current]
            if barrier is None:
                raise DeclinedError(f"stage {self.current} has no task")
            states = [*self.engines.values(), *self._lanes.values(), self.cards.state]
            if any(bool((state.free > barrier).any()) for state in states):
                raise DeclinedError(f"stage {stage}: an engine busy after the barrier")
            self.floor = barrier
        if not self.cards.lay_out(self.plan, range(index, self.stage_end[index]), self.floor):
            raise DeclinedError("a stream of no cycles")
        self.current = stage

    def _add(self, batch: Batch) -> Batch:
        super()._add(batch)
        if not batch.visible.size:
            return batch
        if self.step_stages[self.index] < 0:
            raise DeclinedError(f"step {self.index}: tasks of no stage")
        uses = _USES.get(type(batch))
        if uses is None:
            raise DeclinedError(f"{batch.op}: a batch of unknown engines")
        uses(self, batch)
        latest = int(batch.visible.max())
        known = self.latest[self.current]
        self.latest[self.current] = latest if known is None else max(known, latest)
        return batch

    def result(self) -> StagedEvaluation:
        """What the evaluation found (after `run`)."""
        leave = np.asarray([-1 if m is None else int(cycle_of(m)) for m in self.latest],
                           dtype=np.int64)
        usage, names = self.usage, [e.name for e in self.net.engines.engines]
        by_name: dict[str, np.ndarray] = {}
        for unit in np.flatnonzero(usage.units.sum(axis=0) > 1).tolist():
            by_name[names[unit]] = usage.units[:, unit]
        for card in np.flatnonzero(usage.cards.sum(axis=0) > 1).tolist():
            by_name[card_engine_name(card)] = usage.cards[:, card]
        for purpose, lanes in usage.lanes.items():
            for core in np.flatnonzero(lanes.sum(axis=0) > 1).tolist():
                by_name[combine_lane_name(purpose, core)] = lanes[:, core]
        shared = {name: tuple(np.flatnonzero(used).tolist()) for name, used in by_name.items()}
        return StagedEvaluation(leave, list(usage.memory_cycles), shared, self.task_count)


def evaluate_staged(plan: LoweringPlan, machine: MachineConfig, interconnect: Interconnect,
                    step_stages: np.ndarray, n_stages: int) -> StagedEvaluation | None:
    """``plan`` evaluated in arrays on ``interconnect`` under the stage barrier, step
    ``i``'s tasks being of stage ``step_stages[i]`` (-1: it emits none) of
    ``n_stages`` (`sim.serving.replicate.step_stages`); None if the arrays cannot
    give the barrier run's schedule exactly (module docstring)."""
    evaluator = _StagedEvaluator(plan, machine, interconnect, step_stages, n_stages)
    try:
        evaluator.run()
    except DeclinedError:
        return None
    return evaluator.result()
