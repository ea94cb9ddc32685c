"""Collectives beyond the exactness matrix: hand-derived formulas, contention as a
lower bound, random subsets, dependencies, conservation of bytes, determinism, errors."""

from __future__ import annotations

import math
import random

import pytest

from sim.backends import run_des
from sim.errors import ConfigError
from sim.ir import Category, EngineKind, Task, TaskGraph
from sim.network import (
    ALGORITHMS,
    CollectiveKind,
    CollectiveOptions,
    LinkSpec,
    Router,
    append_collective,
    build_collective_graph,
    build_engines,
    card_hierarchy,
    collective_latency_cycles,
    core_count,
    fully_connected,
    kary_tree,
    link_traffic,
    mesh_2d,
    parse_hop_name,
    ring,
    torus_2d,
)

# --- closed forms against hand-written formulas (uniform links: h = r + l = 2) ----------


@pytest.mark.parametrize("nbytes", [16, 512, 1000])
def test_ring_all_reduce_is_2_p_minus_1_steps(routers, nbytes):
    p = 16
    chunk = math.ceil(nbytes / p)
    flits, combine = math.ceil(chunk / 32), math.ceil(chunk / 64)
    step = 1 * 2 + flits - 1
    expected = 2 * (p - 1) * step + (p - 1) * combine
    assert collective_latency_cycles(routers["ring16"], "all_reduce", "ring", range(p),
                                     nbytes) == expected


@pytest.mark.parametrize("nbytes", [16, 512, 1000])
def test_butterfly_on_fully_connected_is_log_p_rounds(routers, nbytes):
    step = 2 + math.ceil(nbytes / 32) - 1 + math.ceil(nbytes / 64)
    assert collective_latency_cycles(routers["full8"], "all_reduce", "recursive_doubling",
                                     range(8), nbytes) == 3 * step


def test_star_reduce_on_fully_connected_queues_combines_at_the_root(routers):
    # 7 vectors arrive together after one hop; the root's SIMD unit adds them one by one.
    message = 2 + math.ceil(640 / 32) - 1
    assert collective_latency_cycles(routers["full8"], "reduce", "star", range(8),
                                     640) == message + 7 * 10


def test_in_network_broadcast_is_the_farthest_route(routers):
    assert collective_latency_cycles(routers["mesh8x8"], "broadcast", "in_network",
                                     range(64), 96) == 14 * 2 + 3 - 1


def test_in_network_reduce_on_a_switch_tree_merges_in_every_switch():
    router = Router(kary_tree(16, 4, switch_latency_cycles=3))
    options = CollectiveOptions(in_network_combine_cycles=5)
    # leaf 15 -> switch 19 -> root switch 20 -> switch 16 -> core 0; merges at 19, 20, 16
    # and in core 0's router (its own vector plus the packet).
    heads = (1 + 1) + (3 + 1) + (3 + 1) + (3 + 1)
    assert collective_latency_cycles(router, "reduce", "in_network", range(16), 64,
                                     options=options) == heads + 4 * 5 + 2 - 1


# --- contention: the DES is never faster than the closed form ---------------------------


@pytest.mark.parametrize(("topology", "algorithm"), [
    (t, a) for t in ("ring16", "mesh8x8", "tree16", "card")
    for a in ("direct", "tree", "recursive_doubling") if (t, a) != ("ring16", "tree")
])
def test_contended_runs_are_slower_than_the_closed_form(routers, run, topology, algorithm):
    router = routers[topology]
    got = run(router, "all_gather", algorithm, range(core_count(router.graph)), 256)
    assert got.link_queueing_cycles > 0
    assert got.done_cycles == got.timeline.latency_cycles > got.result.latency_cycles


TOPOLOGIES = {
    "ring7": lambda: ring(7, latency_cycles=2),
    "mesh5x3": lambda: mesh_2d(5, 3, bytes_per_cycle=16),
    "torus5x4": lambda: torus_2d(5, 4, latency_cycles=0, router_latency_cycles=2),
    "tree9": lambda: kary_tree(9, 3, switch_latency_cycles=3),
    "full5": lambda: fully_connected(5, bytes_per_cycle=8),
    "cards": lambda: card_hierarchy(cards=2, chiplets_per_card=3, chiplet_width=3,
                                    chiplet_height=2, noc=LinkSpec(32, 1),
                                    d2d=LinkSpec(16, 5), c2c=LinkSpec(8, 20)),
    "odd": lambda: card_hierarchy(cards=3, chiplets_per_card=2, chiplet_width=2,
                                  chiplet_height=3, gateway=(0, 2), d2d=LinkSpec(12.5, 3),
                                  c2c=LinkSpec(0.5, 7)),
}


