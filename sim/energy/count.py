"""Counting a run's events, per op: from its executed task graph, or from its plan.

Two readers of the same events (`sim.energy.events`), one per kind of result:

- `count_tasks` reads a task graph with hop-level collectives (what the DES
  runs): a compute task (a core's matmul engine or SIMD unit, or a card's LPDDR
  engine reading for an op) is tile ``t`` of piece ``i`` of its op step, the
  ``k``-th task of its op being element ``k`` (the emitter's order, `sim.ir.plan`),
  and counts that tile's events; a hop task counts its bytes on its link's kind
  (``noc``, ``d2d``, ``c2c``) and once through a router; a combine task (a
  collective's SIMD task) counts one lane-op of its reduction (``add`` for sum,
  ``max``) per fp32 element it combines; an LPDDR stream task its bytes, and,
  into a matmul, as many bytes written into the arrays.
- `count_plan` reads the plan itself (the analytic backend, whose collectives are
  closed forms): every element of every op step, every stream of a piece, and,
  per distinct collective or message, its hop-level tasks emitted alone
  (`append_collective`, `append_message`: the tasks the DES runs), counted as
  above and remembered by the router (a collective within one chiplet of a
  ``card`` topology as its copy on chiplet 0: `_chiplet_base`). A collective
  the analytic backend already played for its timing (its profile,
  `sim.backends.collective_profile`: every algorithm, recorded by
  `sim.network.replay` or played from its real tasks, but the ring's arithmetic
  form) is counted from that play's bytes per link and per combine
  (`_played_events`), the same counts without a second emission.

Router merges of an in-network reduction are no tasks (they add latency to a
hop), so both readers count them from the reduction tree the schedule uses:
``(inputs - 1) * nbytes`` merged bytes at every router with two or more inputs
(children and its own core's contribution), for ``reduce`` and ``all_reduce``
(an all-gather concatenates: no arithmetic). NIC and closed-form tasks count
nothing (they are markers of time).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from sim.backends.collective_profile import CollectiveProfile, remembered_profile
from sim.config import MachineConfig
from sim.energy.events import EVENTS, FP32_BYTES, event_index, tile_events
from sim.ir import EngineKind, OpKind, TaskGraph, TaskTable
from sim.ir.plan import CollectiveStep, LoweringPlan, MessageStep, MoveStep, OpStep
from sim.network.collectives import append_collective
from sim.network.from_config import Interconnect, collective_options
from sim.network.problem import make_problem
from sim.network.routing import reduction_tree
from sim.network.transport import append_message

__all__ = ["EventCounts", "count_plan", "count_tasks"]

_K = len(EVENTS)
_LINK_EVENT = {"noc": "noc_link_bytes", "d2d": "d2d_bytes", "c2c": "c2c_bytes"}
_COMBINE_EVENT = {"sum": "simd_add_lane_ops", "max": "simd_max_lane_ops"}


@dataclass(frozen=True, eq=False)
class EventCounts:
    """Event counts per op: ``counts[j]`` (int64, `EVENTS` order) are op ``ops[j]``'s."""

    ops: tuple[str, ...]
    counts: np.ndarray

    def total(self) -> np.ndarray:
        """The counts summed over every op."""
        return self.counts.sum(axis=0)


class _Acc:
    """Counts being summed per op (first-seen order)."""

    def __init__(self) -> None:
        self.rows: dict[str, np.ndarray] = {}

    def add(self, op: str, counts: np.ndarray) -> None:
        row = self.rows.get(op)
        if row is None:
            self.rows[op] = counts.astype(np.int64, copy=True)
        else:
            row += counts

    def one(self, op: str, event: str, count: int) -> None:
        vec = np.zeros(_K, dtype=np.int64)
        vec[event_index(event)] = count
        self.add(op, vec)

    def done(self) -> EventCounts:
        ops = tuple(self.rows)
        counts = (np.stack([self.rows[o] for o in ops]) if ops
                  else np.zeros((0, _K), dtype=np.int64))
        return EventCounts(ops, counts)


