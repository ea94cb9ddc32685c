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
middle stage.
"""

from __future__ import annotations

from dataclasses import dataclass

from sim.config import MachineConfig, RunConfig, TransformerWorkload

__all__ = ["Probe", "plan_probes", "resident_batch", "stage_key"]


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
    """A cut of the workload standing for every stage in ``stands_for``.

    ``layers``: the probe's decoder layers per stage (the previous stage's last
    layer, the stage's own, the next stage's first); ``head``: whether the
    probe ends with the head stage (``schedule.pipeline.head_stage``), which
    holds no decoder layer; ``first_group``: the group of its first stage;
    ``measured``: which of its stages is the one it stands for."""

    stands_for: tuple[int, ...]
    layers: tuple[int, ...]
    head: bool
    first_group: int
    measured: int

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


def plan_probes(machine: MachineConfig, group_cores: list[tuple[int, ...]],
                stage_layers: list[range], first_group: int, head_stage: bool) -> list[Probe]:
    """One probe per distinct `stage_key`, standing for every stage with that key.

    Stage s's neighbours give one layer each (a stage's hand-offs involve only
    the adjacent layer), so a probe holds at most ``len(stage_layers[s]) + 2``;
    with ``head_stage`` the last of ``stage_layers`` is the head stage.
    """
    by_key: dict[tuple[object, ...], list[int]] = {}
    for s in range(len(stage_layers)):
        by_key.setdefault(stage_key(machine, group_cores, stage_layers, s, head_stage),
                          []).append(s)
    probes = []
    last = len(stage_layers) - 1
    counts = [len(r) for r in stage_layers]
    if head_stage:
        counts[last] = 0
    for stages in by_key.values():
        s = stages[0]
        before = 1 if s else 0
        head = head_stage and s >= last - 1
        after = 1 if s < last and not head else 0
        layers = tuple(n for n in (before, counts[s], after) if n)
        probes.append(Probe(tuple(stages), layers, head, first_group + s - before, before))
    return probes