@pytest.mark.parametrize("topology", TOPOLOGIES)
def test_random_subsets_are_exact_when_uncontended_and_bounded_below_otherwise(run, topology):
    rng = random.Random(f"net-{topology}-9")  # 9 algorithms
    router = Router(TOPOLOGIES[topology]())
    cores = core_count(router.graph)
    exact = 0
    for _ in range(40):
        members = rng.sample(range(cores), rng.randint(1, cores))
        options = CollectiveOptions(
            arity=rng.randint(1, 4), root=rng.choice(members),
            combine_bytes_per_cycle=rng.choice([None, 16, 64, 7.5]),
            in_network_combine_cycles=rng.randint(0, 3),
            max_packet_bytes=rng.choice([None, 64, 100]),
            reduce_op=rng.choice(["sum", "max"]))
        got = run(router, rng.choice(list(CollectiveKind)), rng.choice(ALGORITHMS.names()),
                  members, rng.choice([1, 7, 64, 333, 1000]), options)
        assert got.done_cycles == got.timeline.latency_cycles
        if got.link_queueing_cycles == 0:
            assert got.done_cycles == got.result.latency_cycles
            exact += 1
        else:
            assert got.done_cycles >= got.result.latency_cycles
    assert exact >= 10


# --- hierarchy across cards ----------------------------------------------------------------


@pytest.mark.parametrize("kind", [k.value for k in CollectiveKind])
@pytest.mark.parametrize("algorithm", ["hierarchical", "ring", "in_network"])
def test_two_cards_are_uncontended_with_every_core(run, kind, algorithm):
    router = Router(card_hierarchy(cards=2, chiplets_per_card=4, chiplet_width=4,
                                   chiplet_height=3, c2c=LinkSpec(32, 40)))
    got = run(router, kind, algorithm, range(96), 200, CollectiveOptions(root=40))
    assert got.link_queueing_cycles == 0
    assert got.done_cycles == got.result.latency_cycles
    c2c = [v for k, v in link_traffic(got.graph, got.timeline).items()
           if k in ("link.6->54", "link.54->6")]
    if algorithm == "hierarchical":
        assert sorted(t.hops for t in c2c) == ([0, 1] if kind in ("reduce", "broadcast")
                                               else [1, 1])


def test_hierarchical_all_reduce_of_a_full_card_is_linear_in_cores():
    router = Router(card_hierarchy(chiplets_per_card=8, chiplet_width=16, chiplet_height=16))
    graph, result = build_collective_graph(router, "all_reduce", "hierarchical", range(2048), 8)
    assert len(graph.tasks) < 4 * 2048
    assert run_des(graph).latency_cycles == result.latency_cycles


# --- dependencies, results, determinism ------------------------------------------------------


def test_contributions_wait_for_their_producers():
    router = Router(mesh_2d(4, 4))
    engines = build_engines(router.graph)
    tasks = [Task(f"stats{c}", "stats", 0, engines.simd[c], 7, 2, Category.SIMD, ())
             for c in range(16)]
    result = append_collective(tasks, router, engines, "all_reduce", "hierarchical", range(16),
                               64, deps={c: (c,) for c in range(16)}, name="ar")
    timeline = run_des(TaskGraph(engines.engines, tuple(tasks)))
    assert timeline.latency_cycles == 7 + 2 + result.latency_cycles
    assert result.first_task == 16 and result.end_task == len(tasks)
    assert all(tasks[i].op == "ar" for i in range(16, len(tasks)))


@pytest.mark.parametrize("algorithm", ALGORITHMS.names())
def test_done_lists_the_cores_that_end_with_the_result(algorithm):
    router = Router(torus_2d(4, 4))
    members = [5, 0, 3, 9, 10, 15]
    for kind in CollectiveKind:
        _, result = build_collective_graph(router, kind, algorithm, members, 8)
        expected = {5} if kind is CollectiveKind.REDUCE else set(members)
        assert set(result.done) == expected and result.root == 5
        if kind is CollectiveKind.BROADCAST:
            assert result.done[5] == ()


