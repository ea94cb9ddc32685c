"""What the analytic backend knows of one collective: its hop-level schedule played alone.

The closed forms of `sim.network` are exact only where no two messages share a
link at once, and they assume every SIMD unit is free for the combines. The
analytic backend (both readers: `sim.backends.task_emitter` with
``collectives="closed_form"`` and `sim.backends.arrays`) needs more, per
distinct collective (kind, algorithm, participants, bytes, options), and
reads it from the collective's own hop-level tasks (`append_collective`, the
tasks the DES runs) played alone on the FIFO engines (`sim.backends.fifo`),
every contribution ready at cycle 0 (`sim.network.replay` plays them from
compact columns, without a task object per hop, with the same figures; a
schedule it cannot record would play its real tasks, `_replay_tasks`):

- ``done_cycles``: per core that ends with the result, when it has it
  (the closed form where nothing contends; with the collective's own link
  queueing otherwise: exact for a collective alone);
- the combines (`sim.network.emit`, SIMD tasks on the receiving core): per
  combining core, the cycle its first combine starts (``combine_first_cycles``)
  and the cycles all of them hold its SIMD unit (``combine_cycles``);
- the links it uses and the cycles it holds each (``link_busy_cycles``), for
  the bound on collectives of one movement step that share links
  (`step_extra_cycles`);
- the bytes its hops move over each link and those of each combine
  (``link_bytes``, ``combine_task_bytes``), which `sim.energy.count` reads.

Assumption (written here and in the README): a collective's combines on one
core occupy its SIMD unit as one block of ``combine_cycles``, queued on the unit
when the collective starts (so that the SIMD work of later ops follows it in
program order, as the array reader needs); if the block ends later than
``combine_first_cycles + combine_cycles`` after the start (its uncontended end),
the whole collective is late by the difference (every core's result depends on
every combine).

The profile is remembered by the router (one playing per distinct collective
and interconnect). On a card topology a collective inside one chiplet (or one
card) is played once, on its copy on the first chiplet (card), and moved to
where it is (`sim.network.symmetry`: exact where the move is a symmetry of the
machine, checked link by link; played in place otherwise).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from sim.backends.fifo import run_fifo
from sim.ir import EngineKind, TaskGraph
from sim.ir.task_table import TaskTable
from sim.network.algorithms import ALGORITHMS
from sim.network.collectives import append_collective, collective_done_cycles
from sim.network.problem import CollectiveOptions, make_problem
from sim.network.replay import Replay, replay_problem
from sim.network.routing import Router
from sim.network.symmetry import canonical_shift, in_chiplet_shift, shifted_links
from sim.network.transport import NetworkEngines

__all__ = ["ClosedFormShape", "CollectiveProfile", "Request", "closed_form_shape",
           "collective_profile", "combine_rounds", "remembered_profile", "step_extra_cycles",
           "step_shapes"]


@dataclass(frozen=True, eq=False)
class CollectiveProfile:
    """One collective played alone (module docstring). Arrays are ascending by core
    (combines) or by link engine index (links)."""

    done_cycles: dict[int, int]
    closed_form_cycles: int
    combine_cores: np.ndarray
    combine_first_cycles: np.ndarray
    combine_cycles: np.ndarray
    links: np.ndarray
    link_busy_cycles: np.ndarray
    #: The bytes its hops move over each of ``links`` and the bytes of each of its
    #: combine tasks (in program order), which `sim.energy.count` reads instead of
    #: emitting the tasks again; None where the play does not know them (the ring's
    #: arithmetic form, `sim.network.replay`).
    link_bytes: np.ndarray | None = None
    combine_task_bytes: np.ndarray | None = None
    #: `closed_form_shape` of this profile by ``extra_cycles``, filled as asked (a
    #: shape is a pure function of the profile and the extra cycles, and read only)
    shapes: dict[int, ClosedFormShape] = field(default_factory=dict, repr=False,
                                               compare=False)

    @property
    def latency_cycles(self) -> int:
        """When the last core has the result, the collective alone."""
        return max(self.done_cycles.values())

    @property
    def busiest_link_cycles(self) -> int:
        """Cycles its busiest link is held (0: no link)."""
        return int(self.link_busy_cycles.max()) if self.link_busy_cycles.size else 0


def _replay_tasks(router: Router, engines: NetworkEngines, kind: str, algorithm: str,
                  members: tuple[int, ...], nbytes: int, options: CollectiveOptions) -> Replay:
    """`sim.network.replay.Replay` of the collective's real tasks on the FIFO engines
    (for a schedule the replay does not record; also the reference its tests hold
    the replay to), with each hop's bytes (aligned with its ``hop_links``) and each
    combine's bytes. The tasks go into a `TaskTable` (columns, no `Task` object)
    whose engines are renumbered densely, in ascending order, over those they use."""
    table = TaskTable()
    result = append_collective(table, router, engines, kind, algorithm, members, nbytes,
                               options=options)
    cols = table.freeze()
    used, dense = np.unique(cols.engine, return_inverse=True)
    on = [engines.engines[e] for e in used.tolist()]
    graph = TaskGraph.from_table(tuple(on), replace(cols, engine=dense.astype(np.int64)))
    timeline = run_fifo(graph, "heap", "analytic profile")
    ready = timeline.ready_array
    done = {core: int(ready[list(indices)].max()) if indices else 0
            for core, indices in result.done.items()}
    kinds = np.array([engine.kind for engine in on], dtype=object)[dense]
    simd = np.flatnonzero(kinds == EngineKind.SIMD)
    hops = np.flatnonzero(kinds == EngineKind.LINK)
    core_of = np.array([int(engine.core or 0) for engine in on], dtype=np.int64)
    return Replay(done, core_of[dense[simd]], timeline.start_array[simd].astype(np.int64),
                  cols.duration_cycles[simd].astype(np.int64),
                  cols.engine[hops].astype(np.int64), cols.duration_cycles[hops].astype(np.int64),
                  cols.nbytes[hops].astype(np.int64), cols.nbytes[simd].astype(np.int64))


def _key(kind: str, algorithm: str, members: tuple[int, ...], nbytes: int,
         options: CollectiveOptions) -> tuple[object, ...]:
    return ("analytic_profile", str(kind), algorithm, members, nbytes, options)


def remembered_profile(router: Router, kind: str, algorithm: str, cores: Sequence[int],
                       nbytes: int, options: CollectiveOptions) -> CollectiveProfile | None:
    """The profile `collective_profile` remembered for this collective, if it played it
    on ``router`` already (nothing is played here)."""
    got: CollectiveProfile | None = router.remembered(
        _key(kind, algorithm, tuple(cores), nbytes, options))
    return got


def collective_profile(router: Router, engines: NetworkEngines, kind: str, algorithm: str,
                       cores: Sequence[int], nbytes: int,
                       options: CollectiveOptions) -> CollectiveProfile:
    """The profile of one collective (module docstring), remembered by ``router``.

    Raises
    ------
    ConfigError
        For a bad request (`sim.network.problem.make_problem`).
    """
    members = tuple(cores)
    key = _key(kind, algorithm, members, nbytes, options)
    got = router.remembered(key)
    if got is not None:
        return got
    shift = canonical_shift(router, members)
    if ALGORITHMS.get(algorithm, key="algorithm").cyclic_ring_order:
        shift += in_chiplet_shift(router, members)
    if shift:
        moved = _moved(router, engines, collective_profile(
            router, engines, kind, algorithm, [c - shift for c in members], nbytes,
            _shifted_options(options, -shift)), shift)
        if moved is not None:
            router.remember(key, moved)
            return moved
    problem = make_problem(router, kind, algorithm, members, nbytes, options)
    closed = collective_done_cycles(router, kind, algorithm, members, nbytes, options=options,
                                    problem=problem)
    replay = replay_problem(problem, engines)
    if replay is None:
        replay = _replay_tasks(router, engines, kind, algorithm, members, nbytes, options)
    done = {core: max(closed[core], replay.done_ready_cycles[core]) for core in closed}
    combining = replay.combine_cycles > 0
    combine_cores, which = np.unique(replay.combine_cores[combining], return_inverse=True)
    first = np.full(len(combine_cores), np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(first, which, replay.combine_start_cycles[combining])
    total = np.bincount(which, weights=replay.combine_cycles[combining],
                        minlength=len(combine_cores)).astype(np.int64)
    links, where = np.unique(replay.hop_links, return_inverse=True)
    busy = np.bincount(where, weights=replay.hop_cycles, minlength=len(links)).astype(np.int64)
    link_bytes = None if replay.hop_bytes is None else np.bincount(
        where, weights=replay.hop_bytes, minlength=len(links)).astype(np.int64)
    profile = CollectiveProfile(done, max(closed.values()), combine_cores, first, total,
                                links, busy, link_bytes, replay.combine_bytes)
    router.remember(key, profile)
    return profile


def _shifted_options(options: CollectiveOptions, shift_cores: int) -> CollectiveOptions:
    if options.root is None:
        return options
    return replace(options, root=options.root + shift_cores)


def _moved(router: Router, engines: NetworkEngines, profile: CollectiveProfile,
           shift_cores: int) -> CollectiveProfile | None:
    """``profile`` of a collective moved ``shift_cores`` on (`sim.network.symmetry`):
    the same cycles on the moved cores and links; None where the move is no symmetry."""
    links = shifted_links(router, engines, profile.links, shift_cores)
    if links is None:
        return None
    return CollectiveProfile({c + shift_cores: t for c, t in profile.done_cycles.items()},
                             profile.closed_form_cycles, profile.combine_cores + shift_cores,
                             profile.combine_first_cycles, profile.combine_cycles, links,
                             profile.link_busy_cycles, profile.link_bytes,
                             profile.combine_task_bytes)


def step_extra_cycles(profiles: Sequence[CollectiveProfile]) -> np.ndarray:
    """Per collective of one movement step, the cycles its latency grows because the
    step's other collectives use its links (an estimate, taken as if they all ran at
    once): on the link of its own where the step's collectives together hold the most
    cycles, those cycles less its own busiest link's.

    Examples
    --------
    Two collectives on one link, 10 and 4 cycles each, and one alone:

    >>> p = lambda links, busy: CollectiveProfile({0: 1}, 1, *(np.zeros(0, int),) * 3,
    ...                                           np.array(links), np.array(busy))
    >>> step_extra_cycles([p([7], [10]), p([7, 8], [4, 4]), p([9], [5])]).tolist()
    [4, 10, 0]
    """
    if len(profiles) < 2:
        return np.zeros(len(profiles), dtype=np.int64)
    links = np.concatenate([p.links for p in profiles])
    busy = np.concatenate([p.link_busy_cycles for p in profiles])
    if not links.size:
        return np.zeros(len(profiles), dtype=np.int64)
    names, where = np.unique(links, return_inverse=True)
    load = np.bincount(where, weights=busy, minlength=len(names)).astype(np.int64)
    bounds = np.cumsum([0, *(p.links.size for p in profiles)])
    out = np.zeros(len(profiles), dtype=np.int64)
    for j, profile in enumerate(profiles):
        if profile.links.size:
            shared = int(load[where[bounds[j]:bounds[j + 1]]].max())
            out[j] = shared - profile.busiest_link_cycles
    return out


@dataclass(frozen=True, eq=False)
class ClosedFormShape:
    """A collective as the analytic backend's tasks (`sim.backends.task_emitter`):
    per core with the result (``cores``), its arrival's index (``which``) into the
    distinct arrival cycles (``cycles``, ascending); per combining core
    (``combine_cores``) the cycle its combine block may start (``combine_first``),
    its length (``combine_cycles``) and the cycles from its end to the first
    arrival (``tails``, >= 0)."""

    cores: np.ndarray
    cycles: np.ndarray
    which: np.ndarray
    combine_cores: np.ndarray
    combine_first: np.ndarray
    combine_cycles: np.ndarray
    tails: np.ndarray

    @property
    def combines(self) -> bool:
        """Whether some core's SIMD unit combines."""
        return bool(self.combine_cores.size)


