"""In-network collectives: routers merge packets on the way in and copy them on the way out.

The reduction tree is the union of the routes from every participant to the
root (`sim.network.routing.reduction_tree`), the multicast tree the union of the
routes from the root (`sim.network.routing.multicast_tree`); every link of a
tree carries exactly one packet, so these schedules never contend with
themselves. A router (core or switch) whose inputs (packets from its tree
children plus, at a participant, the core's own contribution) number two or
more *merges* them: the outgoing head leaves ``c = in_network_combine_cycles``
after the last incoming head arrived (combining is pipelined flit by flit).
The local contribution is assumed to be in the router by then. No SIMD unit
is used, and every packet is a single packet whatever ``max_packet_bytes`` says.

Write ``h(u, v)`` for the head latency of one hop (router plus link), ``F`` for
the flits of the packet on the narrowest link of the tree(s), ``M(v) = c`` if
``v`` merges, else 0.

- reduce: ``A(v) = max_children (H(c) + h(c, v))`` (0 at a leaf),
  ``H(v) = A(v) + M(v)``; the root has the result at ``A(root) + M(root) + F - 1``.
- broadcast: one multicast packet, ``max_d route_head(root, d) + F - 1``.
- all-reduce: the root's router multicasts the merged head right away (as a
  switch-based reduction does): ``A(root) + M(root) + max_d route_head(root, d) + F - 1``.
- all-gather: merging concatenates, so the packet leaving ``v`` carries the
  ``n s(v)`` bytes of its subtree's participants (``F_v`` flits); the root has
  everything at ``G = max_c (H(c) + h(c, root) + M(root) + F_c - 1)`` and then
  multicasts all ``p n`` bytes: ``G + max_d route_head(root, d) + F_all - 1``.

Endpoint overhead ``o`` and store-and-forward (`sim.network.switching`): every
participant's contribution enters its router ``o`` after it is ready (it is
injected), so the up tree starts at ``o``; merged packets are forwarded by the
routers and pay nothing more, nor does the all-reduce's multicast of the merged
packet; the broadcast and the all-gather's final multicast leave the root's
memory and pay ``o``. Store-and-forward, every up hop waits for the tail:
``A(v) = max_children (H(c) + h(c, v) + F_c - 1)`` and the root has a reduction at
``A(root) + M(root)``; a multicast reaches ``d`` after
``sum over its route of (h_i + F - 1)``.

Examples
--------
>>> from sim.network.problem import make_problem
>>> from sim.network.routing import Router
>>> from sim.network.topology import mesh_2d
>>> p = make_problem(Router(mesh_2d(3, 3)), "reduce", "in_network", list(range(9)), 64)
>>> in_network_latency_cycles(p)   # from core 8: 4 hops of 2, 4 merges of 1, F - 1 = 1
13
"""

from __future__ import annotations

from sim.network.emit import Emitter
from sim.network.problem import CollectiveKind, Problem
from sim.network.routing import multicast_tree, reduction_tree
from sim.network.transport import flits_for, multicast_delivery_cycles

__all__ = ["in_network_done_cycles", "in_network_latency_cycles", "in_network_schedule"]

Done = dict[int, tuple[int, ...]]


class _InTree:
    """The reduction tree of a problem, with its merge points and the narrowest width."""

    def __init__(self, problem: Problem) -> None:
        root = problem.root
        self.parent = reduction_tree(problem.router, root,
                                     [c for c in problem.ranked() if c != root])
        self.children: dict[int, list[int]] = {}
        for node, up in self.parent.items():
            self.children.setdefault(up, []).append(node)
        members = set(problem.participants)
        merge = problem.options.in_network_combine_cycles
        nodes = set(self.parent) | {root}
        self.merge = {v: merge if len(self.children.get(v, ())) + (v in members) >= 2 else 0
                      for v in nodes}
        depth: dict[int, int] = {root: 0}
        for node in self.parent:
            chain = [node]
            while chain[-1] not in depth:
                chain.append(self.parent[chain[-1]])
            for k, v in enumerate(reversed(chain[:-1]), start=1):
                depth[v] = depth[chain[-1]] + k
        #: Non-root nodes, children before parents (deepest first, then by id).
        self.upward = sorted(self.parent, key=lambda v: (-depth[v], v))
        width = problem.router.link_bytes_per_cycle
        self.narrowest = min((width(u, v) for u, v in self.parent.items()), default=float("inf"))
        self.members = members

    def subtree_members(self) -> dict[int, int]:
        count = {v: int(v in self.members) for v in self.merge}
        for node in self.upward:
            count[self.parent[node]] += count[node]
        return count