def test_a_single_participant_needs_no_messages():
    router = Router(ring(4))
    for algorithm in ALGORITHMS.names():
        for kind in CollectiveKind:
            graph, result = build_collective_graph(router, kind, algorithm, [2], 64)
            assert graph.tasks == () and result.latency_cycles == 0 and result.done == {2: ()}


def test_max_reductions_name_their_combines_and_free_combines_cost_nothing():
    router = Router(fully_connected(4))
    options = CollectiveOptions(reduce_op="max", combine_bytes_per_cycle=None)
    graph, result = build_collective_graph(router, "reduce", "star", range(4), 640,
                                           options=options)
    combines = [t for t in graph.tasks if t.category is Category.SIMD]
    assert [t.name for t in combines] == ["collective.max.0.0", "collective.max.0.1",
                                          "collective.max.0.2"]
    assert {t.duration_cycles for t in combines} == {0}
    assert result.latency_cycles == 2 + 20 - 1


def test_building_twice_gives_the_same_graph(routers):
    for algorithm in ALGORITHMS.names():
        first = build_collective_graph(routers["card"], "all_reduce", algorithm, range(64), 48)
        again = build_collective_graph(routers["card"], "all_reduce", algorithm, range(64), 48)
        assert first == again


# --- conservation of bytes ---------------------------------------------------------------


def _messages(graph):
    packets: dict[tuple[str, int], list] = {}
    for task in graph.tasks:
        hop = parse_hop_name(task.name)
        if hop is not None:
            packets.setdefault((hop.message, hop.packet), []).append(hop)
    return packets


#: Blocks the reducing kinds split a 100-byte vector into over 43 cores (ring: all-reduce
#: only; halving_doubling: over the 32 cores left after the fold).
BLOCK_BYTES = {"ring": math.ceil(100 / 43), "direct": math.ceil(100 / 43),
               "halving_doubling": math.ceil(100 / 32)}


@pytest.mark.parametrize("algorithm", ["direct", "star", "tree", "ring", "recursive_doubling",
                                       "halving_doubling", "hierarchical"])
@pytest.mark.parametrize("kind", [k.value for k in CollectiveKind])
def test_unicast_messages_deliver_what_they_inject(routers, kind, algorithm):
    graph, _ = build_collective_graph(routers["card"], kind, algorithm, range(0, 128, 3), 100,
                                      options=CollectiveOptions(max_packet_bytes=48))
    blocked = kind == "all_reduce" or (kind == "reduce" and algorithm != "ring")
    by_message: dict[str, list[list]] = {}
    for (message, _), chain in _messages(graph).items():
        assert [h.dst for h in chain[:-1]] == [h.src for h in chain[1:]]
        assert len({h.nbytes for h in chain}) == 1
        by_message.setdefault(message, []).append(chain)
    for chains in by_message.values():
        src, dst = chains[0][0].src, chains[0][-1].dst
        assert all(c[0].src == src and c[-1].dst == dst for c in chains)
        injected = sum(c[0].nbytes for c in chains)
        assert injected == sum(c[-1].nbytes for c in chains)
        # whole vectors or blocks (multiples of 100 B), or whole reduce-scatter blocks
        block = BLOCK_BYTES.get(algorithm) if blocked else None
        assert injected % 100 == 0 or (block is not None and injected % block == 0)


def test_ring_all_reduce_moves_2p_p_minus_1_chunks(routers):
    graph, _ = build_collective_graph(routers["ring16"], "all_reduce", "ring", range(16), 1000)
    injected = [chain[0].nbytes for chain in _messages(graph).values()]
    assert injected == [63] * (2 * 16 * 15)


def test_in_network_gather_conserves_bytes_in_every_router(routers):
    graph, _ = build_collective_graph(routers["tree16"], "all_gather", "in_network",
                                      range(0, 16, 2), 10, options=CollectiveOptions(root=6))
    inflow: dict[int, int] = {}
    outflow: dict[int, int] = {}
    for (message, _), hops in _messages(graph).items():
        if message.endswith(".up"):
            for hop in hops:
                outflow[hop.src] = outflow.get(hop.src, 0) + hop.nbytes
                inflow[hop.dst] = inflow.get(hop.dst, 0) + hop.nbytes
        else:
            assert {hop.nbytes for hop in hops} == {80}
    for node, out in outflow.items():
        own = 10 if node < 16 and node % 2 == 0 else 0
        assert out == inflow.get(node, 0) + own
    assert inflow[6] == 70


