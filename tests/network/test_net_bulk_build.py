"""The topologies, engines and routes built in bulk are those of the old one-call-per-
element construction (`reference_build`, the code before the change), down to the
order of nodes, links, attribute keys and neighbours; the fast validity and
connectivity tests agree with their definitions."""

from __future__ import annotations

import random
from collections.abc import Callable

import networkx as nx
import pytest

from sim.config import load_config
from sim.errors import ConfigError
from sim.ir import Engine, EngineKind
from sim.ir.task import engines_of
from sim.network import topology as new
from sim.network.engines import build_engines, sorted_links
from sim.network.from_config import build_interconnect
from sim.network.routing import Router
from sim.network.switching import configure_transport
from sim.network.topology import LINK_KINDS, LinkSpec, core_count
from sim.network.topology_check import plainly_valid, strongly_connected, walk_valid

from . import reference_build as old

NOC, D2D, C2C = LinkSpec(16, 2), LinkSpec(8.5, 5), LinkSpec(4, 40)

#: name -> (builder name, positional args, keyword args)
BUILDS: dict[str, tuple[str, tuple[object, ...], dict[str, object]]] = {
    "card 2x4 chiplets of 4x4": ("card_hierarchy", (), dict(
        cards=2, chiplets_per_card=4, chiplet_width=4, chiplet_height=4)),
    "card 3x2 of 3x2, gateway, specs": ("card_hierarchy", (), dict(
        cards=3, chiplets_per_card=2, chiplet_width=3, chiplet_height=2, gateway=(0, 1),
        noc=NOC, d2d=D2D, c2c=C2C, router_latency_cycles=2)),
    "card of one core": ("card_hierarchy", (), dict(
        cards=1, chiplets_per_card=1, chiplet_width=1, chiplet_height=1)),
    "card 1x5 chiplets, 4 cards": ("card_hierarchy", (), dict(
        cards=4, chiplets_per_card=3, chiplet_width=1, chiplet_height=5)),
    "ring 1": ("ring", (1,), {}),
    "ring 2": ("ring", (2,), {}),
    "ring 7, d2d, 0-cycle routers": ("ring", (7,), dict(
        kind="d2d", latency_cycles=1, router_latency_cycles=0, bytes_per_cycle=0.5)),
    "mesh 4x3": ("mesh_2d", (4, 3), {}),
    "mesh 1x1": ("mesh_2d", (1, 1), {}),
    "torus 2x3": ("torus_2d", (2, 3), {}),
    "torus 4x4": ("torus_2d", (4, 4), dict(bytes_per_cycle=64, latency_cycles=3)),
    "torus 1x3": ("torus_2d", (1, 3), {}),
    "tree 7 of 3": ("kary_tree", (7, 3), {}),
    "tree 16 of 4, slow switches": ("kary_tree", (16, 4), dict(switch_latency_cycles=5)),
    "fully connected 1": ("fully_connected", (1,), {}),
    "fully connected 5": ("fully_connected", (5,), dict(kind="c2c")),
}


def _build(module: object, name: str) -> nx.DiGraph:
    builder, args, kwargs = BUILDS[name]
    return getattr(module, builder)(*args, **kwargs)


def _exact(graph: nx.DiGraph) -> str:
    """Everything a reader could tell apart, as text: graph attributes, nodes with
    their attributes (key order, value types), links likewise, every node's
    successors and predecessors in order."""
    return repr((list(graph.graph.items()),
                 [(n, list(d.items())) for n, d in graph.nodes(data=True)],
                 [(u, v, list(d.items())) for u, v, d in graph.edges(data=True)],
                 [(n, list(graph.succ[n]), list(graph.pred[n])) for n in graph]))


@pytest.mark.parametrize("name", list(BUILDS))
def test_bulk_builders_make_the_old_graphs(name: str) -> None:
    built, reference = _build(new, name), _build(old, name)
    assert _exact(built) == _exact(reference)
    assert plainly_valid(built, core_count(built), LINK_KINDS)  # validated by the fast path
    # as add_edge: one attribute dict per link, shared by its two adjacency entries
    links = [(u, v, d) for u, v, d in built.edges(data=True)]
    assert all(built.pred[v][u] is d for u, v, d in links)
    assert len({id(d) for _, _, d in links}) == len(links)
    assert len({id(d) for _, d in built.nodes(data=True)}) == built.number_of_nodes()
    # mutating one link or node does not touch another (no shared dicts)
    if links:
        links[0][2]["latency_cycles"] = 99
        assert all(d["latency_cycles"] != 99 for _, _, d in links[1:])


