"""The replay of the multicast algorithms (`sim.network.replay`: ``multicast``,
``row_column``, ``in_network``) against the FIFO engines on their real tasks
(`sim.backends.collective_profile._replay_tasks`): every field of the `Replay`
equal, hop by hop in program order, on meshes and the card hierarchy, cut-through
and store-and-forward, with and without endpoint overhead, small packets, roots,
one-flit packets (markers that publish when they start: nothing is derived or
delayed then) and collectives whose trees contend; built both ways (numpy and
plain Python, `sim.network.replay.columns.SMALL_TASKS`). The recorder's indices and
count are the real list's."""

from __future__ import annotations

import importlib
import itertools

import numpy as np
import pytest

from sim.backends.collective_profile import _replay_tasks, collective_profile
from sim.ir.task_table import TaskTable
from sim.network.collectives import append_collective, collective_done_cycles
from sim.network.problem import CollectiveOptions, make_problem
from sim.network.replay import Recorder, Replay, replay_collective
from sim.network.routing import Router
from sim.network.switching import configure_transport
from sim.network.topology import card_hierarchy, fully_connected, kary_tree, mesh_2d
from sim.network.transport import build_engines

COLUMNS = importlib.import_module("sim.network.replay.columns")
TOPOLOGIES = {
    "mesh4x4": lambda: mesh_2d(4, 4),
    "mesh3x2": lambda: mesh_2d(3, 2, bytes_per_cycle=8),
    "card2x2x3": lambda: card_hierarchy(chiplets_per_card=2, chiplet_width=2, chiplet_height=3),
    "fc5": lambda: fully_connected(5, bytes_per_cycle=16),
    "tree5": lambda: kary_tree(5, 2),  # switches: nodes that are no core
}
#: (endpoint overhead, switching)
MODES = ((0, "cut_through"), (3, "cut_through"), (2, "store_and_forward"))
KINDS = ("all_gather", "all_reduce", "reduce", "broadcast")
ALGORITHMS = ("multicast", "row_column", "in_network")
FIELDS = ("combine_cores", "combine_start_cycles", "combine_cycles", "combine_bytes",
          "hop_links", "hop_cycles", "hop_bytes")


def _router(topology: str, mode: tuple[int, str]) -> Router:
    overhead, switching = mode
    return Router(configure_transport(TOPOLOGIES[topology](), endpoint_overhead_cycles=overhead,
                                      switching=switching))


def _same(router: Router, kind: str, algorithm: str, cores: tuple[int, ...], nbytes: int,
          options: CollectiveOptions) -> Replay:
    engines = build_engines(router.graph)
    got = replay_collective(router, engines, kind, algorithm, cores, nbytes, options)
    want = _replay_tasks(router, engines, kind, algorithm, cores, nbytes, options)
    assert got is not None
    assert got.done_ready_cycles == want.done_ready_cycles
    for name in FIELDS:
        assert np.array_equal(getattr(got, name), getattr(want, name)), name
    return got


@pytest.fixture(params=["numpy", "python"])
def builder(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both ways of building the columns."""
    monkeypatch.setattr(COLUMNS, "SMALL_TASKS", -1 if request.param == "numpy" else 10**9)
    return str(request.param)


@pytest.mark.parametrize("topology", TOPOLOGIES)
@pytest.mark.parametrize("mode", MODES, ids=lambda m: f"{m[1]}_o{m[0]}")
def test_multicast_replay_equals_the_engines_on_the_real_tasks(
        topology: str, mode: tuple[int, str], builder: str) -> None:
    router = _router(topology, mode)
    cores = tuple(range(router.core_count))
    sixteen = CollectiveOptions(max_packet_bytes=16, combine_bytes_per_cycle=16.0)
    plain = CollectiveOptions(combine_bytes_per_cycle=16.0)
    cases = [(cores, 100, plain), (cores, 37, sixteen), (cores[1::2], 64, plain),
             (cores, 1, plain),  # one flit: markers publish as they start
             (cores, 48, CollectiveOptions(root=cores[-1], combine_bytes_per_cycle=4.0))]
    for kind, algorithm in itertools.product(KINDS, ALGORITHMS):
        for members, nbytes, options in cases:
            _same(router, kind, algorithm, members, nbytes, options)


@pytest.mark.parametrize("mode", MODES, ids=lambda m: f"{m[1]}_o{m[0]}")
def test_row_column_on_a_mesh_contends_and_is_replayed_exactly(mode: tuple[int, str],
                                                              builder: str) -> None:
    """On a full 4 x 4 mesh a column link carries several rows' one-phase packets: a
    gather's played cycles are later than its closed form, and still those of the
    tasks (an all-reduce's are its combines'; ``row_column`` queues too, cut-through)."""
    router = _router("mesh4x4", mode)
    cores = tuple(range(16))
    options = CollectiveOptions(combine_bytes_per_cycle=8.0)
    for algorithm, nbytes in itertools.product(("multicast", "row_column"), (96, 1024)):
        got = _same(router, "all_gather", algorithm, cores, nbytes, options)
        closed = collective_done_cycles(router, "all_gather", algorithm, cores, nbytes,
                                        options=options)
        if algorithm == "multicast" or mode[1] == "cut_through":
            assert any(got.done_ready_cycles[c] > closed[c] for c in cores)
        _same(router, "all_reduce", algorithm, cores, nbytes, options)


def test_the_recorder_counts_and_indexes_as_the_real_tasks() -> None:
    """What `sim.backends.task_estimate` relies on: the recorded count is the
    emitted one, and every index the schedule is given back is the real one."""
    for mode, kind, algorithm in itertools.product(MODES, KINDS, ALGORITHMS):
        router = _router("card2x2x3", mode)
        engines = build_engines(router.graph)
        cores = tuple(range(router.core_count))
        problem = make_problem(router, kind, algorithm, cores, 40, CollectiveOptions())
        rec = Recorder(problem, engines)
        done = rec.record()
        table = TaskTable()
        real = append_collective(table, router, engines, kind, algorithm, cores, 40,
                                 options=CollectiveOptions())
        assert rec.count == len(table)
        assert done == real.done


def test_a_profile_of_a_recorded_multicast_carries_its_bytes() -> None:
    """`sim.energy.count` reads the bytes per link and per combine of a profile instead
    of emitting the collective again: a recorded one has them, the real tasks' sums."""
    router = _router("mesh4x4", (0, "cut_through"))
    engines = build_engines(router.graph)
    options = CollectiveOptions(combine_bytes_per_cycle=8.0)
    for algorithm in ALGORITHMS:
        profile = collective_profile(router, engines, "all_reduce", algorithm, range(16), 64,
                                     options)
        want = _replay_tasks(router, engines, "all_reduce", algorithm, tuple(range(16)), 64,
                             options)
        assert profile.link_bytes is not None and profile.combine_task_bytes is not None
        links, where = np.unique(want.hop_links, return_inverse=True)
        assert np.array_equal(profile.links, links)
        assert np.array_equal(profile.link_bytes, np.bincount(where, weights=want.hop_bytes))
        assert np.array_equal(profile.combine_task_bytes, want.combine_bytes)