def _element_events(step: OpStep, machine: MachineConfig, bits: dict[str, int],
                    memo: dict[object, np.ndarray]) -> np.ndarray:
    """(pieces * tiles, events): the events of every element of ``step``."""
    if not step.tile_shapes:
        raise ValueError(f"op step {step.name!r} has no tile shapes: a plan built without them")
    per_shape = []
    for tiles in step.tile_shapes:
        rows = []
        for shape in tiles:
            got = memo.get(shape)
            if got is None:
                got = memo[shape] = tile_events(shape, machine, bits["weight"],
                                                bits["activation"])
            rows.append(got)
        rows += [np.zeros(_K, dtype=np.int64)] * (step.tiles - len(rows))
        per_shape.append(np.stack(rows))
    table = np.stack(per_shape)  # (shapes, tiles, events)
    return table[np.asarray(step.which, dtype=np.int64)].reshape(-1, _K)


def _stream_events(step: OpStep, nbytes: int) -> np.ndarray:
    vec = np.zeros(_K, dtype=np.int64)
    vec[event_index("lpddr_bytes")] = nbytes
    if step.kind is OpKind.MATMUL:
        vec[event_index("array_write_bytes")] = nbytes
    return vec


def _in_network_bytes(net: Interconnect, machine: MachineConfig, kind: str, algorithm: str,
                      cores: tuple[int, ...], nbytes: int, reduce_op: str, root: int | None,
                      arity: int) -> int:
    """Bytes the routers merge in an in-network reduction (module docstring)."""
    if algorithm != "in_network" or kind not in ("reduce", "all_reduce") or len(cores) < 2:
        return 0
    options = collective_options(machine, reduce_op=reduce_op, root=root, arity=arity)
    problem = make_problem(net.router, kind, algorithm, cores, nbytes, options)
    parent = reduction_tree(net.router, problem.root,
                            [c for c in problem.ranked() if c != problem.root])
    inputs = {v: int(v in problem.participants) for v in {*parent, problem.root}}
    for up in parent.values():
        inputs[up] += 1
    return nbytes * sum(max(n - 1, 0) for n in inputs.values())


class _Collective(NamedTuple):
    """One collective of a plan (a movement's request or a workload's collective)."""

    name: str
    kind: str
    algorithm: str
    cores: tuple[int, ...]
    nbytes: int
    reduce_op: str
    root: int | None
    arity: int


def _collectives(plan: LoweringPlan) -> Iterator[_Collective]:
    """Every collective of ``plan``, in plan order."""
    for step in plan.steps:
        if isinstance(step, MoveStep):
            for r in step.requests:
                yield _Collective(r.name, step.kind.value, step.algorithm, r.cores, r.nbytes,
                                  step.reduce_op, r.root, step.arity)
        elif isinstance(step, CollectiveStep):
            yield _Collective(step.name, step.kind, step.algorithm, step.cores, step.nbytes,
                              step.reduce_op, step.root, step.arity)


def _merges(acc: _Acc, plan: LoweringPlan, machine: MachineConfig, net: Interconnect) -> None:
    for c in _collectives(plan):
        merged = _in_network_bytes(net, machine, c.kind, c.algorithm, c.cores, c.nbytes,
                                   c.reduce_op, c.root, c.arity)
        if merged:
            acc.one(c.name, "in_network_combine_bytes", merged)


def _engine_events(graph: TaskGraph, net: Interconnect) -> tuple[np.ndarray, np.ndarray]:
    """Per engine of ``graph``: the event of a byte over it (-1: not a link), and
    whether it is a SIMD unit. The interconnect's engines are read once (remembered
    by the router); engines after them (private, LPDDR) are neither."""
    link, simd = _interconnect_events(net)
    extra = len(graph.engines) - len(link)
    return (np.concatenate((link, np.full(extra, -1, dtype=np.int64))),
            np.concatenate((simd, np.zeros(extra, dtype=bool))))


def _interconnect_events(net: Interconnect) -> tuple[np.ndarray, np.ndarray]:
    """`_engine_events` of the interconnect's own engines, remembered by its router."""
    got: tuple[np.ndarray, np.ndarray] | None = net.router.remembered(
        ("energy_engine_events",))
    if got is None:
        link = np.full(len(net.engines.engines), -1, dtype=np.int64)
        for (u, v), engine in net.engines.links.items():
            link[engine] = event_index(_LINK_EVENT[net.graph.edges[u, v]["kind"]])
        simd = np.zeros(len(net.engines.engines), dtype=bool)
        simd[list(net.engines.simd)] = True
        got = (link, simd)
        net.router.remember(("energy_engine_events",), got)
    return got


