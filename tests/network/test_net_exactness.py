"""The contention-free table (`sim.network.exactness.CONTENTION_FREE`) is true, the README
lists it, and the collective workload reports ``closed_form_kind`` and the gap.

Every listed pair, over every core of the test topologies: no hop waits for a link and the
DES equals the closed form, on two sizes with the default transport and one with an
endpoint overhead and store-and-forward switching."""

from __future__ import annotations

import json

import pytest
from conftest import REPO, run_cli

from sim.network import CollectiveKind, Router, card_hierarchy, core_count, kary_tree
from sim.network.exactness import (
    CONTENTION_FREE,
    ClosedFormKind,
    closed_form_kind,
    contention_free_markdown,
)
from sim.network.problem import make_problem
from sim.network.switching import configure_transport
from sim.network.topology import LinkSpec

from .conftest import TOPOLOGIES, simulate

#: The test topologies by the name their graphs carry.
TOPOLOGY_OF = {"ring16": "ring", "mesh8x8": "mesh", "torus8x8": "torus", "tree16": "tree",
               "full8": "fully_connected", "card": "card"}
TRANSPORTS = {"default": ((4, 1000), 0, "cut_through"), "saf_o7": ((100,), 7, "store_and_forward")}
CASES = [(name, algorithm, kind.value)
         for name, topology in TOPOLOGY_OF.items()
         for (algorithm, listed), kinds in CONTENTION_FREE.items() if listed == topology
         for kind in CollectiveKind if kind in kinds]


@pytest.fixture(scope="module")
def transported() -> dict[tuple[str, str], Router]:
    return {(name, mode): Router(configure_transport(TOPOLOGIES[name](),
                                                     endpoint_overhead_cycles=overhead,
                                                     switching=switching))
            for name in TOPOLOGY_OF for mode, (_, overhead, switching) in TRANSPORTS.items()}


@pytest.mark.parametrize("mode", TRANSPORTS)
@pytest.mark.parametrize(("topology", "algorithm", "kind"), CASES)
def test_every_listed_pair_is_exact_over_all_cores(transported, topology, algorithm, kind, mode):
    router = transported[topology, mode]
    members = range(core_count(router.graph))
    assert closed_form_kind(make_problem(router, kind, algorithm, members, 64)) \
        is ClosedFormKind.EXACT
    for nbytes in TRANSPORTS[mode][0]:
        got = simulate(router, kind, algorithm, members, nbytes)
        assert got.link_queueing_cycles == 0, "premise: no hop waits for a link"
        assert got.done_cycles == got.result.latency_cycles


def test_the_table_covers_every_algorithm_on_fully_connected():
    from sim.network import ALGORITHMS

    assert {a for a, t in CONTENTION_FREE if t == "fully_connected"} == set(ALGORITHMS.names())


def test_readme_lists_the_table():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert contention_free_markdown() in readme


def test_unlisted_pairs_and_subsets_are_lower_bounds_and_the_des_is_slower():
    """The issue's cases: `hierarchical` on a tree of switches is a star into the root's
    one link; a subset of a mesh for the ring is not covered by the table."""
    tree = Router(kary_tree(16, 4))
    problem = make_problem(tree, "all_reduce", "hierarchical", range(16), 256)
    assert closed_form_kind(problem) is ClosedFormKind.LOWER_BOUND
    got = simulate(tree, "all_reduce", "hierarchical", range(16), 256)
    assert got.link_queueing_cycles > 0 and got.done_cycles > got.result.latency_cycles


@pytest.mark.parametrize("kind", ["all_reduce", "all_gather"])
def test_ring_on_a_card_with_narrower_die_to_die_links_is_exact(kind):
    """The issue's second case: the slow segment's own messages queue at its first link,
    which the ring's step recursion counts."""
    router = Router(card_hierarchy(chiplets_per_card=4, chiplet_width=2, chiplet_height=2,
                                   noc=LinkSpec(32, 1), d2d=LinkSpec(16, 20)))
    problem = make_problem(router, kind, "ring", range(16), 1000)
    assert closed_form_kind(problem) is ClosedFormKind.EXACT
    got = simulate(router, kind, "ring", range(16), 1000)
    assert got.done_cycles == got.result.latency_cycles


def _json(*args: str) -> dict:
    proc = run_cli("run", *args, "--format", "json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_the_collective_workload_reports_its_kind_and_gap():
    exact = _json("configs/collectives/allreduce_ring_mesh8x8.yaml")
    assert exact["closed_form_kind"] == "exact" and "closed_form_gap_cycles" not in exact
    assert exact["latency_cycles"] == exact["closed_form_cycles"]
    bound = _json("configs/collectives/reduce_tree_torus8x8.yaml")
    assert bound["closed_form_kind"] == "lower_bound"
    assert bound["closed_form_gap_cycles"] == bound["latency_cycles"] - bound["closed_form_cycles"]
    assert bound["closed_form_gap_cycles"] > 0 and bound["link_queueing_cycles"] > 0
    table = run_cli("run", "configs/collectives/reduce_tree_torus8x8.yaml").stdout
    assert f"lower bound: DES +{bound['closed_form_gap_cycles']} cycles" in table
