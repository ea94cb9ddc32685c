"""Transport: cut-through latency of messages and multicasts, links as FIFO resources,
events per hop (not per flit), and byte conservation."""

from __future__ import annotations

import pytest

from sim.backends import run_des
from sim.ir import Category, EngineKind, Task, TaskGraph
from sim.network import (
    LinkSpec,
    Router,
    append_message,
    append_multicast,
    build_engines,
    card_hierarchy,
    kary_tree,
    link_traffic,
    mesh_2d,
    message_latency_cycles,
    multicast_latency_cycles,
    parse_hop_name,
    ring,
)


def simulate(router, messages, **kw):
    """Append ``(src, dst, nbytes)`` messages (all ready at cycle 0) and run them."""
    engines = build_engines(router.graph)
    tasks = []
    last = [append_message(tasks, router, engines, s, d, b, (), name=f"m{i}", op="t", **kw)
            for i, (s, d, b) in enumerate(messages)]
    graph = TaskGraph(engines.engines, tuple(tasks))
    return graph, run_des(graph), last


@pytest.mark.parametrize("nbytes", [1, 32, 33, 1000])
@pytest.mark.parametrize(("router_latency", "link_latency"), [(1, 1), (2, 0), (0, 3)])
@pytest.mark.parametrize("dst", [1, 5, 27, 63])
def test_uncontended_message_takes_hops_times_router_plus_link_plus_flits_minus_one(
        nbytes, router_latency, link_latency, dst):
    router = Router(mesh_2d(8, 8, bytes_per_cycle=32, latency_cycles=link_latency,
                            router_latency_cycles=router_latency))
    _, timeline, (last,) = simulate(router, [(0, dst, nbytes)])
    hops = dst % 8 + dst // 8
    flits = -(-nbytes // 32)
    expected = hops * (router_latency + link_latency) + flits - 1
    assert timeline.ready_cycles[last] == expected == message_latency_cycles(router, 0, dst, nbytes)
    assert timeline.start_cycles[last] == (hops - 1) * (router_latency + link_latency)


def test_mixed_links_count_flits_of_the_narrowest_link():
    graph = card_hierarchy(chiplets_per_card=2, chiplet_width=2, chiplet_height=1,
                           noc=LinkSpec(64, 1), d2d=LinkSpec(10, 6), router_latency_cycles=1)
    router = Router(graph)
    graph_tasks, timeline, (last,) = simulate(router, [(0, 2, 100)])
    heads = 2 + 7 + 2                      # noc hop, d2d hop, noc hop
    assert timeline.ready_cycles[last] == heads + 10 - 1
    assert {t.duration_cycles for t in graph_tasks.tasks} == {10}


@pytest.mark.parametrize(("nbytes", "packet", "flits"), [
    (256, 64, 8), (250, 64, 8), (256, 256, 8), (100, 48, 5),   # 100 = 48 + 48 + 4 -> 2+2+1
])
def test_packets_pipeline_back_to_back(nbytes, packet, flits):
    router = Router(ring(8))
    graph, timeline, (last,) = simulate(router, [(0, 3, nbytes)], max_packet_bytes=packet)
    assert timeline.ready_cycles[last] == 3 * 2 + flits - 1 == timeline.latency_cycles
    assert timeline.ready_cycles[last] == message_latency_cycles(router, 0, 3, nbytes,
                                                                 max_packet_bytes=packet)
    assert len(graph.tasks) == 3 * -(-nbytes // packet)


@pytest.mark.parametrize("hops", [1, 5, 8])
def test_events_grow_with_hops_not_with_flits(hops):
    # At most three events per hop task (finish, early publish, dispatch sweep), and
    # the same count for 10 kB and 1 MB (flit counts 313 and 31250).
    router = Router(ring(16))
    counts = [simulate(router, [(0, hops, n)])[1].events for n in (1, 64, 10_000, 1_000_000)]
    assert max(counts) <= 3 * hops + 1
    assert counts[2] == counts[3]


# --- contention: two flows forced through one link ------------------------------------


@pytest.mark.parametrize(("first", "second"), [(1, 1), (64, 64), (100, 3), (3, 100)])
@pytest.mark.parametrize("switch_latency", [1, 4])
def test_two_flows_merging_onto_one_link_serialize_there(first, second, switch_latency):
    # Cores 0 and 1 hang off switch 4, as does core 2. Both send to core 2: the heads
    # reach the switch together (one hop each) and take turns on link 4->2. The link is
    # busy F1 + F2 cycles from that moment; the second tail lands one switch hop later.
    router = Router(kary_tree(4, 4, bytes_per_cycle=8, switch_latency_cycles=switch_latency))
    graph, timeline, (a, b) = simulate(router, [(0, 2, first), (1, 2, second)])
    f1, f2 = -(-first // 8), -(-second // 8)
    arrive = 1 + 1                               # core router + link into the switch
    last_hop = switch_latency + 1
    assert timeline.ready_cycles[a] == message_latency_cycles(router, 0, 2, first)
    assert timeline.ready_cycles[b] == arrive + f1 + f2 + last_hop - 1
    assert timeline.ready_cycles[b] == message_latency_cycles(router, 1, 2, second) + f1
    traffic = link_traffic(graph, timeline)["link.4->2"]
    assert (traffic.bytes, traffic.busy_cycles, traffic.hops) == (first + second, f1 + f2, 2)


@pytest.mark.parametrize(("local", "passing"), [(256, 64), (64, 256), (32, 32)])
def test_a_passing_flow_waits_for_a_local_flow_on_a_shared_link(local, passing):
    # On a line 0-1-2-3: flow A 0->3 crosses link 1->2, which flow B 1->3 holds from
    # cycle 0 for F_B cycles; A's head reaches router 1 after one hop (2 cycles).
    router = Router(mesh_2d(4, 1))
    _, timeline, (a, b) = simulate(router, [(0, 3, passing), (1, 3, local)])
    fa, fb = passing // 32, local // 32
    start_on_shared = max(2, fb)
    assert timeline.ready_cycles[b] == 2 * 2 + fb - 1
    assert timeline.ready_cycles[a] == start_on_shared + 2 * 2 + fa - 1


def test_two_messages_from_one_core_queue_on_the_first_link():
    router = Router(ring(8))
    _, timeline, (a, b) = simulate(router, [(0, 3, 320), (0, 3, 64)])
    assert timeline.ready_cycles[a] == 3 * 2 + 10 - 1
    assert timeline.ready_cycles[b] == 10 + 3 * 2 + 2 - 1


# --- multicast --------------------------------------------------------------------------


@pytest.mark.parametrize("nbytes", [1, 64, 1000])
def test_multicast_reaches_every_destination_at_route_latency_plus_flits(nbytes):
    router = Router(mesh_2d(5, 5))
    engines = build_engines(router.graph)
    tasks = []
    dests = [0, 4, 7, 12, 13, 20, 24]
    delivered = append_multicast(tasks, router, engines, 12, dests, nbytes, (), name="mc",
                                 op="t")
    timeline = run_des(TaskGraph(engines.engines, tuple(tasks)))
    flits = -(-nbytes // 32)
    for d in dests:
        expected = 0 if d == 12 else router.route(12, d).head_latency_cycles + flits - 1
        if d != 12:
            assert timeline.ready_cycles[delivered[d]] == expected
    assert 12 not in delivered
    links = [t for t in tasks if t.category is Category.COMMUNICATION and t.duration_cycles]
    assert len(links) == len({t.engine for t in links}), "every link carries the packet once"
    assert timeline.latency_cycles == multicast_latency_cycles(router, 12, dests, nbytes)


# --- engines, traffic and conservation ----------------------------------------------------


def test_engines_are_ordered_cores_then_nics_then_sorted_links():
    engines = build_engines(mesh_2d(2, 2))
    names = [e.name for e in engines.engines]
    assert names[:4] == ["core0.matmul", "core0.simd", "core1.matmul", "core1.simd"]
    assert names[8:12] == ["core0.nic", "core1.nic", "core2.nic", "core3.nic"]
    assert names[12:] == ["link.0->1", "link.0->2", "link.1->0", "link.1->3",
                          "link.2->0", "link.2->3", "link.3->1", "link.3->2"]
    assert all(engines.engines[i].kind is EngineKind.LINK and engines.engines[i].core is None
               for i in engines.links.values())
    assert engines.links[2, 3] == names.index("link.2->3")


@pytest.mark.parametrize("packet", [None, 40])
def test_bytes_injected_equal_bytes_delivered_per_message(packet):
    router = Router(mesh_2d(4, 4))
    flows = [(0, 15, 100), (3, 12, 7), (5, 6, 64), (15, 0, 1000), (9, 9 - 8, 33)]
    graph, timeline, _ = simulate(router, flows, max_packet_bytes=packet)
    hops: dict[tuple[str, int], list] = {}
    for task in graph.tasks:
        hop = parse_hop_name(task.name)
        hops.setdefault((hop.message, hop.packet), []).append(hop)
    for i, (src, dst, nbytes) in enumerate(flows):
        packets = [chain for (message, _), chain in sorted(hops.items()) if message == f"m{i}"]
        injected = sum(chain[0].nbytes for chain in packets if chain[0].src == src)
        delivered = sum(chain[-1].nbytes for chain in packets if chain[-1].dst == dst)
        assert injected == delivered == nbytes
        for chain in packets:
            assert [h.dst for h in chain[:-1]] == [h.src for h in chain[1:]], "contiguous route"
            assert len({h.nbytes for h in chain}) == 1, "a packet keeps its bytes on every hop"
    traffic = link_traffic(graph, timeline)
    assert sum(t.bytes for t in traffic.values()) == sum(
        b * router.route(s, d).hops for s, d, b in flows)
    assert sum(t.busy_cycles for t in traffic.values()) == sum(
        t.duration_cycles for t in graph.tasks)


# --- bytes carried as a task field ---------------------------------------------------------


def test_a_task_built_without_nbytes_moves_nothing():
    task = Task("a", "a", 0, 0, 3, 0, Category.SIMD, ())
    assert task.nbytes == 0


@pytest.mark.parametrize("packet", [None, 48])
def test_every_link_carries_the_bytes_of_each_message_crossing_it(packet):
    router = Router(mesh_2d(4, 4))
    flows = [(0, 15, 100), (3, 12, 7), (5, 6, 64), (15, 0, 1000), (12, 3, 33)]
    graph, timeline, _ = simulate(router, flows, max_packet_bytes=packet)
    expected: dict[str, int] = {}
    for src, dst, nbytes in flows:  # independent truth: the route of each message
        for u, v in router.route(src, dst).edges:
            expected[f"link.{u}->{v}"] = expected.get(f"link.{u}->{v}", 0) + nbytes
    got = {name: t.bytes for name, t in link_traffic(graph, timeline).items() if t.hops}
    assert got == expected


def test_a_multicast_puts_its_packet_once_on_every_tree_link():
    router = Router(mesh_2d(4, 4))
    engines = build_engines(router.graph)
    tasks: list[Task] = []
    append_multicast(tasks, router, engines, 0, [3, 12, 15, 5], 80, (), name="mc", op="t")
    graph = TaskGraph(engines.engines, tuple(tasks))
    link_engines = set(engines.links.values())
    assert all(t.nbytes == (80 if t.engine in link_engines else 0) for t in tasks)
    traffic = link_traffic(graph, run_des(graph))
    carried = {name for name, t in traffic.items() if t.hops}
    assert all(traffic[name].bytes == 80 for name in carried)
    assert len(carried) == sum(1 for t in tasks if t.engine in link_engines)


def test_hop_names_still_spell_the_bytes_the_task_carries():
    router = Router(ring(8))
    graph, _, _ = simulate(router, [(0, 5, 100), (6, 2, 7)], max_packet_bytes=32)
    for task in graph.tasks:
        assert parse_hop_name(task.name).nbytes == task.nbytes