def _comm(acc: _Acc, graph: TaskGraph, net: Interconnect, combine_op: dict[str, str],
          pick: np.ndarray | None = None) -> None:
    """Count ``graph``'s hop, combine and stream tasks (``pick``: only these tasks)."""
    cols = graph.columns
    link_of, is_simd = _engine_events(graph, net)
    engine = cols.engine if pick is None else cols.engine[pick]
    codes = cols.op_codes if pick is None else cols.op_codes[pick]
    nbytes = cols.nbytes if pick is None else cols.nbytes[pick]
    link = link_of[engine]
    hops = link >= 0
    n_ops = len(cols.op_names)
    # per (op, event) sums in one pass; float64 sums of integers are exact below 2**53
    moved = np.bincount(codes[hops] * _K + link[hops], weights=nbytes[hops],
                        minlength=n_ops * _K).reshape(n_ops, _K)
    moved[:, event_index("router_bytes")] = np.bincount(codes[hops], weights=nbytes[hops],
                                                        minlength=n_ops)
    for code in np.flatnonzero(moved.any(axis=1)).tolist():
        acc.add(cols.op_names[code], moved[code].astype(np.int64))
    simd = is_simd[engine] & (nbytes > 0)
    elements = np.bincount(codes[simd], weights=-(-nbytes[simd] // FP32_BYTES),
                           minlength=n_ops)
    for code in np.flatnonzero(elements).tolist():
        op = cols.op_names[code]
        acc.one(op, _COMBINE_EVENT[combine_op.get(op, "sum")], int(elements[code]))


def count_tasks(graph: TaskGraph, plan: LoweringPlan, machine: MachineConfig,
                net: Interconnect, bits: dict[str, int]) -> EventCounts:
    """The events of ``graph`` (hop-level collectives: module docstring), per op."""
    acc = _Acc()
    cols = graph.columns
    steps = {s.name: s for s in plan.steps if isinstance(s, OpStep)}
    units = (EngineKind.MATMUL, EngineKind.SIMD, EngineKind.MEMORY)
    on_units = np.asarray([e.kind in units for e in graph.engines], dtype=bool)
    is_memory = np.asarray([e.kind is EngineKind.MEMORY for e in graph.engines], dtype=bool)
    step_code = np.asarray([name in steps for name in cols.op_names], dtype=bool)
    compute = on_units[cols.engine] & step_code[cols.op_codes] if len(cols) else np.zeros(
        0, dtype=bool)
    memo: dict[object, np.ndarray] = {}
    at = np.flatnonzero(compute)
    codes = cols.op_codes[at]
    order = np.argsort(codes, kind="stable")
    bounds = np.flatnonzero(np.diff(codes[order], prepend=-1, append=-1))
    for lo, hi in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
        step = steps[cols.op_names[int(codes[order[lo]])]]
        table = _element_events(step, machine, bits, memo)
        ranks = np.bincount(np.arange(hi - lo), minlength=len(table))
        acc.add(step.name, ranks @ table)
    memory = is_memory[cols.engine] & ~compute & (cols.nbytes > 0)
    for i in np.flatnonzero(memory).tolist():
        name = cols.op_names[int(cols.op_codes[i])]
        acc.add(name, _stream_events(steps[name.removesuffix(".lpddr")], int(cols.nbytes[i])))
    combine_op = {c.name: c.reduce_op for c in _collectives(plan)}
    _comm(acc, graph, net, combine_op, np.flatnonzero(~compute & ~memory))
    _merges(acc, plan, machine, net)
    return acc.done()


def _alone(net: Interconnect, machine: MachineConfig, key: tuple[object, ...],
           emit: object) -> EventCounts:
    """The events of one collective or message emitted alone, remembered by the router."""
    memo_key = ("energy_events", key)
    got = net.router.remembered(memo_key)
    if got is None:
        table = TaskTable()
        emit(table)  # type: ignore[operator]
        acc = _Acc()
        combine_op = {"x": str(key[5]) if key[0] == "collective" else "sum"}
        _comm(acc, TaskGraph.from_table(net.engines.engines, table), net, combine_op)
        got = acc.done()
        net.router.remember(memo_key, got)
    return got


def _played_events(net: Interconnect, profile: CollectiveProfile, reduce_op: str) -> np.ndarray:
    """The events of a collective whose real tasks the analytic backend already played
    (`CollectiveProfile.link_bytes`, ``combine_task_bytes``): what `_comm` counts on
    those tasks, from the bytes per link and per combine, without emitting them again."""
    link_of, _ = _interconnect_events(net)
    moved = np.zeros(_K, dtype=np.int64)
    link_bytes = profile.link_bytes if profile.link_bytes is not None else np.zeros(0, np.int64)
    kinds = link_of[profile.links]
    on_link = kinds >= 0
    np.add.at(moved, kinds[on_link], link_bytes[on_link])
    moved[event_index("router_bytes")] = int(link_bytes[on_link].sum())
    combined = profile.combine_task_bytes
    elements = 0 if combined is None else int((-(-combined[combined > 0] // FP32_BYTES)).sum())
    if elements:
        moved[event_index(_COMBINE_EVENT[reduce_op])] += elements
    return moved


def _chiplet_base(machine: MachineConfig, cores: tuple[int, ...]) -> int:
    """The first core of the chiplet holding every one of ``cores`` on a ``card``
    topology, else 0. Every chiplet of a card topology is the same mesh and a route
    between two cores of one chiplet stays in it, so a collective on one chiplet
    counts the same events as its copy on chiplet 0 (same relative cores, so ties
    resolve alike): `count_plan` counts the copy, one per distinct shape, instead of
    one per chiplet (a 32-layer model on 32 chiplets: 32 times fewer emissions)."""
    per = machine.hierarchy.cores_per_chiplet
    if machine.network.topology != "card" or cores[0] // per != cores[-1] // per:
        return 0
    chiplet = cores[0] // per
    return chiplet * per if all(c // per == chiplet for c in cores) else 0


def count_plan(plan: LoweringPlan, machine: MachineConfig, net: Interconnect,
               bits: dict[str, int]) -> EventCounts:
    """The events of the tasks ``plan`` lowers to (module docstring), per op."""
    acc = _Acc()
    memo: dict[object, np.ndarray] = {}
    for step in plan.steps:
        if isinstance(step, OpStep):
            acc.add(step.name, _element_events(step, machine, bits, memo).sum(axis=0))
            for which in step.which if step.lpddr_bytes else ():
                acc.add(f"{step.name}.lpddr", _stream_events(step, step.lpddr_bytes[which]))
        elif isinstance(step, MessageStep):
            for src, dst, nbytes in zip(step.src_cores, step.dst_cores, step.nbytes,
                                        strict=True):
                def message(table: TaskTable, s: int = src, d: int = dst,
                            n: int = nbytes) -> None:
                    append_message(table, net.router, net.engines, s, d, n, (), name="x",
                                   op="x")
                acc.add(step.op, _alone(net, machine, ("message", src, dst, nbytes),
                                        message).total())
    for name, kind, algorithm, given, nbytes, reduce_op, at, arity in _collectives(plan):
        if len(given) < 2:
            continue
        base = _chiplet_base(machine, given if at is None else (*given, at))
        cores = tuple(c - base for c in given)
        root = None if at is None else at - base
        options = collective_options(machine, reduce_op=reduce_op, root=root, arity=arity)
        played = remembered_profile(net.router, kind, algorithm, cores, nbytes, options)
        if played is not None and played.link_bytes is not None:
            acc.add(name, _played_events(net, played, str(reduce_op)))
            continue

        def collective(table: TaskTable, k: str = kind, a: str = algorithm,
                       c: tuple[int, ...] = cores, n: int = nbytes, o: object = options) -> None:
            append_collective(table, net.router, net.engines, k, a, c, n,
                              options=o, name="x")  # type: ignore[arg-type]
        key = ("collective", kind, algorithm, cores, nbytes, reduce_op, root, arity)
        acc.add(name, _alone(net, machine, key, collective).total())
    _merges(acc, plan, machine, net)
    return acc.done()