def _in_tree(problem: Problem) -> _InTree:
    """The problem's `_InTree`, shared (through the router's memo) by every problem
    with the same root, participants and merge cost: a pipelined gather asks
    once per chunk. Read only."""
    key = ("in_tree", problem.root, problem.participants,
           problem.options.in_network_combine_cycles)
    tree = problem.router.remembered(key)
    if tree is None:
        tree = _InTree(problem)
        problem.router.remember(key, tree)
    return tree


def _narrowest_out(problem: Problem) -> float:
    tree = multicast_tree(problem.router, problem.root,
                          [c for c in problem.ranked() if c != problem.root])
    width = problem.router.link_bytes_per_cycle
    return min(width(u, v) for u, kids in tree.items() for v in kids)


def _flits(problem: Problem, tree: _InTree) -> int:
    """Flits of the reduction packet: the narrowest link of the trees it uses."""
    narrowest = tree.narrowest
    if problem.kind is CollectiveKind.ALL_REDUCE:
        narrowest = min(narrowest, _narrowest_out(problem))
    return flits_for(problem.nbytes, narrowest)


def _entries(problem: Problem, emit: Emitter) -> dict[int, tuple[int, ...]]:
    """Per participant, what says its contribution is in its router: its deps, or the
    inject task publishing ``o`` cycles after them (`append_inject`)."""
    return {core: emit.inject(core, emit.deps_of(core), f"in.{core}")
            for core in problem.participants}


def _up(problem: Problem, emit: Emitter, tree: _InTree, root_tail: bool,
        entry: dict[int, tuple[int, ...]]) -> list[int]:
    """Append the merging hops toward the root; return the hops into the root."""
    gather = problem.kind is CollectiveKind.ALL_GATHER
    saf = problem.router.store_and_forward
    sizes = tree.subtree_members() if gather else {}
    flits = 0 if gather else _flits(problem, tree)
    into: dict[int, list[int]] = {}
    for node in tree.upward:
        up = tree.parent[node]
        nbytes = problem.nbytes * sizes[node] if gather else problem.nbytes
        count = flits_for(nbytes, tree.narrowest) if gather else flits
        head = problem.router.hop_cycles(node, up)
        tail = saf or (up == problem.root and root_tail)
        latency = (head - 1 if tail else head - count) + tree.merge[up]
        deps = into.get(node, []) + list(entry[node] if node in tree.members else ())
        into.setdefault(up, []).append(emit.hop((node, up), count, latency, deps, "up", nbytes))
    return into.get(problem.root, [])


def in_network_schedule(problem: Problem, emit: Emitter) -> Done:
    """Append the in-network collective's tasks.

    Returns ``{core: tasks marking it has the result}``.
    """
    root, kind = problem.root, problem.kind
    others = [c for c in problem.ranked() if c != root]
    own = emit.deps_of(root)
    if not others:
        return {root: own}
    if kind is CollectiveKind.BROADCAST:
        sent = emit.multicast(root, others, problem.nbytes, own, "down")
        return {root: own, **{c: (i,) for c, i in sent.items()}}
    tree = _in_tree(problem)
    entry = _entries(problem, emit)
    if kind is CollectiveKind.REDUCE:
        return {root: tuple(_up(problem, emit, tree, True, entry)) + entry[root]}
    if kind is CollectiveKind.ALL_GATHER:
        have = tuple(_up(problem, emit, tree, True, entry)) + entry[root]
        sent = emit.multicast(root, others, problem.nbytes * problem.size, have, "down")
        return {root: have, **{c: (i,) for c, i in sent.items()}}
    flits = _flits(problem, tree)
    heads = tuple(_up(problem, emit, tree, False, entry)) + entry[root]
    tail = 0 if problem.router.store_and_forward else flits - 1
    mine = emit.marker(root, tail, heads, f"eject.{root}")
    sent = emit.multicast(root, others, problem.nbytes, heads, "down", flits=flits, inject=False)
    return {root: (mine,), **{c: (i,) for c, i in sent.items()}}


