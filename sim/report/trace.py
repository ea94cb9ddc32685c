"""Chrome / Perfetto trace-event JSON of one run.

Layout (load the file in https://ui.perfetto.dev or ``chrome://tracing``):

- one *process* per chiplet, named ``chiplet K`` (``card C chiplet K`` on
  machines with more than one card; ``K`` is the global chiplet index);
- one *thread* per engine that ran a task, named like the engine
  (``core12.matmul``, ``core12.simd``, ``core12.nic``), in the process of the
  engine's core;
- one *thread* per busy network link (``link.12->13``), in the process of the
  link's source node (die-to-die and card-to-card links therefore sit in the
  chiplet they leave; switches of flat tree topologies count as chiplet 0);
- one complete event (``ph: "X"``) per task, ``ts``/``dur`` in microseconds of
  the machine's reference clock, with the exact cycles in ``args``
  (``start_cycle``, ``end_cycle``, ``ready_cycle``, ``op``, ``category``,
  ``purpose``, ``critical``);
- flow arrows (``ph: "s"`` / ``"f"``, ``bp: "e"``, category ``collective``) for
  every op that crossed a link (a collective or message, grouped by the task's
  ``op``): from its first hop to each of its delivering tasks (its tasks no
  other task of the op depends on).

The event cap counts the non-metadata events. Past it, the first ``cap``
events by start time are kept (flow arrows whose other end was dropped go
too), a global instant event ``imcsim: dropped K events`` marks where the trace
stops, and the top-level key ``imcsim_dropped_events`` says how many were
dropped. The output is deterministic: events are sorted and nothing depends on
the wall clock.

Examples
--------
>>> from sim.config import load_config
>>> from sim.config.presets import presets_root
>>> from sim.runner import simulate
>>> result = simulate(load_config(presets_root() / "configs" / "flashnorm_toy.yaml"))
>>> trace = trace_events(result)
>>> trace["displayTimeUnit"], trace["imcsim_dropped_events"]
('ns', 0)
>>> sorted({e["args"]["name"] for e in trace["traceEvents"] if e["name"] == "process_name"})
['chiplet 0']
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import networkx as nx

from sim.errors import ConfigError
from sim.ir import EngineKind, TaskGraph
from sim.runner import RunResult

__all__ = [
    "DEFAULT_MAX_EVENTS",
    "check_trace_path",
    "engine_locations",
    "link_endpoints",
    "run_topology",
    "trace_events",
    "write_trace",
]

#: Default cap on the non-metadata events of one trace.
DEFAULT_MAX_EVENTS = 200_000


def link_endpoints(engine_name: str) -> tuple[int, int] | None:
    """``(u, v)`` of a link engine named ``link.u->v``; None for any other name.

    >>> link_endpoints("link.3->17"), link_endpoints("core3.simd")
    ((3, 17), None)
    """
    if not engine_name.startswith("link."):
        return None
    src, arrow, dst = engine_name[5:].partition("->")
    if not arrow or not src.isdigit() or not dst.isdigit():
        return None
    return int(src), int(dst)


def run_topology(result: RunResult, topology: nx.DiGraph | None = None) -> nx.DiGraph:
    """``topology`` if given, else the topology graph of the interconnect ``result``
    ran on (``result.interconnect.graph``; the reports never rebuild it).

    Raises
    ------
    ValueError
        If neither is there (a `RunResult` made without its interconnect).
    """
    if topology is not None:
        return topology
    if result.interconnect is None:
        raise ValueError("the run result carries no interconnect: pass its topology")
    return result.interconnect.graph


def engine_locations(graph: TaskGraph, topology: nx.DiGraph) -> list[tuple[int, int]]:
    """``(card, chiplet)`` of every engine of ``graph`` (indexed like ``graph.engines``).

    A core's engines sit where its node sits; a link where its source node sits.
    Nodes without the attributes (switches) count as card 0, chiplet 0.
    """
    nodes = topology.nodes
    out: list[tuple[int, int]] = []
    for engine in graph.engines:
        node = engine.core
        if node is None:
            ends = link_endpoints(engine.name)
            node = ends[0] if ends is not None else None
        attrs = nodes[node] if node is not None and node in nodes else {}
        out.append((int(attrs.get("card", 0)), int(attrs.get("chiplet", 0))))
    return out


def _cycles_to_us(cycles: int, clock_ghz: float) -> float:
    return round(cycles / (clock_ghz * 1e3), 9)


def _flows(graph: TaskGraph, start: Sequence[int]) -> list[tuple[int, list[int]]]:
    """Per op that used a link, in program order: its first hop and its delivering tasks."""
    link_engines = {i for i, e in enumerate(graph.engines) if e.kind is EngineKind.LINK}
    members: dict[str, list[int]] = {}
    for index, task in enumerate(graph.tasks):
        members.setdefault(task.op, []).append(index)
    out = []
    for indices in members.values():
        hops = [i for i in indices if graph.tasks[i].engine in link_engines]
        if not hops:
            continue
        first = min(hops, key=lambda i: (start[i], i))
        inside = set(indices)
        feeds_inside = {d for i in indices for d in graph.tasks[i].deps if d in inside}
        sinks = [i for i in indices if i not in feeds_inside and i != first]
        if sinks:
            out.append((first, sinks))
    return out


def trace_events(result: RunResult, *, max_events: int = DEFAULT_MAX_EVENTS,
                 topology: nx.DiGraph | None = None) -> dict[str, Any]:
    """The trace-event JSON object of ``result`` (see the module docstring).

    Parameters
    ----------
    result : RunResult
        A finished run.
    max_events : int
        Cap on non-metadata events (``>= 1``).
    topology : networkx.DiGraph, optional
        The machine's topology graph (default: the one ``result`` ran on).

    Returns
    -------
    dict
        ``{"traceEvents": [...], "displayTimeUnit": "ns", "imcsim_dropped_events": k,
        "otherData": {...}}``.

    Raises
    ------
    ValueError
        If ``max_events < 1``.
    """
    if max_events < 1:
        raise ValueError(f"max_events must be >= 1, got {max_events}")
    graph, tl = result.taskgraph, result.timeline
    clock = result.config.machine.clock_ghz
    topo = run_topology(result, topology)
    where = engine_locations(graph, topo)
    cards = max((c for c, _ in where), default=0) + 1
    critical = set(result.breakdown.critical_path)

    def pid(engine: int) -> int:
        return where[engine][1] + 1

    def tid(engine: int) -> int:
        return engine + 1

    # (sort key, event); sort key = (ts cycles, kind order, sequence)
    timed: list[tuple[tuple[int, int, int], dict[str, Any]]] = []
    for i, task in enumerate(graph.tasks):
        s, e = tl.start_cycles[i], tl.end_cycles[i]
        timed.append(((s, 1, i), {
            "name": task.name, "cat": task.category.value, "ph": "X",
            "ts": _cycles_to_us(s, clock), "dur": _cycles_to_us(e - s, clock),
            "pid": pid(task.engine), "tid": tid(task.engine),
            "args": {"op": task.op, "category": task.category.value,
                     "purpose": result.op_purpose.get(task.op, task.category.value),
                     "start_cycle": s, "end_cycle": e, "ready_cycle": tl.ready_cycles[i],
                     "critical": i in critical},
        }))
    flow_id = 0
    for first, sinks in _flows(graph, tl.start_cycles):
        op = graph.tasks[first].op
        for sink in sinks:
            flow_id += 1
            timed.append(((tl.start_cycles[first], 2, flow_id), {
                "name": op, "cat": "collective", "ph": "s", "id": flow_id,
                "ts": _cycles_to_us(tl.start_cycles[first], clock),
                "pid": pid(graph.tasks[first].engine), "tid": tid(graph.tasks[first].engine),
            }))
            timed.append(((tl.start_cycles[sink], 2, flow_id), {
                "name": op, "cat": "collective", "ph": "f", "bp": "e", "id": flow_id,
                "ts": _cycles_to_us(tl.start_cycles[sink], clock),
                "pid": pid(graph.tasks[sink].engine), "tid": tid(graph.tasks[sink].engine),
            }))
    timed.sort(key=lambda item: item[0])
    kept = [event for _, event in timed[:max_events]]
    if len(timed) > max_events:  # drop flow halves whose partner fell past the cap
        starts = {e["id"] for e in kept if e["ph"] == "s"}
        finishes = {e["id"] for e in kept if e["ph"] == "f"}
        paired = starts & finishes
        kept = [e for e in kept if e["ph"] not in ("s", "f") or e["id"] in paired]
    dropped = len(timed) - len(kept)

    meta: list[dict[str, Any]] = []
    used_engines = sorted({e["tid"] - 1 for e in kept if e["ph"] == "X"})
    for p in sorted({pid(engine) for engine in used_engines}):
        card, chiplet = next(where[e] for e in used_engines if pid(e) == p)
        label = f"card {card} chiplet {chiplet}" if cards > 1 else f"chiplet {chiplet}"
        meta.append({"name": "process_name", "ph": "M", "pid": p, "tid": 0,
                     "args": {"name": label}})
        meta.append({"name": "process_sort_index", "ph": "M", "pid": p, "tid": 0,
                     "args": {"sort_index": p}})
    for engine in used_engines:
        meta.append({"name": "thread_name", "ph": "M", "pid": pid(engine), "tid": tid(engine),
                     "args": {"name": graph.engines[engine].name}})
        meta.append({"name": "thread_sort_index", "ph": "M", "pid": pid(engine),
                     "tid": tid(engine), "args": {"sort_index": tid(engine)}})
    if dropped:
        last_ts = max((e["ts"] for e in kept), default=0.0)
        kept.append({"name": f"imcsim: dropped {dropped} events (cap {max_events})",
                     "cat": "imcsim", "ph": "i", "s": "g", "ts": last_ts, "pid": 0, "tid": 0,
                     "args": {"dropped_events": dropped, "max_events": max_events}})
    return {
        "traceEvents": meta + kept,
        "displayTimeUnit": "ns",
        "imcsim_dropped_events": dropped,
        "otherData": {
            "machine": result.config.machine.name,
            "strategy": result.strategy.value,
            "clock_ghz": clock,
            "latency_cycles": result.latency_cycles,
            "time_unit": "us of the reference clock; exact cycles in args",
        },
    }


def check_trace_path(path: Path) -> None:
    """Fail before simulating if ``path`` cannot receive a trace file.

    Raises
    ------
    ConfigError
        ``--trace: ...`` if ``path`` is a directory or its directory is missing
        or not writable.
    """
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise ConfigError(f"--trace: {path} is a directory")
    if not parent.is_dir():
        raise ConfigError(f"--trace: directory {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise ConfigError(f"--trace: directory {parent} is not writable")


def write_trace(path: Path, result: RunResult, *, max_events: int = DEFAULT_MAX_EVENTS,
                topology: nx.DiGraph | None = None) -> int:
    """Write the trace of ``result`` to ``path`` atomically; return the dropped event count.

    The JSON goes to a temporary file next to ``path`` and is renamed into place.

    Raises
    ------
    ConfigError
        If the file cannot be written.
    """
    check_trace_path(path)
    trace = trace_events(result, max_events=max_events, topology=topology)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with tmp.open("w", encoding="utf-8") as handle:
            json.dump(trace, handle, separators=(",", ":"))
            handle.write("\n")
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ConfigError(f"--trace: cannot write {path}: {exc.strerror}") from None
    return int(trace["imcsim_dropped_events"])
