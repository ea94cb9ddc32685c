"""The compact replay of a collective (`sim.network.replay`) against the FIFO engines
on its real tasks (`sim.backends.fifo.run_fifo`, the reference): every ready and start
cycle it reports, and every hop's link and cycles, equal on every recordable
algorithm, kind, topology, packet size, endpoint overhead and switching mode."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from sim.backends.collective_profile import _replay_tasks
from sim.network.algorithms import ALGORITHMS
from sim.network.problem import CollectiveOptions
from sim.network.replay import replay_collective
from sim.network.routing import Router
from sim.network.switching import configure_transport
from sim.network.topology import card_hierarchy, fully_connected, mesh_2d, ring
from sim.network.transport import build_engines

TOPOLOGIES = {
    "ring8": lambda: ring(8),
    "mesh4x4": lambda: mesh_2d(4, 4),
    "card2x3x3": lambda: card_hierarchy(chiplets_per_card=2, chiplet_width=3, chiplet_height=3),
    "fc5": lambda: fully_connected(5, bytes_per_cycle=16),
}
#: (endpoint overhead, switching)
MODES = ((0, "cut_through"), (3, "cut_through"), (2, "store_and_forward"))
KINDS = ("reduce", "broadcast", "all_reduce", "all_gather")
RECORDED = ("direct", "tree", "ring", "recursive_doubling", "hierarchical", "star",
            "halving_doubling")


def _router(topology: str, mode: tuple[int, str]) -> Router:
    overhead, switching = mode
    return Router(configure_transport(TOPOLOGIES[topology](), endpoint_overhead_cycles=overhead,
                                      switching=switching))


def _same(router: Router, kind: str, algorithm: str, cores: tuple[int, ...], nbytes: int,
          packet: int | None) -> None:
    engines = build_engines(router.graph)
    options = CollectiveOptions(arity=3, max_packet_bytes=packet, combine_bytes_per_cycle=16.0)
    got = replay_collective(router, engines, kind, algorithm, cores, nbytes, options)
    want = _replay_tasks(router, engines, kind, algorithm, cores, nbytes, options)
    assert got is not None
    assert got.done_ready_cycles == want.done_ready_cycles
    for field in ("combine_cores", "combine_start_cycles", "combine_cycles", "hop_links",
                  "hop_cycles"):
        np.testing.assert_array_equal(getattr(got, field), getattr(want, field), err_msg=field)


def test_every_algorithm_but_the_in_network_ones_is_recorded() -> None:
    router = Router(mesh_2d(2, 2))
    engines = build_engines(router.graph)
    recorded = [name for name in ALGORITHMS.names()
                if replay_collective(router, engines, "all_reduce", name, (0, 1, 2, 3), 64,
                                     CollectiveOptions()) is not None]
    assert tuple(recorded) == RECORDED


@pytest.mark.parametrize("topology", TOPOLOGIES)
@pytest.mark.parametrize("mode", MODES, ids=lambda m: f"{m[1]}_o{m[0]}")
def test_replay_equals_the_engines_on_the_real_tasks(topology: str, mode: tuple[int, str]
                                                     ) -> None:
    router = _router(topology, mode)
    cores = tuple(range(router.core_count))
    subset = cores[1::2]
    for kind, algorithm in itertools.product(KINDS, RECORDED):
        # packets of 24 bytes: messages split unevenly and contend packet by packet
        for members, nbytes, packet in ((cores, 100, None), (cores, 100, 24),
                                        (subset, 37, 8)):
            _same(router, kind, algorithm, members, nbytes, packet)
