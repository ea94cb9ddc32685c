"""Collectives written as a list of steps: one schedule drives both the tasks and
the closed form (`sim.network.direct`, `sim.network.halving_doubling`).

A `Step` is a set of transfers ``(src, dst, nbytes)`` between participants that
start together (each as soon as its sender has what the previous steps brought
it) and whether the receiver combines what it gets (a reduction) or keeps it
(a gather). A receiver that gets several vectors in one combining step combines
them one by one on its SIMD unit, first come first served.

Closed form (uncontended), with ``t_v`` the cycle at which core ``v`` has
merged everything so far (0 at the start), ``m(u, v, B)`` the message time and
``C(B)`` one combine: a transfer ``u -> v`` starts at ``s = t_u`` (taken before
the step), or later if the previous message ``u -> v`` still holds the route's
first link (until its start plus its flits, ``F``; both pay the endpoint
overhead before that link, so it cancels), and arrives at
``a = s + m(u, v, B)``; after a combining step ``t_v`` is the finish of
a FIFO server fed with ``max(a, t_v)`` for each arrival, each ``C(B)`` long;
after a gathering step ``t_v = max(t_v, max a)``. Exact when no two messages between
different pairs of cores are on one link at the same time (messages between the
same pair queue behind each other, which the closed form counts) and every
core's SIMD unit is free for the collective; otherwise the DES is slower and
this is a lower bound.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sim.network.emit import Emitter
from sim.network.problem import Problem

__all__ = ["Step", "run_steps", "step_done_cycles"]

#: Per core that ends with the result, the task indices marking that it has it.
Done = dict[int, tuple[int, ...]]


@dataclass(frozen=True)
class Step:
    """Transfers that start together.

    Attributes
    ----------
    tag : str
        Names the step's messages (``{tag}.{src}->{dst}``).
    transfers : tuple of (int, int, int)
        ``(src core, dst core, nbytes)``; ``src != dst``.
    combine : bool
        Whether each receiver combines what it gets (else it keeps it).
    """

    tag: str
    transfers: tuple[tuple[int, int, int], ...]
    combine: bool


def run_steps(problem: Problem, emit: Emitter, steps: Sequence[Step]) -> Done:
    """Append the tasks of ``steps``; return, per participant, the tasks marking what
    it has at the end (its own contribution's deps if it received nothing)."""
    have = {core: emit.deps_of(core) for core in problem.participants}
    for step in steps:
        sent = [(dst, nbytes, emit.send(src, dst, nbytes, have[src], f"{step.tag}.{src}->{dst}"))
                for src, dst, nbytes in step.transfers]
        following = dict(have)
        merged: dict[int, list[int]] = {}
        for dst, nbytes, index in sent:
            if step.combine:
                merged.setdefault(dst, []).append(emit.combine(dst, nbytes, (index,) + have[dst]))
            else:
                following[dst] = following[dst] + (index,)
        following.update((dst, tuple(indices)) for dst, indices in merged.items())
        have = following
    return have


def step_done_cycles(problem: Problem, steps: Sequence[Step]) -> dict[int, int]:
    """Per participant, the uncontended closed-form cycle at which it has merged
    everything ``steps`` brought it (see the module docstring)."""
    t = dict.fromkeys(problem.participants, 0)
    link_free: dict[tuple[int, int], int] = {}
    for step in steps:
        arrivals: dict[int, list[tuple[int, int]]] = {}
        for src, dst, nbytes in step.transfers:
            cycles = problem.message_cycles(src, dst, nbytes)
            start = max(t[src], link_free.get((src, dst), 0))
            # its first link is held for all its flits (after the endpoint overhead, which
            # both messages pay): a later message of the pair is released no earlier
            link_free[src, dst] = start + problem.first_link_hold_cycles(src, dst, nbytes)
            arrivals.setdefault(dst, []).append((start + cycles, nbytes))
        for dst, got in arrivals.items():
            if step.combine:
                clock = 0
                for ready, nbytes in sorted((max(arrival, t[dst]), size) for arrival, size in got):
                    clock = max(clock, ready) + problem.combine_cycles(nbytes)
                t[dst] = clock
            else:
                t[dst] = max([t[dst]] + [a for a, _ in got])
    return t
