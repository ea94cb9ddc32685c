"""Lower bounds any all-gather schedule obeys, to measure the algorithms against.

The ejection bound: in an all-gather of ``n``-byte blocks over ``p`` cores, every
core must receive the ``(p - 1) n`` bytes of the others, and no more than its
incoming links together deliver per cycle (``sum of bytes_per_cycle`` over the
links into it: 2 to 4 on a mesh, 1 on a ring per direction, one per other core
on a fully connected topology). So no schedule ends before

``max over participants c of ceil((p - 1) n / sum_{(u, c)} w(u, c))``

cycles (the ports could only be busier: the whole packet must also cross the
routers, and the last flit needs its latency). `all_gather_ideal_cycles` adds the
latency bound: no core has the farthest block before its head crossed the route,
``max_{s, c} head_latency(s -> c)``, plus the endpoint overhead; their maximum is
the ideal the README measures the gathers against.

Examples
--------
>>> from sim.network.routing import Router
>>> from sim.network.topology import mesh_2d
>>> router = Router(mesh_2d(4, 4))           # a corner core has two 32 B/cycle links in
>>> ejection_bound_cycles(router, range(16), 64)    # 15 * 64 B over 64 B/cycle
15
>>> all_gather_ideal_cycles(router, range(16), 64)  # the ejection bound dominates
15
"""

from __future__ import annotations

from collections.abc import Iterable
from fractions import Fraction

from sim.network.routing import Router

__all__ = ["all_gather_ideal_cycles", "ejection_bound_cycles"]


def ejection_bound_cycles(router: Router, participants: Iterable[int], nbytes: int) -> int:
    """The all-gather ejection bound of the module docstring, in cycles."""
    members = tuple(participants)
    received = (len(members) - 1) * nbytes
    graph = router.graph
    worst = 0
    for core in members:
        ports = sum(Fraction(router.link_bytes_per_cycle(u, core))
                    for u in graph.predecessors(core))
        worst = max(worst, -(-Fraction(received) // ports))
    return int(worst)


def all_gather_ideal_cycles(router: Router, participants: Iterable[int], nbytes: int) -> int:
    """``max(ejection bound, overhead + farthest head latency)`` (module docstring)."""
    members = tuple(participants)
    farthest = max((router.route(s, c).head_latency_cycles for s in members for c in members
                    if s != c), default=0)
    return max(ejection_bound_cycles(router, members, nbytes),
               router.endpoint_overhead_cycles + farthest)
