"""LPDDR streams in arrays: the card engines of `sim.backends.lpddr_streams`, at once.

A streamed op step (`OpStep.lpddr_bytes`) is, per piece on core c of card k,
a block of ``tiles + 3`` tasks in the emitter's order: the stream on card k's
LPDDR engine, its private tail, the piece's tiles, and the zero-time join of
the tail and the tiles (what consumers read). Here each kind is one batch over
every piece (`StreamBatch`, `TailBatch`, the tiles' `OpBatch`, `JoinBatch`);
their elements keep the emitter's task indices (`Batch.index_of`), so ties
and the critical path are those of the emitted graph.

A card's LPDDR engine is one FIFO server for all its cores (`CardEngines`),
handed its tasks op by op in program order. Within one op the tasks' ready
moments are known before the engine runs them (a stream waits only for its
core's previous streamed piece), so the engine is played out exactly: in
program order where the moments never go back (then, with E_i the cycles of
the card's tasks before task i and F the moment the engine is free, task i
starts at E_i + max(F, max over j <= i of (ready_j - E_j)), as a core's tiles
do, `sim.backends.arrays.schedule`), else one dispatch at a time (`_fifo`).
An op's task could still have jumped ahead of an earlier op's on the card if
it was waiting when that one was dispatched from an earlier cycle: the
evaluation is then declined, as it is for a task of zero cycles
(`CardEngines.run` returns None).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from heapq import heappop, heappush

import numpy as np

from sim.backends.arrays.batches import NONE, Batch, OpBatch, Refs, cycle_of, moment
from sim.backends.arrays.schedule import EngineState
from sim.config import MachineConfig
from sim.hardware.memory_tier import cores_per_card, stream_cycles
from sim.ir.plan import LoweringPlan, OpStep

__all__ = ["CardEngines", "CardTimes", "JoinBatch", "StreamBatch", "Streams", "TailBatch"]


def _empty() -> np.ndarray:
    return np.empty(0, dtype=np.int64)


@dataclass
class CardTimes:
    """Times of tasks run on their cards' engines: start cycles, release and result
    moments, and each one's predecessor on its engine (batch index, element; -1: none)."""

    start: np.ndarray
    end: np.ndarray
    visible: np.ndarray
    previous: np.ndarray
    previous_element: np.ndarray


#: A card engine's last task is its last opening stream (resolved by `CardEngines.finish`).
_OPENING = -3


@dataclass
class _Openings:
    """A step's opening streams (``mask``: its cores' first streamed pieces): per
    element their start cycle, dispatch moment and predecessor on the card (step
    index and element; -1: none)."""

    mask: np.ndarray
    start: np.ndarray
    begin: np.ndarray
    prev_step: np.ndarray
    prev_element: np.ndarray


