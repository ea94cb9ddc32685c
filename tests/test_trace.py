"""Perfetto / Chrome trace-event JSON of a run: processes per chiplet, engine and link
threads, task events with exact cycles, flow arrows per collective, the event cap."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO, SMALL_CHIPLET_SET, run_cli

from sim.config import load_config
from sim.report.trace import trace_events
from sim.runner import RunResult, simulate

CORSAIR = "configs/paper/llama3_8b_decode.yaml"
#: Corsair-like card, small: GPT-2 blocks, one layer per 64-core chiplet, two layers; the
#: in-network gather keeps the trace under its event cap (row_column has ~20x more hops).
SMALL = ("--set", "workload.model=gpt2", "--set", "workload.layers=2",
         "--set", "schedule.gather_algorithm=in_network",
         *SMALL_CHIPLET_SET)


def _names(trace: dict[str, Any], kind: str) -> dict[tuple[int, int], str]:
    return {(e["pid"], e["tid"]): e["args"]["name"] for e in trace["traceEvents"]
            if e["ph"] == "M" and e["name"] == kind}


@pytest.fixture(scope="module")
def corsair_trace(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], int]:
    """The trace of the small Corsair-like run written by the CLI, and its task count."""
    path = tmp_path_factory.mktemp("trace") / "corsair.json"
    done = run_cli("run", CORSAIR, *SMALL, "--format", "json", "--trace", str(path), "--quiet",
                   "--no-baseline")
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # no warning (and quiet: no progress)
    result = json.loads(done.stdout)
    return json.loads(path.read_text(encoding="utf-8")), result["tasks"]


@pytest.fixture(scope="module")
def ring() -> RunResult:
    return simulate(load_config(REPO / "configs/collectives/allreduce_ring_mesh8x8.yaml"))


def test_corsair_trace_has_a_process_per_chiplet(corsair_trace: tuple[dict, int]) -> None:
    trace, _ = corsair_trace
    assert trace["displayTimeUnit"] == "ns"
    assert trace["imcsim_dropped_events"] == 0
    processes = _names(trace, "process_name")
    assert sorted(processes.values()) == ["chiplet 0", "chiplet 1"]
    threads = _names(trace, "thread_name").values()
    assert any(t.endswith(".matmul") for t in threads)
    assert any(t.endswith(".simd") for t in threads)
    assert any(t.startswith("link.") for t in threads)
    assert len(set(threads)) == len(list(threads))


def test_corsair_trace_events_match_the_tasks(corsair_trace: tuple[dict, int]) -> None:
    trace, tasks = corsair_trace
    events = trace["traceEvents"]
    phases = Counter(e["ph"] for e in events)
    assert phases["X"] == tasks
    named = {(pid, tid) for pid, tid in _names(trace, "thread_name")}
    clock_ghz = trace["otherData"]["clock_ghz"]
    for event in events:
        if event["ph"] == "X":
            assert (event["pid"], event["tid"]) in named
            args = event["args"]
            assert event["ts"] == pytest.approx(args["start_cycle"] / (clock_ghz * 1e3))
            assert event["dur"] == pytest.approx(
                (args["end_cycle"] - args["start_cycle"]) / (clock_ghz * 1e3))
            assert {"op", "category", "purpose", "critical"} <= set(args)
    stamps = [e["ts"] for e in events if e["ph"] != "M"]
    assert stamps == sorted(stamps)


def test_corsair_trace_has_flow_arrows_per_collective(corsair_trace: tuple[dict, int]) -> None:
    trace, _ = corsair_trace
    events = trace["traceEvents"]
    starts = {e["id"]: e for e in events if e["ph"] == "s"}
    finishes = {e["id"]: e for e in events if e["ph"] == "f"}
    assert starts and starts.keys() == finishes.keys()
    assert all(f["bp"] == "e" for f in finishes.values())
    assert all(starts[i]["name"] == finishes[i]["name"] for i in starts)
    assert any("allreduce" in s["name"] or "all_reduce" in s["name"] for s in starts.values())
    link_threads = {k for k, v in _names(trace, "thread_name").items() if v.startswith("link.")}
    assert all((s["pid"], s["tid"]) in link_threads for s in starts.values())


def test_ring_trace_is_one_chiplet_with_busy_link_tracks(ring: RunResult) -> None:
    trace = trace_events(ring)
    assert list(_names(trace, "process_name").values()) == ["chiplet 0"]
    links = [t for t in _names(trace, "thread_name").values() if t.startswith("link.")]
    assert len(links) == len(ring.link_traffic())
    assert sum(e["ph"] == "s" for e in trace["traceEvents"]) > 0


def test_cap_keeps_the_earliest_and_says_what_it_dropped(ring: RunResult) -> None:
    full = trace_events(ring)
    capped = trace_events(ring, max_events=500)
    total = sum(e["ph"] != "M" for e in full["traceEvents"])
    kept = [e for e in capped["traceEvents"] if e["ph"] not in ("M", "i")]
    assert len(kept) <= 500
    assert capped["imcsim_dropped_events"] == total - len(kept) > 0
    note = [e for e in capped["traceEvents"] if e["ph"] == "i"]
    assert len(note) == 1 and str(capped["imcsim_dropped_events"]) in note[0]["name"]
    latest = max(e["ts"] for e in kept)
    assert all(e["ts"] >= latest for e in full["traceEvents"]
               if e["ph"] == "X" and e not in kept)
    ids = Counter(e["id"] for e in kept if e["ph"] in ("s", "f"))
    assert set(ids.values()) <= {2}
    with pytest.raises(ValueError, match="max_events"):
        trace_events(ring, max_events=0)


def test_cli_cap_warns_on_one_line(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    done = run_cli("run", "configs/flashnorm_toy.yaml", "--trace", str(path),
                   "--trace-max-events", "5", "--quiet")  # quiet: the warning stays
    assert done.returncode == 0, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "dropped" in lines[0] and "warning" in lines[0]
    assert json.loads(path.read_text())["imcsim_dropped_events"] > 0


def test_trace_is_deterministic(ring: RunResult) -> None:
    again = simulate(load_config(REPO / "configs/collectives/allreduce_ring_mesh8x8.yaml"))
    assert json.dumps(trace_events(ring)) == json.dumps(trace_events(again))


@pytest.mark.parametrize("target", ["missing/dir/t.json", "."])
def test_unwritable_trace_path_is_one_line_exit_2(tmp_path: Path, target: str) -> None:
    done = run_cli("run", "configs/flashnorm_toy.yaml", "--trace", str(tmp_path / target))
    assert done.returncode == 2
    assert done.stderr.startswith("imcsim: error: --trace:")
    assert len(done.stderr.strip().splitlines()) == 1
    assert done.stdout == ""


def test_no_trace_by_default(tmp_path: Path) -> None:
    done = run_cli("run", str(REPO / "configs/flashnorm_toy.yaml"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert list(tmp_path.iterdir()) == []
