"""Recursive doubling all-reduce and all-gather (the butterfly).

Positions ``0 .. p-1`` are the participants in ring order rotated to start at
the root. With ``q = 2^floor(log2 p)`` and ``e = p - q``:

1. fold-in (only if ``p`` is not a power of two): position ``q + j`` sends its
   data to position ``j`` for ``j < e`` (all-reduce: ``j`` combines it);
2. ``log2 q`` rounds; in round ``k`` every position ``i < q`` sends what it has
   to ``i XOR 2^k`` and merges what it receives (all-reduce: ``n`` bytes and a
   combine; all-gather: the blocks of its group, whose size doubles each round,
   no combine);
3. fold-out: position ``j`` sends the result to ``q + j``.

A position sends round ``k`` as soon as it has merged round ``k - 1``: there is
no global barrier. Closed form, per position, with ``m(u, v, B)`` the message
time and ``C`` one combine (all-gather: ``C = 0``, no self term):
``t_i <- max(t_i, t_{i^2^k} + m(i^2^k, i, B_k)) + C`` round by round, after
``t_j = m(q + j, j, n) + C`` for the fold-in, and ``t_{q+j} = t_j + m(j, q+j, B)``
for the fold-out; latency ``max_i t_i``. On uniform distances with ``p`` a
power of two this is ``log2(p) (m + C)``: the α–β cost ``log2(p) (α + nβ + nγ)``
of recursive doubling (Thakur, Rabenseifner & Gropp 2005); the all-gather is
``log2(p) α + (p - 1) nβ``.

Exact when the messages of one round share no link: true on a fully connected
topology; on rings, meshes and trees of switches the rounds with far partners
cross the same links (the bisection), and the DES is slower.

Examples
--------
>>> from sim.network.problem import make_problem
>>> from sim.network.routing import Router
>>> from sim.network.topology import fully_connected
>>> p = make_problem(Router(fully_connected(8)), "all_reduce", "recursive_doubling",
...                  list(range(6)), 64)
>>> butterfly_latency_cycles(p)   # m = 3, C = 1: fold-in 4, position 2 ends round 2 at 12
12
"""

from __future__ import annotations

from sim.network.emit import Emitter
from sim.network.plans import rotated
from sim.network.problem import CollectiveKind, Problem

__all__ = ["butterfly_latency_cycles", "butterfly_schedule", "fold_shape"]

Done = dict[int, tuple[int, ...]]


def fold_shape(problem: Problem) -> tuple[tuple[int, ...], int, int]:
    """``(order, q, e)``: the participants in ring order rotated to start at the root,
    ``q = 2^floor(log2 p)`` and ``e = p - q`` (positions ``q + j`` fold into ``j``)."""
    order = rotated(problem.ranked(), problem.root)
    q = 1 << (len(order).bit_length() - 1)
    return order, q, len(order) - q


def _group_blocks(q: int, extra: int, distance: int) -> list[int]:
    """Blocks each position ``i < q`` holds before the round with partner distance
    ``distance``: the blocks of its aligned group of ``distance`` positions."""
    blocks = [2 if i < extra else 1 for i in range(q)]
    out = []
    for i in range(q):
        start = i - i % distance
        out.append(sum(blocks[start:start + distance]))
    return out


def butterfly_schedule(problem: Problem, emit: Emitter) -> Done:
    """Append the tasks of a recursive-doubling all-reduce or all-gather."""
    order, q, extra = fold_shape(problem)
    n, p = problem.nbytes, problem.size
    reduce = problem.kind is CollectiveKind.ALL_REDUCE
    have = [emit.deps_of(core) for core in order]
    for j in range(extra):
        src, dst = order[q + j], order[j]
        index = emit.send(src, dst, n, have[q + j], f"fold.{src}->{dst}")
        have[j] = (emit.combine(dst, n, (index,) + have[j]),) if reduce else have[j] + (index,)
    distance, step = 1, 0
    while distance < q:
        blocks = _group_blocks(q, extra, distance)
        sends = []
        for i in range(q):
            src, dst = order[i], order[i ^ distance]
            size = n if reduce else n * blocks[i]
            sends.append(emit.send(src, dst, size, have[i], f"x{step}.{src}->{dst}"))
        for i in range(q):
            got = sends[i ^ distance]
            have[i] = (emit.combine(order[i], n, (got,) + have[i]),) if reduce else have[i] + (got,)
        distance, step = distance * 2, step + 1
    for j in range(extra):
        src, dst = order[j], order[q + j]
        size = n if reduce else n * p
        have[q + j] = (emit.send(src, dst, size, have[j], f"unfold.{src}->{dst}"),)
    return {core: have[i] for i, core in enumerate(order)}


def butterfly_latency_cycles(problem: Problem) -> int:
    """The uncontended closed form of `butterfly_schedule` (see the module docstring)."""
    order, q, extra = fold_shape(problem)
    n, p = problem.nbytes, problem.size
    reduce = problem.kind is CollectiveKind.ALL_REDUCE
    combine = problem.combine_cycles(n) if reduce else 0
    t = [0] * p
    for j in range(extra):
        t[j] = problem.message_cycles(order[q + j], order[j], n) + combine
    distance = 1
    while distance < q:
        blocks = _group_blocks(q, extra, distance)
        t = [max(t[i], t[i ^ distance] + problem.message_cycles(
                 order[i ^ distance], order[i], n if reduce else n * blocks[i ^ distance]))
             + combine for i in range(q)] + t[q:]
        distance *= 2
    for j in range(extra):
        t[q + j] = t[j] + problem.message_cycles(order[j], order[q + j], n if reduce else n * p)
    return max(t)
