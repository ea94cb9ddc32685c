"""Collectives as message schedules: reduce, broadcast, all-reduce, all-gather.

Every algorithm works on any topology and any subset of its cores, and comes
with an uncontended closed-form latency derived from its schedule (its module
states the α–β cost, Thakur, Rabenseifner & Gropp 2005):

======================  ===============================  ===============================
algorithm               reduce / broadcast               all-reduce / all-gather
======================  ===============================  ===============================
``direct``              one-step reduce-scatter, blocks  one-step reduce-scatter + one-step
                        to the root / root to every one  all-gather / one step, all pairs
``star``                star to/from the root            star reduce (gather) + star broadcast
``tree``                k-ary tree (``arity``)           tree reduce (gather) + tree broadcast
``ring``                chain along the ring             reduce-scatter + all-gather ring
``recursive_doubling``  binomial tree                    butterfly, with fold-in for p != 2^k
``halving_doubling``    halving reduce-scatter +         halving reduce-scatter + doubling
                        binomial gather / binomial tree  all-gather / butterfly; with fold
``hierarchical``        chiplet, card, system levels     up the levels, then down
``in_network``          routers merge / multicast        merge to the root's router + multicast
``multicast``           star reduce / one multicast      every source multicasts its vector
``row_column``          as ``in_network``                ``multicast`` along mesh rows, then
                                                         columns (else ``in_network``)
======================  ===============================  ===============================

Each algorithm is one entry of `sim.network.algorithms.ALGORITHMS`. Details
and closed forms: `sim.network.plans` and
`sim.network.tree_collectives` (star, tree, hierarchical, binomial),
`sim.network.ring_collectives`, `sim.network.butterfly`, `sim.network.direct`,
`sim.network.halving_doubling` (both over `sim.network.stepped`),
`sim.network.in_network`, `sim.network.multicast`. Which closed forms are exact
(contention-free) and which are lower bounds: `sim.network.exactness`. The
closed form is evaluated from the schedule's structure (who sends what to
whom, hop counts, flits, combine cost), not from the tasks; it equals the DES
exactly when no message waits for a link, and the DES is slower otherwise.

A latency is measured from the cycle every participant's contribution is
ready (all ``deps`` done at the same cycle) to the cycle every core listed in
``done`` has the result.

Examples
--------
>>> from sim.backends import run_des
>>> from sim.network.routing import Router
>>> from sim.network.topology import mesh_2d
>>> router = Router(mesh_2d(4, 4))
>>> graph, result = build_collective_graph(router, "all_reduce", "hierarchical",
...                                        range(16), 64)
>>> result.latency_cycles, run_des(graph).latency_cycles
(42, 42)
>>> collective_latency_cycles(router, "all_reduce", "in_network", range(16), 64)
31
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from sim.ir import Task, TaskGraph
from sim.ir.task_table import TaskSink
from sim.network.algorithms import ALGORITHMS, AlgorithmSpec
from sim.network.emit import Emitter
from sim.network.plans import TreePlan
from sim.network.problem import (
    CollectiveKind,
    CollectiveOptions,
    Problem,
    make_problem,
)
from sim.network.routing import Router
from sim.network.transport import NetworkEngines, build_engines

__all__ = [
    "CollectiveResult",
    "append_collective",
    "build_collective_graph",
    "collective_done_cycles",
    "collective_latency_cycles",
    "tree_plan",
]


@dataclass(frozen=True)
class CollectiveResult:
    """What `append_collective` added.

    Attributes
    ----------
    kind : CollectiveKind
    algorithm : str
        A name in `sim.network.algorithms.ALGORITHMS`.
    root : int
    done : mapping of int to tuple of int
        For every core that ends with the result (reduce: the root only), the
        task indices whose results together mark that it has it (empty if it
        had it from the start, e.g. the root of a broadcast without deps).
    first_task, end_task : int
        The appended tasks are ``tasks[first_task:end_task]``.
    latency_cycles : int
        The uncontended closed-form latency.
    """

    kind: CollectiveKind
    algorithm: str
    root: int
    done: Mapping[int, tuple[int, ...]]
    first_task: int
    end_task: int
    latency_cycles: int

    @property
    def final_tasks(self) -> tuple[int, ...]:
        """Every task index in ``done``, ascending."""
        return tuple(sorted({i for indices in self.done.values() for i in indices}))


def _spec(problem: Problem) -> AlgorithmSpec:
    """The registry entry of ``problem``'s algorithm (validated by `make_problem`)."""
    return ALGORITHMS.get(problem.algorithm, key="algorithm")


