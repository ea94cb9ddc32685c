"""Endpoint overhead and store-and-forward switching: the DES equals every closed form when
uncontended, in both modes, and the analytic backend (which reads the closed forms) agrees
with the DES with a nonzero overhead."""

from __future__ import annotations

import pytest
from conftest import REPO, card_machine

from sim.backends import run_des
from sim.config import StrategyName, load_config, parse_config
from sim.ir import TaskGraph
from sim.network import ALGORITHMS, CollectiveKind, Router, core_count, mesh_2d
from sim.network.collectives import collective_done_cycles
from sim.network.routing import multicast_tree
from sim.network.switching import Switching, configure_transport, message_flight_cycles
from sim.network.topology import LinkSpec, card_hierarchy
from sim.network.transport import (
    append_message,
    append_multicast,
    build_engines,
    message_latency_cycles,
    multicast_delivery_cycles,
    multicast_flits,
)
from sim.runner import simulate as run_config

from .conftest import TOPOLOGIES, simulate
from .test_net_closed_form import PER_CORE_ALGORITHMS, participants_for

MODES = {"saf_o7": (7, "store_and_forward"), "ct_o5": (5, "cut_through")}


@pytest.fixture(scope="module")
def mode_routers() -> dict[tuple[str, str], Router]:
    return {(name, mode): Router(configure_transport(build(), endpoint_overhead_cycles=o,
                                                     switching=switching))
            for name, build in TOPOLOGIES.items() for mode, (o, switching) in MODES.items()}


@pytest.mark.parametrize("packets", [None, 40])
@pytest.mark.parametrize("mode", MODES)
def test_a_message_over_mixed_links_is_its_closed_form(packets, mode):
    """``o + Σ h + Σ F_p − 1`` cut-through, plus ``(H − 1)(F_1 − 1)`` store-and-forward,
    counted here by hand: 32 B/cycle mesh links and a 16 B/cycle die-to-die link."""
    overhead, switching = MODES[mode]
    graph = configure_transport(
        card_hierarchy(chiplets_per_card=2, chiplet_width=2, chiplet_height=2,
                       noc=LinkSpec(32, 1), d2d=LinkSpec(16, 5)),
        endpoint_overhead_cycles=overhead, switching=switching)
    router = Router(graph)
    engines = build_engines(graph)
    tasks: list = []
    last = append_message(tasks, router, engines, 0, 4, 100, (), name="m", op="t",
                          max_packet_bytes=packets)
    got = run_des(TaskGraph(engines.engines, tuple(tasks))).ready_cycles[last]
    heads = router.route_hop_cycles(0, 4)
    flits = [7] if packets is None else [3, 3, 2]     # ceil(100/16); 40+40+20 B at 16 B/cycle
    expected = overhead + sum(heads) + sum(flits) - 1
    if switching == "store_and_forward":
        expected += (len(heads) - 1) * (flits[0] - 1)
    assert got == expected == message_latency_cycles(router, 0, 4, 100, max_packet_bytes=packets)
    assert message_flight_cycles(heads, flits, Switching(switching)) == expected - overhead


@pytest.mark.parametrize("mode", MODES)
def test_a_multicast_reaches_each_destination_at_its_closed_form(mode):
    overhead, switching = MODES[mode]
    router = Router(configure_transport(mesh_2d(4, 4), endpoint_overhead_cycles=overhead,
                                        switching=switching))
    engines = build_engines(router.graph)
    tasks: list = []
    dests = [3, 12, 15, 5, 1]
    sent = append_multicast(tasks, router, engines, 0, dests, 80, (), name="mc", op="t")
    ready = run_des(TaskGraph(engines.engines, tuple(tasks))).ready_cycles
    flits = multicast_flits(router, multicast_tree(router, 0, dests), 80)
    for d in dests:
        route = router.route(0, d)
        per_hop = flits - 1 if switching == "store_and_forward" else 0
        by_hand = overhead + route.head_latency_cycles + flits - 1 + (route.hops - 1) * per_hop
        assert ready[sent[d]] == multicast_delivery_cycles(router, 0, d, flits) == by_hand


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kind", [k.value for k in CollectiveKind])
@pytest.mark.parametrize("algorithm", ALGORITHMS.names())
@pytest.mark.parametrize("topology", TOPOLOGIES)
def test_des_equals_closed_form_in_both_modes(mode_routers, topology, algorithm, kind, mode):
    router = mode_routers[topology, mode]
    members = participants_for(topology, algorithm, kind, core_count(router.graph))
    got = simulate(router, kind, algorithm, members, 100)
    assert got.link_queueing_cycles == 0, "premise: no hop waits for a link"
    assert got.done_cycles == got.timeline.latency_cycles == got.result.latency_cycles
    if algorithm in PER_CORE_ALGORITHMS:
        ready = got.timeline.ready_cycles
        simulated = {core: max((ready[i] for i in tasks), default=0)
                     for core, tasks in got.result.done.items()}
        assert simulated == collective_done_cycles(router, kind, algorithm, members, 100)


