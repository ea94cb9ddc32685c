"""Recorded multicasts expanded into task columns with numpy (`sim.network.replay.columns`).

A multicast's tasks are those of `sim.network.transport.append_multicast`: its
inject task (`sim.network.replay.columns` fills it, as a message's), then per
link of its tree one hop, ``F`` flits long, publishing ``h - F`` cycles after
its end where its head node forwards, cut-through, else ``h - 1``, and after a
hop into a destination that forwards, cut-through, that destination's eject
marker (a zero-time task on its NIC publishing ``F - 1`` cycles later). A hop
waits for its parent hop only (the root hops for the multicast's
dependencies), a marker for its hop only.

A marker nothing waits for is left out (*derived*) and its ready cycle taken
after the play as its hop's plus ``F - 1``: every task on a NIC takes no time,
so a NIC starts each at once, in the cycle it becomes ready. That keeps every
other task's cycles only if no task kept on a NIC publishes in the cycle it
starts (a marker would delay it by a pass of that cycle, which its dependents
could then lose a FIFO tie by): where one does (``F = 1``, or a lone marker
of no latency), every marker is kept.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.network.replay.recorder import McastShape, Recorder

__all__ = ["McastPart", "mcast_part"]


@dataclass(frozen=True, eq=False)
class McastPart:
    """The recorded multicasts' tasks by real index (inject tasks aside): per hop
    its index, link engine, flits, result latency and bytes; per hop that waits for
    another (``child``) that one (``parent``); per kept marker its index, NIC engine,
    latency and hop (``eject_base``); per derived marker its index, its hop's
    (``derived_base``) and its latency."""

    hop_index: np.ndarray
    hop_engine: np.ndarray
    hop_flits: np.ndarray
    hop_latency: np.ndarray
    hop_bytes: np.ndarray
    child: np.ndarray
    parent: np.ndarray
    eject_index: np.ndarray
    eject_engine: np.ndarray
    eject_latency: np.ndarray
    eject_base: np.ndarray
    derived_index: np.ndarray
    derived_base: np.ndarray
    derived_lag: np.ndarray


def _empty() -> np.ndarray:
    return np.zeros(0, dtype=np.int64)


def referenced_tasks(rec: Recorder) -> np.ndarray:
    """Per real index whether some recorded task waits for it."""
    seen = np.zeros(rec.count, dtype=bool)
    deps: list[int] = []
    for message in rec.messages:
        deps.extend(message[4])
    for multicast in rec.multicasts:
        deps.extend(multicast[5])
    for combine in rec.combines:
        deps.extend(combine[3])
    for lone in rec.lone:
        deps.extend(lone[4])
    seen[np.array(deps, dtype=np.int64)] = True
    return seen


def mcast_part(rec: Recorder) -> McastPart:
    """The `McastPart` of ``rec``'s multicasts (module docstring)."""
    records = rec.multicasts
    if not records:
        return McastPart(*(_empty() for _ in range(14)))
    saf = rec.problem.router.store_and_forward
    where: dict[int, int] = {}
    shapes: list[McastShape] = []
    which: list[int] = []
    for record in records:
        k = where.get(id(record[2]))
        if k is None:
            k = where[id(record[2])] = len(shapes)
            shapes.append(record[2])
        which.append(k)

    def joined(name: str) -> np.ndarray:
        return np.concatenate([getattr(shape, name) for shape in shapes])

    sizes = np.array([shape.link.size for shape in shapes], dtype=np.int64)
    starts = np.cumsum(sizes) - sizes
    sid = np.array(which, dtype=np.int64)
    hops, offset = sizes[sid], starts[sid]
    first = np.array([r[0] for r in records], dtype=np.int64)
    flits = np.array([r[3] for r in records], dtype=np.int64)
    nbytes = np.array([r[4] for r in records], dtype=np.int64)
    of = np.repeat(np.arange(len(records)), hops)                  # per hop its multicast
    at = offset[of] + np.arange(of.size) - np.repeat(np.cumsum(hops) - hops, hops)
    parent, eject_at, placed = joined("parent")[at], joined("eject_at")[at], joined("at")
    start, count = first[of], flits[of]
    hop_index = start + placed[at]
    latency = joined("head")[at] - np.where(joined("forwards")[at] & (not saf), count, 1)
    inner = parent >= 0
    parent_index = start[inner] + placed[offset[of[inner]] + parent[inner]]
    marked = eject_at >= 0
    eject_index = start[marked] + eject_at[marked]
    eject_lag = count[marked] - 1
    eject_base = hop_index[marked]
    eject_engine = joined("eject_nic")[at][marked]
    kept = referenced_tasks(rec)[eject_index] if eject_index.size else np.zeros(0, dtype=bool)
    prompt = (eject_lag[kept] == 0).any() or any(
        lone[3] == 0 and not lone[6] and lone[2] == 0 for lone in rec.lone)
    if prompt:
        kept[:] = True
    return McastPart(hop_index, joined("link")[at], count, latency, nbytes[of],
                     hop_index[inner], parent_index,
                     eject_index[kept], eject_engine[kept], eject_lag[kept], eject_base[kept],
                     eject_index[~kept], eject_base[~kept], eject_lag[~kept])
