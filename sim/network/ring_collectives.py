"""Ring collectives over the participants in the topology's ring order.

The ring visits the participants in ``rank`` order (along a ring, a cycle of
neighbours on a grid, chiplet by chiplet on a card, see
`sim.network.topology.grid_cycle`) and closes from the last back to the
first; a ring segment is the route between consecutive participants, one link
or several. Write ``d_i = m(o_i, o_{i+1}, B)`` for the message time over
segment ``i`` (``hops (r + l) + F - 1``), ``D = sum_i d_i`` over the ``p``
segments, ``C`` for one combine.

- reduce: a chain along the ring that ends at the root; every core combines the
  running partial into its own and forwards it (not pipelined: meant for small
  vectors). ``T = sum_{j < p-1} (d_j + C)`` over the chain's segments.
- broadcast: a chain from the root, each core forwarding after full receipt.
  ``T = sum_{j < p-1} d_j``.
- all-reduce: reduce-scatter then all-gather, ``2 (p - 1)`` steps of one chunk
  of ``ceil(n / p)`` bytes (chunks padded to equal size); a core sends step
  ``s + 1`` as soon as it has combined what step ``s`` brought.
- all-gather: ``p - 1`` steps forwarding ``n``-byte blocks.

Closed form of the all-reduce and all-gather: a max-plus recursion over the
steps, per segment ``i`` (from core ``i`` to ``i + 1``), with ``d_i`` its
message time, ``F_i`` the cycles a message holds its first link
(`sim.network.transport.first_link_hold_cycles`) and ``C`` one combine:
``start(s, i) = max(ready(s, i), start(s - 1, i) + F_i)``,
``arrival(s, i) = start(s, i) + d_i``; gathering ``ready(s + 1, i + 1) =
arrival(s, i)``; reduce-scattering the combine ``R(s, i + 1) = max(arrival(s, i),
R(s - 1, i + 1)) + C`` (one SIMD unit, in step order) is ``ready(s + 1, i + 1)``;
the all-gather half continues from the last combine, on the same links. The
latency is the last arrival. When every segment takes one chunk per step
without waiting (``F_i <= min_j d_j + C``, true when all links have one width)
this is ``2D - min_i (d_i + d_{i+1}) + (p - 1) C`` for the all-reduce and
``D - min_i d_i`` for the all-gather; where widths differ (a card whose
die-to-die links are narrower than its mesh) the slow segment's messages wait
for its own first link, which the recursion counts.

In the α–β model (Thakur, Rabenseifner & Gropp 2005) the all-reduce is
``2(p-1)α + 2(p-1)/p nβ`` plus ``(p-1)/p nγ`` of combines: with one-hop segments
and free combines, ``2(p-1) m(ceil(n/p))`` above.

Exact when no two segments share a link. Segments are link-disjoint with every
core participating on a ring, a mesh or torus, a tree of switches (cores in leaf
order), a fully connected topology and a `card_hierarchy` whose chiplets have an
even side; on grids with both sides odd the snake's closing segment may cross
others. Ring all-reduce sends ``2p (p - 1)`` messages: quadratic in the participants.

Examples
--------
>>> from sim.network.problem import make_problem
>>> from sim.network.routing import Router
>>> from sim.network.topology import ring
>>> p = make_problem(Router(ring(4)), "all_reduce", "ring", [0, 1, 2, 3], 256)
>>> ring_latency_cycles(p)    # 6 steps of 2 + 2 - 1 cycles, 3 combines of 1
21
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.network.emit import Emitter
from sim.network.plans import rotated
from sim.network.problem import CollectiveKind, Problem

__all__ = ["RingPlay", "ring_latency_cycles", "ring_played_alone", "ring_schedule"]

Done = dict[int, tuple[int, ...]]


def _chunk_bytes(problem: Problem) -> int:
    return -(-problem.nbytes // problem.size)


def _order(problem: Problem) -> tuple[int, ...]:
    """The ring, starting after the root for reduce (so the root ends the chain),
    at the root otherwise."""
    index = problem.size - 1 if problem.kind is CollectiveKind.REDUCE else 0
    return rotated(problem.ranked(), problem.root, index)


def _steps(emit: Emitter, order: tuple[int, ...], nbytes: int, have: list[tuple[int, ...]],
           steps: int, tag: str, combine: bool, got: list[list[int]]) -> list[tuple[int, ...]]:
    """``steps`` rounds in which every core sends to its ring successor."""
    p = len(order)
    for step in range(steps):
        following = list(have)
        for i, core in enumerate(order):
            j = (i + 1) % p
            target = order[j]
            index = emit.send(core, target, nbytes, have[i], f"{tag}{step}.{core}->{target}")
            got[j].append(index)
            if combine:
                index = emit.combine(target, nbytes, (index, *emit.deps_of(target)))
            following[j] = (index,)
        have = following
    return have


def ring_schedule(problem: Problem, emit: Emitter) -> Done:
    """Append the ring collective's tasks; return ``{core: tasks marking it has the result}``."""
    order = _order(problem)
    p, n, kind = problem.size, problem.nbytes, problem.kind
    if kind in (CollectiveKind.REDUCE, CollectiveKind.BROADCAST):
        combine = kind is CollectiveKind.REDUCE
        have = emit.deps_of(order[0])
        done: Done = {order[0]: have}
        for j in range(p - 1):
            src, dst = order[j], order[j + 1]
            index = emit.send(src, dst, n, have, f"chain.{src}->{dst}")
            if combine:
                index = emit.combine(dst, n, (index, *emit.deps_of(dst)))
            have = done[dst] = (index,)
        return {problem.root: done[problem.root]} if combine else done
    start = [emit.deps_of(core) for core in order]
    got: list[list[int]] = [[] for _ in order]
    if kind is CollectiveKind.ALL_GATHER:
        _steps(emit, order, n, start, p - 1, "ag", False, got)
        return {core: start[i] + tuple(got[i]) for i, core in enumerate(order)}
    chunk = _chunk_bytes(problem)
    reduced = _steps(emit, order, chunk, start, p - 1, "rs", True, [[] for _ in order])
    _steps(emit, order, chunk, reduced, p - 1, "ag", False, got)
    return {core: reduced[i] + tuple(got[i]) for i, core in enumerate(order)}


