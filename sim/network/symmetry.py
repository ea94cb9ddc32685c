"""Translations of a card topology that map a collective onto an identical one.

On the ``card`` topology (`sim.network.topology.card_hierarchy`) every chiplet
is the same mesh, numbered the same way from its first core (``core = chiplet
* cores_per_chiplet + local``), with the same ring ranks (``base + rank``) and
its gateway at the same local position; every card is the same set of chiplets
with its card gateway on its first chiplet. Moving every core of a collective by
a whole number of chiplets (``shift_cores``, a multiple of the chiplet's cores)
therefore moves its routes, trees and rings by the same amount, provided every
link it uses has a twin that many cores on, of the same kind and timing: a route
inside one chiplet always does; a die-to-die link does when both chiplets stay
on one card; a card-to-card link only when whole cards are moved. The shift
keeps every order between cores and between links (engine indices follow core
ids and sorted links, `sim.network.transport.build_engines`), so the FIFO
playing of the moved collective breaks every tie the same way and times every
task the same.

Inside one chiplet the mesh repeats too, up to its edges: a translation by
``(dx, dy)`` that keeps every participant on the chiplet maps XY routes
between participants onto XY routes (a route stays inside its ends' bounding
box) and keeps every order between cores and links (a uniform shift of core
ids), but not the ring ranks (the ring order is a Hamiltonian cycle, not row
major). For an algorithm that reads the ring order only up to rotation
(`sim.network.algorithms.AlgorithmSpec.cyclic_ring_order`) the translation is a
symmetry where it keeps the participants' cyclic ring order:
`in_chiplet_shift` moves such a collective's bounding box to the chiplet's
corner (every two-core reduce of a chiplet onto a few canonical ones).

`canonical_shift` picks the shift to a collective's canonical copy (its lowest
chiplet moved to the first chiplet, when it lies on one card); `shifted_links`
moves its links and says None where a twin is missing or differs, in which case
the collective must be played where it is. `sim.backends.collective_profile`
uses both to play each distinct collective once per machine instead of once
per chiplet; the tests compare moved profiles with profiles played in place.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from sim.network.routing import Router
from sim.network.transport import NetworkEngines

__all__ = ["canonical_shift", "in_chiplet_shift", "shifted_links"]

#: Link and node attributes a twin must share (what routing and timing read; the
#: ring rank is read through the participants' order only, checked by the shifts).
_LINK_KEYS = ("kind", "bytes_per_cycle", "latency_cycles")
_NODE_KEYS = ("role", "router_latency_cycles")


def canonical_shift(router: Router, cores: Sequence[int]) -> int:
    """Cores to subtract from every one of ``cores`` to reach their canonical copy:
    when they all sit on one card, the offset of their lowest chiplet (the copy
    starts on chiplet 0 of card 0: chiplets 5 and 6 of card 2 move to 0 and 1);
    0 when they span cards or on a topology other than ``card``."""
    graph = router.graph.graph
    if graph.get("topology") != "card" or not cores:
        return 0
    width, height = graph["chiplet_dims"]
    per_chiplet = width * height
    per_card = per_chiplet * graph["chiplets_per_card"]
    low, high = min(cores), max(cores)
    if low // per_card == high // per_card:  # one chiplet, or chiplets of one card
        return low - low % per_chiplet
    return 0


def _cyclic(order: list[int]) -> tuple[int, ...]:
    """``order`` rotated to start at its smallest element."""
    at = order.index(min(order))
    return tuple(order[at:] + order[:at])


def in_chiplet_shift(router: Router, cores: Sequence[int]) -> int:
    """Cores to subtract from every one of ``cores``, all on one chiplet, to move
    their bounding box to the chiplet's corner (module docstring), when that
    keeps their ring order up to rotation; 0 otherwise, for cores on several
    chiplets, or on a topology other than ``card``. Only for algorithms with
    `sim.network.algorithms.AlgorithmSpec.cyclic_ring_order`."""
    graph = router.graph.graph
    if graph.get("topology") != "card" or not cores:
        return 0
    width, height = graph["chiplet_dims"]
    per_chiplet = width * height
    low = min(cores)
    base = low - low % per_chiplet
    if max(cores) - base >= per_chiplet:
        return 0
    local = [c - base for c in cores]
    shift = min(c % width for c in local) + width * min(c // width for c in local)
    if not shift:
        return 0
    rank = router.rank
    before = [c - shift for c in sorted(cores, key=lambda c: (rank(c), c))]
    after = sorted((c - shift for c in cores), key=lambda c: (rank(c), c))
    return shift if _cyclic(before) == _cyclic(after) else 0


def _link_edges(router: Router, engines: NetworkEngines) -> dict[int, tuple[int, int]]:
    """Engine index -> directed link, built once per router."""
    key = ("link_edges", len(engines.engines))
    got: dict[int, tuple[int, int]] | None = router.remembered(key)
    if got is None:
        got = {index: edge for edge, index in engines.links.items()}
        router.remember(key, got)
    return got


def _same(a: dict[str, object], b: dict[str, object], keys: tuple[str, ...]) -> bool:
    return all(a.get(k) == b.get(k) for k in keys)


def _twin(router: Router, engines: NetworkEngines, index: int, shift_cores: int) -> int:
    """The engine of link ``index``'s twin ``shift_cores`` on, or -1 (`shifted_links`)."""
    u, v = _link_edges(router, engines)[index]
    a, b = u + shift_cores, v + shift_cores
    twin = engines.links.get((a, b))
    graph = router.graph
    if twin is None or not _same(graph.edges[u, v], graph.edges[a, b], _LINK_KEYS):
        return -1
    for n in (u, v):
        if not _same(graph.nodes[n], graph.nodes[n + shift_cores], _NODE_KEYS):
            return -1
    return twin


def shifted_links(router: Router, engines: NetworkEngines, links: np.ndarray,
                  shift_cores: int) -> np.ndarray | None:
    """The engine indices of ``links`` (link engines) moved by ``shift_cores``, in
    the same order; None if some link has no twin that far on, or a twin (or one
    of its ends) differs in kind or timing (module docstring). Each
    link's twin is looked up once per router and shift."""
    if shift_cores == 0:
        return links
    key = ("link_twins", len(engines.engines), shift_cores)
    twins: dict[int, int] | None = router.remembered(key)
    if twins is None:
        twins = {}
        router.remember(key, twins)
    out = np.empty_like(links)
    for i, index in enumerate(links.tolist()):
        twin = twins.get(index)
        if twin is None:
            twin = twins[index] = _twin(router, engines, index, shift_cores)
        if twin < 0:
            return None
        out[i] = twin
    return out