def closed_form_shape(profile: CollectiveProfile, extra_cycles: int = 0) -> ClosedFormShape:
    """``profile``'s tasks, every arrival ``extra_cycles`` later (`step_extra_cycles`);
    computed once per profile and ``extra_cycles`` (``profile.shapes``), the arrays
    shared by every caller, which must not write them."""
    got = profile.shapes.get(extra_cycles)
    if got is None:
        got = profile.shapes[extra_cycles] = _shape(profile, extra_cycles)
    return got


def _shape(profile: CollectiveProfile, extra_cycles: int) -> ClosedFormShape:
    cores = np.fromiter(profile.done_cycles.keys(), dtype=np.int64, count=len(profile.done_cycles))
    done = np.fromiter(profile.done_cycles.values(), dtype=np.int64,
                       count=len(profile.done_cycles)) + extra_cycles
    cycles, which = np.unique(done, return_inverse=True)
    # every core's result depends on every combine, so the first arrival follows them
    tails = np.maximum(cycles[0] - profile.combine_first_cycles - profile.combine_cycles, 0)
    shape = ClosedFormShape(cores, cycles, which.astype(np.int64), profile.combine_cores,
                            profile.combine_first_cycles, profile.combine_cycles, tails)
    for array in (shape.cores, shape.cycles, shape.which, shape.tails):
        array.flags.writeable = False  # shared by every caller (`closed_form_shape`)
    return shape


