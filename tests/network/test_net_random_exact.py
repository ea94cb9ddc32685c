"""120 seeded random collectives that `closed_form_kind` calls exact: the DES equals the
closed form to the cycle, on topologies of other sizes and link widths than the table was
drawn from, with random options, endpoint overheads and switching modes.

A case: a random topology; on the fully connected one a random algorithm, kind and subset
of cores (every pair has its own link), elsewhere a random contention-free (algorithm, kind)
pair of `CONTENTION_FREE` over every core; random bytes, root, combine rate, packet size,
in-network merge cost, endpoint overhead and switching."""

from __future__ import annotations

import random

from sim.network import ALGORITHMS, CollectiveKind, CollectiveOptions, Router, core_count
from sim.network.exactness import CONTENTION_FREE, ClosedFormKind, closed_form_kind
from sim.network.problem import make_problem
from sim.network.switching import configure_transport
from sim.network.topology import (
    LinkSpec,
    card_hierarchy,
    fully_connected,
    kary_tree,
    mesh_2d,
    ring,
    torus_2d,
)

from .conftest import simulate

BUILDERS = {
    "ring": lambda: ring(7, latency_cycles=2),
    "mesh": lambda: mesh_2d(4, 3, bytes_per_cycle=16),
    "torus": lambda: torus_2d(3, 4, latency_cycles=0, router_latency_cycles=2),
    "tree": lambda: kary_tree(9, 3, switch_latency_cycles=3),
    "fully_connected": lambda: fully_connected(6, bytes_per_cycle=12.5),
    "card": lambda: card_hierarchy(cards=2, chiplets_per_card=2, chiplet_width=2,
                                   chiplet_height=3, noc=LinkSpec(32, 1), d2d=LinkSpec(16, 5),
                                   c2c=LinkSpec(8, 20)),
}
CASES = 120


def _case(rng: random.Random) -> tuple[Router, str, str, list[int], int, CollectiveOptions]:
    topology = rng.choice(sorted(BUILDERS))
    graph = configure_transport(BUILDERS[topology](),
                                endpoint_overhead_cycles=rng.choice([0, 0, 3, 9]),
                                switching=rng.choice(["cut_through", "store_and_forward"]))
    router = Router(graph)
    cores = core_count(graph)
    if topology == "fully_connected":
        algorithm = rng.choice(ALGORITHMS.names())
        kind = rng.choice(list(CollectiveKind)).value
        members = rng.sample(range(cores), rng.randint(1, cores))
    else:
        pairs = sorted((a, k.value) for (a, t), kinds in CONTENTION_FREE.items()
                       if t == topology for k in kinds)
        algorithm, kind = rng.choice(pairs)
        members = list(range(cores))
        rng.shuffle(members)
    options = CollectiveOptions(
        root=rng.choice(members), arity=2 if topology == "ring" else rng.randint(1, 4),
        combine_bytes_per_cycle=rng.choice([None, 16, 64, 7.5]),
        in_network_combine_cycles=rng.randint(0, 3),
        max_packet_bytes=rng.choice([None, None, 64, 100]),
        reduce_op=rng.choice(["sum", "max"]))
    return router, kind, algorithm, members, rng.choice([1, 7, 64, 333, 1000]), options


def test_random_exact_cases_equal_the_des_to_the_cycle():
    rng = random.Random("exact-cases-12")
    seen = set()
    for _ in range(CASES):
        router, kind, algorithm, members, nbytes, options = _case(rng)
        problem = make_problem(router, kind, algorithm, members, nbytes, options)
        assert closed_form_kind(problem) is ClosedFormKind.EXACT
        got = simulate(router, kind, algorithm, members, nbytes, options)
        assert got.done_cycles == got.timeline.latency_cycles == got.result.latency_cycles, (
            router.graph.graph["topology"], kind, algorithm, members, nbytes, options)
        seen.add((router.graph.graph["topology"], algorithm))
    assert len({t for t, _ in seen}) == len(BUILDERS) and len(seen) >= 25
