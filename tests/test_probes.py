"""Stage probes (`sim.serving.probes`): every stage stood for once, by a measured
stage of its own key, inside a window holding that stage's neighbours."""

from __future__ import annotations

import pytest

from sim.config import load_config
from sim.schedule.placement import layer_groups, pipeline_stages
from sim.serving.probes import every_stage, plan_probes, stage_key

BUNDLED = ["configs/serving/llama3_70b_rack16.yaml", "configs/serving/llama3_8b_server8.yaml"]


def _layout(path: str, **pipeline):
    config = load_config(path)
    config = config.model_copy(update={"schedule": config.schedule.model_copy(update={
        "pipeline": config.schedule.pipeline.model_copy(update=pipeline)})})
    workload = config.workload
    layers = workload.layers or workload.model.num_layers
    groups = layer_groups(config.machine, config.schedule)
    first = config.schedule.pipeline.first_group
    stages = pipeline_stages(layers, len(groups), config.schedule, always=True)[first:]
    cores = [g.cores for g in groups[first:first + len(stages)]]
    return config, cores, stages, first


@pytest.mark.parametrize("path", BUNDLED)
@pytest.mark.parametrize("pipeline", [{}, {"stages": 7}, {"stages": 24}])
def test_every_stage_is_stood_for_once_by_its_own_kind(path, pipeline):
    config, cores, stages, first = _layout(path, **pipeline)
    head = config.schedule.pipeline.head_stage
    probes = plan_probes(config.machine, cores, stages, first, head)
    stood = sorted(t for probe in probes for group in probe.stands_for for t in group)
    assert stood == list(range(len(stages)))
    last = len(stages) - 1
    for probe in probes:
        lo = probe.first_group - first
        window = range(lo, lo + len(probe.layers) + (1 if probe.head else 0))
        for at, group in zip(probe.measured, probe.stands_for, strict=True):
            s = lo + at
            assert group[0] == s  # the first stage of its kind is the one measured
            assert {stage_key(config.machine, cores, stages, t, head) for t in group} == {
                stage_key(config.machine, cores, stages, s, head)}
            assert max(s - 1, 0) in window and min(s + 1, last) in window
            if s < len(probe.layers):  # its own layers (the head stage holds none)
                assert probe.layers[at] == len(stages[s])


def test_the_sides_of_a_card_boundary_share_one_window():
    """80 one-chiplet stages on 16 cards of 8: three kinds inside (first, middle,
    last) and two at each card boundary; the two sides are one 4-stage window."""
    config, cores, stages, first = _layout(BUNDLED[0])
    probes = plan_probes(config.machine, cores, stages, first, False)
    assert [len(p.layers) for p in probes] == [3, 4, 2]
    assert sum(len(p.measured) for p in probes) == 5


def test_every_stage_measures_the_whole_pipeline():
    _, _, stages, first = _layout(BUNDLED[1], stages=4)
    probe = every_stage(stages, first, False)
    assert probe.measured == (0, 1, 2, 3) and probe.stands_for == ((0,), (1,), (2,), (3,))
    assert probe.layers == tuple(len(r) for r in stages)
