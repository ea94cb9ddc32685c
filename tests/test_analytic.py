"""The analytic backend: same engine rules as the DES, closed-form collectives.

Truths it is held to:
- on any task graph `run_analytic` and `run_des` give the same timeline (the
  engine rules are the same; only the event machinery differs);
- on every uncontended case (no message of the DES run waited for a link:
  ``link_queueing_cycles == 0``) the analytic latency is within 1% of the DES;
- a collective workload's analytic latency is its closed form;
- on contended cases the DES is slower and ``compare --backend both`` shows the gap.
"""

from __future__ import annotations

import json
import random

import pytest
from conftest import card_machine, run_cli

from sim.backends import run_des
from sim.backends.analytic import run_analytic
from sim.config import StrategyName, load_config, parse_config
from sim.errors import DeadlockError
from sim.ir import Category, Engine, EngineKind, Task, TaskGraph
from sim.network.from_config import build_interconnect
from sim.runner import simulate


def _random_graph(rng: random.Random, n_tasks: int, n_engines: int) -> TaskGraph:
    engines = tuple(Engine(f"e{i}", EngineKind.SIMD, i) for i in range(n_engines))
    tasks = []
    for i in range(n_tasks):
        duration = rng.choice([0, 0, 1, 2, 3, 5])
        latency = rng.choice([0, 0, 1, 4, -duration])
        deps = tuple(sorted(rng.sample(range(i), min(i, rng.randint(0, 3)))))
        tasks.append(Task(f"t{i}", "op", 0, rng.randrange(n_engines), duration, latency,
                          Category.SIMD, deps))
    return TaskGraph(engines, tuple(tasks))


def test_same_timeline_as_the_des_on_random_graphs():
    rng = random.Random(7)
    for _ in range(400):
        graph = _random_graph(rng, rng.randint(1, 40), rng.randint(1, 4))
        des, analytic = run_des(graph), run_analytic(graph)
        assert analytic == des


def test_a_dependency_cycle_is_a_deadlock():
    eng = (Engine("e", EngineKind.SIMD, 0),)
    graph = TaskGraph(eng, (Task("a", "a", 0, 0, 1, 0, Category.SIMD, (1,)),
                            Task("b", "b", 0, 0, 1, 0, Category.SIMD, (0,))))
    with pytest.raises(DeadlockError, match="2 of 2 tasks"):
        run_analytic(graph)


def test_toy_machine_reference_cycles(repo):
    config = load_config(repo / "configs/flashnorm_toy.yaml")
    got = {s.value: simulate(config, s, backend="analytic").latency_cycles
           for s in (StrategyName.SERIALIZED, StrategyName.PIPELINED, StrategyName.DEFERRED)}
    assert got == {"serialized": 24, "pipelined": 21, "deferred": 17}  # DOMAIN.md


@pytest.mark.parametrize("name", ["allgather_ring16", "allreduce_ring_mesh8x8",
                                  "allreduce_corsair_card"])
def test_collective_workload_is_its_closed_form_and_the_uncontended_des(repo, name):
    config = load_config(repo / f"configs/collectives/{name}.yaml")
    des, analytic = simulate(config), simulate(config, backend="analytic")
    assert des.link_queueing_cycles() == 0, "premise: uncontended"
    assert analytic.latency_cycles == des.latency_cycles == des.closed_form_cycles[
        next(iter(des.closed_form_cycles))]
    assert analytic.closed_form_cycles == des.closed_form_cycles


def test_contended_collective_alone_is_played_on_its_links(repo):
    """A collective workload alone: the analytic backend plays its hops on the links
    (`sim.backends.collective_profile`), so it is the DES exactly; the closed form it
    reports is the uncontended lower bound."""
    config = load_config(repo / "configs/collectives/reduce_tree_torus8x8.yaml")
    des, analytic = simulate(config), simulate(config, backend="analytic")
    assert des.link_queueing_cycles() > 0
    assert sum(des.closed_form_cycles.values()) < analytic.latency_cycles == des.latency_cycles
    assert analytic.closed_form_cycles == des.closed_form_cycles


