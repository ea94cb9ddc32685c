"""Emitting a collective's tasks: messages (hop chains), combines (SIMD tasks),
multicasts and the in-network algorithms' own hops and markers.

An `Emitter` appends to a task list under construction and names every task
``{name}.{label}`` so that several collectives can share one TaskGraph.
Schedules append every task through it (never to ``tasks`` directly), so that
`sim.network.replay.Recorder` can record them instead.
Combines are tasks on the receiving core's SIMD engine
(``Category.SIMD``, ``combine_cycles(B)`` long, no result latency, carrying the
``B`` bytes it combines in ``nbytes``: `sim.energy` counts them) named
``{name}.{sum|max}.{core}.{n}``.

Examples
--------
>>> from sim.network.problem import make_problem
>>> from sim.network.routing import Router
>>> from sim.network.topology import ring
>>> from sim.network.transport import build_engines
>>> router = Router(ring(4))
>>> problem = make_problem(router, "reduce", "direct", [0, 1], 64)
>>> tasks = []
>>> emit = Emitter(tasks, problem, build_engines(router.graph), "r", None)
>>> got = emit.send(1, 0, 64, emit.deps_of(1), "m")
>>> emit.combine(0, 64, (got,) + emit.deps_of(0))
1
>>> [t.name for t in tasks]
['r.m:p0:1->0:64B', 'r.sum.0.0']
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sim.errors import ConfigError
from sim.ir import Category, Task
from sim.ir.task_table import TaskSink, TaskTable
from sim.network.problem import Problem
from sim.network.routing import Edge
from sim.network.transport import (
    NetworkEngines,
    append_inject,
    append_message,
    append_multicast,
    hop_task,
    unique_deps,
)

__all__ = ["Emitter"]


class Emitter:
    """Appends one collective's tasks to ``tasks``.

    Parameters
    ----------
    tasks : list of Task
        The task list under construction (appended to in program order).
    problem : Problem
    engines : NetworkEngines
    name : str
        Prefix of every task name; also the tasks' ``op``.
    deps : mapping of int to sequence of int, optional
        For each participant, the tasks its contribution waits for.
    """

    def __init__(self, tasks: TaskSink, problem: Problem, engines: NetworkEngines, name: str,
                 deps: Mapping[int, Sequence[int]] | None) -> None:
        self.tasks = tasks
        self.problem = problem
        self.engines = engines
        self.name = name
        self._deps = {core: tuple(d) for core, d in (deps or {}).items()}
        members = set(problem.participants)
        for core in self._deps:
            if core not in members:
                raise ConfigError(f"deps: core {core!r} is not a participant")
        self._combines: dict[int, int] = {}

    def deps_of(self, core: int) -> tuple[int, ...]:
        """The tasks ``core``'s own contribution waits for."""
        return self._deps.get(core, ())

    def send(self, src: int, dst: int, nbytes: int, deps: Sequence[int], label: str) -> int:
        """Append a message; return the index of the task whose result marks delivery."""
        return append_message(self.tasks, self.problem.router, self.engines, src, dst, nbytes,
                              unique_deps(deps), name=f"{self.name}.{label}",
                              op=self.name,
                              max_packet_bytes=self.problem.options.max_packet_bytes)

    def combine(self, core: int, nbytes: int, deps: Sequence[int]) -> int:
        """Append a combine of one received ``nbytes`` vector on ``core``; return its index."""
        serial = self._combines.get(core, 0)
        self._combines[core] = serial + 1
        op = self.problem.options.reduce_op.value
        if isinstance(self.tasks, TaskTable):  # the same row, without a Task object
            return self.tasks.add(f"{self.name}.{op}.{core}.{serial}", self.name, 0,
                                  self.engines.simd[core], self.problem.combine_cycles(nbytes),
                                  0, Category.SIMD, dict.fromkeys(deps), nbytes)
        self.tasks.append(Task(f"{self.name}.{op}.{core}.{serial}", self.name, 0,
                               self.engines.simd[core], self.problem.combine_cycles(nbytes), 0,
                               Category.SIMD, tuple(dict.fromkeys(deps)), nbytes))
        return len(self.tasks) - 1

    def multicast(self, src: int, destinations: Sequence[int], nbytes: int, deps: Sequence[int],
                  label: str, *, flits: int | None = None, inject: bool = True
                  ) -> dict[int, int]:
        """Append one multicast packet (`sim.network.transport.append_multicast`);
        return ``{destination: task index marking its delivery}``."""
        return append_multicast(self.tasks, self.problem.router, self.engines, src,
                                destinations, nbytes, deps, name=f"{self.name}.{label}",
                                op=self.name, flits=flits, inject=inject)

    def inject(self, core: int, deps: Sequence[int], label: str) -> tuple[int, ...]:
        """What waits for ``core``'s contribution to enter its router
        (`sim.network.transport.append_inject`)."""
        return append_inject(self.tasks, self.problem.router, self.engines, core, deps,
                             name=f"{self.name}.{label}", op=self.name)

    def hop(self, edge: Edge, flits: int, latency_cycles: int, deps: Sequence[int], label: str,
            nbytes: int) -> int:
        """Append one hop of a single-packet message (`sim.network.transport.hop_task`,
        packet 0) with the result latency given; return its index."""
        self.tasks.append(hop_task(self.engines, edge, flits, latency_cycles, deps,
                                   message=f"{self.name}.{label}", packet=0, nbytes=nbytes,
                                   op=self.name))
        return len(self.tasks) - 1

    def marker(self, core: int, latency_cycles: int, deps: Sequence[int], label: str) -> int:
        """Append a zero-time task on ``core``'s NIC publishing ``latency_cycles`` after
        ``deps`` (kept as given); return its index."""
        self.tasks.append(Task(f"{self.name}.{label}", self.name, 0, self.engines.nic[core], 0,
                               latency_cycles, Category.COMMUNICATION, tuple(deps)))
        return len(self.tasks) - 1
