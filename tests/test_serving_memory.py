"""A served model's bytes per memory tier from its probes (`sim.serving.memory`)
against the plan of every layer, and the card's LPDDR check over all its stages."""

from __future__ import annotations

import pytest
from test_serving import _config, _machine, _net

from sim.config import StrategyName
from sim.errors import CapacityError
from sim.network.from_config import build_interconnect
from sim.runner import prepare
from sim.schedule.placement import layer_groups, pipeline_stages
from sim.serving import serve
from sim.serving.memory import probe_memory
from sim.serving.serve import stage_config

#: A TINY stage stores 15,552 B on its fullest core (weights and KV cache): 12 KiB
#: of SRAM a core holds part of it, so ``sram_first`` sends ops to LPDDR core by core.
_SMALL_SRAM = 12 * 1024


def _whole_tier_bytes(config, net) -> dict[str, int]:
    """What the plan of every layer (at the whole batch) says each tier holds."""
    layers = config.workload.layers or config.workload.model.num_layers
    groups = len(layer_groups(config.machine, config.schedule))
    stages = pipeline_stages(layers, groups, config.schedule, always=True)
    p = len(stages) - config.schedule.pipeline.first_group
    return dict(prepare(stage_config(config, config.workload.batch, p),
                        StrategyName.DEFERRED, net).plan.tier_bytes)


@pytest.mark.parametrize(("memory", "whole", "pipeline"), [
    ({}, False, {}),
    ({"placement": "lpddr_weights"}, False, {"stages": 3}),
    ({"sram_bytes_per_core": _SMALL_SRAM}, False, {}),
    ({"sram_bytes_per_core": _SMALL_SRAM}, True, {"stages": 2, "head_stage": True}),
    ({"placement": "lpddr_weights"}, True, {"stage_layers": [1, 3, 1]}),
])
@pytest.mark.parametrize("mode", ["probes", "stages"])
def test_probe_memory_equals_the_plan_of_every_layer(memory, whole, pipeline, mode):
    """Every tier's bytes, weights and KV cache apart, as planning every layer gives
    them, with spills to LPDDR core by core, a head stage and unequal stages."""
    config = _config(6, 3, _machine(**memory), whole_model=whole, **pipeline)
    net = _net()
    got = serve(config, mode=mode, interconnect=net).memory_bytes
    assert got == _whole_tier_bytes(config, net)
    if memory:
        assert got["lpddr_weight_bytes"] + got["lpddr_kv_bytes"] > 0


def test_a_card_overflowed_only_by_all_its_stages_is_refused():
    """Card 0 holds four one-layer stages; its LPDDR takes three and a half stages'
    weights. No probe (at most three stages) overflows it: the sum over the card's
    stages does, with the message the plan of every layer gives."""
    base = _config(4, 2, _machine(1, 4, 4, placement="lpddr_weights"), stages=4)
    net = build_interconnect(base.machine)
    one = prepare(stage_config(base, 4, 4), StrategyName.DEFERRED, net).plan
    per_stage = one.tier_bytes["lpddr_weight_bytes"] // 4
    limit = {"placement": "lpddr_weights", "lpddr": {"bytes_per_card": 7 * per_stage // 2}}
    config = _config(4, 2, _machine(1, 4, 4, **limit), stages=4)
    with pytest.raises(CapacityError) as whole:
        _whole_tier_bytes(config, net)
    with pytest.raises(CapacityError) as probes:
        serve(config, interconnect=net)
    assert str(probes.value) == str(whole.value)
    assert "card 0" in str(probes.value)


def test_a_stage_across_cards_is_left_to_the_plan_of_every_layer():
    """A stage whose cores lie on two cards: its LPDDR bytes split where the card
    boundary falls, which the probes do not say, so `probe_memory` declines."""
    machine = _config(1, 1).machine
    per_card = machine.hierarchy.chiplets_per_card * machine.hierarchy.cores_per_chiplet

    def never(_probe):  # pragma: no cover - declined before any plan
        raise AssertionError("planned a probe")

    assert probe_memory(machine, [], [(per_card - 1, per_card)], never) is None
