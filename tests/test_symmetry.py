"""Collectives moved by whole chiplets or cards (`sim.network.symmetry`).

Truth: a collective's profile played where it is (the move switched off) equals
its canonical copy's profile moved there, for every algorithm and kind, inside
one chiplet and across the chiplets of one card; a move the machine does not
repeat (a link whose twin differs, or is missing) is refused, so the collective
is played in place.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import sim.backends.collective_profile as cp
from sim.network.algorithms import ALGORITHMS
from sim.network.problem import CollectiveKind, CollectiveOptions
from sim.network.routing import Router
from sim.network.symmetry import canonical_shift, in_chiplet_shift, shifted_links
from sim.network.topology import card_hierarchy, torus_2d
from sim.network.transport import build_engines

OPTIONS = CollectiveOptions(combine_bytes_per_cycle=16, arity=2, max_packet_bytes=64)
PER_CHIPLET = 16  # 4 x 4 cores
PER_CARD = 3 * PER_CHIPLET


def _card():
    return card_hierarchy(cards=2, chiplets_per_card=3, chiplet_width=4, chiplet_height=4)


def _fields(profile):
    return (profile.done_cycles, profile.closed_form_cycles, profile.combine_cores.tolist(),
            profile.combine_first_cycles.tolist(), profile.combine_cycles.tolist(),
            profile.links.tolist(), profile.link_busy_cycles.tolist())


def _in_place(graph, kind, algorithm, cores, root, monkeypatch):
    with monkeypatch.context() as patch:
        patch.setattr(cp, "canonical_shift", lambda router, members: 0)
        patch.setattr(cp, "in_chiplet_shift", lambda router, members: 0)
        return cp.collective_profile(Router(graph), build_engines(graph), kind, algorithm,
                                     cores, 200, CollectiveOptions(**{**OPTIONS.__dict__,
                                                                     "root": root}))


# inside chiplet 4 (card 1), a strided set; across chiplets 1 and 2 of card 0 (moved
# onto chiplets 0 and 1); across chiplets 1 and 2 of card 1 (onto 0 and 1 of card 0)
MOVES = [(tuple(range(4 * PER_CHIPLET + 1, 5 * PER_CHIPLET, 3)), 4 * PER_CHIPLET),
         (tuple(range(PER_CHIPLET + 5, 3 * PER_CHIPLET, 4)), PER_CHIPLET),
         (tuple(range(PER_CARD + PER_CHIPLET + 5, PER_CARD + 3 * PER_CHIPLET, 4)),
          PER_CARD + PER_CHIPLET)]


@pytest.mark.parametrize(("kind", "algorithm"),
                         list(itertools.product(list(CollectiveKind), ALGORITHMS.names())))
def test_a_moved_profile_is_the_profile_played_in_place(kind, algorithm, monkeypatch):
    graph = _card()
    router, engines = Router(graph), build_engines(graph)
    for cores, shift in MOVES:
        assert canonical_shift(router, cores) == shift
        root = cores[len(cores) // 2]
        try:
            truth = _in_place(graph, kind, algorithm, cores, root, monkeypatch)
        except Exception as error:  # an algorithm refusing this kind refuses it both ways
            with pytest.raises(type(error)):
                cp.collective_profile(router, engines, kind, algorithm, cores, 200,
                                      CollectiveOptions(**{**OPTIONS.__dict__, "root": root}))
            continue
        moved = cp.collective_profile(router, engines, kind, algorithm, cores, 200,
                                      CollectiveOptions(**{**OPTIONS.__dict__, "root": root}))
        assert _fields(moved) == _fields(truth), (cores, shift)


def test_canonical_shift_is_the_lowest_chiplet_on_one_card_else_nothing():
    router = Router(_card())
    assert canonical_shift(router, (17, 20, 31)) == 16  # chiplet 1
    assert canonical_shift(router, (PER_CARD + 2, PER_CARD + 20)) == PER_CARD  # card 1
    assert canonical_shift(router, (PER_CARD + 17, PER_CARD + 40)) == PER_CARD + 16  # 4 and 5
    assert canonical_shift(router, (2, PER_CARD + 2)) == 0  # two cards
    assert canonical_shift(Router(torus_2d(4, 4)), (5, 6)) == 0  # not a card


def test_a_move_onto_a_different_link_is_refused(monkeypatch):
    graph = _card()
    graph.edges[4 * PER_CHIPLET + 1, 4 * PER_CHIPLET + 2]["bytes_per_cycle"] = 3  # chiplet 4 only
    router, engines = Router(graph), build_engines(graph)
    link = np.array([engines.links[1, 2]])
    assert shifted_links(router, engines, link, PER_CHIPLET).tolist() == [engines.links[17, 18]]
    assert shifted_links(router, engines, link, 4 * PER_CHIPLET) is None
    assert shifted_links(router, engines, np.array([engines.links[3, 2]]), PER_CARD) is not None
    # a card-to-card link moved by one chiplet has no twin
    gate_a, gate_b = graph.graph["card_gateways"]
    assert shifted_links(router, engines, np.array([engines.links[gate_a, gate_b]]),
                         PER_CHIPLET) is None
    # so a collective there is played in place, and equals the in-place truth
    cores = (4 * PER_CHIPLET, 4 * PER_CHIPLET + 1, 4 * PER_CHIPLET + 2, 4 * PER_CHIPLET + 3)
    truth = _in_place(graph, "all_reduce", "ring", cores, cores[0], monkeypatch)
    got = cp.collective_profile(router, engines, "all_reduce", "ring", cores, 200,
                                CollectiveOptions(**{**OPTIONS.__dict__, "root": cores[0]}))
    assert _fields(got) == _fields(truth)


# Inside chiplet 4 (card 1) of 4 x 4 cores, away from the corner: a pair, a 2 x 2 block,
# a row segment, a column segment, an L; each moved (where its cyclic ring order allows)
# onto chiplet 0 with its bounding box at the corner.
_BASE = 4 * PER_CHIPLET
IN_CHIPLET = [tuple(_BASE + c for c in local) for local in
              ((6, 7), (5, 6, 9, 10), (9, 10, 11), (6, 10, 14), (5, 9, 10, 11), (10, 5))]


@pytest.mark.parametrize(("kind", "algorithm"),
                         list(itertools.product(list(CollectiveKind), ALGORITHMS.names())))
def test_a_profile_moved_inside_a_chiplet_is_the_profile_played_in_place(kind, algorithm,
                                                                         monkeypatch):
    """Translations inside a chiplet (`in_chiplet_shift`) for the algorithms that read
    the ring order up to rotation; the others move by whole chiplets only. Either
    way the profile equals the one played where the collective is."""
    graph = _card()
    router, engines = Router(graph), build_engines(graph)
    for cores in IN_CHIPLET:
        for root in (cores[0], cores[-1]):
            options = CollectiveOptions(**{**OPTIONS.__dict__, "root": root})
            try:
                truth = _in_place(graph, kind, algorithm, cores, root, monkeypatch)
            except Exception as error:  # an algorithm refusing this kind refuses it both ways
                with pytest.raises(type(error)):
                    cp.collective_profile(router, engines, kind, algorithm, cores, 200, options)
                continue
            moved = cp.collective_profile(router, engines, kind, algorithm, cores, 200, options)
            assert _fields(moved) == _fields(truth), (cores, root)


def test_in_chiplet_shift_moves_the_bounding_box_where_the_cyclic_order_holds():
    router = Router(_card())
    shifts = [in_chiplet_shift(router, cores) for cores in IN_CHIPLET]
    assert shifts[0] == 6 and shifts[-1] == 5  # a pair keeps its order up to rotation
    assert all(s in (0, _corner_shift(c)) for s, c in zip(shifts, IN_CHIPLET, strict=True))
    assert sum(1 for s in shifts if s) >= 3
    assert in_chiplet_shift(router, (_BASE, _BASE + 5)) == 0  # at the corner already
    assert in_chiplet_shift(router, (_BASE + 15, _BASE + PER_CHIPLET + 1)) == 0  # two chiplets
    assert in_chiplet_shift(Router(torus_2d(4, 4)), (5, 6)) == 0  # not a card


def _corner_shift(cores):
    local = [c - _BASE for c in cores]
    return min(c % 4 for c in local) + 4 * min(c // 4 for c in local)
