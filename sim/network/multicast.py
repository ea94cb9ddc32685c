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

``row_column`` (two phases on a mesh): where the participants are a full
rectangle of one mesh (a ``mesh``/``torus``, or one chiplet of a ``card``), every
core first multicasts along its row (all-gather: its block; all-reduce: its
vector, combined by the receivers), then along its column what it has gathered
(the row's ``W_r`` blocks, ``W_r n`` bytes) or reduced (``n`` bytes). Each phase's
trees stay in one dimension, so a message takes 2 multicasts of at most
``W - 1`` and ``H - 1`` hops; the link loads are those of the one-phase trees
(which also run along the row, then the columns), with ``W`` times fewer,
larger packets: ``2 p (W - 1)``-ish hop events instead of ``p (p - 1)``.
Elsewhere (other topologies or subsets, several chiplets, reduce, broadcast)
it is ``in_network`` (`sim.network.in_network`): a one-phase multicast over
``p`` cores costs ``p (p - 1)`` hop events, too many for a default on a layer of
1024 cores across chiplets. Closed form: the first phase as above gives ``t_d``; the second
phase's packet of ``s`` leaves at ``t_s`` and arrives at ``t_s + a(s, d)``
(its own flits), gathered ``T_d = max(t_d, max_s ...)``, reduced
``T_d = fifo(t_d; arrivals; C)``.

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
from sim.network.in_network import in_network_done_cycles, in_network_schedule
from sim.network.problem import CollectiveKind, Problem, fifo_finish_cycles
from sim.network.routing import Router, multicast_tree
from sim.network.transport import flits_for

__all__ = [
    "multicast_done_cycles",
    "multicast_schedule",
    "row_column_done_cycles",
    "row_column_schedule",
]

Done = dict[int, tuple[int, ...]]


#: One multicast: ``(source, receivers, bytes)``.
Send = tuple[int, tuple[int, ...], int]


def _one_phase(problem: Problem) -> list[Send]:
    """The one-phase multicasts, in ring order of the sources."""
    order, root, n = problem.ranked(), problem.root, problem.nbytes
    if problem.kind is CollectiveKind.BROADCAST:
        return [(root, tuple(c for c in order if c != root), n)]
    if problem.kind is CollectiveKind.REDUCE:
        return [(src, (root,), n) for src in order if src != root]
    return [(src, tuple(c for c in order if c != src), n) for src in order]


Lines = tuple[list[tuple[int, ...]], list[tuple[int, ...]]]


def _grid_lines(problem: Problem) -> Lines | None:
    """The rows and columns of the participants (ring order within each) if they
    are a full rectangle of one mesh with at least two of each, else None; built
    once per problem (a private memo: the schedule and the closed form ask)."""
    memo: dict[str, Lines | None] = problem.__dict__.setdefault("_multicast_lines", {})
    if "lines" not in memo:
        memo["lines"] = _lines(problem)
    return memo["lines"]


def _lines(problem: Problem) -> Lines | None:
    graph = problem.router.graph
    if graph.graph.get("topology") not in ("mesh", "torus", "card"):
        return None
    nodes = graph.nodes
    where = {nodes[c].get("chiplet", 0) for c in problem.participants}
    if len(where) != 1:
        return None
    rows: dict[int, list[int]] = {}
    cols: dict[int, list[int]] = {}
    for core in problem.ranked():
        x, y = nodes[core]["pos"]
        rows.setdefault(y, []).append(core)
        cols.setdefault(x, []).append(core)
    if len(rows) < 2 or len(cols) < 2 or len(rows) * len(cols) != problem.size:
        return None
    return [tuple(r) for _, r in sorted(rows.items())], [tuple(c) for _, c in sorted(cols.items())]


def _two_phases(problem: Problem) -> bool:
    """Whether ``row_column`` runs its two phases (else it is ``in_network``)."""
    return (problem.kind in (CollectiveKind.ALL_GATHER, CollectiveKind.ALL_REDUCE)
            and _grid_lines(problem) is not None)


def _phases(problem: Problem, two_phase: bool) -> list[list[Send]]:
    """The multicasts of each phase (a phase's sends wait for what the phases
    before brought their source); built once per problem (as `_grid_lines`), read only."""
    memo: dict[str, list[list[Send]]] = problem.__dict__.setdefault("_multicast_phases", {})
    key = "two" if two_phase else "one"
    if key not in memo:
        memo[key] = _built_phases(problem, two_phase)
    return memo[key]


def _built_phases(problem: Problem, two_phase: bool) -> list[list[Send]]:
    lines = _grid_lines(problem) if two_phase else None
    if lines is None:
        return [_one_phase(problem)]
    rows, cols = lines
    n = problem.nbytes
    second = n * len(cols) if problem.kind is CollectiveKind.ALL_GATHER else n
    return [[(src, tuple(c for c in line if c != src), size) for line in lines_
             for src in line] for lines_, size in ((rows, n), (cols, second))]


def _combines(problem: Problem) -> bool:
    return problem.kind in (CollectiveKind.REDUCE, CollectiveKind.ALL_REDUCE)


def _holders(problem: Problem) -> tuple[int, ...]:
    return (problem.root,) if problem.kind is CollectiveKind.REDUCE else problem.participants


def multicast_schedule(problem: Problem, emit: Emitter) -> Done:
    """Append the one-phase multicasts (and combines); return ``{core: tasks marking it
    has the result}`` (reduce: the root only)."""
    return _schedule(problem, emit, False)


def row_column_schedule(problem: Problem, emit: Emitter) -> Done:
    """`multicast_schedule` in two phases, rows then columns, where the participants
    are a full rectangle of a mesh; elsewhere `in_network_schedule`."""
    if not _two_phases(problem):
        return in_network_schedule(problem, emit)
    return _schedule(problem, emit, True)


def multicast_done_cycles(problem: Problem) -> dict[int, int]:
    """Per core that ends with the result, the uncontended closed-form cycle at which it
    has it (see the module docstring)."""
    return _done_cycles(problem, False)


def row_column_done_cycles(problem: Problem) -> dict[int, int]:
    """The closed form of `row_column_schedule` (see the module docstring)."""
    if not _two_phases(problem):
        return in_network_done_cycles(problem)
    return _done_cycles(problem, True)


def _schedule(problem: Problem, emit: Emitter, two_phase: bool) -> Done:
    have: dict[int, tuple[int, ...]] = {c: emit.deps_of(c) for c in problem.participants}
    for phase, sends in enumerate(_phases(problem, two_phase)):
        got: dict[int, list[tuple[int, int]]] = {}
        for src, receivers, nbytes in sends:
            if not receivers:
                continue
            sent = emit.multicast(src, receivers, nbytes, have[src], f"mc{phase}.{src}")
            for dst, index in sent.items():
                got.setdefault(dst, []).append((index, nbytes))
        following = dict(have)
        for core, arrived in got.items():
            if _combines(problem):
                following[core] = tuple(emit.combine(core, nbytes, (index, *have[core]))
                                        for index, nbytes in arrived)
            else:
                following[core] = have[core] + tuple(index for index, _ in arrived)
        have = following
    return {core: have[core] for core in _holders(problem)}


def _reach(router: Router, src: int, receivers: tuple[int, ...]
           ) -> tuple[float, tuple[tuple[int, int, int], ...]]:
    """The narrowest link of the multicast tree from ``src`` to ``receivers`` (what
    `multicast_flits` counts on) and per receiver its route's head latency and hops
    (what `multicast_delivery_cycles` reads), remembered by the router."""
    key = ("multicast_reach", src, receivers)
    got: tuple[float, tuple[tuple[int, int, int], ...]] | None = router.remembered(key)
    if got is None:
        tree = multicast_tree(router, src, list(receivers))
        width = router.link_bytes_per_cycle
        narrowest = min(width(u, v) for u, children in tree.items() for v in children)
        routes = [router.route(src, d) for d in receivers]
        got = (narrowest, tuple((d, r.head_latency_cycles, r.hops)
                                for d, r in zip(receivers, routes, strict=True)))
        router.remember(key, got)
    return got


def _done_cycles(problem: Problem, two_phase: bool) -> dict[int, int]:
    """`multicast_delivery_cycles` of every send from `_reach` (the same sums)."""
    router = problem.router
    overhead, saf = router.endpoint_overhead_cycles, router.store_and_forward
    t = dict.fromkeys(problem.participants, 0)
    for sends in _phases(problem, two_phase):
        arrivals: dict[int, list[tuple[int, int]]] = {}
        for src, receivers, nbytes in sends:
            if not receivers:
                continue
            narrowest, reach = _reach(router, src, receivers)
            flits = flits_for(nbytes, narrowest)
            leaves = t[src] + overhead + flits - 1
            for dst, head, hops in reach:
                extra = (hops - 1) * (flits - 1) if saf else 0
                arrivals.setdefault(dst, []).append((leaves + head + extra, nbytes))
        following = dict(t)
        for core, got in arrivals.items():
            if _combines(problem):
                # one size per phase: every combine of it costs the same
                combine = problem.combine_cycles(got[0][1])
                following[core] = fifo_finish_cycles(t[core], [a for a, _ in got], combine)
            else:
                following[core] = max([t[core]] + [a for a, _ in got])
        t = following
    return {core: t[core] for core in _holders(problem)}