@pytest.mark.parametrize("mode", [*MODES, "default"])
@pytest.mark.parametrize("kind", ["all_gather", "all_reduce"])
def test_row_column_runs_two_phases_on_a_rectangle_exactly(kind, mode):
    """On a 2 x 2 mesh the row phase (0-1, 2-3) and the column phase (0-2, 1-3) each use
    their own links; the column phase carries the row's two blocks (all-gather)."""
    overhead, switching = MODES.get(mode, (0, "cut_through"))
    router = Router(configure_transport(mesh_2d(2, 2), endpoint_overhead_cycles=overhead,
                                        switching=switching))
    got = simulate(router, kind, "row_column", range(4), 64)
    assert got.link_queueing_cycles == 0
    ready = got.timeline.ready_cycles
    simulated = {core: max(ready[i] for i in tasks) for core, tasks in got.result.done.items()}
    assert simulated == collective_done_cycles(router, kind, "row_column", range(4), 64)
    hop = 1 + 1  # router 1 + link 1 (mesh_2d defaults); 64 B over 32 B/cycle: 2 flits
    column_flits = 4 if kind == "all_gather" else 2
    phase = {"all_gather": 0, "all_reduce": 1}[kind]  # combine: 64 B at 64 B/cycle
    expected = (overhead + hop + 2 - 1 + phase) + (overhead + hop + column_flits - 1 + phase)
    assert max(simulated.values()) == expected
    names = {t.name.split(":")[0].rsplit(".", 1)[0] for t in got.graph.tasks if ":p0:" in t.name}
    assert names == {"collective.mc0", "collective.mc1"}


def test_overhead_adds_once_per_message_on_the_critical_path():
    """Ring all-reduce: 2(p − 1) dependent messages, so ``o`` adds 2(p − 1) o."""
    plain = Router(mesh_2d(4, 2))
    costly = Router(configure_transport(mesh_2d(4, 2), endpoint_overhead_cycles=11))
    base = simulate(plain, "all_reduce", "ring", range(8), 256).done_cycles
    assert simulate(costly, "all_reduce", "ring", range(8), 256).done_cycles \
        == base + 2 * 7 * 11


@pytest.mark.parametrize("switching", ["cut_through", "store_and_forward"])
def test_analytic_agrees_with_the_des_with_an_endpoint_overhead(switching):
    """A norm_linear layer on 8 fully connected cores whose collectives do not contend
    (in-network gathers and reductions, one tile per op), and the bundled ring collective:
    analytic == DES."""
    net = {"endpoint_overhead_cycles": 13, "switching": switching}
    machine = card_machine(REPO, 8, "fully_connected")
    machine["network"].update(net)
    config = parse_config({
        "machine": machine,
        "workload": {"kind": "norm_linear", "norm": "rmsnorm", "hidden_size": 512,
                     "out_features": 512},
        "schedule": {"gather_algorithm": "in_network", "reduction_algorithm": "in_network",
                     "max_tiles_per_op": 1}})
    for strategy in (StrategyName.SERIALIZED, StrategyName.DEFERRED):
        des = run_config(config, strategy)
        assert des.link_queueing_cycles() == 0, "premise: uncontended"
        analytic = run_config(config, strategy, backend="analytic")
        assert analytic.latency_cycles == des.latency_cycles
        without = parse_config({**config.model_dump(mode="json"),
                                "machine": card_machine(REPO, 8, "fully_connected")})
        assert des.latency_cycles > run_config(without, strategy).latency_cycles
    collective = load_config(REPO / "configs/collectives/allreduce_ring_mesh8x8.yaml",
                             [f"machine.network.{k}={v}" for k, v in net.items()])
    des, analytic = run_config(collective), run_config(collective, backend="analytic")
    assert analytic.latency_cycles == des.latency_cycles == sum(des.closed_form_cycles.values())
    assert des.to_dict()["closed_form_kind"] == "exact"
