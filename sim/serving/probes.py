"""Stage probes: a stage's time from a run of its neighbourhood only.

Under the stage barrier (`sim.serving.replicate`) a stage runs alone: its
time ``t_s`` depends on its own tasks only, the hand-off from stage s - 1
into it (its gathers) and its hand-off on to stage s + 1 (its moves). Two
stages whose tasks are the same up to which cores and links they use take
the same time. On the machines imcsim builds, identical chiplets with
all-to-all die-to-die links inside a card and all-to-all card-to-card links,
that holds for stages with the same `stage_key`: how many layers, first or
last, where the group sits in its chiplet, how many chiplets and cards it
spans, and how far each hand-off goes (same chiplet, another chiplet, another
card). This is an assumption about the topology's symmetry; the ``stages``
mode (every stage lowered) checks it, and the tests compare both on small
machines.

A probe of stage s is the workload cut to the layers of stages s - 1 (its
last layer), s and s + 1 (its first), on the same groups
(``schedule.pipeline.first_group``): the stage's time is read off the probe's
middle stage. Probes of neighbouring stages (the two sides of a card boundary)
are one window of stages, each measured one read off it.
"""

from __future__ import annotations

from dataclasses import dataclass

from sim.config import MachineConfig, RunConfig, TransformerWorkload

__all__ = ["Probe", "every_stage", "plan_probes", "resident_batch", "stage_key"]


def resident_batch(config: RunConfig) -> int:
    """Sequences whose KV cache the served machine holds: the whole batch (every
    micro-batch's caches stay resident while one micro-batch runs)."""
    workload = config.workload
    if not isinstance(workload, TransformerWorkload):
        return 1
    return workload.kv_resident_batch or workload.batch


def _reach(machine: MachineConfig, core_a: int, core_b: int) -> str:
    """How far a hand-off from ``core_a``'s group to ``core_b``'s goes."""
    h = machine.hierarchy
    per_card = h.chiplets_per_card * h.cores_per_chiplet
    if core_a // per_card != core_b // per_card:
        return "card"
    if core_a // h.cores_per_chiplet != core_b // h.cores_per_chiplet:
        return "chiplet"
    return "core"


def stage_key(machine: MachineConfig, group_cores: list[tuple[int, ...]],
              stage_layers: list[range], s: int, head_stage: bool = False
              ) -> tuple[object, ...]:
    """What stage ``s``'s time depends on (module docstring): stages with equal
    keys take equal time. ``group_cores[s]`` and ``stage_layers[s]``: the cores
    and layers of stage s; ``head_stage``: the last stage is the head's."""
    h = machine.hierarchy
    cores = group_cores[s]
    per_card = h.chiplets_per_card * h.cores_per_chiplet
    last = len(stage_layers) - 1
    return (
        len(stage_layers[s]), s == 0, s == last, cores[0] % h.cores_per_chiplet, len(cores),
        len({c // h.cores_per_chiplet for c in cores}), len({c // per_card for c in cores}),
        _reach(machine, group_cores[s - 1][0], cores[0]) if s else None,
        _reach(machine, cores[0], group_cores[s + 1][0]) if s < last else None,
        head_stage and s >= last - 1,
    )


@dataclass(frozen=True)
class Probe:
    """A cut of the workload: a window of consecutive stages, some of which it
    measures, each standing for every stage with its `stage_key`.

    ``measured``: the window's stages it measures (indices in the window);
    ``stands_for[i]``: the stages of the whole pipeline that ``measured[i]``
    stands for; ``layers``: the decoder layers of each of the window's stages (a
    measured stage has its own, another one layer: the previous stage's last or
    the next one's first, all a hand-off involves); ``head``: whether the window
    ends with the head stage (``schedule.pipeline.head_stage``), which holds no
    decoder layer; ``first_group``: the group of the window's first stage."""

    stands_for: tuple[tuple[int, ...], ...]
    layers: tuple[int, ...]
    head: bool
    first_group: int
    measured: tuple[int, ...]

    def config(self, config: RunConfig, batch: int) -> RunConfig:
        """``config`` cut to this probe at one micro-batch of ``batch`` sequences."""
        pipeline = config.schedule.pipeline.model_copy(update={
            "micro_batches": 1, "stages": None, "stage_layers": list(self.layers),
            "first_group": self.first_group, "head_stage": self.head})
        return config.model_copy(update={
            "workload": config.workload.model_copy(update={
                "batch": batch, "layers": sum(self.layers),
                "kv_resident_batch": resident_batch(config)}),
            "schedule": config.schedule.model_copy(update={"pipeline": pipeline})})


def every_stage(stage_layers: list[range], first_group: int, head_stage: bool) -> Probe:
    """The probe of the whole pipeline, measuring every stage (the ``stages`` mode)."""
    last = len(stage_layers) - 1
    layers = tuple(len(r) for r in stage_layers[:last if head_stage else last + 1])
    return Probe(tuple((s,) for s in range(last + 1)), layers, head_stage, first_group,
                 tuple(range(last + 1)))


def _windows(needed: list[int], last: int) -> list[tuple[int, int]]:
    """The stage windows holding every stage of ``needed`` with its neighbours, the
    windows that share a stage merged (a shared stage is planned once)."""
    spans = sorted((max(s - 1, 0), min(s + 1, last)) for s in needed)
    merged: list[tuple[int, int]] = []
    for lo, hi in spans:
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(hi, merged[-1][1]))
        else:
            merged.append((lo, hi))
    return merged


def plan_probes(machine: MachineConfig, group_cores: list[tuple[int, ...]],
                stage_layers: list[range], first_group: int, head_stage: bool) -> list[Probe]:
    """Probes measuring one stage of each distinct `stage_key` (its first), standing
    for every stage with that key; with ``head_stage`` the last of
    ``stage_layers`` is the head stage.

    A measured stage needs its neighbours (its hand-offs), one layer each; the
    windows of stages that share a neighbour are one probe, which costs fewer
    layers than one probe each (a card boundary's stages: 4 layers, not 6).
    """
    by_key: dict[tuple[object, ...], list[int]] = {}
    for s in range(len(stage_layers)):
        by_key.setdefault(stage_key(machine, group_cores, stage_layers, s, head_stage),
                          []).append(s)
    last = len(stage_layers) - 1
    stands = {stages[0]: tuple(stages) for stages in by_key.values()}
    probes = []
    for lo, hi in _windows(sorted(stands), last):
        measured = [t for t in range(lo, hi + 1) if t in stands]
        head = head_stage and hi == last
        layers = tuple(len(stage_layers[t]) if t in stands else 1
                       for t in range(lo, hi if head else hi + 1))
        probes.append(Probe(tuple(stands[t] for t in measured), layers, head,
                            first_group + lo, tuple(t - lo for t in measured)))
    return probes
