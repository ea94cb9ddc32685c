"""Simulated latency equals the closed form exactly, in the uncontended case, for every
algorithm x collective x topology x message size.

Participants: every core, unless the schedule inherently queues on that topology; then a
subset for which it does not (each test asserts that no hop waited for a link, so the
premise is checked, not assumed):

- ``star`` funnels every message through the root's few links, so on sparse topologies
  the root talks to one core per incoming direction (on the card: the chiplet gateways,
  which are fully connected by die-to-die links);
- ``direct`` sends between every pair at once, which shares no link only on a fully
  connected topology: three cores spread around a ring, two neighbours of a grid, two
  cores of the tree of switches, the gateways of the card;
- ``tree`` sends a parent's two children down one link on grids and trees of switches:
  a row of the mesh/torus (root in the middle), the gateways on the card;
- the recursive-doubling butterfly (all-reduce, all-gather) crosses the bisection with
  every far round: three cores around a ring, a 2x2 block of a grid, four cores under one
  switch, the gateways of the card; ``halving_doubling`` likewise, with two neighbours
  of a ring (three would fold, and the fold's return crosses a link of the exchange);
- on the tree of switches every core has a single link, so ``direct``, ``tree`` and
  ``hierarchical`` (a star there) run between two cores;
- ``multicast`` trees from every source share links wherever the topology is not fully
  connected: the subsets of ``direct``; ``row_column`` likewise (its two phases run on a
  full rectangle of a mesh: ``test_net_transport_modes.py`` holds them on a 2 x 2 mesh).
"""

from __future__ import annotations

import pytest

from sim.network import ALGORITHMS, CollectiveKind, core_count
from sim.network.collectives import collective_done_cycles

SIZES = (4, 64, 1000)
CARD_GATEWAYS = [chiplet * 16 + 10 for chiplet in range(8)]
MESH_ROW = [4, 0, 1, 2, 3, 5, 6, 7]
MESH_STAR = [27, 3, 24, 30, 51]
SUBSETS = {
    ("ring16", "star"): [0, 5, 11],
    ("mesh8x8", "star"): MESH_STAR,
    ("torus8x8", "star"): MESH_STAR,
    ("tree16", "star"): [0, 9],
    ("card", "star"): CARD_GATEWAYS,
    ("ring16", "direct"): [0, 5, 11],
    ("mesh8x8", "direct"): [0, 1],
    ("torus8x8", "direct"): [0, 1],
    ("tree16", "direct"): [0, 9],
    ("card", "direct"): CARD_GATEWAYS,
    ("ring16", "halving_doubling"): [0, 1],
    ("mesh8x8", "halving_doubling"): [0, 1, 9, 8],
    ("torus8x8", "halving_doubling"): [0, 1, 9, 8],
    ("tree16", "halving_doubling"): [0, 1, 2, 3],
    ("card", "halving_doubling"): CARD_GATEWAYS,
    ("mesh8x8", "tree"): MESH_ROW,
    ("torus8x8", "tree"): MESH_ROW,
    ("tree16", "tree"): [0, 9],
    ("card", "tree"): CARD_GATEWAYS,
    ("tree16", "hierarchical"): [0, 9],
    **{(topology, algorithm): members for topology, members in {
        "ring16": [0, 5, 11], "mesh8x8": [0, 1], "torus8x8": [0, 1], "tree16": [0, 9],
        "card": CARD_GATEWAYS}.items() for algorithm in ("multicast", "row_column")},
}
BUTTERFLY_SUBSETS = {
    "ring16": [0, 1, 15],
    "mesh8x8": [0, 1, 9, 8],
    "torus8x8": [0, 1, 9, 8],
    "tree16": [0, 1, 2, 3],
    "card": CARD_GATEWAYS,
}
TOPOLOGY_NAMES = ("ring16", "mesh8x8", "torus8x8", "tree16", "full8", "card")


def participants_for(topology: str, algorithm: str, kind: str, cores: int) -> list[int]:
    butterfly = algorithm == "recursive_doubling" and kind in ("all_reduce", "all_gather")
    if butterfly and topology in BUTTERFLY_SUBSETS:
        return BUTTERFLY_SUBSETS[topology]
    return SUBSETS.get((topology, algorithm), list(range(cores)))


@pytest.mark.parametrize("nbytes", SIZES)
@pytest.mark.parametrize("kind", [k.value for k in CollectiveKind])
@pytest.mark.parametrize("algorithm", ALGORITHMS.names())
@pytest.mark.parametrize("topology", TOPOLOGY_NAMES)
def test_des_equals_closed_form_when_uncontended(routers, run, topology, algorithm, kind,
                                                 nbytes):
    router = routers[topology]
    members = participants_for(topology, algorithm, kind, core_count(router.graph))
    got = run(router, kind, algorithm, members, nbytes)
    assert got.link_queueing_cycles == 0, "premise: no hop waits for a link"
    assert got.done_cycles == got.timeline.latency_cycles == got.result.latency_cycles
    expected_done = {members[0]} if kind == "reduce" else set(members)
    assert set(got.result.done) == expected_done


PER_CORE_ALGORITHMS = ("direct", "star", "tree", "hierarchical", "in_network", "multicast")


@pytest.mark.parametrize("nbytes", SIZES)
@pytest.mark.parametrize("kind", [k.value for k in CollectiveKind])
@pytest.mark.parametrize("algorithm", PER_CORE_ALGORITHMS)
@pytest.mark.parametrize("topology", TOPOLOGY_NAMES)
def test_each_core_gets_the_result_at_its_closed_form_cycle(routers, run, topology, algorithm,
                                                            kind, nbytes):
    """Tree-shaped and in-network schedules: every core's own arrival time, not only
    the last one's, is the closed form's (what the analytic backend uses)."""
    router = routers[topology]
    members = participants_for(topology, algorithm, kind, core_count(router.graph))
    got = run(router, kind, algorithm, members, nbytes)
    assert got.link_queueing_cycles == 0, "premise: no hop waits for a link"
    ready = got.timeline.ready_cycles
    simulated = {core: max((ready[i] for i in tasks), default=0)
                 for core, tasks in got.result.done.items()}
    assert simulated == collective_done_cycles(router, kind, algorithm, members, nbytes)