@pytest.mark.parametrize("name", list(BUILDS))
def test_engines_routes_and_validity_are_the_old_ones(name: str) -> None:
    built, reference = _build(new, name), _build(old, name)
    engines, expected = build_engines(built), old.build_engines(reference)
    assert engines == expected
    assert list(engines.links.items()) == list(expected.links.items())
    assert type(engines.engines) is tuple and type(engines.links) is dict
    old.validate_topology(reference)
    router, reference_router = Router(built), Router(reference)
    cores = core_count(built)
    pairs = random.Random(name).choices(range(cores), k=2 * 40)
    for src, dst in zip(pairs[::2], pairs[1::2], strict=True):
        assert router.route(src, dst) == reference_router.route(src, dst)
        assert router.route_hop_cycles(src, dst) == reference_router.route_hop_cycles(src, dst)


def test_interconnect_of_a_small_rack_is_the_old_one() -> None:
    config = load_config("configs/serving/llama3_70b_rack16.yaml", overrides=[
        "machine.hierarchy.cards=2", "machine.hierarchy.chiplets_per_card=4",
        "machine.hierarchy.cores_per_chiplet=16", "machine.network.endpoint_overhead_cycles=3"])
    net = build_interconnect(config.machine)
    h, n = config.machine.hierarchy, config.machine.network
    reference = old.card_hierarchy(
        chiplets_per_card=h.chiplets_per_card, chiplet_width=4, chiplet_height=4, cards=h.cards,
        noc=LinkSpec(n.noc.bytes_per_cycle, n.noc.latency_cycles),
        d2d=LinkSpec(n.d2d.bytes_per_cycle, n.d2d.latency_cycles),
        c2c=LinkSpec(n.c2c.bytes_per_cycle, n.c2c.latency_cycles),
        router_latency_cycles=n.router_latency_cycles)
    configure_transport(reference, endpoint_overhead_cycles=3, switching=n.switching)
    assert _exact(net.graph) == _exact(reference)
    assert net.engines == old.build_engines(reference)
    router = Router(reference)
    for src, dst in ((0, 127), (5, 70), (17, 18), (127, 0), (64, 63)):
        assert net.router.route(src, dst) == router.route(src, dst)


BAD_BUILDS: list[tuple[str, tuple[object, ...], dict[str, object]]] = [
    ("ring", (3,), dict(kind="pcie")),
    ("ring", (1,), dict(kind="pcie")),   # no link to make: accepted, as before
    ("ring", (0,), {}),
    ("mesh_2d", (2, 2), dict(router_latency_cycles=-1)),
    ("torus_2d", (0, 2), {}),
    ("kary_tree", (4, 2), dict(switch_latency_cycles=-1)),
    ("kary_tree", (4, 2), dict(kind="x")),
    ("fully_connected", (3,), dict(bytes_per_cycle=0)),
    ("card_hierarchy", (), dict(chiplets_per_card=2, chiplet_width=2, chiplet_height=2,
                                gateway=(2, 0))),
    ("card_hierarchy", (), dict(chiplets_per_card=2, chiplet_width=2, chiplet_height=2,
                                router_latency_cycles=True)),
    ("card_hierarchy", (), dict(chiplets_per_card=0, chiplet_width=2, chiplet_height=2,
                                router_latency_cycles=-1)),
]


@pytest.mark.parametrize(("builder", "args", "kwargs"), BAD_BUILDS)
def test_builders_reject_what_they_rejected(builder: str, args: tuple[object, ...],
                                            kwargs: dict[str, object]) -> None:
    outcome: list[str] = []
    for module in (old, new):
        try:
            getattr(module, builder)(*args, **kwargs)
            outcome.append("accepted")
        except ConfigError as error:
            outcome.append(str(error))
    assert outcome[0] == outcome[1]


