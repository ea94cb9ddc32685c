"""Recorded messages expanded into hop columns with numpy (`sim.network.replay.columns`).

Every packet of a message is a chain of hop tasks along its route, the
latencies those of `sim.network.transport` (cut-through: ``h - F`` before the
last hop, ``h - 1`` on it; store-and-forward: ``h - 1`` everywhere). Cut-through,
a hop on a link that no other task of the collective uses is a pure delay after
its packet's previous hop (the packet reaches it at least its predecessor's
flits after that one, which is then gone: induction along the route), so it is
left out and its head latency added to the previous kept hop's (the last kept
hop publishes when the packet is delivered; a message's delivery is its last
packet's last kept hop). Leaving tasks out keeps the order of the others, so
every FIFO tie is decided as on the real tasks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.network.replay.recorder import Recorder
from sim.network.transport import NetworkEngines, flits_for, packet_sizes

__all__ = ["MessagePart", "message_part"]


@dataclass(frozen=True, eq=False)
class MessagePart:
    """The recorded messages' tasks by real index: per kept hop its index, link
    engine, flits, result latency and chain successor (-1: none); per message its
    first hop, hops, packets, the index its delivery is known by (``last``) and the
    kept hop that delivers it (``delivered``); per route slot (a message's route
    position) its link, the cycles its packets hold it and the bytes they move."""

    index: np.ndarray
    engine: np.ndarray
    flits: np.ndarray
    latency: np.ndarray
    following: np.ndarray
    first: np.ndarray
    hops: np.ndarray
    packets: np.ndarray
    last: np.ndarray
    delivered: np.ndarray
    slot_link: np.ndarray
    slot_cycles: np.ndarray
    slot_bytes: np.ndarray


def _message_shapes(rec: Recorder, engines: NetworkEngines
                    ) -> tuple[list[int], list[int], list[int], list[int], list[int], list[int]]:
    """Per distinct route its link engines and head latencies (concatenated); per
    message where its route starts in them, its hops and packets; every packet's flits."""
    router = rec.problem.router
    routes: dict[tuple[int, int], int] = {}
    shapes: dict[tuple[int, int, int], tuple[int, int, tuple[int, ...]]] = {}
    links: list[int] = []
    heads: list[int] = []
    offset: list[int] = []
    hops: list[int] = []
    packets: list[int] = []
    flits: list[int] = []
    for _, src, dst, nbytes, _ in rec.messages:
        shape = shapes.get((src, dst, nbytes))
        if shape is None:
            at = routes.get((src, dst))
            route = router.route(src, dst)
            if at is None:
                at = routes[src, dst] = len(links)
                links.extend(engines.links[e] for e in route.edges)
                heads.extend(router.route_hop_cycles(src, dst))
            sizes = packet_sizes(nbytes, rec.max_packet_bytes)
            shape = shapes[src, dst, nbytes] = (at, route.hops, tuple(
                flits_for(size, route.bottleneck_bytes_per_cycle) for size in sizes))
        offset.append(shape[0])
        hops.append(shape[1])
        packets.append(len(shape[2]))
        flits.extend(shape[2])
    return links, heads, offset, hops, packets, flits


def _kept_hops(rec: Recorder, shapes: tuple[list[int], ...], other_links: np.ndarray
               ) -> tuple[np.ndarray, ...]:
    """Per slot its message and link; which slots keep a hop task (the first, and
    those on a link another message or ``other_links`` also uses: module docstring);
    per kept slot its message, position, head latency summed up to the next kept
    slot, and whether it is its message's last kept slot."""
    links_l, heads_l, offset_l, hops_l = shapes[:4]
    hops = np.array(hops_l, dtype=np.int64)
    slot_msg = np.repeat(np.arange(hops.size), hops)
    slot_pos = np.arange(slot_msg.size) - np.repeat(np.cumsum(hops) - hops, hops)
    at = np.array(offset_l, dtype=np.int64)[slot_msg] + slot_pos
    slot_link = np.array(links_l, dtype=np.int64)[at]
    slot_head = np.array(heads_l, dtype=np.int64)[at]
    # tasks per link (a route crosses a link once)
    users = np.bincount(np.concatenate([slot_link, other_links]) if other_links.size
                        else slot_link)
    keep = (slot_pos == 0) | (users[slot_link] > 1) | rec.problem.router.store_and_forward
    kept = np.flatnonzero(keep)
    head_sum = np.add.reduceat(slot_head, kept) if kept.size else np.zeros(0, np.int64)
    following = np.append(kept[1:], slot_msg.size) if kept.size else kept
    is_end = (following == slot_msg.size) | (slot_pos[np.minimum(following,
                                                                 slot_msg.size - 1)] == 0)
    return slot_msg, slot_link, slot_msg[kept], slot_pos[kept], head_sum, is_end


def message_part(rec: Recorder, engines: NetworkEngines, other_links: np.ndarray
                 ) -> MessagePart:
    """The `MessagePart` of ``rec``'s messages; ``other_links``: the link engine of
    every other hop task of the collective (their links are shared)."""
    saf = rec.problem.router.store_and_forward
    shapes = _message_shapes(rec, engines)
    hops = np.array(shapes[3], dtype=np.int64)
    packets = np.array(shapes[4], dtype=np.int64)
    packet_flits = np.array(shapes[5], dtype=np.int64)
    first = np.array([m[0] for m in rec.messages], dtype=np.int64)
    slot_msg, slot_link, k_msg, k_pos, k_heads, k_end = _kept_hops(rec, shapes, other_links)
    groups = np.bincount(k_msg, minlength=hops.size)          # kept hops per packet
    k_offset = np.cumsum(groups) - groups
    # per packet: its message and ordinal; per kept hop: its packet and kept slot
    packet_msg = np.repeat(np.arange(packets.size), packets)
    packet_ord = np.arange(packet_msg.size) - np.repeat(np.cumsum(packets) - packets, packets)
    per_packet = groups[packet_msg]
    hop_packet = np.repeat(np.arange(packet_msg.size), per_packet)
    slot = k_offset[packet_msg[hop_packet]] + (
        np.arange(hop_packet.size) - np.repeat(np.cumsum(per_packet) - per_packet, per_packet))
    base = first[packet_msg] + packet_ord * hops[packet_msg]
    index = base[hop_packet] + k_pos[slot]
    flits = packet_flits[hop_packet]
    end = k_end[slot]
    following = np.where(end, -1, base[hop_packet] + k_pos[np.minimum(slot + 1, k_pos.size - 1)])
    offset = np.array(shapes[2], dtype=np.int64)
    engine = np.array(shapes[0], dtype=np.int64)[offset[k_msg] + k_pos][slot]
    latency = k_heads[slot] - np.where(end | saf, 1, flits)
    delivered = first + (packets - 1) * hops + k_pos[k_offset + groups - 1]
    held = np.bincount(packet_msg, weights=packet_flits, minlength=hops.size).astype(np.int64)
    nbytes = np.array([m[3] for m in rec.messages], dtype=np.int64)
    return MessagePart(index, engine, flits, latency, following, first, hops, packets,
                       first + packets * hops - 1, delivered, slot_link, held[slot_msg],
                       nbytes[slot_msg])
