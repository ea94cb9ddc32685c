"""What a collective is asked to do: kind, algorithm, participants, bytes, options.

`make_problem` validates the request once; the algorithm modules read the
resulting `Problem` both to emit tasks and to evaluate their closed forms.

Cost terms shared by every closed form (``r`` router, ``l`` link latency):

- ``message_cycles(u, v, B)``: uncontended message time,
  ``o + hops(u, v) * (r + l) + F - 1`` (summed per hop on mixed links; ``o`` the
  endpoint overhead; store-and-forward adds ``(hops - 1)(F - 1)``:
  `sim.network.transport.message_latency_cycles`, `sim.network.switching`);
- ``combine_cycles(B)``: one reduction of a received vector into the local one
  on the receiving core's SIMD unit, ``ceil(B / combine_bytes_per_cycle)``;
- `fifo_finish_cycles`: several combines on one SIMD unit queue first-in
  first-out.

Examples
--------
>>> from sim.network.routing import Router
>>> from sim.network.topology import ring
>>> p = make_problem(Router(ring(8)), "all_reduce", "ring", [0, 1, 2, 3], 256)
>>> p.root, p.message_cycles(0, 2, 256), p.combine_cycles(256)
(0, 11, 4)
>>> make_problem(Router(ring(8)), "reduce", "ring", [0, 9], 256)
Traceback (most recent call last):
...
sim.errors.ConfigError: participants: 9 is not a core of the topology (cores are 0..7)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from numbers import Integral
from typing import TypeVar

from sim.errors import ConfigError
from sim.network.routing import Router
from sim.network.transport import first_link_hold_cycles, flits_for, message_latency_cycles

__all__ = [
    "CollectiveKind",
    "CollectiveOptions",
    "Problem",
    "ReduceOp",
    "enum_member",
    "fifo_finish_cycles",
    "make_problem",
]


class CollectiveKind(StrEnum):
    """What a collective computes."""

    REDUCE = "reduce"
    BROADCAST = "broadcast"
    ALL_REDUCE = "all_reduce"
    ALL_GATHER = "all_gather"


class ReduceOp(StrEnum):
    """The reduction: it names the combine tasks; its cost is ``combine_bytes_per_cycle``."""

    SUM = "sum"
    MAX = "max"


E = TypeVar("E", bound=StrEnum)


def enum_member(kind: type[E], key: str, value: object) -> E:
    """The member of ``kind`` whose value is ``value`` (a member itself passes).

    Raises
    ------
    ConfigError
        Naming ``key`` and the valid values, if ``value`` is none of them.

    Examples
    --------
    >>> enum_member(ReduceOp, "reduce_op", "max")
    <ReduceOp.MAX: 'max'>
    >>> enum_member(ReduceOp, "reduce_op", "min")
    Traceback (most recent call last):
    ...
    sim.errors.ConfigError: reduce_op: must be one of sum, max, got 'min'
    """
    if isinstance(value, str):
        try:
            return kind(value)
        except ValueError:
            pass
    choices = ", ".join(m.value for m in kind)
    raise ConfigError(f"{key}: must be one of {choices}, got {value!r}")


def _positive_int(key: str, value: object, minimum: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{key}: must be an integer >= {minimum}, got {value!r}")


@dataclass(frozen=True)
class CollectiveOptions:
    """Parameters shared by the collective algorithms.

    Attributes
    ----------
    reduce_op : ReduceOp
        ``sum`` or ``max`` (names the combine tasks).
    root : int, optional
        Root of reduce and broadcast, and the core where tree-shaped all-reduce
        and all-gather meet; default: the first participant.
    arity : int
        Children per node of the ``tree`` algorithm.
    combine_bytes_per_cycle : float, optional
        SIMD throughput of one combine (received vector into local vector);
        ``None`` makes combines free (zero-cycle tasks).
    in_network_combine_cycles : int
        Latency a router adds when it merges packets (``in_network``).
    max_packet_bytes : int, optional
        Largest packet; longer unicast messages are split (default: one packet).
    """

    reduce_op: ReduceOp = ReduceOp.SUM
    root: int | None = None
    arity: int = 2
    combine_bytes_per_cycle: float | None = 64
    in_network_combine_cycles: int = 1
    max_packet_bytes: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "reduce_op", enum_member(ReduceOp, "reduce_op", self.reduce_op))
        _positive_int("arity", self.arity)
        _positive_int("in_network_combine_cycles", self.in_network_combine_cycles, 0)
        if self.max_packet_bytes is not None:
            _positive_int("max_packet_bytes", self.max_packet_bytes)
        rate = self.combine_bytes_per_cycle
        if rate is not None and (isinstance(rate, bool) or not isinstance(rate, int | float)
                                 or not rate > 0):
            raise ConfigError(f"combine_bytes_per_cycle: must be a number > 0, got {rate!r}")


@dataclass(frozen=True)
class Problem:
    """A validated collective request (build with `make_problem`).

    ``algorithm`` is a name registered in `sim.network.algorithms.ALGORITHMS`.
    """

    router: Router
    kind: CollectiveKind
    algorithm: str
    participants: tuple[int, ...]
    root: int
    nbytes: int
    options: CollectiveOptions

    @property
    def size(self) -> int:
        """Number of participants."""
        return len(self.participants)

    def message_cycles(self, src: int, dst: int, nbytes: int) -> int:
        """Uncontended time of one message (0 if ``src == dst``)."""
        return message_latency_cycles(self.router, src, dst, nbytes,
                                      max_packet_bytes=self.options.max_packet_bytes)

    def first_link_hold_cycles(self, src: int, dst: int, nbytes: int) -> int:
        """Cycles one message holds its route's first link (`sim.network.transport`)."""
        return first_link_hold_cycles(self.router, src, dst, nbytes,
                                      max_packet_bytes=self.options.max_packet_bytes)

    def combine_cycles(self, nbytes: int) -> int:
        """SIMD cycles to combine one received vector of ``nbytes``."""
        rate = self.options.combine_bytes_per_cycle
        return 0 if rate is None else flits_for(nbytes, rate)

    def rank(self, core: int) -> int:
        """Position of ``core`` in the topology's ring order (its node id if none)."""
        return self.router.rank(core)

    def ranked(self) -> tuple[int, ...]:
        """Participants in ring order (ties by core id); computed once per problem."""
        cached = self.__dict__.get("_ranked")
        if cached is None:
            rank = self.router.rank
            cached = tuple(sorted(self.participants, key=lambda c: (rank(c), c)))
            object.__setattr__(self, "_ranked", cached)  # frozen: a private memo, not a field
        return cached


