"""The network's registries: topologies by config name, collective algorithms by name.

Each name builds what it says (checked against the graph's own attributes and the
DES), duplicates are rejected, and an unknown name is a one-line error naming the
key and listing every valid name.
"""

from __future__ import annotations

import typing
from pathlib import Path

import pytest

from sim.backends import run_des
from sim.config import (
    CollectiveWorkload,
    MachineConfig,
    NetworkConfig,
    ScheduleConfig,
    load_config,
)
from sim.errors import ConfigError
from sim.network import (
    ALGORITHMS,
    CollectiveKind,
    Router,
    build_collective_graph,
    collective_latency_cycles,
    core_count,
    fully_connected,
    mesh_2d,
    ring,
    tree_plan,
)
from sim.network.from_config import TOPOLOGIES, build_topology
from sim.network.problem import make_problem
from sim.registry import RegistryError

REPO = Path(__file__).resolve().parents[2]


def machine(topology: str) -> MachineConfig:
    """A 2 x 2 x 4 = 16-core machine on ``topology`` (torus needs a side >= 3: 4 x 4)."""
    return MachineConfig.model_validate({
        "clock_ghz": 1.0, "matmul": {"array_rows": 4, "array_cols": 4}, "simd": {"lanes": 4},
        "hierarchy": {"cards": 2, "chiplets_per_card": 2, "cores_per_chiplet": 4},
        "network": {"topology": topology},
    })


# --- topologies ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", TOPOLOGIES.names())
def test_every_topology_name_builds_that_topology_over_every_core(name):
    graph = build_topology(machine(name))
    assert graph.graph["topology"] == name
    assert core_count(graph) == 16


def test_topology_names_are_the_six_of_the_network_section():
    assert TOPOLOGIES.names() == ("card", "ring", "mesh", "torus", "tree", "fully_connected")


def test_an_unknown_topology_names_the_key_and_lists_the_valid_ones():
    with pytest.raises(ConfigError) as err:
        TOPOLOGIES.get("hypercube", key="machine.network.topology")
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith("machine.network.topology: unknown topology 'hypercube'")
    assert message.endswith("(choose from card, ring, mesh, torus, tree, fully_connected)")


def test_a_second_topology_of_one_name_is_rejected_and_the_first_kept():
    first = TOPOLOGIES.get("ring")
    with pytest.raises(RegistryError, match="topology 'ring' is registered twice"):
        TOPOLOGIES.add("ring", lambda m: fully_connected(4))
    assert TOPOLOGIES.get("ring") is first


# --- collective algorithms ---------------------------------------------------------------


def test_the_registry_is_the_one_list_of_algorithm_names():
    assert ALGORITHMS.names() == ("direct", "tree", "ring", "recursive_doubling",
                                  "hierarchical", "in_network", "star", "halving_doubling",
                                  "multicast", "row_column")
    for name in ALGORITHMS.names():
        assert make_problem(Router(ring(8)), "reduce", name, range(8), 64).algorithm == name


def test_an_algorithm_registered_once_is_usable_without_other_edits(monkeypatch):
    monkeypatch.setitem(ALGORITHMS._entries, "funnel", ALGORITHMS.get("star"))
    router = Router(mesh_2d(4, 4))
    assert make_problem(router, "all_reduce", "funnel", range(16), 64).algorithm == "funnel"
    assert (collective_latency_cycles(router, "all_reduce", "funnel", range(16), 64)
            == collective_latency_cycles(router, "all_reduce", "star", range(16), 64))


def test_a_second_algorithm_of_one_name_is_rejected_and_the_first_kept():
    first = ALGORITHMS.get("ring")
    with pytest.raises(RegistryError, match="collective algorithm 'ring' is registered twice"):
        ALGORITHMS.add("ring", first)
    assert len(ALGORITHMS) == 10


def test_an_unknown_algorithm_lists_the_valid_ones():
    with pytest.raises(ConfigError) as err:
        ALGORITHMS.get("butterfly", key="workload.algorithm")
    assert str(err.value) == ("workload.algorithm: unknown collective algorithm 'butterfly' "
                              "(choose from direct, tree, ring, recursive_doubling, "
                              "hierarchical, in_network, star, halving_doubling, multicast, "
                              "row_column)")