class CardEngines:
    """The LPDDR engine of every card: per card (`EngineState` indexed by card) the
    moment it is free, the latest moment one of its tasks became ready, its last
    task; and the moment that task was dispatched (state of one `evaluate` call).

    Each core's first streamed piece waits for nothing: on a card these *opening*
    streams are ready together at the start, so the card takes them first, one
    after another in program order from cycle 0, before any task ready later (a
    task ready in cycle 0 would compete, and might come first in program order:
    declined, unless it became ready after the card's last opening was
    dispatched). They are laid out for ``steps`` (default: the whole plan) at once
    (``valid``: False if one holds the engine no cycle); what `run` plays out
    comes after them. Under a stage barrier (`sim.backends.arrays.staged`) each
    stage's openings are laid out the same way from the barrier (`lay_out`)."""

    def __init__(self, machine: MachineConfig, plan: LoweringPlan, total_cores: int,
                 steps: range | None = None) -> None:
        self.per_card = cores_per_card(machine)
        self.lpddr = machine.memory.lpddr
        self.total_cores = total_cores
        cards = max(1, -(-total_cores // self.per_card))
        self.state = EngineState.idle(cards)
        self.dispatched = np.full(cards, NONE, dtype=np.int64)
        self.openings: dict[int, _Openings] = {}  # step index -> its opening streams
        self.batch_of_step: dict[int, int] = {}  # step index -> its streams' batch
        self.last_opening: dict[int, tuple[int, int]] = {}  # card -> (step, element)
        # (batch, element, the card's last opening (step, element)) to point at it
        self._patch: list[tuple[int, int, tuple[int, int]]] = []
        self.valid = self.lay_out(plan, range(len(plan.steps)) if steps is None else steps)

    def lay_out(self, plan: LoweringPlan, steps: range, floor: int = NONE) -> bool:
        """Lay out the opening streams of ``steps`` (class docstring): each core's
        first streamed piece among them, ready at moment ``floor`` (NONE: the start;
        a stage's barrier, `sim.backends.arrays.staged`), when every card is free.
        False if one holds the engine no cycle."""
        seen = np.zeros(self.total_cores, dtype=bool)
        clock: dict[int, int] = {}  # card -> the cycle its openings so far end
        begun = int(cycle_of(floor))
        for index in steps:
            step = plan.steps[index]
            if not isinstance(step, OpStep) or not step.lpddr_bytes:
                continue
            cores = np.asarray(step.cores, dtype=np.int64)
            first = ~seen[cores]
            seen[cores] = True
            if not first.any():
                continue
            cycles = [stream_cycles(b, self.lpddr) for b in step.lpddr_bytes]
            got = _Openings(first, *(np.full(len(cores), -1, dtype=np.int64) for _ in range(4)))
            for e in np.flatnonzero(first).tolist():
                card, held = int(cores[e]) // self.per_card, cycles[step.which[e]]
                if held <= 0:
                    return False
                now = clock.get(card, begun)
                got.start[e], got.begin[e] = now, moment(now, 0) if card in clock else floor
                got.prev_step[e], got.prev_element[e] = (
                    self.last_opening[card] if card in clock else (-1, -1))
                clock[card] = now + held
                self.last_opening[card] = (index, e)
            self.openings[index] = got
        for card, now in clock.items():
            last_step, e = self.last_opening[card]
            self.state.free[card] = moment(now, 0)
            # a task ready when the card's single opening was dispatched competed with
            # it (and might come first in program order): not "late" (`run`)
            self.dispatched[card] = max(int(self.openings[last_step].begin[e]), floor + 1)
            self.state.ready[card] = moment(begun + 1, -1)  # ready in cycle `begun`: competes
            self.state.batch[card] = _OPENING
        return True

    def run(self, cores: np.ndarray, ready: np.ndarray, occupancy: np.ndarray,
            result_latency: np.ndarray, mine: int, step: int | None = None) -> CardTimes | None:
        """Run one task per entry of ``cores`` (in program order) on its card's engine:
        ready at moment ``ready``, holding it ``occupancy`` cycles, its result
        ``result_latency`` cycles after the release (negative: before it, as the
        FIFO rules file it); ``mine``: the batch's index, ``step``: the plan step
        whose streams these are (its opening streams are laid out already). None if
        a task could have jumped ahead of one the card took earlier (module
        docstring; the state may then be partly advanced: the evaluation is declined)."""
        if (occupancy <= 0).any() or (occupancy + result_latency < 0).any():
            return None
        cards = cores // self.per_card
        state = self.state
        start, begin = np.empty_like(ready), np.empty_like(ready)
        previous, previous_element = np.empty_like(ready), np.empty_like(ready)
        rest = np.ones(cores.size, dtype=bool)
        if step is not None:
            self.batch_of_step[step] = mine
            opening = self.openings.get(step)
            if opening is not None:
                rest = ~opening.mask
                self._opening_times(opening, start, begin, previous, previous_element)
        for card in np.unique(cards[rest]).tolist():
            idx = np.flatnonzero((cards == card) & rest)
            got = ready[idx]
            late = got >= self.dispatched[card]  # none waiting when the card's last began
            if not (late | (cycle_of(got) >= cycle_of(state.ready[card]))).all():
                return None
            order, at = _fifo(got, occupancy[idx], state.free[card])
            served = idx[order]
            held = occupancy[served]
            begin[served] = at
            start[served] = cycle_of(at)
            previous[served] = mine
            previous[served[0]] = state.batch[card]
            if state.batch[card] == _OPENING:
                self._patch.append((mine, int(served[0]), self.last_opening[card]))
            previous_element[served] = np.concatenate(([state.element[card]], served[:-1]))
            state.free[card] = moment(int(start[served[-1]] + held[-1]), 0)
            state.ready[card] = max(int(state.ready[card]), int(got.max()))
            state.batch[card], state.element[card] = mine, served[-1]
            self.dispatched[card] = at[-1]
        end = moment(start + occupancy, 0)
        due = start + occupancy + result_latency  # the cycle the result is filed under
        # filed while the engine is dispatched (due == start): the next round of its start
        visible = np.where(due > start, moment(due, 0), begin + 1)
        return CardTimes(start, end, visible, previous, previous_element)

    def _opening_times(self, opening: _Openings, start: np.ndarray, begin: np.ndarray,
                       previous: np.ndarray, previous_element: np.ndarray) -> None:
        """Fill the laid-out times of a step's opening streams (an opening before one
        in the same step: ``batch_of_step`` has the step already)."""
        mask = opening.mask
        start[mask], begin[mask] = opening.start[mask], opening.begin[mask]
        previous_element[mask] = opening.prev_element[mask]
        for e in np.flatnonzero(mask).tolist():
            before = int(opening.prev_step[e])
            previous[e] = -1 if before < 0 else self.batch_of_step[before]

    def finish(self, batches: list[Batch]) -> None:
        """Point each card's first task after its openings at the last of them (an
        engine predecessor the critical path may walk to)."""
        for index, element, (step, last) in self._patch:
            batch = batches[index]
            assert isinstance(batch, OpBatch)
            batch.previous[element] = self.batch_of_step[step]
            batch.previous_element[element] = last


def _fifo(ready: np.ndarray, occupancy: np.ndarray, free: int) -> tuple[np.ndarray, np.ndarray]:
    """One FIFO engine free at moment ``free`` given tasks (in program order) ready at
    moments ``ready`` holding it ``occupancy`` (> 0) cycles: the order it serves them
    and the moment each is dispatched. At each dispatch (when the engine frees, or
    when a task becomes ready to an idle one) it takes, among the tasks ready by
    then, the one ready at the earliest cycle, the first in program order on ties
    (`sim.backends.fifo`)."""
    if (ready[1:] >= ready[:-1]).all():  # program order: the prefix-maximum closed form
        ran_before = np.cumsum(occupancy) - occupancy
        slack = cycle_of(ready) - ran_before
        slack[0] = max(int(slack[0]), int(cycle_of(free)))
        start = ran_before + np.maximum.accumulate(slack)
        release = moment(start + occupancy, 0)
        return np.arange(ready.size), np.maximum(ready, np.concatenate(([free], release[:-1])))
    arrivals = np.lexsort((np.arange(ready.size), ready)).tolist()
    moments, cycles, held = ready.tolist(), cycle_of(ready).tolist(), occupancy.tolist()
    queue: list[tuple[int, int]] = []
    order, at = [], []
    nxt = 0
    for _ in range(ready.size):
        now = free if queue else max(free, moments[arrivals[nxt]])
        while nxt < len(arrivals) and moments[arrivals[nxt]] <= now:
            heappush(queue, (cycles[arrivals[nxt]], arrivals[nxt]))
            nxt += 1
        task = heappop(queue)[1]
        order.append(task)
        at.append(now)
        free = moment(cycle_of(now) + held[task], 0)
    return np.asarray(order, dtype=np.int64), np.asarray(at, dtype=np.int64)


@dataclass(eq=False)
class StreamBatch(OpBatch):
    """The streams of one op (one per piece, on its card's LPDDR engine): element ``e``
    waits for its core's previous streamed piece, element ``after[e]`` of batch
    ``before[e]`` (-1: none)."""

    before: np.ndarray = field(default_factory=_empty)
    after: np.ndarray = field(default_factory=_empty)

    def deps(self, element: int) -> list[Refs]:
        index = int(self.before[element])
        if index < 0:
            return []
        return [(self.batches[index], self.after[element:element + 1])]


@dataclass(eq=False)
class TailBatch(Batch):
    """Each stream's last bytes (a private task of the stream's cycles after its first)."""

    stream: Batch | None = None

    def deps(self, element: int) -> list[Refs]:
        assert self.stream is not None
        return [(self.stream, np.array([element]))]


@dataclass(eq=False)
class JoinBatch(OpBatch):
    """A streamed op's result per piece: the zero-time join of its stream's tail and its
    tiles (``pieces``, ``covers`` tiles each); what the op's consumers read."""

    tail: Batch | None = None
    pieces: OpBatch | None = None
    covers: int = 1

    def deps(self, element: int) -> list[Refs]:
        assert self.tail is not None and self.pieces is not None
        return [(self.tail, np.array([element])), (self.pieces, self.pieces.elements_of(element))]

    def engine_previous(self, element: int) -> tuple[Batch, int] | None:
        return None

    def step_elements(self, elements: np.ndarray) -> np.ndarray:
        return elements // self.covers


class Streams:
    """The streams of one evaluation: the card engines, and per core its last
    streamed piece (state of a single `evaluate` call)."""

    def __init__(self, machine: MachineConfig, cards: CardEngines, total_cores: int,
                 batches: list[Batch]) -> None:
        self.lpddr, self.cards, self.batches = machine.memory.lpddr, cards, batches
        self.last_batch = np.full(total_cores, -1, dtype=np.int64)
        self.last_element = np.full(total_cores, -1, dtype=np.int64)
        self.last_visible = np.full(total_cores, NONE, dtype=np.int64)

    def streams(self, index: int, step: OpStep, cores: np.ndarray, which: np.ndarray,
                base: int, floor: int = NONE) -> tuple[StreamBatch, TailBatch] | None:
        """The streams of ``step`` (plan step ``index``; first of the op's ``base ..``
        tasks), none ready before moment ``floor``, and their tails, to be filed next
        in the batches; None if declined."""
        cycles = np.asarray([stream_cycles(b, self.lpddr) for b in step.lpddr_bytes],
                            dtype=np.int64)[which]
        block = step.tiles + 3
        ready = np.maximum(self.last_visible[cores], floor)
        times = self.cards.run(cores, ready, cycles, self.lpddr.latency_cycles - cycles,
                               len(self.batches), index)
        if times is None:
            return None
        stream = StreamBatch(f"{step.name}.lpddr", step.category, base, times.start, times.end,
                             times.visible, stride=block, cores=cores, batches=self.batches,
                             previous=times.previous, previous_element=times.previous_element,
                             before=self.last_batch[cores], after=self.last_element[cores])
        tail_start = cycle_of(times.visible)
        tail_end = moment(tail_start + cycles, 0)
        tail = TailBatch(f"{step.name}.lpddr_tail", step.category, base, tail_start, tail_end,
                         tail_end, stride=block, offset=1, stream=stream)
        return stream, tail

    def join(self, step: OpStep, tail: TailBatch, pieces: OpBatch) -> JoinBatch:
        """The zero-time joins of the pieces' tiles and tails; each core's last
        streamed piece from now on."""
        ready = np.maximum(tail.visible, pieces.visible.reshape(-1, step.tiles).max(axis=1))
        joined = JoinBatch(step.name, step.category, pieces.base, cycle_of(ready), ready + 1,
                           ready + 1, stride=step.tiles + 3, offset=step.tiles + 2,
                           cores=pieces.cores, batches=self.batches, tail=tail, pieces=pieces,
                           covers=step.tiles)
        cores = pieces.cores
        self.last_batch[cores] = len(self.batches)
        self.last_element[cores] = np.arange(len(cores))
        self.last_visible[cores] = joined.visible
        return joined
