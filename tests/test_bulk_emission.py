"""Bulk appends of the emitters give the rows task-by-task appends give.

`TaskTable.add_hop_chain` and `TaskTable.add_core_tiles` are shortcuts of
`add_hop` and `add_on_core` called once per hop or tile; the hop path of
`sim.network.transport` and the emitter's combines (now table rows, not `Task`
objects) must give the same tasks as the list-of-`Task` path, names included.
The reference in each test is the unoptimised path (`Task` objects or the
per-task calls), compared column by column.
"""

from __future__ import annotations

import random

import numpy as np
import pytest

from sim.ir import Category, Engine, EngineKind, Task, TaskTable
from sim.ir.task_table import CATEGORIES, TaskColumns
from sim.network.collectives import append_collective
from sim.network.routing import Router
from sim.network.topology import card_hierarchy, mesh_2d
from sim.network.transport import append_message, build_engines

_FIELDS = ("name_packets", "op_codes", "tile", "engine", "duration_cycles",
           "result_latency_cycles", "category", "nbytes", "dep_offsets", "dep_ids")


def _same(a: TaskColumns, b: TaskColumns, engines: tuple[Engine, ...],
          fields: tuple[str, ...] = _FIELDS) -> None:
    """Equal columns and names (a hop's name is a template in a table, a string in a
    `Task`: ``fields`` leaves ``name_packets`` out there)."""
    for field in fields:
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field), err_msg=field)
    assert a.op_names == b.op_names
    assert a.names(engines) == b.names(engines)


ENGINES = tuple([Engine(f"core{c}.simd", EngineKind.SIMD, c) for c in range(3)]
                + [Engine(f"link.{u}->{v}", EngineKind.LINK, None)
                   for u, v in ((0, 1), (1, 2), (2, 0))])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_bulk_appends_equal_one_call_a_task(seed: int) -> None:
    rng = random.Random(seed)
    bulk, single = TaskTable(), TaskTable()
    for step in range(30):
        earlier = len(single)
        deps = sorted(rng.sample(range(earlier), min(earlier, rng.randint(0, 3))))
        if rng.random() < 0.5:
            links = [rng.choice((3, 4, 5)) for _ in range(rng.randint(1, 4))]
            flits, nbytes, packet = rng.randint(1, 9), rng.randint(1, 300), rng.randint(0, 3)
            latencies = [rng.randint(-3, 9) for _ in links]
            got = bulk.add_hop_chain(f"m{step}", packet, f"op{step % 3}", 0, links, flits,
                                     latencies, deps, nbytes)
            previous: list[int] = deps
            for link, latency in zip(links, latencies, strict=True):
                last = single.add_hop(f"m{step}", packet, f"op{step % 3}", 0, link, flits,
                                      latency, previous, nbytes)
                previous = [last]
            assert got == last
        else:
            tiles = rng.randint(1, 4)
            engine = rng.choice((0, 1, 2))
            occupancy = [rng.randint(0, 9) for _ in range(tiles)]
            latency = [rng.randint(0, 9) for _ in range(tiles)]
            tile_deps = [sorted(rng.sample(range(earlier), min(earlier, rng.randint(0, 2))))
                         for _ in range(tiles)]
            got = bulk.add_core_tiles(f"op{step % 3}", engine, occupancy, latency,
                                      Category.MATMUL, tile_deps, tiled=tiles > 1)
            firsts = [single.add_on_core(f"op{step % 3}", t, engine, occupancy[t], latency[t],
                                         Category.MATMUL, tile_deps[t], tiled=tiles > 1)
                      for t in range(tiles)]
            assert got == firsts[0]
    _same(bulk.freeze(), single.freeze(), ENGINES)


def _both(router: Router, emit: object) -> tuple[TaskColumns, TaskColumns, tuple[Engine, ...]]:
    """The tasks ``emit(sink, engines)`` appends, into a table and into a list."""
    engines = build_engines(router.graph)
    table: TaskTable = TaskTable()
    objects: list[Task] = []
    emit(table, engines)  # type: ignore[operator]
    emit(objects, engines)  # type: ignore[operator]
    return table.freeze(), TaskTable.of(objects).freeze(), engines.engines


@pytest.mark.parametrize("max_packet_bytes", [None, 24])
def test_messages_into_a_table_equal_task_objects(max_packet_bytes: int | None) -> None:
    router = Router(mesh_2d(3, 3))

    def emit(sink: TaskTable | list[Task], engines: object) -> None:
        first = append_message(sink, router, engines, 0, 8, 100, (), name="a", op="a",  # type: ignore[arg-type]
                               max_packet_bytes=max_packet_bytes)
        append_message(sink, router, engines, 8, 2, 40, (first,), name="b", op="b",  # type: ignore[arg-type]
                       max_packet_bytes=max_packet_bytes)

    table, objects, engines = _both(router, emit)
    _same(table, objects, engines, _FIELDS[1:])
    assert len(table) > 4  # several hops each, as a 3x3 mesh routes them


@pytest.mark.parametrize("algorithm", ["tree", "ring", "star", "in_network"])
def test_collectives_on_two_chiplets_into_a_table_equal_task_objects(algorithm: str) -> None:
    router = Router(card_hierarchy(chiplets_per_card=2, chiplet_width=2, chiplet_height=2))
    cores = list(range(8))

    def emit(sink: TaskTable | list[Task], engines: object) -> None:
        append_collective(sink, router, engines, "all_reduce", algorithm, cores, 64,  # type: ignore[arg-type]
                          deps={c: () for c in cores}, name="ar")

    table, objects, engines = _both(router, emit)
    _same(table, objects, engines, _FIELDS[1:])
    assert table.is_communication().any()
    if algorithm != "in_network":  # the combines: rows now, `Task` objects before
        assert (table.category == CATEGORIES.index(Category.SIMD)).any()
