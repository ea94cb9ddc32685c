"""The direct algorithm: every exchange in one step, each node talking to every other.

``p`` participants, ``n`` bytes, blocks of ``b = ceil(n / p)`` bytes (padded to
equal size, as the ring pads its chunks); block ``j`` belongs to the ``j``-th
participant in ring order.

- all-reduce: a one-step reduce-scatter (every node sends its block ``j`` to
  node ``j``, which combines the ``p - 1`` blocks it receives), then a one-step
  all-gather (every node sends its reduced block to every other);
- all-gather (``n`` is each core's contribution, as for the ring): one step,
  every node sends its ``n`` bytes to every other;
- reduce: the one-step reduce-scatter, then every node sends its reduced block
  to the root;
- broadcast: the root sends the ``n`` bytes to every node at once (the same
  messages as ``star``).

Closed form (`sim.network.stepped`, uncontended; ``m(u, v, B)`` the message
time, ``C`` one combine of ``b`` bytes): ``R_j = fifo(m(i, j, b) for i != j; C)``
is when node ``j`` has reduced its block; all-reduce:
``T_i = max(R_i, max_{j != i} R_j + m(j, i, b))``; reduce: ``T_root`` likewise;
all-gather ``T_i = max_j m(j, i, n)``; broadcast ``T_i = m(root, i, n)``.
On a fully connected network with a link per pair (uniform one-hop links, free
combines) these are the α–β costs of Thakur, Rabenseifner & Gropp (2005):
all-reduce and reduce ``2 m(b) = 2α + 2(n/p)β``, all-gather and broadcast
``m(n) = α + nβ``, each up to rounding a message to whole flits (with α one
message's head latency less one cycle and ``Bβ`` its flits; the mapping is in
``tests/network/test_net_field_algorithms.py``). Combines add ``(p - 1) C``.
With one port per node the ``p - 1`` messages of a step would go one after
another, ``2α + 2(p-1)/p nβ``; this model has no port limit, only links.

Exact only when the ``p (p - 1)`` messages of a step share no link: on a fully
connected topology. Elsewhere (one port per node, rings, meshes) they queue at
the links and the DES is slower than this closed form, which is then a lower
bound. The direct algorithm sends ``2 p (p - 1)`` messages.

Examples
--------
>>> from sim.network.problem import make_problem
>>> from sim.network.routing import Router
>>> from sim.network.topology import fully_connected
>>> p = make_problem(Router(fully_connected(4)), "all_reduce", "direct", range(4), 256)
>>> direct_done_cycles(p)[0]     # 2 steps of 2 + 2 - 1 cycles, 3 combines of 1
9
"""

from __future__ import annotations

from sim.network.emit import Emitter
from sim.network.problem import CollectiveKind, Problem
from sim.network.stepped import Step, run_steps, step_done_cycles

__all__ = ["direct_done_cycles", "direct_schedule"]

Done = dict[int, tuple[int, ...]]


def _steps(problem: Problem) -> list[Step]:
    order, n, kind = problem.ranked(), problem.nbytes, problem.kind
    others = [(src, dst) for src in order for dst in order if src != dst]
    if kind is CollectiveKind.BROADCAST:
        root = problem.root
        return [Step("bcast", tuple((root, dst, n) for dst in order if dst != root), False)]
    if kind is CollectiveKind.ALL_GATHER:
        return [Step("ag", tuple((src, dst, n) for src, dst in others), False)]
    block = -(-n // problem.size)
    steps = [Step("rs", tuple((src, dst, block) for src, dst in others), True)]
    if kind is CollectiveKind.ALL_REDUCE:
        steps.append(Step("ag", tuple((src, dst, block) for src, dst in others), False))
    else:
        root = problem.root
        steps.append(Step("gather", tuple((src, root, block) for src in order if src != root),
                          False))
    return steps


def _holders(problem: Problem) -> tuple[int, ...]:
    return (problem.root,) if problem.kind is CollectiveKind.REDUCE else problem.participants


def direct_schedule(problem: Problem, emit: Emitter) -> Done:
    """Append the direct collective's tasks; return ``{core: tasks marking it has the result}``
    (reduce: the root only)."""
    have = run_steps(problem, emit, _steps(problem))
    return {core: have[core] for core in _holders(problem)}


def direct_done_cycles(problem: Problem) -> dict[int, int]:
    """Per core that ends with the result, the uncontended closed-form cycle at which
    it has it (see the module docstring)."""
    t = step_done_cycles(problem, _steps(problem))
    return {core: t[core] for core in _holders(problem)}