@pytest.mark.parametrize("algorithm", ALGORITHMS.names())
@pytest.mark.parametrize("kind", [k.value for k in CollectiveKind])
def test_each_entry_schedules_what_its_closed_form_predicts_uncontended(algorithm, kind):
    router = Router(fully_connected(8))  # a link per pair: no two messages share one
    graph, result = build_collective_graph(router, kind, algorithm, [0, 1], 64)
    assert run_des(graph).latency_cycles == result.latency_cycles
    assert result.latency_cycles == collective_latency_cycles(router, kind, algorithm, [0, 1], 64)


@pytest.mark.parametrize(("algorithm", "tree_shaped"), [
    ("direct", False), ("star", True), ("tree", True), ("ring", False), ("hierarchical", True),
    ("in_network", False), ("halving_doubling", False), ("multicast", False),
    ("row_column", False)])
def test_tree_shaped_entries_walk_a_tree_over_the_participants(algorithm, tree_shaped):
    problem = make_problem(Router(mesh_2d(4, 4)), "all_reduce", algorithm, range(16), 64)
    plan = tree_plan(problem)
    assert (plan is not None) == tree_shaped
    if plan is not None:
        assert sorted(plan.pre_order()) == list(range(16))


@pytest.mark.parametrize(("kind", "tree_shaped"), [
    ("reduce", True), ("broadcast", True), ("all_reduce", False), ("all_gather", False)])
def test_recursive_doubling_walks_the_binomial_tree_only_for_rooted_collectives(kind,
                                                                                 tree_shaped):
    problem = make_problem(Router(ring(8)), kind, "recursive_doubling", range(8), 64)
    plan = tree_plan(problem)
    assert (plan is not None) == tree_shaped
    if plan is not None:
        assert plan.sequential_broadcast
        assert plan.children[0] == (4, 2, 1)


# --- the config's choices are the registries' names ------------------------------------------


def test_the_config_topology_choices_are_the_topology_registry():
    annotation = NetworkConfig.model_fields["topology"].annotation
    assert typing.get_args(annotation) == TOPOLOGIES.names()


@pytest.mark.parametrize(("section", "field"), [
    (CollectiveWorkload, "algorithm"),
    (ScheduleConfig, "gather_algorithm"),
    (ScheduleConfig, "reduction_algorithm"),
])
def test_every_config_algorithm_choice_is_the_algorithm_registry(section, field):
    assert typing.get_args(section.model_fields[field].annotation) == ALGORITHMS.names()


@pytest.mark.parametrize(("override", "message"), [
    ("machine.network.topology=hypercube",
     "machine.network.topology: must be one of 'card', 'ring', 'mesh', 'torus', 'tree' or "
     "'fully_connected', got 'hypercube'"),
    ("schedule.reduction_algorithm=butterfly",
     "schedule.reduction_algorithm: must be one of 'direct', 'tree', 'ring', "
     "'recursive_doubling', 'hierarchical', 'in_network', 'star', 'halving_doubling', "
     "'multicast' or 'row_column', got 'butterfly'"),
])
def test_an_unknown_name_in_a_config_is_one_line_naming_the_key(override, message):
    with pytest.raises(ConfigError) as err:
        load_config(REPO / "configs/flashnorm_toy.yaml", [override])
    assert str(err.value) == message


def test_a_declared_registry_takes_only_its_names_and_checks_it_has_them_all():
    from sim.config.network_choices import ALGORITHM_NAMES, TOPOLOGY_NAMES
    from sim.registry import Registry

    assert ALGORITHMS.names() == ALGORITHM_NAMES
    assert TOPOLOGIES.names() == TOPOLOGY_NAMES
    registry: Registry[int] = Registry("thing", ("a", "b"))
    with pytest.raises(RegistryError, match="'c' is not declared"):
        registry.add("c", 3)
    registry.add("b", 2)
    registry.add("a", 1)
    with pytest.raises(RegistryError, match="registered b, a; declared a, b"):
        registry.check_complete()  # order matters: the config lists the declared order
    complete: Registry[int] = Registry("thing", ("a",))
    complete.add("a", 1)
    complete.check_complete()
