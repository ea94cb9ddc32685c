"""Shared fixtures of the network tests: the six test topologies and a runner."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from sim.backends import Timeline, run_des
from sim.ir import Category, TaskGraph
from sim.network import (
    CollectiveOptions,
    CollectiveResult,
    Router,
    build_collective_graph,
    card_hierarchy,
    fully_connected,
    kary_tree,
    mesh_2d,
    queueing_cycles,
    ring,
    torus_2d,
)

#: The topologies of the issue: ring of 16, mesh 8x8, torus 8x8, a tree (16 cores
#: under 4-ary switches), fully connected 8, and a Corsair-like card (8 chiplets
#: all-to-all over die-to-die links, each chiplet a 4x4 mesh).
TOPOLOGIES: dict[str, Callable[[], object]] = {
    "ring16": lambda: ring(16),
    "mesh8x8": lambda: mesh_2d(8, 8),
    "torus8x8": lambda: torus_2d(8, 8),
    "tree16": lambda: kary_tree(16, 4),
    "full8": lambda: fully_connected(8),
    "card": lambda: card_hierarchy(chiplets_per_card=8, chiplet_width=4, chiplet_height=4),
}


@pytest.fixture(scope="session")
def routers() -> dict[str, Router]:
    """One Router per test topology (routes are cached across tests)."""
    return {name: Router(build()) for name, build in TOPOLOGIES.items()}


@dataclass(frozen=True)
class Run:
    """A collective built alone in a TaskGraph and simulated."""

    graph: TaskGraph
    result: CollectiveResult
    timeline: Timeline

    @property
    def link_queueing_cycles(self) -> int:
        """Cycles network hops waited for a busy link (0: the run was uncontended)."""
        waits = queueing_cycles(self.graph, self.timeline)
        return sum(w for w, t in zip(waits, self.graph.tasks, strict=True)
                   if t.category is Category.COMMUNICATION)

    @property
    def done_cycles(self) -> int:
        """When the last core listed in ``done`` has the result."""
        return max((self.timeline.ready_cycles[i] for i in self.result.final_tasks), default=0)


def simulate(router: Router, kind: str, algorithm: str, participants, nbytes: int,
             options: CollectiveOptions | None = None) -> Run:
    """Build one collective and run it on the DES."""
    graph, result = build_collective_graph(router, kind, algorithm, participants, nbytes,
                                           options=options)
    return Run(graph, result, run_des(graph))


@pytest.fixture(scope="session")
def run() -> Callable[..., Run]:
    """`simulate` as a fixture."""
    return simulate
