"""A recording as integer columns, the tasks renumbered densely (`sim.network.replay`).

Per task kept: engine (renumbered densely over those used), duration, result
latency, chain successor (a dependent that waits for nothing else: no count is
kept for it) and dependencies left; explicit dependent lists only where a task
has dependents besides its successor. Messages are expanded by
`sim.network.replay.messages` (hops on links no other task uses folded into
their packet's previous hop), multicasts by `sim.network.replay.multicasts`
(markers nothing waits for derived from their hop); combines and lone tasks
(`Recorder.inject`, ``hop``, ``marker``) are one task each. Leaving tasks out
keeps the order of the others, so every FIFO tie is decided as on the real tasks.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass

import numpy as np

from sim.network.replay.messages import message_part
from sim.network.replay.multicasts import McastPart, mcast_part
from sim.network.replay.recorder import Recorder
from sim.network.replay.small import small_columns
from sim.network.transport import NetworkEngines

__all__ = ["SMALL_TASKS", "Columns", "Layout", "build_columns"]


@dataclass
class Columns:
    """The tasks as columns (module docstring)."""

    engine: array
    duration: array
    latency: array
    successor: array
    waiting: array
    dependents: dict[int, list[int]]


@dataclass(frozen=True, eq=False)
class Layout:
    """Where the recording's figures are in the columns: the real index of every task
    to its dense one (-1: none); per hop (a message's per route slot, its packets
    summed) its link, the cycles it holds it and the bytes it moves; per derived
    marker its real index, the dense index of its hop and its latency."""

    dense: np.ndarray
    hop_links: np.ndarray
    hop_cycles: np.ndarray
    hop_bytes: np.ndarray
    derived_index: np.ndarray
    derived_base: np.ndarray
    derived_lag: np.ndarray


def _packed(column: np.ndarray) -> array:
    out = array("q")
    out.frombytes(memoryview(column.data).cast("B"))  # no intermediate bytes copy
    return out


#: Recordings of at most this many tasks are built in plain Python
#: (`sim.network.replay.small`), the others with numpy.
SMALL_TASKS = 400

_NONE = np.zeros(0, dtype=np.int64)


def build_columns(rec: Recorder, engines: NetworkEngines) -> tuple[Columns, Layout]:
    """Every recorded task as `Columns`, and their `Layout`."""
    n = rec.count
    if n <= SMALL_TASKS:
        (engine_c, duration_c, latency_c, successor_c, waiting_c), listed, figures = \
            small_columns(rec, engines)
        dense_s, links_s, cycles_s, bytes_s = figures
        return (Columns(engine_c, duration_c, latency_c, successor_c, waiting_c, listed),
                Layout(dense_s, links_s, cycles_s, bytes_s, _NONE, _NONE, _NONE))
    router = rec.problem.router
    others = bool(rec.multicasts or rec.lone)
    mc = mcast_part(rec)
    lone_hops = np.array([t[1] for t in rec.lone if t[6]], dtype=np.int64)
    msg = message_part(rec, engines, np.concatenate([mc.hop_engine, lone_hops]) if others
                       else lone_hops)
    # the real index every task is known by to its dense one, deliveries redirected
    keep = np.zeros(n, dtype=bool)
    keep[msg.index] = True
    keep[msg.first - 1 if rec.injecting else []] = True
    keep[[c[0] for c in rec.combines]] = True
    if others:
        keep[mc.hop_index] = True
        keep[mc.eject_index] = True
        keep[[m[0] - 1 for m in rec.multicasts if m[6]]] = True
        keep[[t[0] for t in rec.lone]] = True
    dense_a = np.cumsum(keep) - 1
    delivered_by = dense_a[msg.delivered]
    dense_a[~keep] = -1
    dense_a[msg.last] = delivered_by
    dense = dense_a.tolist()  # for the loops below: no numpy scalar per look-up
    size = int(keep.sum())
    engine = np.zeros(size, dtype=np.int64)
    duration = np.zeros(size, dtype=np.int64)
    latency = np.zeros(size, dtype=np.int64)
    successor = np.full(size, -1, dtype=np.int64)
    waiting = np.ones(size, dtype=np.int64)  # a later hop waits for its previous one
    at = dense_a[msg.index]
    engine[at] = msg.engine
    duration[at] = msg.flits
    latency[at] = msg.latency
    successor[at] = np.where(msg.following < 0, -1, dense_a[np.maximum(msg.following, 0)])
    dependents: dict[int, list[int]] = {}
    nic, overhead = engines.nic, router.endpoint_overhead_cycles
    hops_l, packets_l = msg.hops.tolist(), msg.packets.tolist()
    for m, (start, src, _, _, deps) in enumerate(rec.messages):
        waits = tuple(dense[d] for d in deps)
        if rec.injecting:  # zero-time, on the source's NIC (`append_inject`)
            inject = dense[start - 1]
            engine[inject] = nic[src]
            latency[inject] = overhead
            waiting[inject] = len(waits)
            for dep in waits:
                dependents.setdefault(dep, []).append(inject)
            waits = (inject,)
        step = hops_l[m]
        firsts = dense[start:start + packets_l[m] * step:step]
        waiting[firsts] = len(waits)
        for dep in waits:
            dependents.setdefault(dep, []).extend(firsts)
    for index_c, core, cycles, deps, _ in rec.combines:
        at_c = dense[index_c]
        engine[at_c] = engines.simd[core]
        duration[at_c] = cycles
        waiting[at_c] = len(deps)
        for dep in deps:
            dependents.setdefault(dense[dep], []).append(at_c)
    if rec.multicasts:
        _multicasts(rec, engines, mc, dense_a, dense,
                    (engine, duration, latency, successor, waiting), dependents)
    for index_t, eng, cycles, lag, deps, _, _ in rec.lone:
        at_t = dense[index_t]
        engine[at_t], duration[at_t], latency[at_t] = eng, cycles, lag
        waiting[at_t] = len(deps)
        for dep in deps:
            dependents.setdefault(dense[dep], []).append(at_t)
    if _delays(rec, mc):  # every NIC task a delay (`sim.network.replay.player`)
        on_nic = np.zeros(len(engines.engines), dtype=bool)
        on_nic[list(nic)] = True
        engine[on_nic[engine]] = -1
    # engines renumbered densely: the queues are of the engines used only (-1 kept)
    names, used = np.unique(engine, return_inverse=True)
    used = used.astype(np.int64) - int(names.size > 0 and names[0] < 0)
    cols = Columns(_packed(used), _packed(duration), _packed(latency), _packed(successor),
                   _packed(waiting), dependents)
    if not others:
        return cols, Layout(dense_a, msg.slot_link, msg.slot_cycles, msg.slot_bytes,
                            mc.derived_index, mc.derived_base, mc.derived_lag)
    # the other hops in program order (a collective without messages: as its tasks)
    lone = [t for t in rec.lone if t[6]]
    order = np.argsort(np.concatenate([mc.hop_index, np.array([t[0] for t in lone],
                                                              dtype=np.int64)]), kind="stable")
    layout = Layout(
        dense_a,
        np.concatenate([msg.slot_link, np.concatenate([mc.hop_engine, lone_hops])[order]]),
        np.concatenate([msg.slot_cycles, np.concatenate([
            mc.hop_flits, np.array([t[2] for t in lone], dtype=np.int64)])[order]]),
        np.concatenate([msg.slot_bytes, np.concatenate([
            mc.hop_bytes, np.array([t[5] for t in lone], dtype=np.int64)])[order]]),
        mc.derived_index, dense_a[mc.derived_base], mc.derived_lag)
    return cols, layout


def _delays(rec: Recorder, mc: McastPart) -> bool:
    """Whether the NIC tasks can be played as delays: some exist, and none of them
    publishes in the cycle it starts (every inject does ``o > 0`` later)."""
    nic_lone = [t[3] for t in rec.lone if not t[6]]
    injects = rec.injecting and (rec.messages or any(m[6] for m in rec.multicasts))
    if not (injects or nic_lone or mc.eject_index.size):
        return False
    return not (mc.eject_latency == 0).any() and 0 not in nic_lone


def _multicasts(rec: Recorder, engines: NetworkEngines, mc: McastPart, dense_a: np.ndarray,
                dense: list[int], fields: tuple[np.ndarray, ...],
                dependents: dict[int, list[int]]) -> None:
    """Fill the columns of the multicasts' tasks (`sim.network.replay.multicasts`): a
    hop's first child hop is its chain successor; its other children and its marker
    are listed dependents (a marker may be a delay, never a successor)."""
    engine, duration, latency, successor, waiting = fields
    at = dense_a[mc.hop_index]
    engine[at], duration[at], latency[at] = mc.hop_engine, mc.hop_flits, mc.hop_latency
    at = dense_a[mc.eject_index]
    engine[at], latency[at] = mc.eject_engine, mc.eject_latency
    order = np.argsort(mc.parent, kind="stable")
    parent, child = dense_a[mc.parent[order]], dense_a[mc.child[order]]
    lead = np.ones(parent.size, dtype=bool)
    lead[1:] = parent[1:] != parent[:-1]
    successor[parent[lead]] = child[lead]
    for up, down in zip(parent[~lead].tolist(), child[~lead].tolist(), strict=True):
        dependents.setdefault(up, []).append(down)
    for up, down in zip(dense_a[mc.eject_base].tolist(), at.tolist(), strict=True):
        dependents.setdefault(up, []).append(down)
    overhead = rec.problem.router.endpoint_overhead_cycles
    injects: list[int] = []
    sources: list[int] = []
    ready_tasks: list[int] = []
    counts: list[int] = []
    for first, src, shape, _, _, deps, injected in rec.multicasts:
        waits = [dense[d] for d in deps]
        if injected:
            inject = dense[first - 1]
            injects.append(inject)
            sources.append(engines.nic[src])
            ready_tasks.append(inject)
            counts.append(len(waits))
            for dep in waits:
                dependents.setdefault(dep, []).append(inject)
            waits = [inject]
        roots = [dense[first + a] for a in shape.root_at]
        ready_tasks.extend(roots)
        counts.extend([len(waits)] * len(roots))
        for dep in waits:
            dependents.setdefault(dep, []).extend(roots)
    engine[injects] = sources
    latency[injects] = overhead
    waiting[ready_tasks] = counts