WORKLOADS = {
    "rmsnorm": {"kind": "norm_linear", "norm": "rmsnorm", "hidden_size": 1024,
                "out_features": 1024},
    "layernorm": {"kind": "norm_linear", "norm": "layernorm", "hidden_size": 2048,
                  "out_features": 512, "tokens": 4},
    "gpt2_decode": {"kind": "transformer", "model": "gpt2", "phase": "decode", "kv_len": 256,
                    "layers": 1},
}
SCHEDULES = {  # uncontended: the column split (auto's 2d reduce-scatters contend on links)
    # and the in-network gather (the default row_column contends)
    "in_network_gather": {"gather_algorithm": "in_network", "linear_split": "columns"},
    "hierarchical": {"gather_algorithm": "hierarchical", "reduction_algorithm": "in_network",
                     "linear_split": "columns"},
    "ring": {"gather_algorithm": "ring", "linear_split": "columns"},
}


@pytest.mark.parametrize("schedule", list(SCHEDULES))
@pytest.mark.parametrize("machine", [(8, "mesh"), (16, "card"), (16, "torus")])
def test_within_one_percent_of_the_des_wherever_nothing_contends(repo, machine, schedule):
    """Every (workload, strategy) of the family whose DES run had no link queueing;
    the family must hold some such cases (else the test would check nothing)."""
    uncontended = []
    for workload in WORKLOADS.values():
        config = parse_config({"machine": card_machine(repo, *machine), "workload": workload,
                               "schedule": SCHEDULES[schedule]})
        net = build_interconnect(config.machine)
        for strategy in StrategyName:
            des = simulate(config, strategy, net)
            if des.link_queueing_cycles():
                continue
            analytic = simulate(config, strategy, net, "analytic")
            uncontended.append((workload.get("model", workload.get("norm")), strategy.value,
                                des.latency_cycles, analytic.latency_cycles))
    assert uncontended, "no uncontended case in this family"
    worst = max(uncontended, key=lambda c: abs(c[3] / c[2] - 1))
    assert abs(worst[3] / worst[2] - 1) <= 0.01, worst


def test_cli_run_json_names_the_backend():
    done = run_cli("run", "configs/flashnorm_toy.yaml", "--backend", "analytic", "--format",
                   "json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert (data["backend"], data["latency_cycles"], data["link_queueing_cycles"]) == (
        "analytic", 17, 0)


def test_cli_compare_both_shows_the_gap():
    done = run_cli("compare", "configs/collectives/reduce_tree_torus8x8.yaml", "--backend",
                   "both", "--format", "json")
    assert done.returncode == 0, done.stderr
    row = json.loads(done.stdout)["analytic"][0]
    assert row["des_link_queueing_cycles"] > 0
    # played on its links, the lone collective is the DES's (test above)
    assert (row["des_latency_cycles"], row["analytic_latency_cycles"]) == (189, 189)
    assert row["gap"] == pytest.approx(0)
    table = run_cli("compare", "configs/flashnorm_toy.yaml", "--backend", "both").stdout
    assert "analytic backend vs the DES" in table
    assert table.count("+0.00%") == len(StrategyName)


@pytest.mark.parametrize("command", ["run", "compare", "sweep"])
def test_cli_rejects_an_unknown_backend_in_one_line(command, tmp_path):
    target = "configs/sweeps/quick.yaml" if command == "sweep" else "configs/flashnorm_toy.yaml"
    extra = ["--out", str(tmp_path / "out")] if command == "sweep" else []
    done = run_cli(command, target, "--backend", "fast", *extra)
    assert done.returncode == 2
    choices = "des, analytic, both" if command == "compare" else "des, analytic"
    assert done.stderr.strip() == (f"imcsim: error: --backend: unknown backend 'fast' "
                                   f"(choose from {choices})")
    assert not (tmp_path / "out").exists()
