"""Transport: messages become chains of hop tasks on link engines.

Model (DESIGN.md, "Modeling contracts"). Every directed link is an engine, a
FIFO server. A message of ``B`` bytes from ``s`` to ``d`` is cut into packets
of at most ``max_packet_bytes`` (default: one packet). A packet of ``F`` flits
becomes one task per link of the route ``s -> d``:

- every hop task holds its link for ``F`` cycles (contention queues there);
- hop ``i`` publishes its result ``h_i = router_latency(u_i) + latency(u_i, v_i)``
  cycles after it starts: the head has reached the next router, which may
  forward it at once (virtual cut-through; if the next link is busy the packet
  waits in that router), so its ``result_latency_cycles`` is ``h_i - F``;
- the last hop publishes ``h_H + F - 1`` cycles after it starts: the tail has
  arrived (``result_latency_cycles = h_H - 1``).

Uncontended, a packet is delivered ``sum(h_i) + F - 1`` cycles after its first
hop starts, i.e. ``H (r + l) + F - 1`` on uniform links, and the packets of one
message follow each other back to back, so the message takes
``sum(h_i) + sum(F_p) - 1`` (`message_latency_cycles`). Events are per hop and
packet, never per flit.

Store-and-forward (``machine.network.switching``, `sim.network.switching`):
every hop publishes like the last, when the tail has arrived
(``result_latency_cycles = h_i - 1``), so a packet takes ``sum(h_i + F - 1)``.
Endpoint overhead ``o`` (``machine.network.endpoint_overhead_cycles``): a
message's first hops wait for a zero-time *inject* task on the source's
``core{c}.nic`` engine that publishes ``o`` cycles after the message's inputs
(none is appended when ``o = 0``); both add to every closed form through
`message_latency_cycles` and `multicast_latency_cycles`.

Flits: a flit is what a link moves in a cycle. On a route whose links differ in
width, every hop counts the flits of the *narrowest* link,
``F = ceil(bytes / min(bytes_per_cycle))``: flow control throttles the whole
path to its bottleneck, and every link on it is held that long.

Every hop task carries the bytes of its packet in `Task.nbytes` (its link is its
engine), so traffic per link is summed from a task graph alone
(`sim.network.traffic`). Hop tasks are named ``{message}:p{packet}:{u}->{v}:{bytes}B``
(`hop_name`) for the people reading traces and timelines.

Examples
--------
>>> from sim.ir import TaskGraph
>>> from sim.backends import run_des
>>> from sim.network.topology import ring
>>> router = Router(ring(8))
>>> engines = build_engines(router.graph)
>>> tasks = []
>>> last = append_message(tasks, router, engines, 0, 3, 256, (), name="m", op="demo")
>>> [t.name for t in tasks]
['m:p0:0->1:256B', 'm:p0:1->2:256B', 'm:p0:2->3:256B']
>>> run_des(TaskGraph(engines.engines, tuple(tasks))).ready_cycles[last]
13
>>> message_latency_cycles(router, 0, 3, 256)
13
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from fractions import Fraction

import networkx as nx

from sim.errors import ConfigError
from sim.ir import Category, Task
from sim.ir.task_table import TaskSink, TaskTable
from sim.network.engines import NetworkEngines, build_engines
from sim.network.routing import Edge, Router, hop_latency_cycles, multicast_tree
from sim.network.switching import Switching, message_flight_cycles, switching_of

__all__ = [
    "NetworkEngines",
    "append_hops",
    "append_inject",
    "append_message",
    "append_multicast",
    "build_engines",
    "cut_through_latency_cycles",
    "first_link_hold_cycles",
    "flits_for",
    "hop_name",
    "hop_task",
    "message_latency_cycles",
    "multicast_delivery_cycles",
    "multicast_flits",
    "multicast_latency_cycles",
    "packet_sizes",
    "unique_deps",
]


def flits_for(nbytes: int, bytes_per_cycle: float) -> int:
    """Flits (link cycles) to move ``nbytes`` over a link of ``bytes_per_cycle``.

    Exact rational arithmetic, so a fractional width rounds the same way everywhere
    (integer widths, and floats with an integral value, take an exact integer fast
    path with the same result).

    Examples
    --------
    >>> flits_for(100, 32), flits_for(3, 0.1), flits_for(64, 32), flits_for(65, 32.0)
    (4, 30, 2, 3)
    """
    if type(nbytes) is int:
        if type(bytes_per_cycle) is int:
            return -(-nbytes // bytes_per_cycle)
        if type(bytes_per_cycle) is float and bytes_per_cycle.is_integer():
            return -(-nbytes // int(bytes_per_cycle))
    return -(-Fraction(nbytes) // Fraction(bytes_per_cycle))


def packet_sizes(nbytes: int, max_packet_bytes: int | None) -> tuple[int, ...]:
    """Bytes of each packet of a message (full packets first).

    Examples
    --------
    >>> packet_sizes(100, None), packet_sizes(100, 32)
    ((100,), (32, 32, 32, 4))
    """
    if isinstance(nbytes, bool) or not isinstance(nbytes, int) or nbytes < 1:
        raise ConfigError(f"message bytes: must be an integer >= 1, got {nbytes!r}")
    if max_packet_bytes is None or nbytes <= max_packet_bytes:
        return (nbytes,)
    full, rest = divmod(nbytes, max_packet_bytes)
    return (max_packet_bytes,) * full + ((rest,) if rest else ())


def cut_through_latency_cycles(head_latency_cycles: int, flits: int) -> int:
    """Uncontended delivery time of ``flits`` whose head needs ``head_latency_cycles``.

    Examples
    --------
    >>> cut_through_latency_cycles(3 * (2 + 1), 4)   # 3 hops, router 2, link 1
    12
    """
    return head_latency_cycles + flits - 1


def message_latency_cycles(router: Router, src: int, dst: int, nbytes: int, *,
                           max_packet_bytes: int | None = None) -> int:
    """Uncontended cycles from a message's release to its delivery (0 if ``src == dst``).

    ``o + sum over hops of (router + link latency) + sum over packets of F_p - 1``
    (cut-through), plus ``(H - 1)(F_1 - 1)`` store-and-forward
    (`sim.network.switching.message_flight_cycles`).
    """
    if src == dst:
        return 0
    route = router.route(src, dst)
    flits = [flits_for(size, route.bottleneck_bytes_per_cycle)
             for size in packet_sizes(nbytes, max_packet_bytes)]
    if router.store_and_forward:
        flight = message_flight_cycles(router.route_hop_cycles(src, dst), flits,
                                       Switching.STORE_AND_FORWARD)
    else:
        flight = cut_through_latency_cycles(route.head_latency_cycles, sum(flits))
    return router.endpoint_overhead_cycles + flight


def first_link_hold_cycles(router: Router, src: int, dst: int, nbytes: int, *,
                           max_packet_bytes: int | None = None) -> int:
    """Cycles a message holds the first link of its route, uncontended: ``sum_p F_p``
    (every packet's flits back to back). A later message between the same pair of
    cores released ``x`` cycles after it waits ``max(0, sum_p F_p - x)`` for that link
    (both pay the same endpoint overhead before it, which is latency, not occupancy)."""
    route = router.route(src, dst)
    return sum(flits_for(size, route.bottleneck_bytes_per_cycle)
               for size in packet_sizes(nbytes, max_packet_bytes))


def unique_deps(deps: Sequence[int]) -> tuple[int, ...]:
    """``deps`` without repeats, in order: a tuple of at most one is itself (hop
    chains share their dependency tuples instead of copying one per message).

    >>> d = (7,)
    >>> unique_deps(d) is d, unique_deps([3, 1, 3])
    (True, (3, 1))
    """
    if type(deps) is tuple and len(deps) < 2:
        return deps
    return tuple(dict.fromkeys(deps))


def hop_name(message: str, packet: int, u: int, v: int, nbytes: int) -> str:
    """The name of a hop task (parsed back by `sim.network.traffic.parse_hop_name`).

    Examples
    --------
    >>> hop_name("ar.rs0.3->4", 0, 3, 4, 64)
    'ar.rs0.3->4:p0:3->4:64B'
    """
    return f"{message}:p{packet}:{u}->{v}:{nbytes}B"


def hop_task(engines: NetworkEngines, edge: Edge, flits: int, result_latency_cycles: int,
             deps: Sequence[int], *, message: str, packet: int, nbytes: int, op: str,
             tile: int = 0) -> Task:
    """One hop: ``edge``'s link held for ``flits`` cycles, result after the given
    latency, moving ``nbytes`` (the packet's bytes)."""
    return Task(hop_name(message, packet, edge[0], edge[1], nbytes), op, tile,
                engines.links[edge], flits, result_latency_cycles, Category.COMMUNICATION,
                tuple(dict.fromkeys(deps)), nbytes)


def append_hops(tasks: TaskSink, graph: nx.DiGraph, engines: NetworkEngines,
                edges: Sequence[Edge], flits: int, deps: Sequence[int], *, message: str,
                packet: int, nbytes: int, op: str, tile: int = 0) -> int:
    """Append one packet's chain of hop tasks along ``edges``; return the last hop's index.

    The first hop depends on ``deps``; the last hop's result marks delivery of
    the whole packet (see the module docstring for the latencies).
    """
    heads = [hop_latency_cycles(graph, u, v) for u, v in edges]
    saf = switching_of(graph) is Switching.STORE_AND_FORWARD
    return _append_chain(tasks, engines, edges, heads, flits, deps, message=message,
                         packet=packet, nbytes=nbytes, op=op, tile=tile, saf=saf)


def _append_chain(tasks: TaskSink, engines: NetworkEngines, edges: Sequence[Edge],
                  heads: Sequence[int], flits: int, deps: Sequence[int], *, message: str,
                  packet: int, nbytes: int, op: str, tile: int, saf: bool = False) -> int:
    """`append_hops` with the head latency of every hop given (``heads[i]`` for
    ``edges[i]``); return the last hop's index. The tasks are those `hop_task`
    makes (built inline: this is the innermost loop of lowering). ``saf``:
    store-and-forward, every hop publishes when the tail has arrived."""
    if not edges:
        raise ValueError("a packet needs at least one hop")
    links, category = engines.links, Category.COMMUNICATION
    previous = unique_deps(deps)
    last = len(edges) - 1
    if isinstance(tasks, TaskTable):  # columns: the name is built when asked (`hop_name`)
        if len(heads) != len(edges):
            raise ValueError(f"{len(edges)} hops but {len(heads)} head latencies")
        latencies = [head - flits for head in heads]  # every hop, the last one below
        if saf:
            latencies = [head - 1 for head in heads]
        else:
            latencies[last] = heads[last] - 1
        return tasks.add_hop_chain(message, packet, op, tile, [links[e] for e in edges],
                                   flits, latencies, previous, nbytes)
    prefix, suffix = f"{message}:p{packet}:", f":{nbytes}B"  # see `hop_name`
    for i, ((u, v), head) in enumerate(zip(edges, heads, strict=True)):
        latency = head - 1 if i == last or saf else head - flits
        tasks.append(Task(f"{prefix}{u}->{v}{suffix}", op, tile, links[u, v], flits, latency,
                          category, previous, nbytes))
        previous = (len(tasks) - 1,)
    return len(tasks) - 1


def append_inject(tasks: TaskSink, router: Router, engines: NetworkEngines, src: int,
                  deps: Sequence[int], *, name: str, op: str, tile: int = 0) -> tuple[int, ...]:
    """What a message's first hops wait for: ``deps`` if the endpoint overhead is 0,
    else one appended zero-time task on ``src``'s NIC publishing ``o`` cycles after
    ``deps`` (its index, alone)."""
    overhead = router.endpoint_overhead_cycles
    if overhead == 0:
        return tuple(deps)
    tasks.append(Task(f"{name}.inject", op, tile, engines.nic[src], 0, overhead,
                      Category.COMMUNICATION, tuple(dict.fromkeys(deps))))
    return (len(tasks) - 1,)


def append_message(tasks: TaskSink, router: Router, engines: NetworkEngines, src: int,
                   dst: int, nbytes: int, deps: Sequence[int], *, name: str, op: str,
                   tile: int = 0, max_packet_bytes: int | None = None) -> int:
    """Append a message's hop tasks; return the index whose result marks delivery.

    Packets are appended in order, all depending on ``deps`` (through the inject
    task when the endpoint overhead is not 0, `append_inject`); they share the
    route, so the FIFO links keep them in order and the last packet's last hop
    is delivered last.

    Raises
    ------
    ValueError
        If ``src == dst`` (nothing to send).
    """
    if src == dst:
        raise ValueError(f"message {name!r} from core {src} to itself")
    route = router.route(src, dst)
    heads = router.route_hop_cycles(src, dst)
    deps = append_inject(tasks, router, engines, src, deps, name=name, op=op, tile=tile)
    saf = router.store_and_forward
    last = -1
    for packet, size in enumerate(packet_sizes(nbytes, max_packet_bytes)):
        last = _append_chain(tasks, engines, route.edges, heads,
                             flits_for(size, route.bottleneck_bytes_per_cycle), deps,
                             message=name, packet=packet, nbytes=size, op=op, tile=tile,
                             saf=saf)
    return last


def multicast_flits(router: Router, tree: Mapping[int, Sequence[int]], nbytes: int) -> int:
    """Flits of an ``nbytes`` packet on a multicast tree: its narrowest link decides."""
    width = router.link_bytes_per_cycle
    narrowest = min(width(u, v) for u, children in tree.items() for v in children)
    return flits_for(nbytes, narrowest)


def append_multicast(tasks: TaskSink, router: Router, engines: NetworkEngines, src: int,
                     destinations: Sequence[int], nbytes: int, deps: Sequence[int], *,
                     name: str, op: str, tile: int = 0, flits: int | None = None,
                     inject: bool = True) -> dict[int, int]:
    """Append one packet replicated by the routers along the routes from ``src``.

    Each link of the multicast tree (`multicast_tree`) carries the packet
    once; a router forwards the head onto all its tree links as it arrives
    (store-and-forward: once the tail has arrived). A destination that is a
    leaf of the tree is delivered by its incoming hop (tail latency); one that
    also forwards gets, cut-through, a zero-time marker task on its
    ``core{c}.nic`` engine publishing ``F - 1`` cycles after the head arrives
    (store-and-forward: its incoming hop marks delivery). Uncontended,
    destination ``d`` has the packet `multicast_delivery_cycles` after ``deps``.
    ``flits`` overrides the tree's own bottleneck flit count; ``inject=False``
    skips the endpoint overhead (a router multicasting what it merged).

    Returns
    -------
    dict
        ``{destination: task index whose result marks its delivery}``.
    """
    wanted = [d for d in dict.fromkeys(destinations) if d != src]
    if not wanted:
        return {}
    if any(not 0 <= d < len(engines.nic) for d in wanted):
        raise ValueError(f"multicast {name!r}: destinations must be cores")
    tree = multicast_tree(router, src, wanted)
    count = multicast_flits(router, tree, nbytes) if flits is None else flits
    targets = set(wanted)
    if inject:
        deps = append_inject(tasks, router, engines, src, deps, name=name, op=op, tile=tile)
    into: dict[int, Sequence[int]] = {src: deps}
    delivered: dict[int, int] = {}
    saf = router.store_and_forward
    stack = [src]
    while stack:
        node = stack.pop()
        for child in tree.get(node, ()):
            head = router.hop_cycles(node, child)
            forwards = child in tree
            latency = head - count if forwards and not saf else head - 1
            tasks.append(hop_task(engines, (node, child), count, latency, into[node],
                                  message=name, packet=0, nbytes=nbytes, op=op, tile=tile))
            hop = len(tasks) - 1
            into[child] = (hop,)
            if child in targets:
                if forwards and not saf:
                    tasks.append(Task(f"{name}.eject.{child}", op, tile, engines.nic[child], 0,
                                      count - 1, Category.COMMUNICATION, (hop,)))
                delivered[child] = len(tasks) - 1
        stack.extend(reversed(tree.get(node, ())))
    return {d: delivered[d] for d in wanted}


def multicast_delivery_cycles(router: Router, src: int, dst: int, flits: int, *,
                              inject: bool = True) -> int:
    """Uncontended cycles until ``dst`` has a multicast packet of ``flits`` from ``src``:
    ``o + head_latency(src -> dst) + F - 1`` cut-through, ``o + sum over its hops of
    (h_i + F - 1)`` store-and-forward (``o`` only with ``inject``)."""
    route = router.route(src, dst)
    extra = (route.hops - 1) * (flits - 1) if router.store_and_forward else 0
    overhead = router.endpoint_overhead_cycles if inject else 0
    return overhead + route.head_latency_cycles + flits - 1 + extra


def multicast_latency_cycles(router: Router, src: int, destinations: Sequence[int],
                             nbytes: int) -> int:
    """Uncontended multicast time: the latest `multicast_delivery_cycles`
    (cut-through: ``o + max over d of head_latency(src -> d) + F - 1``).

    Examples
    --------
    >>> from sim.network.topology import mesh_2d
    >>> multicast_latency_cycles(Router(mesh_2d(4, 4)), 0, [3, 12, 15], 64)
    13
    """
    wanted = [d for d in destinations if d != src]
    if not wanted:
        return 0
    count = multicast_flits(router, multicast_tree(router, src, wanted), nbytes)
    return max(multicast_delivery_cycles(router, src, d, count) for d in wanted)
