"""Collectives over a rooted tree (`sim.network.plans.TreePlan`): star, tree,
hierarchical, and the recursive-doubling and halving-doubling broadcast (and
recursive-doubling reduce).

Schedules (``n`` bytes, ``p`` participants):

- reduce: in post-order, every node combines each vector received from a child
  (one combine task per child, queued on its SIMD unit in arrival order) and
  then sends the result to its parent. The root's combines end the reduce.
- broadcast: the root's data goes down; a node sends to all its children as
  soon as it has the data (or one after another with ``sequential_broadcast``).
- all-reduce: reduce to the root, then broadcast of the result.
- all-gather: gather (every node forwards its subtree's blocks,
  ``n * subtree size`` bytes, once it has received all of them; no combine),
  then broadcast of all ``p n`` bytes.

Closed forms (uncontended; ``m(u, v, B)`` is the message time
``hops (r + l) + F - 1``, ``C`` the combine time of ``n`` bytes):

- reduce: ``T(v) = fifo(0, [T(c) + m(c, v, n) for children c], C)`` (a FIFO
  server: ``max_j a_j + (k - j + 1) C`` over sorted arrivals), latency ``T(root)``;
- broadcast from time ``t0``: ``R(root) = t0``, ``R(c) = R(v) + m(v, c, B)``,
  or with sequential sends ``R(c_j) = R(c_{j-1}) + m(v, c_j, B)`` starting from
  ``R(v)``; latency ``max R``;
- gather: ``G(v) = max(0, max_c G(c) + m(c, v, n s(c)))`` with ``s`` the subtree size;
- all-reduce ``= broadcast from T(root)``; all-gather ``= broadcast of p n from G(root)``.

They are exact when no two messages are on one link at the same time. With every
core participating that holds (and the tests check it) for ``star`` on a fully
connected topology; ``hierarchical`` on a ring, mesh, torus, fully connected
topology or `card_hierarchy` (each message crosses one link no other message
uses); the binary ``tree`` on a ring; and the binomial tree of
``recursive_doubling`` on all of these and on a tree of switches. A star, or a
k-ary tree wider than a node's links, queues at the parent's links on a sparse
topology, and then the DES is slower than the closed form.
"""

from __future__ import annotations

from sim.network.emit import Emitter
from sim.network.plans import TreePlan
from sim.network.problem import CollectiveKind, Problem, fifo_finish_cycles

__all__ = ["tree_done_cycles", "tree_latency_cycles", "tree_schedule"]

Done = dict[int, tuple[int, ...]]


def _reduce(plan: TreePlan, emit: Emitter, nbytes: int) -> tuple[int, ...]:
    delivered: dict[int, int] = {}
    have: tuple[int, ...] = ()
    for node in plan.post_order():
        combines = tuple(
            emit.combine(node, nbytes, (delivered[child], *emit.deps_of(node)))
            for child in plan.children[node]
        )
        have = combines or emit.deps_of(node)
        if node != plan.root:
            parent = plan.parent(node)
            delivered[node] = emit.send(node, parent, nbytes, have, f"up.{node}->{parent}")
    return have  # the root is last in post-order


def _gather(plan: TreePlan, emit: Emitter, nbytes: int) -> tuple[int, ...]:
    sizes = plan.subtree_sizes()
    delivered: dict[int, int] = {}
    have: tuple[int, ...] = ()
    for node in plan.post_order():
        have = tuple(delivered[c] for c in plan.children[node]) + emit.deps_of(node)
        if node != plan.root:
            parent = plan.parent(node)
            delivered[node] = emit.send(node, parent, nbytes * sizes[node], have,
                                        f"gather.{node}->{parent}")
    return have  # the root is last in post-order


def _broadcast(plan: TreePlan, emit: Emitter, nbytes: int, have_root: tuple[int, ...]) -> Done:
    have = {plan.root: have_root}
    done: Done = {plan.root: have_root}
    for node in plan.pre_order():
        previous: tuple[int, ...] = ()
        for child in plan.children[node]:
            index = emit.send(node, child, nbytes, have[node] + previous,
                              f"down.{node}->{child}")
            have[child] = done[child] = (index,)
            if plan.sequential_broadcast:
                previous = (index,)
    return done


def tree_schedule(problem: Problem, plan: TreePlan, emit: Emitter) -> Done:
    """Append the collective's tasks; return ``{core: tasks marking it has the result}``.

    For reduce only the root is listed.
    """
    n, kind = problem.nbytes, problem.kind
    if kind is CollectiveKind.REDUCE:
        return {plan.root: _reduce(plan, emit, n)}
    if kind is CollectiveKind.BROADCAST:
        return _broadcast(plan, emit, n, emit.deps_of(plan.root))
    if kind is CollectiveKind.ALL_REDUCE:
        return _broadcast(plan, emit, n, _reduce(plan, emit, n))
    return _broadcast(plan, emit, n * problem.size, _gather(plan, emit, n))


def _reduce_time(problem: Problem, plan: TreePlan, nbytes: int) -> int:
    combine = problem.combine_cycles(nbytes)
    time: dict[int, int] = {}
    for node in plan.post_order():
        arrivals = [time[c] + problem.message_cycles(c, node, nbytes) for c in plan.children[node]]
        time[node] = fifo_finish_cycles(0, arrivals, combine)
    return time[plan.root]


def _gather_time(problem: Problem, plan: TreePlan, nbytes: int) -> int:
    sizes = plan.subtree_sizes()
    time: dict[int, int] = {}
    for node in plan.post_order():
        time[node] = max([0] + [time[c] + problem.message_cycles(c, node, nbytes * sizes[c])
                                for c in plan.children[node]])
    return time[plan.root]


def _broadcast_times(problem: Problem, plan: TreePlan, nbytes: int,
                     start: int) -> dict[int, int]:
    time = {plan.root: start}
    for node in plan.pre_order():
        clock = time[node]
        for child in plan.children[node]:
            arrival = (clock if plan.sequential_broadcast else time[node]) \
                + problem.message_cycles(node, child, nbytes)
            time[child] = clock = arrival
    return time


def tree_done_cycles(problem: Problem, plan: TreePlan) -> dict[int, int]:
    """Per core that ends with the result (reduce: the root), the uncontended
    closed-form cycle at which it has it (module docstring: ``T``, ``R``, ``G``)."""
    n, kind = problem.nbytes, problem.kind
    if kind is CollectiveKind.REDUCE:
        return {plan.root: _reduce_time(problem, plan, n)}
    if kind is CollectiveKind.BROADCAST:
        return _broadcast_times(problem, plan, n, 0)
    if kind is CollectiveKind.ALL_REDUCE:
        return _broadcast_times(problem, plan, n, _reduce_time(problem, plan, n))
    return _broadcast_times(problem, plan, n * problem.size, _gather_time(problem, plan, n))


def tree_latency_cycles(problem: Problem, plan: TreePlan) -> int:
    """The uncontended closed form of `tree_schedule` (see the module docstring):
    when the last core has the result."""
    return max(tree_done_cycles(problem, plan).values())
