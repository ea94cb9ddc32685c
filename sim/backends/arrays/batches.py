"""Batches of tasks evaluated as arrays, and the views of data they hand on.

A *batch* is the tasks one lowering step emits together: one op on all its
cores (element ``piece * tiles + tile``), a run of closed-form collectives
(each: its zero-time start task if it has several arrival cycles, then one
task per distinct arrival cycle), or the layer-to-layer messages of one
producer (one per piece). Element ``e`` is task ``base + e`` of the
task-by-task lowering, so task order (which breaks ties) is known without
building the tasks.

Times are *moments*: a cycle and a round within it, packed into one integer
(`moment`) so that comparing moments compares cycles, then rounds. The FIFO
rules (`sim.backends.fifo`) handle a cycle in rounds: what is due at cycle t
is handled in round 0; a task of zero duration started at t releases its
engine (and, with no result latency, publishes) in the next round of t; round
-1 is the start, before anything is due (tasks with no dependencies). Rounds
decide the order of tasks that become ready in the same cycle, and the
backend's events are the distinct moments at which something is due.

Per element a batch holds the start cycle and the moments of the engine's
release (``end``) and of the result (``visible``). Dependencies are not
stored per task: `Batch.deps` derives them for one element when the critical
path asks (`sim.backends.arrays.path`), as lists of `Refs`.

A *view* (`Arrivals`) is where some data is visible: per core that holds it,
the moment; a core not listed waits for all of it (``latest``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import overload

import numpy as np

from sim.ir import Category

__all__ = [
    "NONE",
    "ROUNDS",
    "Arrivals",
    "Batch",
    "ChainBatch",
    "CombineBatch",
    "EdgeSource",
    "MessageBatch",
    "OpBatch",
    "Part",
    "Refs",
    "cycle_of",
    "latest_of",
    "moment",
]

#: Moments per cycle: rounds -1 .. ROUNDS - 2. A cycle has fewer rounds than the
#: graph has tasks (each round past the first is a zero-time task's), so a graph of
#: fewer than ROUNDS - 1 tasks cannot run out; cycles stay below 2**41.
ROUNDS = 1 << 22
#: The moment (0, -1): before anything is due; when a task with no dependencies is ready.
NONE = 0

#: A batch and some of its elements.
Refs = tuple["Batch", np.ndarray]


@overload
def moment(cycle: int, rnd: int) -> int: ...
@overload
def moment(cycle: np.ndarray, rnd: np.ndarray | int) -> np.ndarray: ...
@overload
def moment(cycle: np.ndarray | int, rnd: np.ndarray) -> np.ndarray: ...


def moment(cycle: np.ndarray | int, rnd: np.ndarray | int) -> np.ndarray | int:
    """The moment of ``cycle`` and round ``rnd`` (-1 .. ROUNDS - 2)."""
    return cycle * ROUNDS + rnd + 1


@overload
def cycle_of(at: int) -> int: ...
@overload
def cycle_of(at: np.ndarray) -> np.ndarray: ...


def cycle_of(at: np.ndarray | int) -> np.ndarray | int:
    """The cycle of a moment."""
    return at // ROUNDS


def _empty() -> np.ndarray:
    return np.empty(0, dtype=np.int64)


def latest_of(refs: list[Refs]) -> int:
    """The moment the last of ``refs`` is visible (`NONE` if there are none)."""
    return max((int(batch.visible[elements].max()) for batch, elements in refs
                if elements.size), default=NONE)


@dataclass(eq=False)
class Batch:
    """Tasks ``base ..`` of one op: per element the start cycle, and the moments
    of the engine's release (``end``) and of the result (``visible``)."""

    op: str
    category: Category
    base: int
    start: np.ndarray
    end: np.ndarray
    visible: np.ndarray
    #: Where an op's tasks interleave per piece (a streamed op,
    #: `sim.backends.arrays.streams`): ``stride`` tasks per piece, this batch's
    #: ``group`` of them ``offset`` into each block; 0: element e is task base + e.
    stride: int = 0
    offset: int = 0
    group: int = 1

    def index_of(self, element: int) -> int:
        """The task index of ``element`` in the emitted graph (ascending in it)."""
        if not self.stride:
            return self.base + element
        piece, k = divmod(element, self.group)
        return self.base + piece * self.stride + self.offset + k

    def op_of(self, element: int) -> str:
        """The op (task ``op``) of the element's task."""
        return self.op

    def deps(self, element: int) -> list[Refs]:
        """What the element's task depends on."""
        raise NotImplementedError

    def engine_previous(self, element: int) -> tuple[Batch, int] | None:
        """The task that ran just before it on its engine (None: none, or private)."""
        return None


@dataclass(eq=False)
class ChainBatch(Batch):
    """Closed-form tasks of the collectives of one movement step, on private engines
    (`sim.backends.task_emitter`, ``_closed_form_collectives``): element ``e`` belongs
    to collective ``owner[e]`` (op ``ops[owner[e]]``) and waits for elements
    ``lo[e] .. hi[e] - 1`` of ``refs[source[e]]`` (source -1: the collective's
    ``contributions``; -2: this batch)."""

    ops: tuple[str, ...] = ()
    owner: np.ndarray = field(default_factory=_empty)
    source: np.ndarray = field(default_factory=_empty)
    lo: np.ndarray = field(default_factory=_empty)
    hi: np.ndarray = field(default_factory=_empty)
    refs: list[Batch] = field(default_factory=list)
    contributions: list[list[Refs]] = field(default_factory=list)

    def op_of(self, element: int) -> str:
        return self.ops[int(self.owner[element])]

    def deps(self, element: int) -> list[Refs]:
        source = int(self.source[element])
        if source == -1:
            return self.contributions[int(self.owner[element])]
        batch = self if source == -2 else self.refs[source]
        return [(batch, np.arange(self.lo[element], self.hi[element]))]


