"""How a message moves through the routers: endpoint overhead and switching mode.

Two properties of the network hardware, stored on the topology graph (graph
attributes, set by `configure_transport`; `sim.network.routing.Router` reads
them once) so that every reader of a router, the DES transport and every closed
form, sees the same values:

- ``endpoint_overhead_cycles`` (``o``): the source's cost of starting a message
  (injection, DMA descriptor, NIC setup), charged once per message at its source
  before the first hop. It is latency, not occupancy: a core may set up any
  number of messages at once (no queue of DMA descriptors is modelled). Packets
  a router merges or forwards on the fly (in-network reduction) are not new
  messages and pay nothing.
- ``switching``: ``cut_through`` (virtual cut-through, the default) or
  ``store_and_forward``. A packet of ``F`` flits over hops of head latency
  ``h_1 .. h_H`` (router plus link) is delivered, uncontended,

  - cut-through: ``o + sum_i h_i + F - 1`` (a router forwards the head as it
    arrives, so only the last hop waits for the tail);
  - store-and-forward: ``o + sum_i (h_i + F - 1)`` (every router forwards only
    once the whole packet has arrived).

  A message of packets ``F_1 >= F_2 >= ...`` (full packets first) follows back to
  back: cut-through ``o + sum h + sum_p F_p - 1``; store-and-forward adds
  ``(H - 1)(F_1 - 1)`` (each later packet leaves a link exactly when the one before
  frees the next; derivation in `message_flight_cycles`).

Examples
--------
>>> from sim.network.topology import ring
>>> g = configure_transport(ring(4), endpoint_overhead_cycles=5, switching="store_and_forward")
>>> endpoint_overhead_cycles(g), switching_of(g)
(5, <Switching.STORE_AND_FORWARD: 'store_and_forward'>)
>>> message_flight_cycles([2, 2, 2], [4], Switching.STORE_AND_FORWARD)   # 3 (2 + 4 - 1)
15
>>> message_flight_cycles([2, 2, 2], [4], Switching.CUT_THROUGH)         # 6 + 4 - 1
9
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

import networkx as nx

from sim.errors import ConfigError

__all__ = [
    "Switching",
    "configure_transport",
    "endpoint_overhead_cycles",
    "message_flight_cycles",
    "switching_of",
]


class Switching(StrEnum):
    """When a router may forward a packet: on its head, or once all of it arrived."""

    CUT_THROUGH = "cut_through"
    STORE_AND_FORWARD = "store_and_forward"


def configure_transport(graph: nx.DiGraph, *, endpoint_overhead_cycles: int = 0,
                        switching: Switching | str = Switching.CUT_THROUGH) -> nx.DiGraph:
    """Store the endpoint overhead and switching mode on ``graph``; return it.

    Raises
    ------
    ConfigError
        Naming ``machine.network.endpoint_overhead_cycles`` or
        ``machine.network.switching`` for a negative overhead or an unknown mode.
    """
    overhead = endpoint_overhead_cycles
    if isinstance(overhead, bool) or not isinstance(overhead, int) or overhead < 0:
        raise ConfigError("machine.network.endpoint_overhead_cycles: must be an integer >= 0, "
                          f"got {overhead!r}")
    try:
        mode = Switching(switching)
    except ValueError:
        choices = ", ".join(m.value for m in Switching)
        raise ConfigError(f"machine.network.switching: must be one of {choices}, "
                          f"got {switching!r}") from None
    graph.graph["endpoint_overhead_cycles"] = overhead
    graph.graph["switching"] = mode.value
    return graph


def endpoint_overhead_cycles(graph: nx.DiGraph) -> int:
    """The graph's per-message endpoint overhead (0 if it was never configured)."""
    return int(graph.graph.get("endpoint_overhead_cycles", 0))


def switching_of(graph: nx.DiGraph) -> Switching:
    """The graph's switching mode (cut-through if it was never configured)."""
    return Switching(graph.graph.get("switching", Switching.CUT_THROUGH.value))


def message_flight_cycles(heads: Sequence[int], flits: Sequence[int], switching: Switching) -> int:
    """Uncontended cycles from a message's first hop to its delivery (no endpoint overhead).

    ``heads``: the head latency of every hop; ``flits``: every packet's flits, the
    largest first. Store-and-forward, derived: packet ``k`` starts hop ``i`` at
    ``S(k, i) = sum_{m<k} F_m + sum_{j<i} (h_j + F_1 - 1)``, which satisfies
    ``S(k, i) = max(S(k, i-1) + h_{i-1} + F_k - 1, S(k-1, i) + F_{k-1})`` when
    ``F_k <= F_1``; the last packet's tail arrives at ``S(P, H) + h_H + F_P - 1``.
    """
    head, total = sum(heads), sum(flits)
    extra = (len(heads) - 1) * (flits[0] - 1) if switching is Switching.STORE_AND_FORWARD else 0
    return head + total - 1 + extra