def make_problem(router: Router, kind: CollectiveKind | str, algorithm: str,
                 participants: Sequence[int], nbytes: int,
                 options: CollectiveOptions | None = None) -> Problem:
    """Validate a collective request.

    Raises
    ------
    ConfigError
        Unknown kind or algorithm, no participants, a duplicate or a
        participant that is not a core, a root outside the participants, or
        ``nbytes < 1``.
    """
    options = options if options is not None else CollectiveOptions()
    kind = enum_member(CollectiveKind, "collective", kind)
    algorithm = _algorithm_name(algorithm)
    _positive_int("nbytes", nbytes)
    cores = router.core_count
    members = tuple(participants)
    if not members:
        raise ConfigError("participants: must not be empty")
    for core in members:
        if isinstance(core, bool) or not isinstance(core, Integral) or not 0 <= core < cores:
            raise ConfigError(f"participants: {core!r} is not a core of the topology "
                              f"(cores are 0..{cores - 1})")
    members = tuple(int(core) for core in members)
    if len(set(members)) != len(members):
        raise ConfigError("participants: must not repeat a core")
    root = members[0] if options.root is None else options.root
    if isinstance(root, bool) or not isinstance(root, Integral) or root not in members:
        raise ConfigError(f"root: core {root!r} is not a participant")
    root = int(root)
    return Problem(router, kind, algorithm, members, root, nbytes, options)


def _algorithm_name(value: object) -> str:
    """``value`` if it names a registered collective algorithm.

    Raises
    ------
    ConfigError
        Naming ``algorithm`` and the registered names, worded like the other
        `make_problem` choices (`enum_member`).
    """
    # Validated here, not where `sim.network.collectives` looks the spec up: a
    # `Problem` promises a valid request, and the algorithm modules build and read
    # Problems without that lookup. `sim.network.algorithms` imports this module
    # (its specs take a Problem), so the registry is imported at call time.
    from sim.network.algorithms import ALGORITHMS

    if isinstance(value, str) and value in ALGORITHMS:
        return str(value)
    raise ConfigError(f"algorithm: must be one of {', '.join(ALGORITHMS.names())}, "
                      f"got {value!r}")


def fifo_finish_cycles(start: int, arrivals: Sequence[int], service_cycles: int) -> int:
    """When a FIFO server free from ``start`` finishes jobs arriving at ``arrivals``.

    Closed form, with the arrivals sorted ``a_1 <= ... <= a_m``:
    ``max(start + m s, max_j (a_j + (m - j + 1) s))``.

    Examples
    --------
    >>> fifo_finish_cycles(0, [10, 10, 11], 3)
    19
    >>> fifo_finish_cycles(0, [], 3)
    0
    """
    ordered = sorted(arrivals)
    m = len(ordered)
    candidates = [start + m * service_cycles]
    candidates += [a + (m - j) * service_cycles for j, a in enumerate(ordered)]
    return max(candidates)