def test_sorted_links_is_the_sort_of_the_pairs() -> None:
    graph = nx.DiGraph()
    graph.add_nodes_from([9, 3, 0, 7, 1])
    graph.add_edges_from([(9, 0), (3, 9), (0, 7), (0, 3), (7, 1), (1, 9), (9, 3), (0, 1)])
    assert sorted_links(graph) == sorted(graph.edges)
    graph = nx.relabel_nodes(graph, {9: "x"})   # mixed types: the plain sort (which fails)
    with pytest.raises(TypeError):
        sorted_links(graph)


def test_engines_of_makes_what_the_constructor_makes() -> None:
    names, cores = ["a", "b", "c"], [0, None, 7]
    made = engines_of(EngineKind.SIMD, names, cores)
    assert made == [Engine(n, EngineKind.SIMD, c) for n, c in zip(names, cores, strict=True)]
    assert [hash(e) for e in made] == [hash(Engine(n, EngineKind.SIMD, c))
                                       for n, c in zip(names, cores, strict=True)]
    with pytest.raises(AttributeError):
        made[0].name = "x"  # type: ignore[misc]  # still frozen


def _random_digraph(seed: int) -> nx.DiGraph:
    rng = random.Random(seed)
    nodes = rng.randint(1, 12)
    graph = nx.DiGraph()
    graph.add_nodes_from(rng.sample(range(nodes), nodes))  # insertion order shuffled
    for _ in range(rng.randint(0, 3 * nodes)):
        u, v = rng.randrange(nodes), rng.randrange(nodes)
        if u != v:
            graph.add_edge(u, v)
            if seed % 2:  # half of them symmetric, as the bundled topologies
                graph.add_edge(v, u)
    return graph


@pytest.mark.parametrize("seed", range(60))
def test_strong_connectivity_agrees_with_networkx(seed: int) -> None:
    graph = _random_digraph(seed)
    start = next(iter(graph))
    assert strongly_connected(graph, start) == nx.is_strongly_connected(graph)
    view = nx.subgraph_view(graph, filter_edge=lambda u, v: (u + v) % 3 != 0)
    assert strongly_connected(view, start) == nx.is_strongly_connected(view)


#: Mutations of a ring the fast path may decline (the walk then decides): it must
#: never vouch for a graph the walk rejects, and it must vouch for plain valid ones.
MUTATIONS: list[tuple[Callable[[nx.DiGraph], None], bool]] = [
    (lambda g: g.nodes[2].__setitem__("router_latency_cycles", 0), True),
    (lambda g: g.edges[1, 2].__setitem__("bytes_per_cycle", 2.5), True),
    (lambda g: g.edges[1, 2].__setitem__("bytes_per_cycle", float("nan")), False),
    (lambda g: g.edges[1, 2].__setitem__("bytes_per_cycle", True), False),
    (lambda g: g.edges[1, 2].__setitem__("latency_cycles", True), False),
    (lambda g: g.edges[1, 2].__setitem__("latency_cycles", 10**400), True),
    (lambda g: g.nodes[2].__setitem__("router_latency_cycles", EngineKind), False),
    (lambda g: g.edges[1, 2].pop("kind"), False),
    (lambda g: g.nodes[3].pop("role"), False),
    (lambda g: (g.nodes[1].__setitem__("router_latency_cycles", 0),
                g.edges[1, 0].__setitem__("latency_cycles", 0)), False),
    (lambda g: (g.nodes[1].__setitem__("router_latency_cycles", 0),
                g.edges[0, 1].__setitem__("latency_cycles", 0)), True),
    (lambda g: g.add_node(9, role="switch", router_latency_cycles=1), True),
    (lambda g: g.add_node(-1, role="switch", router_latency_cycles=1), False),
]


@pytest.mark.parametrize(("mutate", "valid"), MUTATIONS)
def test_fast_validity_never_vouches_for_a_fault(mutate: Callable[[nx.DiGraph], None],
                                                 valid: bool) -> None:
    graph = new.ring(5)
    mutate(graph)
    cores = core_count(graph)
    assert walk_valid(graph, cores, LINK_KINDS) is valid
    assert plainly_valid(graph, cores, LINK_KINDS) is valid  # plain values: it decides