def tree_plan(problem: Problem) -> TreePlan | None:
    """The tree a tree-shaped algorithm walks, or None for ring, butterfly and in-network."""
    return _spec(problem).tree(problem)


def _latency(problem: Problem) -> int:
    return max(_spec(problem).done_cycles(problem).values())


def collective_latency_cycles(router: Router, kind: CollectiveKind | str,
                              algorithm: str, participants: Iterable[int],
                              nbytes: int, *, options: CollectiveOptions | None = None) -> int:
    """The uncontended closed-form latency of a collective, without building tasks.

    Raises
    ------
    ConfigError
        For a bad request (see `sim.network.problem.make_problem`).
    """
    return _latency(make_problem(router, kind, algorithm, tuple(participants), nbytes, options))


def collective_done_cycles(router: Router, kind: CollectiveKind | str,
                           algorithm: str, participants: Iterable[int],
                           nbytes: int, *, options: CollectiveOptions | None = None,
                           problem: Problem | None = None) -> dict[int, int]:
    """Per core that ends with the result (reduce: the root only), the uncontended
    closed-form cycles from the start until it has it; their maximum is
    `collective_latency_cycles`. Tree-shaped and in-network algorithms give each
    core its own time; ring and butterfly give every core the latency.

    ``problem``: the request's `Problem`, if the caller built it already (its
    memos, such as a tree plan, are then shared).

    Raises
    ------
    ConfigError
        For a bad request (see `sim.network.problem.make_problem`).
    """
    members = tuple(participants)
    return dict(_done_cycles(router, kind, algorithm, members, nbytes, options, problem))


def _done_cycles(router: Router, kind: CollectiveKind | str, algorithm: str,
                 members: tuple[int, ...], nbytes: int, options: CollectiveOptions | None,
                 problem: Problem | None = None) -> dict[int, int]:
    """`collective_done_cycles` without the copy (the caller must not modify it);
    ``problem``: the request's problem, if built already.

    Remembered by the router: the strategies of one compare, the chunks of a
    pipelined gather and the layers of a model on the same cores (emission)
    ask for the same collectives."""
    key = ("done", kind, algorithm, members, nbytes, options)
    done: dict[int, int] | None = router.remembered(key)
    if done is None:
        if problem is None:
            problem = make_problem(router, kind, algorithm, members, nbytes, options)
        done = _spec(problem).done_cycles(problem)
        router.remember(key, done)
    return done


def append_collective(tasks: TaskSink, router: Router, engines: NetworkEngines,
                      kind: CollectiveKind | str, algorithm: str,
                      participants: Iterable[int], nbytes: int, *,
                      options: CollectiveOptions | None = None,
                      deps: Mapping[int, Sequence[int]] | None = None,
                      name: str = "collective") -> CollectiveResult:
    """Append a collective's tasks to ``tasks`` (a TaskGraph under construction).

    Parameters
    ----------
    tasks : list of Task
        Appended to in program order; indices in the result refer to it.
    router : Router
    engines : NetworkEngines
        From `sim.network.transport.build_engines` on ``router.graph``.
    kind : str or CollectiveKind
    algorithm : str
        A name in `sim.network.algorithms.ALGORITHMS`; see the module docstring.
    participants : iterable of int
        Cores taking part (the first is the default root).
    nbytes : int
        Bytes of each participant's vector (all-gather: of each block).
    options : CollectiveOptions, optional
    deps : mapping of int to sequence of int, optional
        Per participant, the tasks its contribution waits for.
    name : str
        Prefix of the task names and the tasks' ``op``; unique per collective.

    Raises
    ------
    ConfigError
        For a bad request.
    """
    members = tuple(participants)
    problem = make_problem(router, kind, algorithm, members, nbytes, options)
    first = len(tasks)
    done = _spec(problem).schedule(problem, Emitter(tasks, problem, engines, name, deps))
    latency = max(_done_cycles(router, kind, algorithm, members, nbytes, options,
                               problem).values())
    return CollectiveResult(problem.kind, problem.algorithm, problem.root,
                            {core: done[core] for core in sorted(done)}, first, len(tasks),
                            latency)


def build_collective_graph(router: Router, kind: CollectiveKind | str,
                           algorithm: str, participants: Iterable[int], nbytes: int,
                           *, options: CollectiveOptions | None = None,
                           name: str = "collective") -> tuple[TaskGraph, CollectiveResult]:
    """A TaskGraph holding just one collective, on every engine of ``router.graph``."""
    engines = build_engines(router.graph)
    tasks: list[Task] = []
    result = append_collective(tasks, router, engines, kind, algorithm, participants, nbytes,
                               options=options, name=name)
    return TaskGraph(engines.engines, tuple(tasks)), result