def in_network_latency_cycles(problem: Problem) -> int:
    """The uncontended closed form of `in_network_schedule` (see the module docstring):
    when the last core has the result."""
    return max(in_network_done_cycles(problem).values())


def in_network_done_cycles(problem: Problem) -> dict[int, int]:
    """Per core that ends with the result (reduce: the root), the uncontended
    closed-form cycle at which it has it: the module docstring's formulas with
    ``route_head(root, d)`` for destination ``d`` in place of the maximum (the
    root of a broadcast has it at 0, of an all-reduce when the merged packet's
    tail is in, of an all-gather at ``G``)."""
    root, kind, router = problem.root, problem.kind, problem.router
    others = [c for c in problem.ranked() if c != root]
    if not others:
        return {root: 0}
    if kind is CollectiveKind.BROADCAST:
        flits = flits_for(problem.nbytes, _narrowest_out(problem))
        return {root: 0, **{c: multicast_delivery_cycles(router, root, c, flits)
                            for c in others}}
    tree = _in_tree(problem)
    merged = _merged_cycles(problem, tree)
    if kind is CollectiveKind.REDUCE:
        return {root: merged}
    if kind is CollectiveKind.ALL_REDUCE:
        flits = _flits(problem, tree)
        # the multicast leaves with the merged head (cut-through) or tail (store-and-forward)
        leaves = merged if router.store_and_forward else merged - (flits - 1)
        return {root: merged, **{c: leaves + multicast_delivery_cycles(router, root, c, flits,
                                                                       inject=False)
                                 for c in others}}
    flits = flits_for(problem.nbytes * problem.size, _narrowest_out(problem))
    return {root: merged, **{c: merged + multicast_delivery_cycles(router, root, c, flits)
                             for c in others}}


def _merged_cycles(problem: Problem, tree: _InTree) -> int:
    """When the root has the merged packet: its tail for a reduce or all-reduce
    (``A(root) + M(root) + F - 1``), everything for an all-gather (``G``); every
    contribution enters its router at ``o``; store-and-forward, ``A`` counts tails."""
    root, router = problem.root, problem.router
    entry = router.endpoint_overhead_cycles
    gather = problem.kind is CollectiveKind.ALL_GATHER
    sizes = tree.subtree_members() if gather else {}
    flits = 0 if gather else _flits(problem, tree)
    saf = router.store_and_forward

    def tail(node: int) -> int:
        """Cycles between the head and the tail of the packet leaving ``node``."""
        count = flits_for(problem.nbytes * sizes[node], tree.narrowest) if gather else flits
        return count - 1

    head_out: dict[int, int] = {}
    arrival: dict[int, int] = {}
    for node in tree.upward:
        own = entry if node in tree.members else 0
        head_out[node] = max(arrival.get(node, 0), own) + tree.merge[node]
        up = tree.parent[node]
        reach = head_out[node] + router.hop_cycles(node, up) + (tail(node) if saf else 0)
        arrival[up] = max(arrival.get(up, 0), reach)
    if not gather:
        at_root = max(arrival[root], entry) + tree.merge[root]
        return at_root if saf else at_root + flits - 1
    return max(head_out[c] + router.hop_cycles(c, root) + tree.merge[root] + tail(c)
               for c in tree.children[root])
