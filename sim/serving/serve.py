"""Serving runs: a batch of sequences pipelined through the layer groups.

`serve` answers what a machine does at batch B in m micro-batches
(``schedule.pipeline``): the steady-state token interval, the latency per
token, tokens per second, the bubble fraction and each group's utilisation
(`sim.serving.pipeline`, whose model and assumptions it follows).

Three modes, the same figures where their assumptions hold:

- ``stages``: for each distinct micro-batch size, one micro-batch is lowered
  through every stage with the stage barriers and simulated once
  (`sim.serving.replicate`); its stages run one after another, alone, so their
  times ``t_s(b)`` are read off that one run, and the pass of m micro-batches
  follows from the flow-shop recurrence. Cost: one micro-batch's simulation,
  whatever m.
- ``probes`` (the default): as ``stages``, but each distinct kind of stage is
  simulated once, in a probe of its neighbourhood (`sim.serving.probes`).
  Cost: a few layers per kind of stage, whatever the model's depth.
- ``full``: the m micro-batches' copies in one task graph with barriers and
  locks, one simulation; the truth the ``stages`` mode is checked against (it
  differs only where stages contend for a shared engine or link, which
  `ServingResult.shared_engines` lists).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from sim.backends.analytic import run_analytic
from sim.backends.des import run_des
from sim.config import RunConfig, StrategyName, TransformerWorkload
from sim.errors import ConfigError
from sim.hardware.memory_tier import card_of_core
from sim.ir.plan import LoweringPlan
from sim.network.from_config import Interconnect, build_interconnect
from sim.registry import Registry
from sim.runner import Prepared, prepare
from sim.schedule.placement import balanced, layer_groups, pipeline_stages
from sim.serving.memory import probe_memory
from sim.serving.pipeline import PipelinePass, flow_shop, steady_decode_cycles
from sim.serving.probes import Probe, every_stage, plan_probes, resident_batch
from sim.serving.replicate import leave_cycles, shared_engines, staged_graph
from sim.serving.stage_run import ARRAY_BACKENDS, cut_stages, lower, measure, play

__all__ = ["SERVING_MODES", "ServingResult", "at_batch", "is_pipelined", "micro_batch_sizes",
           "serve", "stage_config"]

ServingMode = Literal["probes", "stages", "full"]
SERVING_MODES: tuple[ServingMode, ...] = ("probes", "stages", "full")

#: How each backend plays a task graph (the DES with hop-level collectives; the
#: analytic one with closed-form collectives, task by task).
_PLAYERS = Registry[tuple[str, Any]]("backend")
_PLAYERS.add("des", ("hops", run_des))
_PLAYERS.add("analytic", ("closed_form", run_analytic))


def is_pipelined(config: RunConfig) -> bool:
    """Whether ``config`` asks for a pipeline (``schedule.pipeline``)."""
    pipeline = config.schedule.pipeline
    return isinstance(config.workload, TransformerWorkload) and (
        pipeline.micro_batches > 1 or pipeline.stages is not None)


def micro_batch_sizes(config: RunConfig) -> list[int]:
    """The sequences of each micro-batch: the batch split as evenly as it goes.

    Raises
    ------
    ConfigError
        If there are more micro-batches than sequences.
    """
    workload = config.workload
    if not isinstance(workload, TransformerWorkload):
        raise ConfigError("schedule.pipeline: only a transformer workload is pipelined")
    m = config.schedule.pipeline.micro_batches
    if m > workload.batch:
        raise ConfigError(f"schedule.pipeline.micro_batches: {m} micro-batches, the batch has "
                          f"{workload.batch} sequences (workload.batch)")
    return balanced(workload.batch, m)


def _decoder_stages(config: RunConfig) -> list[range]:
    """The stages holding decoder layers (`pipeline_stages`, pipelined or not)."""
    workload = config.workload
    layers = workload.layers or workload.model.num_layers  # type: ignore[union-attr]
    groups = len(layer_groups(config.machine, config.schedule))
    per_group = pipeline_stages(layers, groups, config.schedule, always=True) or []
    return [r for r in per_group if len(r) and r.start < layers]


def at_batch(config: RunConfig, batch: int, micro_batches: int = 0) -> RunConfig:
    """``config`` at ``batch`` sequences in ``micro_batches``, validated again. 0: the
    config's ``schedule.pipeline.micro_batches`` if it pipelines, else one per
    decoder stage; at most one per sequence either way.

    Raises
    ------
    ConfigError
        If ``config`` is not a transformer.
    """
    workload = config.workload
    if not isinstance(workload, TransformerWorkload):
        raise ConfigError("workload.kind: only a transformer is served")
    pipeline = config.schedule.pipeline
    if micro_batches == 0 and pipeline.micro_batches > 1:
        micro_batches = min(batch, pipeline.micro_batches)
    elif micro_batches == 0:
        micro_batches = min(batch, len(_decoder_stages(config)))
    data = config.model_dump()
    data["workload"].update(batch=batch, kv_resident_batch=None)
    data["schedule"]["pipeline"]["micro_batches"] = micro_batches
    return RunConfig.model_validate(data)


@dataclass(frozen=True)
class ServingResult:
    """What one serving run measured (module docstring); cycles are reference
    clock cycles, ``us`` microseconds."""

    config: RunConfig
    strategy: StrategyName
    backend: str
    mode: ServingMode
    stage_layers: tuple[range, ...]
    micro_batch_sizes: tuple[int, ...]
    one_pass: PipelinePass
    shared_engines: dict[str, tuple[int, ...]]
    memory_bytes: dict[str, int]
    tasks_simulated: int
    wall_seconds: float

    @property
    def workload(self) -> TransformerWorkload:
        """The transformer served."""
        workload = self.config.workload
        if not isinstance(workload, TransformerWorkload):  # pragma: no cover - serve checks
            raise TypeError("serving result of a non-transformer workload")
        return workload

    def _us(self, cycles: int) -> float:
        return cycles / (self.config.machine.clock_ghz * 1e3)

    @property
    def decode_cycles(self) -> int:
        """Cycles between two tokens of one sequence in continuous decoding
        (`sim.serving.pipeline.steady_decode_cycles`)."""
        return steady_decode_cycles(self.one_pass)

    @property
    def latency_alone_cycles(self) -> int:
        """The slowest micro-batch's pass through every stage, alone."""
        return max(sum(row) for row in self.one_pass.stage_cycles)

    @property
    def saturated(self) -> bool:
        """Whether the busiest stage bounds the pipeline (m x interval reaches the
        latency alone): more micro-batches would queue, not add throughput."""
        return self.one_pass.micro_batches * self.one_pass.interval_cycles >= (
            self.latency_alone_cycles)

    @property
    def micro_batches_to_saturate(self) -> int:
        """The fewest micro-batches of this size that fill the pipeline:
        ceil(latency alone / interval)."""
        return -(-self.latency_alone_cycles // max(self.one_pass.interval_cycles, 1))

    def figures(self) -> dict[str, Any]:
        """The serving figures, each with its unit in its name."""
        w = self.workload
        one = self.one_pass
        out: dict[str, Any] = {
            "model": w.model.name, "phase": w.phase, "batch": w.batch,
            "layers_served": w.layers or w.model.num_layers, "model_layers": w.model.num_layers,
            "micro_batches": one.micro_batches, "micro_batch_sizes": list(self.micro_batch_sizes),
            "stages": one.stages,
            "layers_per_stage": [len(r) if r.start < (w.layers or w.model.num_layers) else 0
                                 for r in self.stage_layers],
            "head_stage": self.config.schedule.pipeline.head_stage,
            "token_interval_cycles": one.interval_cycles,
            "token_interval_us": self._us(one.interval_cycles),
            "pass_cycles": one.makespan_cycles, "pass_us": self._us(one.makespan_cycles),
            "bubble_fraction": one.bubble_fraction,
            "group_utilisation": list(one.utilisation),
            "saturated": self.saturated,
            "micro_batches_to_saturate": self.micro_batches_to_saturate,
        }
        if w.phase == "decode":
            seconds = self.decode_cycles / (self.config.machine.clock_ghz * 1e9)
            out["latency_per_token_us"] = self._us(self.decode_cycles)
            out["tokens_per_s"] = w.batch / seconds
        else:
            seconds = one.makespan_cycles / (self.config.machine.clock_ghz * 1e9)
            out["time_to_first_token_us"] = self._us(one.makespan_cycles)
            out["tokens_per_s"] = w.batch * w.seq_len / seconds
        return out

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary: the figures, the stage times, how they were found."""
        return {
            "strategy": self.strategy.value, "backend": self.backend, "mode": self.mode,
            "serving": self.figures(),
            "stage_cycles": [list(row) for row in self.one_pass.stage_cycles],
            "stage_leave_cycles": [list(row) for row in self.one_pass.leave_cycles],
            "memory_bytes": dict(self.memory_bytes),
            "stages_sharing_engines": len(self.shared_engines),
            "tasks_simulated": self.tasks_simulated,
            "wall_seconds": self.wall_seconds,
        }


def stage_config(config: RunConfig, batch: int, stages: int) -> RunConfig:
    """``config`` at one micro-batch of ``batch`` sequences on the same stages
    (``stages``: with the head stage, if any)."""
    stages -= 1 if config.schedule.pipeline.head_stage else 0
    pipeline = config.schedule.pipeline.model_copy(update={"micro_batches": 1, "stages": stages})
    if pipeline.stage_layers:
        pipeline = pipeline.model_copy(update={"stages": None})
    return config.model_copy(update={
        "workload": config.workload.model_copy(update={
            "batch": batch, "kv_resident_batch": resident_batch(config)}),
        "schedule": config.schedule.model_copy(update={"pipeline": pipeline})})


class _Cuts:
    """The probes' cuts planned once each, by probe and micro-batch size: the memory
    figures read the plans the stage runs then use."""

    def __init__(self, config: RunConfig, strategy: StrategyName, net: Interconnect) -> None:
        self.config, self.strategy, self.net = config, strategy, net
        self._prepared: dict[tuple[Probe, int], Prepared] = {}

    def prepared(self, probe: Probe, batch: int) -> Prepared:
        """``probe``'s cut at one micro-batch of ``batch`` sequences, planned."""
        key = (probe, batch)
        if key not in self._prepared:
            self._prepared[key] = prepare(probe.config(self.config, batch), self.strategy,
                                          self.net)
        return self._prepared[key]

    def plan(self, probe: Probe, batch: int) -> tuple[LoweringPlan, list[range]]:
        """The plan of ``probe``'s cut at ``batch`` and its stages' layers."""
        cut = self.prepared(probe, batch)
        per_group, first = cut_stages(cut.config)
        return cut.plan, per_group[first:]


def _per_card(config: RunConfig, cores: list[tuple[int, ...]],
              busy: list[list[int]]) -> list[int]:
    """Per card, the LPDDR cycles of the pass: ``busy[k][s]`` of micro-batch k in
    stage s, on the card of the stage's first core (README, Serving)."""
    cards: dict[int, int] = {}
    for row in busy:
        for s, cycles in enumerate(row):
            card = card_of_core(cores[s][0], config.machine)
            cards[card] = cards.get(card, 0) + cycles
    return [cards[c] for c in sorted(cards)]


def serve(config: RunConfig, strategy: StrategyName | None = None, backend: str = "des",
          mode: ServingMode = "probes", interconnect: Interconnect | None = None
          ) -> ServingResult:
    """Serve ``config``'s batch in ``schedule.pipeline.micro_batches`` micro-batches
    over its stages (module docstring).

    Raises
    ------
    ConfigError
        For a workload that is not a transformer, more micro-batches than
        sequences, an unknown backend or mode.
    CapacityError
        For more stages than layer groups or layers, or a batch whose weights and
        KV cache (of every sequence: all micro-batches stay resident) do not fit.
    """
    began = time.perf_counter()
    if mode not in SERVING_MODES:
        raise ConfigError(f"--mode: unknown serving mode {mode!r} (choose from "
                          f"{', '.join(SERVING_MODES)})")
    collectives, run = _PLAYERS.get(backend, "--backend")
    sizes = micro_batch_sizes(config)
    workload = config.workload
    if not isinstance(workload, TransformerWorkload):  # pragma: no cover - sizes checked
        raise ConfigError("workload.kind: only a transformer is served")
    chosen = StrategyName(strategy or config.strategy)
    if config.schedule.pipeline.head_stage and not workload.whole_model:
        raise ConfigError("schedule.pipeline.head_stage: the head stage holds the whole-model "
                          "ops; set workload.whole_model: true")
    layers = workload.layers or workload.model.num_layers
    groups = layer_groups(config.machine, config.schedule)
    per_group = pipeline_stages(layers, len(groups), config.schedule, always=True)
    if per_group is None:  # pragma: no cover - two micro-batches always pipeline
        raise ConfigError("schedule.pipeline: no stages")
    first = config.schedule.pipeline.first_group
    stage_layers = per_group[first:]
    p = len(stage_layers)
    net = interconnect or build_interconnect(config.machine)
    cores = [g.cores for g in groups[first:first + p]]
    head = config.schedule.pipeline.head_stage
    probes = (plan_probes(config.machine, cores, stage_layers, first, head)
              if mode == "probes" else [every_stage(stage_layers, first, head)])
    cuts = _Cuts(config, chosen, net)
    memory = None if mode == "full" else probe_memory(
        config.machine, probes, cores, lambda probe: cuts.plan(probe, sizes[0]))
    if memory is None:  # every layer planned, every sequence's KV cache
        memory = dict(prepare(stage_config(config, workload.batch, p), chosen,
                              net).plan.tier_bytes)
    tasks = 0
    if mode == "full":
        lowered = {b: lower(stage_config(config, b, p), chosen, net, collectives)
                   for b in sorted(set(sizes), reverse=True)}
        staged, cell = staged_graph([lowered[b].graph for b in sizes],
                                    [lowered[b].stage for b in sizes], p)
        leave = leave_cycles(staged, play(staged, run).ready_array, cell,
                             len(sizes) * p).reshape(len(sizes), p)
        one_pass, tasks = _pass_from_leaves(leave), len(staged)
        shared = shared_engines(lowered[sizes[0]].graph, lowered[sizes[0]].stage)
    else:
        rows: dict[int, list[int]] = {}
        memory_rows: dict[int, list[int]] = {}
        shared = {}
        for b in sorted(set(sizes), reverse=True):
            row, memory_row = [0] * p, [0] * p
            for probe in probes:
                cut = cuts.prepared(probe, b)
                measured = measure(cut.config, chosen, net, collectives, run,
                                   backend in ARRAY_BACKENDS, cut)
                tasks += measured.tasks
                shared.update(measured.shared)
                for at, stood in zip(probe.measured, probe.stands_for, strict=True):
                    for s in stood:
                        row[s], memory_row[s] = measured.times[at], measured.memory_cycles[at]
            rows[b], memory_rows[b] = row, memory_row
        one_pass = flow_shop([rows[b] for b in sizes],
                             _per_card(config, cores, [memory_rows[b] for b in sizes]))
    return ServingResult(config, chosen, backend, mode, tuple(stage_layers), tuple(sizes),
                         one_pass, shared, memory, tasks, time.perf_counter() - began)


def _pass_from_leaves(leave: np.ndarray) -> PipelinePass:
    """The `PipelinePass` a full simulation measured: when each micro-batch left
    each stage, and its time there (from when both the stage and its input were
    free: the barrier and the lock)."""
    m, p = leave.shape
    times = np.zeros_like(leave)
    for k in range(m):
        for s in range(p):
            start = max(leave[k][s - 1] if s else 0, leave[k - 1][s] if k else 0)
            times[k][s] = leave[k][s] - start
    return PipelinePass(tuple(tuple(int(x) for x in row) for row in leave),
                        tuple(tuple(int(x) for x in row) for row in times))
