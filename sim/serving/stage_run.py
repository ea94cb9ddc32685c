"""One micro-batch alone through its stages: the barrier run of `sim.serving.serve`.

A cut of the workload (a probe, `sim.serving.probes`, or every stage) at one
micro-batch is lowered and run with the stage barrier (`sim.serving.replicate.
staged_graph`): its stages run one after another, each alone on the machine,
and each stage's time is when it left less when the one before it left.

Two ways to the same figures (`measure`):

- the task path: the plan emitted as tasks, the barrier added as joins, the
  graph played by the backend (`lower`, `stage_times`);
- the array path (the analytic backend only, `ARRAY_BACKENDS`): the plan
  evaluated in numpy with the barrier as a floor per stage
  (`sim.backends.arrays.staged`), no task built. It gives what the task path
  gives, bit for bit, or declines, and the task path runs instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from sim.backends.arrays.staged import evaluate_staged
from sim.backends.timeline import Timeline
from sim.config import RunConfig, StrategyName
from sim.ir import TaskGraph
from sim.network.from_config import Interconnect
from sim.runner import Prepared, prepare
from sim.schedule.placement import layer_groups, pipeline_stages
from sim.serving.replicate import (
    leave_cycles,
    memory_busy_cycles,
    shared_engines,
    staged_graph,
    step_stages,
    task_stages,
)

__all__ = ["ARRAY_BACKENDS", "Lowered", "StageRun", "array_stage_run", "cut_stages", "lower",
           "measure", "play", "stage_times"]

#: The backends whose barrier run the array evaluator gives exactly when it accepts
#: the plan (`sim.backends.arrays.staged`): the analytic one (closed-form collectives,
#: task by task, FIFO engines).
ARRAY_BACKENDS = frozenset({"analytic"})


@dataclass(frozen=True)
class Lowered:
    """One micro-batch's task graph and the stage of each task (stage indices from
    0, the first stage's group being ``schedule.pipeline.first_group``)."""

    graph: TaskGraph
    stage: np.ndarray
    stages: int


@dataclass(frozen=True)
class StageRun:
    """A barrier run's figures: each stage's time, the cycles it holds LPDDR engines
    (`memory_busy_cycles`), the engines stages share (`shared_engines`) and the
    tasks of its graph (built or not)."""

    times: list[int]
    memory_cycles: list[int]
    shared: dict[str, tuple[int, ...]]
    tasks: int


def cut_stages(config: RunConfig) -> tuple[list[range], int]:
    """The layers of every group's stage of ``config``, and its first group."""
    workload = config.workload
    layers = workload.layers or workload.model.num_layers  # type: ignore[union-attr]
    groups = len(layer_groups(config.machine, config.schedule))
    per_group = pipeline_stages(layers, groups, config.schedule) or [range(layers)]
    return per_group, config.schedule.pipeline.first_group


def lower(config: RunConfig, strategy: StrategyName, net: Interconnect, collectives: str,
          prepared: Prepared | None = None) -> Lowered:
    """``config`` (or its ``prepared`` plan) as tasks with ``collectives``, and their stages."""
    prepared = prepared or prepare(config, strategy, net)
    per_group, first = cut_stages(config)
    graph = prepared.emit(collectives)  # type: ignore[arg-type]
    stage = task_stages(graph, prepared.graph, per_group) - first
    return Lowered(graph, stage, len(per_group) - first)


def play(graph: TaskGraph, run: Any) -> Timeline:
    """``graph`` played by the backend ``run``."""
    timeline: Timeline = run(graph)
    return timeline


def _times_of(leave: np.ndarray) -> list[int]:
    """Each stage's time from when each stage left (-1: a stage of no task, no time)."""
    times: list[int] = np.diff(np.concatenate([[0], np.maximum.accumulate(leave)])).tolist()
    return times


def stage_times(lowered: Lowered, run: Any) -> tuple[list[int], list[int]]:
    """Each stage's time for one micro-batch alone (the barrier run played by
    ``run``), and the cycles it holds its card's LPDDR."""
    staged, cell = staged_graph([lowered.graph], [lowered.stage], lowered.stages)
    leave = leave_cycles(staged, play(staged, run).ready_array, cell, lowered.stages)
    return _times_of(leave), memory_busy_cycles(lowered.graph, lowered.stage, lowered.stages)


def array_stage_run(prepared: Prepared) -> StageRun | None:
    """The barrier run of ``prepared``'s plan under the analytic backend, evaluated in
    arrays; None if declined (a step's tasks of several stages, a step of a stage
    before the first group's, or `sim.backends.arrays.staged.evaluate_staged`'s)."""
    per_group, first = cut_stages(prepared.config)
    stages = step_stages(prepared.plan, prepared.graph, per_group)
    if stages is None or ((stages >= 0) & (stages < first)).any():
        return None
    got = evaluate_staged(prepared.plan, prepared.config.machine, prepared.interconnect,
                          np.where(stages >= 0, stages - first, -1), len(per_group) - first)
    if got is None:
        return None
    return StageRun(_times_of(got.leave_cycles), got.memory_busy_cycles, got.shared_engines,
                    got.task_count)


def measure(config: RunConfig, strategy: StrategyName, net: Interconnect, collectives: str,
            run: Any, arrays: bool, prepared: Prepared | None = None) -> StageRun:
    """``config``'s barrier run: in arrays if ``arrays`` and the evaluator accepts the
    plan, else its staged task graph (``collectives``) played by ``run``;
    ``prepared``: ``config`` planned already."""
    prepared = prepared or prepare(config, strategy, net)
    got = array_stage_run(prepared) if arrays else None
    if got is not None:
        return got
    cut = lower(config, strategy, net, collectives, prepared)
    times, streams = stage_times(cut, run)
    return StageRun(times, streams, shared_engines(cut.graph, cut.stage), len(cut.graph))
