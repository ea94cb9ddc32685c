"""The collective algorithms, one registry entry each: `ALGORITHMS`.

Every built-in collective algorithm is registered here once, as an
`AlgorithmSpec` bundling what `sim.network.collectives` needs from it: the
tree it walks (if any), the schedule that appends its tasks, and its
closed-form arrival cycles. This registry is the one list of algorithm names:
`sim.network.problem.make_problem` validates a request's algorithm against it,
and the config's algorithm choices are read from ``ALGORITHMS.names()``.

To add one: write its own module with a schedule ``(Problem, Emitter) -> Done`` and its
closed form ``done_cycles(Problem) -> dict[int, int]``, then add one line below:
``ALGORITHMS.add("name", AlgorithmSpec(tree, schedule, done_cycles))``; nothing else changes.

Examples
--------
>>> ALGORITHMS.names()
('direct', 'tree', 'ring', 'recursive_doubling', 'hierarchical', 'in_network', 'star', \
'halving_doubling', 'multicast', 'row_column')
>>> ALGORITHMS.get("butterfly", key="workload.algorithm")
Traceback (most recent call last):
...
sim.errors.ConfigError: workload.algorithm: unknown collective algorithm 'butterfly' \
(choose from direct, tree, ring, recursive_doubling, hierarchical, in_network, star, \
halving_doubling, multicast, row_column)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sim.config.network_choices import ALGORITHM_NAMES
from sim.network.butterfly import butterfly_latency_cycles, butterfly_schedule
from sim.network.direct import direct_done_cycles, direct_schedule
from sim.network.emit import Emitter
from sim.network.halving_doubling import (
    halving_doubling_done_cycles,
    halving_doubling_schedule,
    halving_doubling_tree,
)
from sim.network.in_network import in_network_done_cycles, in_network_schedule
from sim.network.multicast import (
    multicast_done_cycles,
    multicast_schedule,
    row_column_done_cycles,
    row_column_schedule,
)
from sim.network.plans import TreePlan, binomial_plan, hierarchical_plan, kary_plan, star_plan
from sim.network.problem import CollectiveKind, Problem
from sim.network.ring_collectives import ring_latency_cycles, ring_schedule
from sim.network.tree_collectives import tree_done_cycles, tree_schedule
from sim.registry import Registry

__all__ = ["ALGORITHMS", "AlgorithmSpec", "Done"]

#: Per core that ends with a collective's result, the task indices marking that it has it.
Done = dict[int, tuple[int, ...]]


@dataclass(frozen=True)
class AlgorithmSpec:
    """What one collective algorithm does with a validated `Problem`.

    Attributes
    ----------
    tree : callable, Problem -> TreePlan or None
        The rooted tree it walks for this problem, or None (ring, butterfly,
        in-network).
    schedule : callable, (Problem, Emitter) -> Done
        Appends its tasks through the emitter; returns, per core that ends with
        the result (reduce: the root only), the tasks marking that it has it.
    done_cycles : callable, Problem -> dict of int to int
        Per core that ends with the result, the uncontended closed-form cycle at
        which it has it (measured from the cycle every contribution is ready).
    cyclic_ring_order : bool
        Whether it reads the participants' ring order only up to rotation
        (through ``rotated(problem.ranked(), problem.root, ...)``) and the
        topology only through the routes between participants, so that a
        translation inside one chiplet keeping their cyclic order maps it onto
        an identical collective (`sim.network.symmetry.in_chiplet_shift`).
        False where unsure: the collective is then only moved by whole chiplets.
    """

    tree: Callable[[Problem], TreePlan | None]
    schedule: Callable[[Problem, Emitter], Done]
    done_cycles: Callable[[Problem], dict[int, int]]
    cyclic_ring_order: bool = False


def _holders_at(problem: Problem, latency_cycles: int) -> dict[int, int]:
    """Every core that ends with the result (reduce: the root) at ``latency_cycles``:
    ring and butterfly closed forms are per collective, not per core."""
    holders = (problem.root,) if problem.kind is CollectiveKind.REDUCE else problem.participants
    return dict.fromkeys(holders, latency_cycles)


def _tree_shaped(plan: Callable[[Problem], TreePlan], cyclic: bool = False) -> AlgorithmSpec:
    """An algorithm that walks the tree ``plan`` builds (`sim.network.tree_collectives`);
    ``cyclic``: `AlgorithmSpec.cyclic_ring_order`."""

    def planned(problem: Problem) -> TreePlan:
        """``plan(problem)``, built once per problem (emission and the closed form
        walk the same tree; a plan is a pure function of the frozen problem)."""
        cached: TreePlan | None = problem.__dict__.get("_tree_plan")
        if cached is None:
            cached = plan(problem)
            object.__setattr__(problem, "_tree_plan", cached)  # a private memo, not a field
        return cached

    def schedule(problem: Problem, emit: Emitter) -> Done:
        return tree_schedule(problem, planned(problem), emit)

    def done_cycles(problem: Problem) -> dict[int, int]:
        return tree_done_cycles(problem, planned(problem))

    return AlgorithmSpec(planned, schedule, done_cycles, cyclic)


def _no_tree(problem: Problem) -> None:
    """Walks no tree."""
    return None


def _ring_done_cycles(problem: Problem) -> dict[int, int]:
    return _holders_at(problem, ring_latency_cycles(problem))


def _binomial_if_rooted(problem: Problem) -> TreePlan | None:
    """Recursive doubling's reduce and broadcast walk the binomial tree; its
    all-reduce and all-gather are butterflies."""
    if problem.kind in (CollectiveKind.REDUCE, CollectiveKind.BROADCAST):
        return binomial_plan(problem)
    return None


def _doubling_schedule(problem: Problem, emit: Emitter) -> Done:
    plan = _binomial_if_rooted(problem)
    if plan is None:
        return butterfly_schedule(problem, emit)
    return tree_schedule(problem, plan, emit)


def _doubling_done_cycles(problem: Problem) -> dict[int, int]:
    plan = _binomial_if_rooted(problem)
    if plan is None:
        return _holders_at(problem, butterfly_latency_cycles(problem))
    return tree_done_cycles(problem, plan)


#: Every collective algorithm by name, in the order the config and errors list them.
ALGORITHMS: Registry[AlgorithmSpec] = Registry("collective algorithm", ALGORITHM_NAMES)
ALGORITHMS.add("direct", AlgorithmSpec(_no_tree, direct_schedule, direct_done_cycles))
# cyclic ring order (`AlgorithmSpec.cyclic_ring_order`): kary_plan, star_plan and
# binomial_plan, the ring's order and the butterfly's all start from ``rotated``;
# hierarchical_plan picks the member nearest a gateway (a fixed position): not cyclic.
ALGORITHMS.add("tree", _tree_shaped(kary_plan, cyclic=True))
ALGORITHMS.add("ring", AlgorithmSpec(_no_tree, ring_schedule, _ring_done_cycles, True))
ALGORITHMS.add("recursive_doubling",
               AlgorithmSpec(_binomial_if_rooted, _doubling_schedule, _doubling_done_cycles,
                             True))
ALGORITHMS.add("hierarchical", _tree_shaped(hierarchical_plan))
ALGORITHMS.add("in_network", AlgorithmSpec(_no_tree, in_network_schedule, in_network_done_cycles))
ALGORITHMS.add("star", _tree_shaped(star_plan, cyclic=True))
ALGORITHMS.add("halving_doubling",
               AlgorithmSpec(halving_doubling_tree, halving_doubling_schedule,
                             halving_doubling_done_cycles))
ALGORITHMS.add("multicast", AlgorithmSpec(_no_tree, multicast_schedule, multicast_done_cycles))
ALGORITHMS.add("row_column",
               AlgorithmSpec(_no_tree, row_column_schedule, row_column_done_cycles))
ALGORITHMS.check_complete()