@dataclass(frozen=True)
class RingPlay:
    """The ring all-reduce or all-gather played alone (`ring_played_alone`), by ring
    position ``j`` (core ``order[j]``): the latest ready cycle of the tasks marking
    that it has the result (``done_cycles``); per reduce-scatter step and position
    the cycle its combine starts (``combine_start_cycles``, ``(p - 1, p)``; empty for
    an all-gather); per segment ``j`` (``order[j] -> order[j + 1]``) its messages
    (``messages``) and the cycles each holds its links (``hold_cycles``)."""

    order: tuple[int, ...]
    done_cycles: np.ndarray
    combine_start_cycles: np.ndarray
    combine_cycles: int
    messages: int
    hold_cycles: np.ndarray


def _recursion(problem: Problem, order: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray,
                                                                   np.ndarray]:
    """The max-plus recursion of the module docstring: per position its last arrival,
    per reduce-scatter step and position its combine's start, per segment its hold."""
    p, kind = len(order), problem.kind
    size = problem.nbytes if kind is CollectiveKind.ALL_GATHER else _chunk_bytes(problem)
    pairs = [(order[i], order[(i + 1) % p]) for i in range(p)]
    segment = np.array([problem.message_cycles(u, v, size) for u, v in pairs], dtype=np.int64)
    hold = np.array([problem.first_link_hold_cycles(u, v, size) for u, v in pairs],
                    dtype=np.int64)
    ready = np.zeros(p, dtype=np.int64)       # when core i may send its next step
    start = np.full(p, np.iinfo(np.int64).min // 2, dtype=np.int64)
    combines = []
    if kind is CollectiveKind.ALL_REDUCE:
        combine = problem.combine_cycles(size)
        reduced = np.zeros(p, dtype=np.int64)  # core i's last combine (its SIMD unit)
        for _ in range(p - 1):
            start = np.maximum(ready, start + hold)
            combines.append(np.maximum(np.roll(start + segment, 1), reduced))
            reduced = combines[-1] + combine
            ready = reduced
    arrival = ready
    for _ in range(p - 1):
        start = np.maximum(ready, start + hold)
        arrival = np.roll(start + segment, 1)   # what core i + 1 received from core i
        ready = arrival
    return arrival, np.array(combines, dtype=np.int64).reshape(len(combines), p), hold


def ring_played_alone(problem: Problem) -> RingPlay | None:
    """What `ring_schedule`'s tasks do played alone on the FIFO engines, every
    contribution ready at cycle 0, from the recursion, for an all-reduce or
    all-gather on a cut-through network whose ring segments share no link (None
    otherwise). Then each segment's links carry its own messages only, in step
    order, and every hop after a segment's first is a pure delay (a packet reaches
    it at least its predecessor's flits after that one), so the recursion is the
    engines' timeline; ``tests/network/test_replay.py`` checks it against them."""
    kind, router = problem.kind, problem.router
    if kind not in (CollectiveKind.ALL_REDUCE, CollectiveKind.ALL_GATHER) \
            or router.store_and_forward or problem.size < 2:
        return None
    order = _order(problem)
    p = len(order)
    seen: set[tuple[int, int]] = set()
    hops = 0
    for i in range(p):
        edges = router.route(order[i], order[(i + 1) % p]).edges
        seen.update(edges)
        hops += len(edges)
        if len(seen) < hops:
            return None
    last, combines, hold = _recursion(problem, order)
    size = problem.nbytes if kind is CollectiveKind.ALL_GATHER else _chunk_bytes(problem)
    combine = problem.combine_cycles(size)
    if combines.size:  # a core's result is also marked by its last combine
        last = np.maximum(last, combines[-1] + combine)
    steps = (p - 1) * (2 if kind is CollectiveKind.ALL_REDUCE else 1)
    return RingPlay(order, last, combines, combine, steps, hold)


def ring_latency_cycles(problem: Problem) -> int:
    """The uncontended closed form of `ring_schedule` (see the module docstring)."""
    order = _order(problem)
    p, n, kind = problem.size, problem.nbytes, problem.kind
    if p == 1:
        return 0
    if kind in (CollectiveKind.REDUCE, CollectiveKind.BROADCAST):
        combine = problem.combine_cycles(n) if kind is CollectiveKind.REDUCE else 0
        return sum(problem.message_cycles(order[j], order[j + 1], n) + combine
                   for j in range(p - 1))
    arrival, _, _ = _recursion(problem, order)
    return int(arrival.max())