@dataclass(eq=False)
class MessageBatch(Batch):
    """Layer-to-layer messages: element i carries piece i of ``producer``."""

    producer: OpBatch | None = None

    def deps(self, element: int) -> list[Refs]:
        assert self.producer is not None
        return [(self.producer, self.producer.elements_of(element))]


@dataclass
class Part:
    """The cores of a view whose data one source delivers: core ``cores[i]`` gets
    element ``elements[i]`` of ``batch``; or, for a collective over a single core
    (no movement), that core has ``own`` (its contributions)."""

    cores: np.ndarray
    batch: Batch | None = None
    elements: np.ndarray | None = None
    own: list[Refs] | None = None

    def refs(self, core: int) -> list[Refs]:
        if self.own is not None:
            return self.own
        assert self.batch is not None and self.elements is not None
        return [(self.batch, self.elements[self.cores == core])]

    def refs_all(self) -> list[Refs]:
        """Every task of the part (an element may repeat: cores share tasks)."""
        if self.own is not None:
            return self.own
        assert self.batch is not None and self.elements is not None
        return [(self.batch, self.elements)]


@dataclass
class Arrivals:
    """A view: per listed core (``cores``), the moment its data is visible
    (``moments``); a core not listed waits for all of it (``latest``)."""

    cores: np.ndarray
    moments: np.ndarray
    parts: list[Part]
    _full: np.ndarray | None = field(default=None, repr=False, compare=False)  # `at`'s table

    @property
    def latest(self) -> int:
        return int(self.moments.max()) if self.moments.size else NONE

    def at(self, cores: np.ndarray, total_cores: int) -> np.ndarray:
        """The moment each of ``cores`` may use the data."""
        if self._full is None:
            self._full = np.full(total_cores, self.latest, dtype=np.int64)
            self._full[self.cores] = self.moments
        return self._full[cores]

    def refs(self, core: int) -> list[Refs]:
        """The tasks a consumer on ``core`` waits for."""
        for part in self.parts:
            if (part.cores == core).any():
                return part.refs(core)
        return self.refs_all()

    def refs_all(self) -> list[Refs]:
        """Every task of the view (what a core not listed waits for)."""
        return [ref for part in self.parts for ref in part.refs_all()]


@dataclass
class EdgeSource:
    """What one incoming edge of an op brings: ``views`` (one per tile, or one for
    all), or, if None, the producer's own tasks on each core (``tile_edge``:
    tile t reads tile t)."""

    producer: OpBatch
    views: list[Arrivals] | None
    tile_edge: bool


@dataclass(eq=False)
class OpBatch(Batch):
    """One op on all its cores: element ``i * tiles + t`` is tile t of the piece on
    ``cores[i]``. Per element, ``previous`` and ``previous_element`` name the
    task just before it on its engine (an index into ``batches``; -1: none)."""

    cores: np.ndarray = field(default_factory=_empty)
    tiles: int = 1
    sources: list[EdgeSource] = field(default_factory=list)
    batches: list[Batch] = field(default_factory=list)
    previous: np.ndarray = field(default_factory=_empty)
    previous_element: np.ndarray = field(default_factory=_empty)

    def position(self, core: int) -> int:
        """The piece on ``core`` (-1: none)."""
        hits = np.flatnonzero(self.cores == core)
        return int(hits[0]) if hits.size else -1

    def elements_of(self, piece: int) -> np.ndarray:
        """Every tile of piece ``piece``."""
        return piece * self.tiles + np.arange(self.tiles)

    def every(self) -> np.ndarray:
        return np.arange(self.visible.size)

    def step_elements(self, elements: np.ndarray) -> np.ndarray:
        """This batch's elements that hold the op step's ``elements`` (piece * tiles
        + tile): themselves (a streamed op's joins: one per piece)."""
        return elements

    def deps(self, element: int) -> list[Refs]:
        piece, tile = divmod(element, self.tiles)
        core = int(self.cores[piece])
        out: list[Refs] = []
        for source in self.sources:
            if source.views is not None:
                view = source.views[tile if len(source.views) > 1 else 0]
                listed = bool((view.cores == core).any())
                out.extend(view.refs(core) if listed else view.refs_all())
                continue
            producer = source.producer
            here = producer.position(core)
            if here < 0:
                out.append((producer, producer.every()))
            elif source.tile_edge and producer.tiles == self.tiles:
                out.append((producer, np.array([here * producer.tiles + tile])))
            else:
                out.append((producer, producer.elements_of(here)))
        return out

    def engine_previous(self, element: int) -> tuple[Batch, int] | None:
        index = int(self.previous[element])
        if index < 0:
            return None
        return self.batches[index], int(self.previous_element[element])


@dataclass(eq=False)
class CombineBatch(OpBatch):
    """Combine blocks of closed-form collectives on their cores' SIMD units (one per
    core): element ``e`` belongs to collective ``owner[e]`` and waits for element
    ``waits[e]`` of ``before`` (its private wait)."""

    ops: tuple[str, ...] = ()
    owner: np.ndarray = field(default_factory=_empty)
    before: Batch | None = None
    waits: np.ndarray = field(default_factory=_empty)

    def op_of(self, element: int) -> str:
        return self.ops[int(self.owner[element])]

    def deps(self, element: int) -> list[Refs]:
        assert self.before is not None
        return [(self.before, self.waits[element:element + 1])]
