"""Reports draw the topology the run used (`RunResult.interconnect`), never a rebuilt one."""

from __future__ import annotations

import dataclasses

import pytest
from conftest import REPO

from sim.config import load_config
from sim.network.from_config import build_topology
from sim.report.plot_links import link_utilization_figure
from sim.report.plot_run import gantt_rows
from sim.report.trace import run_topology, trace_events
from sim.runner import RunResult, simulate


@pytest.fixture(scope="module")
def run() -> RunResult:
    """A 16-core mesh all-reduce: small, with traffic on many links."""
    return simulate(load_config(REPO / "configs/collectives/allreduce_ring_mesh8x8.yaml",
                                ["machine.hierarchy.cores_per_chiplet=16"]))


def test_the_topology_of_a_run_is_the_graph_it_ran_on(run: RunResult) -> None:
    assert run.interconnect is not None
    assert run_topology(run) is run.interconnect.graph


def test_reports_of_the_run_equal_those_of_a_rebuilt_topology(run: RunResult) -> None:
    rebuilt = build_topology(run.config.machine)  # independent: from the config again
    assert trace_events(run) == trace_events(run, topology=rebuilt)
    assert gantt_rows(run, 8) == gantt_rows(run, 8, rebuilt)
    assert link_utilization_figure(run) == link_utilization_figure(run, topology=rebuilt)


def test_a_result_without_its_interconnect_needs_the_topology_given(run: RunResult) -> None:
    bare = dataclasses.replace(run, interconnect=None)
    with pytest.raises(ValueError, match="carries no interconnect"):
        trace_events(bare)
    given = build_topology(run.config.machine)
    assert run_topology(bare, given) is given
    assert trace_events(bare, topology=given) == trace_events(run)
