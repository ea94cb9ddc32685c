"""The multicast algorithm: every source multicasts its own vector along its own tree.

Each participant ``s`` sends one packet of its ``n`` bytes, replicated by the
routers along the union of its routes to the receivers (the multicast tree of
`sim.network.routing.multicast_tree`; dimension order, X then Y, on a mesh, so
the tree runs along the source's row and then up and down every column). No
core funnels the others' data through itself, unlike ``in_network`` (merged at
one root, then multicast back) or ``star``.

- all-gather: every participant multicasts its block to every other one; a core
  has the result when the last block has arrived;
- all-reduce: every participant multicasts its whole vector to every other one,
  and each combines the ``p - 1`` vectors it receives on its SIMD unit, first
  come first served (one step: latency-optimal for small vectors such as
  normalization statistics, ``p - 1`` times the bytes of a reduce-scatter);
- reduce: every other participant sends its vector to the root (a multicast to
  one receiver), which combines them as they arrive;
- broadcast: the root multicasts to every other participant (as ``in_network``).

A multicast is one packet whatever ``max_packet_bytes`` says (as in
`sim.network.transport.append_multicast`); its flits ``F_s`` are counted on the
narrowest link of its tree.

Closed form (uncontended): the packet of ``s`` reaches ``d`` at
``a(s, d) = o + head_latency(s -> d) + F_s - 1`` (cut-through; store-and-forward
``o + sum over the route of (h_i + F_s - 1)``,
`sim.network.transport.multicast_delivery_cycles`); all-gather
``T_d = max_s a(s, d)``; all-reduce and reduce ``T_d = fifo(a(s, d) for s != d; C)``
(`sim.network.problem.fifo_finish_cycles`); broadcast ``T_d = a(root, d)``.
On a fully connected network with a link per pair each tree is the direct
links, and in the α–β notation of Thakur, Rabenseifner & Gropp (2005) the
all-gather and the broadcast cost ``α + nβ`` (the one-step all-gather of
``direct``), the all-reduce and the reduce ``α + nβ + (p - 1) nγ``, each up to
rounding a message to whole flits (α and β mapped to this model as in
``tests/network/test_net_field_algorithms.py``).

Exact when no two trees share a link: on a fully connected topology, and on
subsets whose trees are link-disjoint. On a mesh with every core taking part,
link ``(x, y) -> (x, y + 1)`` carries the block of every source in rows ``0..y``
(``(y + 1) W`` packets), so the trees queue there and the DES is slower: the
closed form is then a lower bound (`sim.network.exactness`).

Examples
--------
>>> from sim.network.problem import make_problem
>>> from sim.network.routing import Router
>>> from sim.network.topology import fully_connected
>>> p = make_problem(Router(fully_connected(4)), "all_gather", "multicast", range(4), 64)
>>> multicast_done_cycles(p)[0]      # one hop of 2, 2 flits: 2 + 2 - 1
3
"""

from __future__ import annotations

from sim.network.emit import Emitter
from sim.network.problem import CollectiveKind, Problem, fifo_finish_cycles
from sim.network.routing import multicast_tree
from sim.network.transport import append_multicast, multicast_delivery_cycles, multicast_flits

__all__ = ["multicast_done_cycles", "multicast_schedule"]

Done = dict[int, tuple[int, ...]]


def _sends(problem: Problem) -> list[tuple[int, tuple[int, ...]]]:
    """``(source, receivers)`` of every multicast, in ring order of the sources."""
    order, root = problem.ranked(), problem.root
    if problem.kind is CollectiveKind.BROADCAST:
        return [(root, tuple(c for c in order if c != root))]
    if problem.kind is CollectiveKind.REDUCE:
        return [(src, (root,)) for src in order if src != root]
    return [(src, tuple(c for c in order if c != src)) for src in order]


def _combines(problem: Problem) -> bool:
    return problem.kind in (CollectiveKind.REDUCE, CollectiveKind.ALL_REDUCE)


def _holders(problem: Problem) -> tuple[int, ...]:
    return (problem.root,) if problem.kind is CollectiveKind.REDUCE else problem.participants


def multicast_schedule(problem: Problem, emit: Emitter) -> Done:
    """Append the multicasts (and combines); return ``{core: tasks marking it has the
    result}`` (reduce: the root only)."""
    got: dict[int, list[int]] = {core: [] for core in problem.participants}
    for src, receivers in _sends(problem):
        if not receivers:
            continue
        sent = append_multicast(emit.tasks, problem.router, emit.engines, src, receivers,
                                problem.nbytes, emit.deps_of(src), name=f"{emit.name}.mc{src}",
                                op=emit.name)
        for dst, index in sent.items():
            got[dst].append(index)
    done: Done = {}
    for core in _holders(problem):
        own = emit.deps_of(core)
        if _combines(problem) and got[core]:
            done[core] = tuple(emit.combine(core, problem.nbytes, (index, *own))
                               for index in got[core])
        else:
            done[core] = own + tuple(got[core])
    return done


def multicast_done_cycles(problem: Problem) -> dict[int, int]:
    """Per core that ends with the result, the uncontended closed-form cycle at which it
    has it (see the module docstring)."""
    router = problem.router
    arrivals: dict[int, list[int]] = {core: [] for core in problem.participants}
    for src, receivers in _sends(problem):
        if not receivers:
            continue
        flits = multicast_flits(router, multicast_tree(router, src, list(receivers)),
                                problem.nbytes)
        for dst in receivers:
            arrivals[dst].append(multicast_delivery_cycles(router, src, dst, flits))
    combine = problem.combine_cycles(problem.nbytes)
    if _combines(problem):
        return {core: fifo_finish_cycles(0, arrivals[core], combine)
                for core in _holders(problem)}
    return {core: max(arrivals[core], default=0) for core in _holders(problem)}
