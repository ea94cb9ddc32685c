"""A collective's hop-level schedule played alone, from compact columns.

`sim.backends.collective_profile` needs, per distinct collective, its
hop-level tasks (`sim.network.collectives.append_collective`, what the DES
runs) played alone on FIFO engines, every contribution ready at cycle 0. With
small packets (``machine.network.max_packet_bytes``) or a ring over a thousand
cores that is millions of hop tasks; one `sim.ir.Task` object each (plus the
dense copy and the task graph's own tables) cost gigabytes and most of the run.

`replay_collective` plays the same tasks without building them, in three steps,
a module each:

- `sim.network.replay.recorder`: a recording `Emitter` runs the algorithm's own
  schedule and keeps one record per message (source, destination, bytes, what
  it waits for), combine, multicast (source, tree, flits, what it waits for,
  whether it is injected) and lone task (the in-network algorithms' inject
  tasks, hops and markers), counting task indices exactly as the real emitter
  appends them, so every index, and so every FIFO tie, is the real list's;
- `sim.network.replay.columns`: the records expanded into integer columns with
  numpy (engine, duration, result latency, chain successor, dependencies left;
  `sim.network.replay.messages`, `sim.network.replay.multicasts`; a small
  recording task by task in plain Python, `sim.network.replay.small`), the
  latencies those of `sim.network.transport`, leaving out tasks whose timing
  follows from another's (a message's hop on a link no other task uses, a
  multicast's marker nothing waits for) and playing zero-time NIC tasks as
  delays where that is exact;
- `sim.network.replay.player`: the execution rules of `sim.backends.fifo` (the
  heap clock: same cycles, same passes within a cycle, same queues keyed by
  ready cycle and task index) over those columns: a task's first dependent that
  waits for it alone (a packet's next hop, a multicast hop's first child) is its
  chain successor, with no count kept; only the others are listed.

The figures are those of `sim.backends.fifo.run_fifo` on the real tasks, bit
for bit (``tests/network/test_replay.py`` and ``test_replay_multicast.py``
compare both on every algorithm). A schedule that appends tasks other than
through the emitter's methods is not recorded (`RecordingRefusedError`):
`replay_collective` returns None and the caller plays the real tasks. A ring
all-reduce or all-gather whose segments share no link is not even recorded: its
timeline is the recursion of `sim.network.ring_collectives`
(`ring_played_alone`, ``p (p - 1)`` messages in ``O(p)`` vector steps).
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass

import numpy as np

from sim.gcpause import paused_gc
from sim.network.problem import CollectiveKind, CollectiveOptions, Problem, make_problem
from sim.network.replay.columns import Layout, build_columns
from sim.network.replay.player import play
from sim.network.replay.recorder import Recorder, RecordingRefusedError
from sim.network.ring_collectives import ring_played_alone
from sim.network.routing import Router
from sim.network.transport import NetworkEngines

__all__ = ["Recorder", "RecordingRefusedError", "Replay", "replay_collective", "replay_problem"]


#: Replays of more tasks than this pause the garbage collector (`sim.gcpause`): below
#: it, re-enabling it costs more than the collections it saves.
_PAUSE_GC_TASKS = 100_000


@dataclass(frozen=True, eq=False)
class Replay:
    """What `replay_collective` measured: per core with the result, the latest ready
    cycle of the tasks marking it (0 if none); per combine its core, start cycle and
    cycles; link engines, the cycles hops hold them and the bytes they move (per hop
    task, or summed per link: readers sum them per link); the bytes of every combine
    (the byte columns None where not known: the ring's arithmetic form)."""

    done_ready_cycles: dict[int, int]
    combine_cores: np.ndarray
    combine_start_cycles: np.ndarray
    combine_cycles: np.ndarray
    hop_links: np.ndarray
    hop_cycles: np.ndarray
    hop_bytes: np.ndarray | None = None
    combine_bytes: np.ndarray | None = None


def _ring_replay(problem: Problem, engines: NetworkEngines) -> Replay | None:
    """`sim.network.ring_collectives.ring_played_alone` as a `Replay` (its hops
    summed per link: ``hop_links`` once per segment link)."""
    play = ring_played_alone(problem)
    if play is None:
        return None
    router, order, p = problem.router, play.order, len(play.order)
    links: list[int] = []
    cycles: list[int] = []
    for j in range(p):
        edges = router.route(order[j], order[(j + 1) % p]).edges
        links.extend(engines.links[e] for e in edges)
        cycles.extend([int(play.hold_cycles[j]) * play.messages] * len(edges))
    steps = play.combine_start_cycles.shape[0]
    return Replay(dict(zip(order, play.done_cycles.tolist(), strict=True)),
                  np.tile(np.array(order, dtype=np.int64), steps),
                  play.combine_start_cycles.reshape(-1),
                  np.full(steps * p, play.combine_cycles, dtype=np.int64),
                  np.array(links, dtype=np.int64), np.array(cycles, dtype=np.int64))


def _done_with_derived(done: dict[int, tuple[int, ...]], layout: Layout, ready: np.ndarray
                       ) -> dict[int, int]:
    """Per core of ``done`` the latest ready cycle of its tasks, derived markers
    (`sim.network.replay.multicasts`) at their hop's ready cycle plus their latency."""
    dense = layout.dense
    by_real = np.where(dense >= 0, ready[np.maximum(dense, 0)], 0)
    by_real[layout.derived_index] = ready[layout.derived_base] + layout.derived_lag
    cores = sorted(done)
    sizes = np.array([len(done[c]) for c in cores], dtype=np.int64)
    values = by_real[np.array([i for c in cores for i in done[c]], dtype=np.int64)]
    latest = np.zeros(len(cores), dtype=np.int64)
    some = sizes > 0
    if values.size:
        latest[some] = np.maximum.reduceat(values, (np.cumsum(sizes) - sizes)[some])
    return dict(zip(cores, latest.tolist(), strict=True))


#: Algorithms whose played-alone timeline has an exact arithmetic form where it
#: applies (None where it does not: then the recorded tasks are played).
_PLAYED_ALONE = {"ring": _ring_replay}


def replay_collective(router: Router, engines: NetworkEngines, kind: CollectiveKind | str,
                      algorithm: str, cores: Sequence[int], nbytes: int,
                      options: CollectiveOptions) -> Replay | None:
    """The collective's hop-level tasks played alone (module docstring), or None if
    its schedule appends tasks other than through the emitter.

    Raises
    ------
    ConfigError
        For a bad request (`sim.network.problem.make_problem`).
    """
    return replay_problem(make_problem(router, kind, algorithm, tuple(cores), nbytes, options),
                          engines)


def replay_problem(problem: Problem, engines: NetworkEngines) -> Replay | None:
    """`replay_collective` of a `Problem` built already."""
    if (closed := _PLAYED_ALONE.get(problem.algorithm)) and (played := closed(problem, engines)):
        return played
    rec = Recorder(problem, engines)
    try:
        done = rec.record()
    except RecordingRefusedError:
        return None
    with paused_gc() if rec.count > _PAUSE_GC_TASKS else nullcontext():
        cols, layout = build_columns(rec, engines)
        start, ready = play(cols)
    dense = layout.dense
    if layout.derived_index.size:  # markers left out: ready their hop's plus their latency
        done_ready = _done_with_derived(done, layout, np.frombuffer(ready, dtype=np.int64))
    else:
        done_ready = {core: max((ready[dense[i]] for i in done[core]), default=0)
                      for core in sorted(done)}
    combine_index = dense[np.array([c[0] for c in rec.combines], dtype=np.int64)]
    starts = np.frombuffer(start, dtype=np.int64)[combine_index] if combine_index.size \
        else np.zeros(0, np.int64)
    return Replay(done_ready,
                  np.array([c[1] for c in rec.combines], dtype=np.int64), starts.copy(),
                  np.array([c[2] for c in rec.combines], dtype=np.int64), layout.hop_links,
                  layout.hop_cycles, layout.hop_bytes,
                  np.array([c[4] for c in rec.combines], dtype=np.int64))
