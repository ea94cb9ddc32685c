"""Property tests: random small valid configs (machines, topologies, workloads,
strategies, backends) run through the whole pipeline.

Properties, each checked on every example against the timeline and task graph
(independent of how the backend computed them):

- no crash: a run returns a result or raises a deliberate `SimError`
  (capacity, a rejected mapping); nothing else;
- every task finishes (start <= release <= ready, each after the results it
  depends on) or the run raises `DeadlockError`;
- no engine runs two tasks at once;
- bytes are conserved on links: every hop moves the bytes it was named with
  over a link of the topology, only hops move bytes, and each link's traffic
  is the sum of its hops' bytes;
- a rerun gives the same result bit for bit;
- more work (more tokens, more bytes per participant) is never faster.

Examples are drawn deterministically (``derandomize=True``), so a CI run sees the
same configs every time; the counts are printed at the end of the pytest run
(`conftest.pytest_terminal_summary`).
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

from conftest import run_property
from hypothesis import strategies as st

from sim.config import StrategyName, parse_config
from sim.errors import DeadlockError, SimError
from sim.ir import EngineKind
from sim.ir.taskgraph import JOIN_BASE
from sim.network.algorithms import ALGORITHMS
from sim.network.from_config import TOPOLOGIES
from sim.network.traffic import parse_hop_name
from sim.runner import simulate, simulate_tasks

STRATEGIES = [s.value for s in StrategyName]


@st.composite
def machines(draw: st.DrawFn) -> dict[str, Any]:
    """A small machine: 1-8 cores on any topology, small engines, ample SRAM."""
    topology = draw(st.sampled_from(TOPOLOGIES.names()))
    chiplets = draw(st.sampled_from([1, 2])) if topology == "card" else 1
    cores = draw(st.sampled_from([1, 2, 4, 8]))
    network: dict[str, Any] = {
        "topology": topology,
        "router_latency_cycles": draw(st.integers(0, 2)),
        "noc": {"bytes_per_cycle": draw(st.sampled_from([4, 16, 32])),
                "latency_cycles": draw(st.integers(1, 3))},
        "switching": draw(st.sampled_from(["cut_through", "store_and_forward"])),
    }
    if draw(st.booleans()):
        network["max_packet_bytes"] = draw(st.sampled_from([16, 64, 256]))
    return {
        "name": "random",
        "clock_ghz": 1.0,
        "hierarchy": {"cards": 1, "chiplets_per_card": chiplets, "cores_per_chiplet": cores},
        "matmul": {"array_rows": draw(st.sampled_from([8, 16, 32])),
                   "array_cols": draw(st.sampled_from([8, 16, 32]))},
        "simd": {"lanes": draw(st.sampled_from([8, 16, 32]))},
        "memory": {"sram_bytes_per_core": 1 << 24},
        "network": network,
    }


def norm_linears(tokens: st.SearchStrategy[int] | None = None) -> st.SearchStrategy[dict]:
    return st.fixed_dictionaries({
        "kind": st.just("norm_linear"),
        "norm": st.sampled_from(["rmsnorm", "layernorm"]),
        "hidden_size": st.sampled_from([16, 32, 64, 128]),
        "out_features": st.sampled_from([8, 16, 64]),
        "tokens": st.integers(1, 4) if tokens is None else tokens,
        "bias": st.booleans(),
    })


@st.composite
def transformers(draw: st.DrawFn) -> dict[str, Any]:
    """One tiny decoder block, prefill or decode."""
    heads = draw(st.sampled_from([2, 4]))
    model = {"hidden_size": heads * draw(st.sampled_from([4, 8])), "num_heads": heads,
             "num_kv_heads": draw(st.sampled_from([h for h in (1, 2, 4) if heads % h == 0])),
             "ffn_size": draw(st.sampled_from([16, 32])),
             "activation": draw(st.sampled_from(["gelu", "relu", "swiglu", "geglu"])),
             "norm": draw(st.sampled_from(["rmsnorm", "layernorm"])), "num_layers": 1,
             "vocab_size": 10, "bias": draw(st.booleans())}
    if draw(st.booleans()):
        return {"kind": "transformer", "model": model, "phase": "prefill",
                "seq_len": draw(st.integers(1, 4)), "batch": 1}
    return {"kind": "transformer", "model": model, "phase": "decode",
            "kv_len": draw(st.integers(0, 8)), "batch": draw(st.integers(1, 2))}


def collectives(nbytes: st.SearchStrategy[int] | None = None) -> st.SearchStrategy[dict]:
    return st.fixed_dictionaries({
        "kind": st.just("collective"),
        "op": st.sampled_from(["reduce", "broadcast", "all_reduce", "all_gather"]),
        "algorithm": st.sampled_from(ALGORITHMS.names()),
        "bytes": st.integers(1, 2048) if nbytes is None else nbytes,
        "participants": st.just("all"),
    })


@st.composite
def configs(draw: st.DrawFn, workload: st.SearchStrategy[dict] | None = None) -> dict:
    """A whole run config tree: machine, workload, strategy, explicit mapping."""
    chosen = st.one_of(norm_linears(), transformers(), collectives()) if workload is None \
        else workload
    return {
        "machine": draw(machines()),
        "workload": draw(chosen),
        "strategy": draw(st.sampled_from(STRATEGIES)),
        "schedule": {"linear_split": draw(st.sampled_from(["columns", "rows", "2d"])),
                     "norm_stats": draw(st.sampled_from(["collective", "local"]))},
    }


def _tasks_finish_in_order(result: Any) -> None:
    graph, timeline = result.taskgraph, result.timeline
    starts, ends, readies = timeline.start_cycles, timeline.end_cycles, timeline.ready_cycles
    assert len(starts) == len(ends) == len(readies) == len(graph.tasks)

    def ready_of(dep: int) -> int:
        if dep < JOIN_BASE:
            return readies[dep]
        return max(ready_of(member) for member in graph.joins[dep - JOIN_BASE])

    for i, task in enumerate(graph.tasks):
        assert 0 <= starts[i] <= ends[i], task.name
        assert ends[i] - starts[i] == task.duration_cycles, task.name
        assert readies[i] == ends[i] + task.result_latency_cycles, task.name
        assert all(starts[i] >= ready_of(dep) for dep in task.deps), task.name
    assert timeline.latency_cycles == max(readies, default=0)


def _engines_run_one_task_at_a_time(result: Any) -> None:
    graph, timeline = result.taskgraph, result.timeline
    busy: dict[int, list[tuple[int, int]]] = {}
    for i, task in enumerate(graph.tasks):
        if task.duration_cycles > 0:
            busy.setdefault(task.engine, []).append((timeline.start_cycles[i],
                                                     timeline.end_cycles[i]))
    for engine, intervals in busy.items():
        intervals.sort()
        for (_, end), (start, _) in pairwise(intervals):
            assert start >= end, graph.engines[engine].name


def _bytes_conserved_on_links(result: Any) -> None:
    graph = result.taskgraph
    topology = result.interconnect.router.graph
    per_link: dict[str, int] = {}
    for task in graph.tasks:
        engine = graph.engines[task.engine]
        if engine.kind is not EngineKind.LINK:
            continue
        hop = parse_hop_name(task.name)  # the bytes and link its transport named it with
        assert hop.nbytes == task.nbytes > 0, task.name
        assert engine.name == f"link.{hop.src}->{hop.dst}", task.name
        assert topology.has_edge(hop.src, hop.dst), task.name
        per_link[engine.name] = per_link.get(engine.name, 0) + task.nbytes
    assert {name: t.bytes for name, t in result.link_traffic().items()} == per_link
    combined = sum(t.nbytes for t in graph.tasks  # a combine carries the bytes it combines
                   if graph.engines[t.engine].kind is EngineKind.SIMD)
    assert sum(per_link.values()) == sum(t.nbytes for t in graph.tasks) - combined  # hops


def _run_checked(tree: dict, backend: str) -> Any | None:
    """The run's task-level result with every invariant checked; None if the
    config was refused with a deliberate error."""
    try:
        config = parse_config(tree)
        result = simulate_tasks(config, backend=backend)
    except DeadlockError as exc:
        assert exc.stuck_tasks, "a deadlock names the tasks that never started"
        return None
    except SimError:
        return None  # refused cleanly: one line at the CLI
    _tasks_finish_in_order(result)
    _engines_run_one_task_at_a_time(result)
    if backend == "des":
        _bytes_conserved_on_links(result)
    return result


def _figures(result: Any) -> dict:
    data = result.to_dict()
    return {k: v for k, v in data.items() if "seconds" not in k and "wall" not in k}


def _pipeline_invariants(tree: dict, backend: str) -> None:
    result = _run_checked(tree, backend)
    if result is None:
        return
    again = simulate_tasks(parse_config(tree), backend=backend)
    assert again.timeline == result.timeline  # bit for bit
    assert _figures(again) == _figures(result)


def test_random_configs_run_cleanly_with_every_invariant(record_property) -> None:
    count = run_property(_pipeline_invariants, configs(), st.sampled_from(["des", "analytic"]),
                         examples=300)
    record_property("property_examples", count)


def _more_tokens_never_faster(tree: dict, extra: int) -> None:
    more = {**tree, "workload": {**tree["workload"],
                                 "tokens": tree["workload"]["tokens"] + extra}}
    _more_work_never_faster(tree, more)


def _more_bytes_never_faster(tree: dict, extra: int) -> None:
    more = {**tree, "workload": {**tree["workload"], "bytes": tree["workload"]["bytes"] + extra}}
    _more_work_never_faster(tree, more)


def _more_work_never_faster(tree: dict, more: dict) -> None:
    try:
        base = simulate(parse_config(tree), backend="des").latency_cycles
        bigger = simulate(parse_config(more), backend="des").latency_cycles
    except SimError:
        return
    assert bigger >= base, (base, bigger)


def test_more_tokens_are_never_faster(record_property) -> None:
    count = run_property(_more_tokens_never_faster, configs(norm_linears()),
                         st.integers(1, 8), examples=100)
    record_property("property_examples", count)


def test_more_bytes_are_never_faster(record_property) -> None:
    count = run_property(_more_bytes_never_faster, configs(collectives()),
                         st.integers(1, 4096), examples=100)
    record_property("property_examples", count)
