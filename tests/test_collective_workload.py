"""`workload: {kind: collective}` through the CLI: DES against the closed form, link traffic."""

from __future__ import annotations

import json

import pytest
from conftest import REPO, run_cli

from sim.config import load_config
from sim.config.presets import list_presets
from sim.network.from_config import build_interconnect

MESH = "configs/collectives/allreduce_ring_mesh8x8.yaml"


def _run(*args):
    proc = run_cli("run", *args, "--format", "json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_ring_allreduce_on_mesh_matches_closed_form_and_reports_links():
    result = _run(MESH)
    assert result["latency_cycles"] == result["closed_form_cycles"]
    links = result["links"]
    assert len(links) == 64  # the snake ring uses 64 directed mesh links
    for traffic in links.values():
        assert traffic["bytes"] > 0
        assert traffic["utilization"] == traffic["busy_cycles"] / result["latency_cycles"]
    # Ring all-reduce: 2(p − 1) steps of 4096/64 = 64 B per link each.
    assert {t["bytes"] for t in links.values()} == {2 * 63 * 64}


@pytest.mark.parametrize("algorithm", ["direct", "tree", "ring", "recursive_doubling",
                                       "hierarchical", "in_network"])
def test_every_algorithm_runs_and_is_never_faster_than_its_closed_form(algorithm):
    result = _run(MESH, "--set", f"workload.algorithm={algorithm}")
    assert result["latency_cycles"] >= result["closed_form_cycles"]
    if algorithm in ("ring", "hierarchical", "in_network"):  # contention-free on a mesh
        assert result["latency_cycles"] == result["closed_form_cycles"]


def test_table_names_the_busiest_links():
    proc = run_cli("run", "configs/collectives/reduce_tree_torus8x8.yaml")
    assert proc.returncode == 0, proc.stderr
    assert "busiest links" in proc.stdout
    assert "closed form (uncontended)" in proc.stdout


def test_allreduce_over_the_whole_corsair_card_is_exact():
    result = _run("configs/collectives/allreduce_corsair_card.yaml")
    assert result["latency_cycles"] == result["closed_form_cycles"]
    assert result["cores_used"] > 1000


@pytest.mark.parametrize(("override", "fragment"), [
    ("workload.participants=[0, 4096]", "participants: 4096 is not a core"),
    ("workload.root=70", "root: core 70 is not a participant"),
    ("workload.algorithm=gossip", "workload.algorithm: must be one of"),
    ("machine.network.mesh_width=7", "machine.network.mesh_width: 7 does not divide 64 cores"),
])
def test_bad_collective_requests_are_one_line_errors(override, fragment):
    proc = run_cli("run", MESH, "--set", override)
    assert proc.returncode == 2
    assert len(proc.stderr.splitlines()) == 1 and fragment in proc.stderr


def test_every_machine_preset_builds_its_interconnect(tmp_path):
    machines = [p for p, _ in list_presets() if p.startswith("configs/machines/")]
    assert "configs/machines/corsair_card.yaml" in machines
    for rel in machines:
        run = tmp_path / "probe.yaml"
        run.write_text(f"extends: {REPO / rel}\n"
                       "workload: {kind: norm_linear, hidden_size: 64, out_features: 64}\n")
        config = load_config(run)
        net = build_interconnect(config.machine)
        assert len(net.engines.matmul) == config.machine.hierarchy.total_cores