def combine_rounds(shapes: Sequence[ClosedFormShape]) -> list[np.ndarray]:
    """Per shape, the round of each of its combines: how many earlier shapes combine
    on the same core (the readers emit the combines of a step round by round, so that
    no round has two on one core).

    >>> s = lambda *cores: ClosedFormShape(*(np.zeros(0, int),) * 3, np.array(cores),
    ...                                    *(np.zeros(len(cores), int),) * 3)
    >>> [r.tolist() for r in combine_rounds([s(1, 2), s(2, 3), s(2)])]
    [[0, 0], [1, 0], [2]]
    """
    seen: dict[int, int] = {}
    out = []
    for shape in shapes:
        rounds = np.empty(shape.combine_cores.size, dtype=np.int64)
        for i, core in enumerate(shape.combine_cores.tolist()):
            rounds[i] = seen.get(core, 0)
            seen[core] = rounds[i] + 1
        out.append(rounds)
    return out


@dataclass(frozen=True)
class Request:
    """One collective of a movement step, as `step_shapes` takes it."""

    kind: str
    algorithm: str
    cores: tuple[int, ...]
    nbytes: int
    options: CollectiveOptions


def step_shapes(router: Router, engines: NetworkEngines,
                requests: Sequence[Request]) -> tuple[list[CollectiveProfile],
                                                      list[ClosedFormShape]]:
    """The profiles and task shapes of the collectives of one movement step: each
    later by what the step's others add on its links (`step_extra_cycles`)."""
    profiles = [collective_profile(router, engines, r.kind, r.algorithm, r.cores, r.nbytes,
                                   r.options) for r in requests]
    extra = step_extra_cycles(profiles)
    return profiles, [closed_form_shape(p, int(e)) for p, e in zip(profiles, extra, strict=True)]
