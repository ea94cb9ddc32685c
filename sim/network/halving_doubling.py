"""Halving-doubling (Rabenseifner): recursive halving, then recursive doubling.

Positions ``0 .. p-1`` are the participants in ring order rotated to start at
the root; ``q = 2^floor(log2 p)``, ``e = p - q``, ``L = log2 q`` and blocks of
``b = ceil(n / q)`` bytes (padded to equal size). Non-powers of two are handled
as MPICH does, ``e`` pairs folding into one so that ``q`` remain, with the pairs
of `sim.network.butterfly.fold_shape` (MPICH pairs ranks ``2j, 2j + 1``; here
position ``q + j`` folds into ``j``): ``q + j`` first sends its vector to ``j``
(``n`` bytes, combined) and, in an all-reduce, gets the result back at the end
(``n`` bytes).

- all-reduce: a reduce-scatter by recursive halving, ``L`` rounds; in round
  ``k`` position ``i`` sends half of its current segment, ``b q / 2^(k+1)``
  bytes, to ``i XOR 2^k`` and combines the half it receives, so that each ends
  with one reduced block; then an all-gather by recursive doubling, ``L``
  rounds at distances ``q/2, ..., 1`` with segments of ``b 2^k`` bytes (no
  combine);
- reduce: the same reduce-scatter, then a binomial gather to the root: in the
  round at distance ``d = q/2, ..., 1`` positions ``d .. 2d - 1`` send the
  ``q / (2d)`` blocks they hold to ``i - d``;
- broadcast: the binomial tree of ``recursive_doubling``
  (`sim.network.plans.binomial_plan`, `sim.network.tree_collectives`): its
  long-message counterpart, a binomial scatter then a doubling all-gather,
  sends twice over the root's links to the same partner, which queues;
- all-gather: recursive doubling of growing blocks, which is
  `sim.network.butterfly` (the same schedule as ``recursive_doubling``).

Closed form: `sim.network.stepped` over these steps (all-gather:
`sim.network.butterfly`; broadcast: `sim.network.tree_collectives`). With
``p`` a power of two, uniform one-hop links and free combines, the all-reduce
and the reduce take ``2L`` rounds of ``m(B_k)``, the α–β cost
``2 log2(p) α + 2 (p - 1)/p n β`` (Rabenseifner 2004; Thakur, Rabenseifner &
Gropp 2005); the all-gather ``log2(p) α + (p - 1) n β`` and the broadcast
``log2(p) (α + n β)``, each up to rounding every message to whole flits
(``tests/network/test_net_field_algorithms.py`` maps α and β to this model).
With a fold (``p`` not a power of two) position ``j`` may send the round after
next to the same partner while that link still carries its previous message;
the closed form lets it wait for the link, as the DES does.

Exact when messages between different pairs share no link: on a fully
connected topology; elsewhere far rounds cross the bisection and the DES is
slower (the closed form is then a lower bound).

Examples
--------
>>> from sim.network.problem import make_problem
>>> from sim.network.routing import Router
>>> from sim.network.topology import fully_connected
>>> p = make_problem(Router(fully_connected(8)), "all_reduce", "halving_doubling",
...                  range(8), 768)
>>> halving_doubling_done_cycles(p)[0]   # (13 + 6) + (7 + 3) + (4 + 2), then 4 + 7 + 13
59
"""

from __future__ import annotations

from sim.network.butterfly import butterfly_latency_cycles, butterfly_schedule, fold_shape
from sim.network.emit import Emitter
from sim.network.plans import TreePlan, binomial_plan
from sim.network.problem import CollectiveKind, Problem
from sim.network.stepped import Step, run_steps, step_done_cycles
from sim.network.tree_collectives import tree_done_cycles, tree_schedule

__all__ = [
    "halving_doubling_done_cycles",
    "halving_doubling_schedule",
    "halving_doubling_tree",
]

Done = dict[int, tuple[int, ...]]


def _pairs(order: tuple[int, ...], q: int, distance: int, nbytes: int
           ) -> tuple[tuple[int, int, int], ...]:
    return tuple((order[i], order[i ^ distance], nbytes) for i in range(q))


def _distances(q: int) -> list[int]:
    """``1, 2, ..., q/2``."""
    return [1 << k for k in range(q.bit_length() - 1)]


def _steps(problem: Problem) -> list[Step]:
    order, q, extra = fold_shape(problem)
    n, kind = problem.nbytes, problem.kind
    block = -(-n // q)
    steps: list[Step] = []
    if extra:
        steps.append(Step("fold", tuple((order[q + j], order[j], n) for j in range(extra)), True))
    for d in _distances(q):
        steps.append(Step(f"rs{d}", _pairs(order, q, d, block * q // (2 * d)), True))
    for d in reversed(_distances(q)):
        size = block * q // (2 * d)
        if kind is CollectiveKind.ALL_REDUCE:
            steps.append(Step(f"ag{d}", _pairs(order, q, d, size), False))
        else:
            steps.append(Step(f"gather{d}", tuple((order[i], order[i - d], size)
                                                  for i in range(d, 2 * d)), False))
    if kind is CollectiveKind.ALL_REDUCE and extra:
        steps.append(Step("unfold", tuple((order[j], order[q + j], n) for j in range(extra)),
                          False))
    return steps


def _holders(problem: Problem) -> tuple[int, ...]:
    return (problem.root,) if problem.kind is CollectiveKind.REDUCE else problem.participants


def halving_doubling_tree(problem: Problem) -> TreePlan | None:
    """The binomial tree for a broadcast; None otherwise (walks no tree)."""
    return binomial_plan(problem) if problem.kind is CollectiveKind.BROADCAST else None


def halving_doubling_schedule(problem: Problem, emit: Emitter) -> Done:
    """Append the tasks; return ``{core: tasks marking it has the result}`` (reduce: the root)."""
    if problem.kind is CollectiveKind.ALL_GATHER:
        return butterfly_schedule(problem, emit)
    if problem.kind is CollectiveKind.BROADCAST:
        return tree_schedule(problem, binomial_plan(problem), emit)
    have = run_steps(problem, emit, _steps(problem))
    return {core: have[core] for core in _holders(problem)}


def halving_doubling_done_cycles(problem: Problem) -> dict[int, int]:
    """Per core that ends with the result, the uncontended closed-form cycle at which
    it has it (see the module docstring)."""
    if problem.kind is CollectiveKind.ALL_GATHER:
        return dict.fromkeys(problem.participants, butterfly_latency_cycles(problem))
    if problem.kind is CollectiveKind.BROADCAST:
        return tree_done_cycles(problem, binomial_plan(problem))
    t = step_done_cycles(problem, _steps(problem))
    return {core: t[core] for core in _holders(problem)}