@pytest.mark.parametrize("algorithm", ALGORITHMS.names())
def test_link_bytes_are_the_bytes_of_the_hops_on_each_link(routers, algorithm):
    graph, _ = build_collective_graph(routers["mesh8x8"], "all_reduce", algorithm, range(64),
                                      100, options=CollectiveOptions(max_packet_bytes=48))
    expected: dict[str, int] = {}
    for task in graph.tasks:  # independent truth: the bytes each hop's name spells
        engine = graph.engines[task.engine]
        hop = parse_hop_name(task.name)
        if engine.kind is EngineKind.LINK:
            assert engine.name == f"link.{hop.src}->{hop.dst}"
            expected[engine.name] = expected.get(engine.name, 0) + hop.nbytes
        elif engine.kind is EngineKind.SIMD:  # a combine: the bytes it combines
            assert ".sum." in task.name and 0 < task.nbytes <= 100
        else:
            assert task.nbytes == 0
    traffic = link_traffic(graph, run_des(graph))
    assert {name: t.bytes for name, t in traffic.items() if t.hops} == expected


def test_multicast_reaches_every_participant_once(routers):
    graph, result = build_collective_graph(routers["mesh8x8"], "broadcast", "in_network",
                                           range(64), 64)
    hops = [parse_hop_name(t.name) for t in graph.tasks if parse_hop_name(t.name)]
    assert sorted(h.dst for h in hops) == list(range(1, 64))
    assert set(result.done) == set(range(64))


# --- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"participants": [0, 99]},
     r"participants: 99 is not a core of the topology \(cores are 0\.\.15\)"),
    ({"participants": [0, 17]}, "participants: 17 is not a core"),         # a switch
    ({"participants": []}, "participants: must not be empty"),
    ({"participants": [1, 2, 1]}, "participants: must not repeat a core"),
    ({"options": CollectiveOptions(root=5)}, "root: core 5 is not a participant"),
    ({"kind": "scatter"}, "collective: must be one of reduce, broadcast, all_reduce, all_gather"),
    ({"algorithm": "butterfly"}, "algorithm: must be one of direct, tree, ring"),
    ({"nbytes": 0}, "nbytes: must be an integer >= 1, got 0"),
])
def test_bad_requests_are_config_errors(routers, kwargs, message):
    request = {"kind": "reduce", "algorithm": "tree", "participants": [0, 1, 2], "nbytes": 8}
    request.update(kwargs)
    options = request.pop("options", None)
    with pytest.raises(ConfigError, match=message):
        build_collective_graph(routers["tree16"], request["kind"], request["algorithm"],
                               request["participants"], request["nbytes"], options=options)


@pytest.mark.parametrize(("field", "value"), [
    ("arity", 0), ("combine_bytes_per_cycle", 0), ("in_network_combine_cycles", -1),
    ("max_packet_bytes", 0), ("reduce_op", "min"),
])
def test_bad_options_are_config_errors(field, value):
    with pytest.raises(ConfigError, match=field):
        CollectiveOptions(**{field: value})


def test_deps_of_a_non_participant_are_rejected():
    router = Router(ring(4))
    with pytest.raises(ConfigError, match="deps: core 3 is not a participant"):
        append_collective([], router, build_engines(router.graph), "reduce", "ring", [0, 1],
                          8, deps={3: (0,)})


def test_an_unreachable_participant_is_a_config_error_not_a_hang():
    graph = mesh_2d(3, 3)
    graph.remove_edges_from([(5, 8), (7, 8)])      # core 8 can send but never receive
    with pytest.raises(ConfigError, match="no route from core 0 to core 8"):
        build_collective_graph(Router(graph), "all_reduce", "ring", range(9), 8)


def test_eject_markers_use_nic_engines_which_are_not_counted_as_links(routers):
    graph, result = build_collective_graph(routers["mesh8x8"], "all_reduce", "in_network",
                                           range(64), 64)
    timeline = run_des(graph)
    assert all(name.startswith("link.") for name in link_traffic(graph, timeline))
    ejects = [t for t in graph.tasks if graph.engines[t.engine].name.endswith(".nic")]
    assert ejects and all(t.duration_cycles == 0 for t in ejects)
    assert graph.engines[ejects[0].engine].kind is EngineKind.NIC
    assert result.done[0] == (graph.tasks.index(ejects[0]),)
