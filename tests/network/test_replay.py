"""The compact replay of a collective (`sim.network.replay`) against the FIFO engines
on its real tasks (`sim.backends.fifo.run_fifo`, the reference): every ready and start
cycle it reports, and the cycles each link is held, equal on every recordable
algorithm, kind, topology, packet size, endpoint overhead and switching mode (the
ring's recursion, where it applies, included)."""

from __future__ import annotations

import importlib
import itertools

import numpy as np
import pytest

from sim.backends.collective_profile import _replay_tasks
from sim.network.algorithms import ALGORITHMS
from sim.network.problem import CollectiveOptions, make_problem
from sim.network.replay import Recorder, Replay, replay_collective
from sim.network.ring_collectives import ring_played_alone
from sim.network.routing import Router
from sim.network.switching import configure_transport
from sim.network.topology import card_hierarchy, fully_connected, mesh_2d, ring
from sim.network.transport import build_engines

TOPOLOGIES = {
    "ring8": lambda: ring(8),
    "mesh4x4": lambda: mesh_2d(4, 4),
    "card2x2x3": lambda: card_hierarchy(chiplets_per_card=2, chiplet_width=2, chiplet_height=3),
    "fc5": lambda: fully_connected(5, bytes_per_cycle=16),
}
#: (endpoint overhead, switching)
MODES = ((0, "cut_through"), (3, "cut_through"), (2, "store_and_forward"))
#: Cores of the 4 x 4 mesh whose ring segments share links (the ring's tasks are played).
SHARING = (7, 8, 10, 13, 15)
KINDS = ("reduce", "broadcast", "all_reduce", "all_gather")
RECORDED = ("direct", "tree", "ring", "recursive_doubling", "hierarchical", "star",
            "halving_doubling")  # the multicast ones: ``test_replay_multicast.py``


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
    assert _combines(got) == _combines(want)
    assert _link_cycles(got) == _link_cycles(want)
    if got.hop_bytes is not None:  # not the ring's arithmetic form
        assert _link_cycles(got, got.hop_bytes) == _link_cycles(want, want.hop_bytes)
        assert got.combine_bytes is not None and want.combine_bytes is not None
        assert got.combine_bytes.tolist() == want.combine_bytes.tolist()


def _combines(replay: Replay) -> list[tuple[int, int, int]]:
    """Every combine as (core, start, cycles), sorted (the ring's arithmetic form
    lists them step by step, the tasks in program order)."""
    return sorted(zip(replay.combine_cores.tolist(), replay.combine_start_cycles.tolist(),
                      replay.combine_cycles.tolist(), strict=True))


def _link_cycles(replay: Replay, per_hop: np.ndarray | None = None) -> dict[int, int]:
    """Cycles the hops hold each link (or ``per_hop``'s values), summed."""
    out: dict[int, int] = {}
    values = replay.hop_cycles if per_hop is None else per_hop
    for link, cycles in zip(replay.hop_links.tolist(), values.tolist(), strict=True):
        out[link] = out.get(link, 0) + cycles
    return out


def test_the_ring_is_played_arithmetically_where_its_segments_share_no_link() -> None:
    options = CollectiveOptions(max_packet_bytes=24)
    mesh = Router(mesh_2d(4, 4))
    assert ring_played_alone(make_problem(mesh, "all_reduce", "ring", range(16), 100,
                                          options)) is not None
    # these five: segments 10 -> 15 and 8 -> 7 both take link 10 -> 11
    assert ring_played_alone(make_problem(mesh, "all_reduce", "ring", SHARING, 100,
                                          options)) is None


def test_every_algorithm_is_recorded() -> None:
    router = Router(mesh_2d(2, 2))
    engines = build_engines(router.graph)
    for name in ALGORITHMS.names():
        assert replay_collective(router, engines, "all_reduce", name, (0, 1, 2, 3), 64,
                                 CollectiveOptions()) is not None


def test_a_schedule_appending_tasks_of_its_own_is_refused(monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    """Touching the emitter's task list (not through its methods) refuses the recording."""
    def own(recorder: Recorder) -> object:
        recorder.tasks.append(None)  # raises: the recorder keeps no tasks
        return {}

    monkeypatch.setattr(Recorder, "record", own)
    router = Router(mesh_2d(2, 2))
    assert replay_collective(router, build_engines(router.graph), "all_reduce", "direct",
                             (0, 1, 2, 3), 64, CollectiveOptions()) is None


@pytest.fixture(params=["numpy", "python"])
def builder(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both ways of building the columns (`sim.network.replay.columns.SMALL_TASKS`)."""
    columns = importlib.import_module("sim.network.replay.columns")
    monkeypatch.setattr(columns, "SMALL_TASKS", -1 if request.param == "numpy" else 10**9)
    return str(request.param)


@pytest.mark.parametrize("topology", TOPOLOGIES)
@pytest.mark.parametrize("mode", MODES, ids=lambda m: f"{m[1]}_o{m[0]}")
def test_replay_equals_the_engines_on_the_real_tasks(topology: str, mode: tuple[int, str],
                                                     builder: str) -> None:
    router = _router(topology, mode)
    cores = tuple(range(router.core_count))
    subset = cores[1::2]
    cases = [(cores, 100, None), (cores, 100, 24), (subset, 37, 8)]
    if topology == "mesh4x4":
        cases.append((SHARING, 100, 24))
    for kind, algorithm in itertools.product(KINDS, RECORDED):
        # packets of 24 bytes: messages split unevenly and contend packet by packet
        for members, nbytes, packet in cases:
            _same(router, kind, algorithm, members, nbytes, packet)
