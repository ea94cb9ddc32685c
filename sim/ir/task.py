"""The elements of a TaskGraph: engines, tasks, their kinds, and joins' ids.

See `sim.ir.taskgraph` for what a task, an engine and a join mean.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields
from enum import StrEnum

__all__ = [
    "JOIN_BASE",
    "Category",
    "Engine",
    "EngineKind",
    "Task",
    "engines_of",
    "is_join",
    "join_ref",
]

#: Dependency ids from here up name joins: ``JOIN_BASE + j`` is ``TaskGraph.joins[j]``.
#: Far above any task index, so a reader that takes a join for a task fails loudly
#: (an IndexError) instead of reading another task's figures.
JOIN_BASE = 1 << 40


def join_ref(j: int) -> int:
    """The dependency id of join ``j`` (``TaskGraph.joins[j]``)."""
    return JOIN_BASE + j


def is_join(dep: int) -> bool:
    """Whether the dependency id ``dep`` names a join rather than a task."""
    return dep >= JOIN_BASE


class EngineKind(StrEnum):
    """Kinds of engine a task can occupy: a core's matmul engine or SIMD unit,
    a directed network link, a core's network interface (NIC), a private
    server of one closed-form collective or message (it contends with nothing;
    see `sim.backends.task_emitter` with ``collectives="closed_form"``), or a
    card's LPDDR interface (shared by the card's cores' streams)."""

    MATMUL = "matmul"
    SIMD = "simd"
    LINK = "link"
    NIC = "nic"
    CLOSED_FORM = "closed_form"
    MEMORY = "memory"


class Category(StrEnum):
    """What a task's cycles count as in the latency breakdown."""

    MATMUL = "matmul"
    SIMD = "simd"
    COMMUNICATION = "communication"


@dataclass(frozen=True, slots=True)
class Engine:
    """One engine: a FIFO server of tasks. ``core`` indexes the machine's cores
    (None for a network link)."""

    name: str
    kind: EngineKind
    core: int | None


_NEW = object.__new__
#: The slot descriptors' setters (``Engine.name`` etc. read on the class).
_SET_NAME, _SET_KIND, _SET_CORE = (vars(Engine)[field].__set__
                                   for field in ("name", "kind", "core"))
#: Whether `engines_of` may set the slots itself: `Engine`'s ``__init__`` does only that.
_PLAIN_ENGINE = (tuple(f.name for f in fields(Engine)) == ("name", "kind", "core")
                 and not hasattr(Engine, "__post_init__"))


def engines_of(kind: EngineKind, names: Iterable[str],
               cores: Iterable[int | None]) -> list[Engine]:
    """``[Engine(name, kind, core) for name, core in zip(names, cores)]`` (same length).

    The frozen dataclass's ``__init__`` makes three checked ``object.__setattr__``
    calls per engine, most of the cost of a rack's 200,000 engines; this sets the
    three slots directly, which is all that ``__init__`` does (checked at import:
    if `Engine` gains a field or a ``__post_init__``, the constructor is used).

    >>> engines_of(EngineKind.NIC, ["core3.nic"], [3]) == [Engine("core3.nic", EngineKind.NIC, 3)]
    True
    """
    if not _PLAIN_ENGINE:
        return [Engine(name, kind, core) for name, core in zip(names, cores, strict=True)]
    out = []
    for name, core in zip(names, cores, strict=True):
        engine = _NEW(Engine)
        _SET_NAME(engine, name)
        _SET_KIND(engine, kind)
        _SET_CORE(engine, core)
        out.append(engine)
    return out


@dataclass(frozen=True, slots=True)
class Task:
    """One unit of work on one engine.

    Attributes
    ----------
    name : str
        Unique, e.g. ``linear[2]`` for tile 2 of op ``linear``.
    op : str
        The OpGraph op it comes from.
    tile : int
        Tile index within the op (0 for untiled ops).
    engine : int
        Index into `TaskGraph.engines`.
    duration_cycles : int
        Cycles the engine is occupied.
    result_latency_cycles : int
        Cycles from the engine's release until dependents may start
        (``>= -duration_cycles``).
    category : Category
    deps : tuple of int
        Indices of tasks whose results this task needs, or joins of them
        (`join_ref`).
    nbytes : int
        Bytes the task moves over its engine (a network hop: the bytes of its
        packet on its link; a collective's combine: the bytes it combines; 0 for
        other compute and marker tasks). Last and defaulted,
        so positional constructions of the fields above need not name it.
    """

    name: str
    op: str
    tile: int
    engine: int
    duration_cycles: int
    result_latency_cycles: int
    category: Category
    deps: tuple[int, ...]
    nbytes: int = 0
