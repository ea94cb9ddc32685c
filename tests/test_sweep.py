"""``imcsim sweep``: spec validation, point expansion, the process pool and Dask
executors giving the same rows, failed points recorded, and resuming after
``kill -9`` with every point exactly once."""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO, SMALL_CHIPLET, run_cli

from sim.errors import ConfigError
from sim.sweep import read_results
from sim.sweep.spec import combinations, expand_points, load_spec, parse_spec
from sim.sweep.store import csv_text, read_jsonl

TOY = REPO / "configs/flashnorm_toy.yaml"
LLAMA = REPO / "configs/paper/llama3_8b_decode.yaml"

# 12 points x 3 strategies; the 6 points with 1000 B of SRAM fail (CapacityError).
TOY_SWEEP = f"""\
base: {TOY}
strategies: [serialized, deferred, static]
overrides: [machine.memory.placement=sram_only]
axes:
  machine.simd.lanes: [32, 64, 128]
  workload.hidden_size: [256, 512]
  machine.memory.sram_bytes_per_core: [1000, 1048576]
"""


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _assert_exactly_once(out: Path, expected: int) -> None:
    """Every row id once in both files, the CSV equal to the JSONL, ``expected`` rows."""
    rows, clean = read_jsonl(out / "results.jsonl")
    assert clean
    ids = [r["point_id"] for r in rows]
    assert len(ids) == len(set(ids)) == expected
    csv_ids = [r["point_id"] for r in _csv_rows(out / "results.csv")]
    assert sorted(csv_ids) == sorted(ids)
    columns = list(rows[0])
    assert (out / "results.csv").read_text(encoding="utf-8") == csv_text(rows, columns)


# ----------------------------------------------------------------- spec validation

@pytest.mark.parametrize(("spec", "message"), [
    ({"base": "x", "axes": {"workload.batch": []}},
     "axes.workload.batch.values: must be a non-empty list"),
    ({"base": "x", "axes": {"workload.batch": {"values": []}}},
     "axes.workload.batch.values: must be a non-empty list"),
    ({"base": "x", "axes": {"a.b": {"value": [1]}}}, "axes.a.b.value: unknown key (did you mean"),
    ({"base": "x", "axes": {"a.b": {}}}, "axes.a.b: needs exactly one of values, range, random"),
    ({"base": "x", "axes": {"a.b": 3}}, "axes.a.b: must be a list of values or a mapping"),
    ({"base": "x", "axes": {"a..b": [1]}}, "axes: 'a..b' is not a dotted config key"),
    ({"base": "x", "axes": {"a.b": {"range": {"start": 4, "stop": 1}}}},
     "axes.a.b.range: is empty"),
    ({"base": "x", "axes": {"a.b": {"range": {"start": 1, "stop": 4, "step": 0}}}},
     "axes.a.b.range.step: must not be 0"),
    ({"base": "x", "axes": {"a.b": {"range": {"start": "1", "stop": 4}}}},
     "axes.a.b.range.start: must be a number, got '1'"),
    ({"base": "x", "axes": {"a.b": {"random": {"low": 1, "high": 3, "count": 0, "seed": 1}}}},
     "axes.a.b.random.count: must be > 0, got 0"),
    ({"base": "x", "axes": {"a.b": {"random": {"low": 1, "high": 3, "count": 2}}}},
     "axes.a.b.random.seed: required key is missing"),
    ({"base": "x", "strategies": ["fastest"]}, "strategies.0: unknown strategy 'fastest'"),
    ({"base": "x", "strategies": []}, "strategies: must be a non-empty list"),
    ({"base": "x", "mode": "cross"}, "mode: must be one of"),
    ({"base": "x", "backend": "fast"},
     "backend: unknown backend 'fast' (choose from des, analytic)"),  # BACKENDS' names
    ({"base": "x", "overrides": "a=1"}, "overrides: must be a list"),
    ({"axes": {}}, "base: required key is missing"),
    ({"base": "x", "axis": {}}, "axis: unknown key (did you mean 'axes'?)"),
])
def test_spec_errors_name_the_key(spec: dict, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_spec(spec)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(("text", "message"), [
    ("base: nope.yaml\n", "base: cannot find 'nope.yaml'"),
    (f"base: {TOY}\naxes: {{workload.batch: []}}\n",
     "axes.workload.batch.values: must be a non-empty list"),
    (f"base: {TOY}\naxes: {{workload.hidden_size: [512, 0]}}\n",
     "workload.hidden_size: must be > 0, got 0 (at point workload.hidden_size=0)"),
    (f"base: {TOY}\naxes: {{machine.simd.lane: [4]}}\n", "machine.simd.lane: unknown key"),
    (f"base: {TOY}\nmode: zip\naxes: {{machine.simd.lanes: [4, 8], workload.tokens: [1]}}\n",
     "axes: mode zip needs axes of one length"),
    (f"base: {TOY}\noverrides: [machine.simd.lanes=-1]\n", "machine.simd.lanes: must be > 0"),
])
def test_cli_spec_errors_one_line_exit_2(tmp_path: Path, text: str, message: str) -> None:
    spec = _write(tmp_path / "s.yaml", text)
    proc = run_cli("sweep", str(spec), "--out", str(tmp_path / "out"))
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("imcsim: error: ") and message in proc.stderr
    assert not (tmp_path / "out").exists()  # nothing ran, nothing written


# ----------------------------------------------------------------- point expansion

def test_grid_zip_random_and_range_expansion() -> None:
    grid = parse_spec({"base": "x", "axes": {
        "a.x": [1, 2], "a.y": {"range": {"start": 0.5, "stop": 1.6, "step": 0.5}}}})
    assert combinations(grid) == [
        {"a.x": 1, "a.y": 0.5}, {"a.x": 1, "a.y": 1.0}, {"a.x": 1, "a.y": 1.5},
        {"a.x": 2, "a.y": 0.5}, {"a.x": 2, "a.y": 1.0}, {"a.x": 2, "a.y": 1.5}]
    zipped = parse_spec({"base": "x", "mode": "zip",
                         "axes": {"a.x": [1, 2], "a.y": {"values": ["p", "q"]}}})
    assert combinations(zipped) == [{"a.x": 1, "a.y": "p"}, {"a.x": 2, "a.y": "q"}]
    rand = {"base": "x", "axes": {
        "a.i": {"random": {"low": 1, "high": 6, "count": 5, "seed": 7, "integer": True}},
        "a.f": {"random": {"low": 0.0, "high": 1.0, "count": 2, "seed": 7}}}}
    first, again = combinations(parse_spec(rand)), combinations(parse_spec(rand))
    assert first == again and len(first) == 10
    assert all(isinstance(p["a.i"], int) and 1 <= p["a.i"] <= 6 for p in first)
    assert all(isinstance(p["a.f"], float) and 0 <= p["a.f"] < 1 for p in first)
    assert combinations(parse_spec({"base": "x"})) == [{}]


def test_points_have_stable_ids_and_duplicates_drop(tmp_path: Path) -> None:
    spec, base = load_spec(_write(tmp_path / "s.yaml", (
        f"base: {TOY}\nstrategies: [serialized, deferred]\n"
        "axes: {machine.simd.lanes: [64, 128, 64]}\n")))
    points, duplicates = expand_points(spec, base)
    assert duplicates == 1 and [p.values for p in points] == [
        {"machine.simd.lanes": 64}, {"machine.simd.lanes": 128}]
    again, _ = expand_points(*load_spec(tmp_path / "s.yaml"))
    assert [p.row_ids for p in points] == [p.row_ids for p in again]
    assert len({i for p in points for i in p.row_ids.values()}) == 4


@pytest.mark.parametrize(("text", "message"), [
    ("overrides: [lanes]\n", "overrides: 'lanes': expected KEY=VALUE"),
    ("overrides: [machine.simd.lanes.x=3]\n", "overrides: machine.simd.lanes.x: machine.simd"),
    ("axes: {machine.simd.lanes.x: [3]}\n", "axes.machine.simd.lanes.x: machine.simd.lanes is a"),
])
def test_point_errors_name_the_key(tmp_path: Path, text: str, message: str) -> None:
    spec = _write(tmp_path / "s.yaml", f"base: {TOY}\n{text}")
    with pytest.raises(ConfigError) as info:
        expand_points(*load_spec(spec))
    assert str(info.value).startswith(message)


def test_bundled_sweeps_are_valid() -> None:
    quick, _ = expand_points(*load_spec(REPO / "configs/sweeps/quick.yaml"))
    large, _ = expand_points(*load_spec(REPO / "configs/sweeps/batch_link_cores.yaml"))
    assert len(quick) == 4 and len(large) == 48


# ----------------------------------------------------------------- running

def test_pool_and_dask_give_the_same_rows_and_count_failures(tmp_path: Path) -> None:
    if importlib.util.find_spec("distributed") is None:
        pytest.skip("distributed is not installed (pip install 'imcsim[dask]')")
    spec = _write(tmp_path / "toy.yaml", TOY_SWEEP)
    pool = run_cli("sweep", str(spec), "--workers", "2", "--out", str(tmp_path / "pool"))
    assert pool.returncode == 0, pool.stderr
    assert "12 run, 0 skipped as done, 6 with failures" in pool.stdout
    assert "rows: 18 ok, 18 failed" in pool.stdout
    dask = run_cli("sweep", str(spec), "--dask", "local", "--workers", "2",
                   "--out", str(tmp_path / "dask"))
    assert dask.returncode == 0, dask.stderr
    assert "rows: 18 ok, 18 failed" in dask.stdout
    rows = read_results(tmp_path / "pool")
    assert rows == read_results(tmp_path / "dask")
    _assert_exactly_once(tmp_path / "pool", 36)
    _assert_exactly_once(tmp_path / "dask", 36)
    failed = [r for r in rows if r["status"] == "error"]
    assert len(failed) == 18
    assert all(r["machine.memory.sram_bytes_per_core"] == 1000 for r in failed)
    assert all(r["error"].startswith("CapacityError: workload does not fit") for r in failed)
    toy = next(r for r in rows if r["status"] == "ok" and r["machine.simd.lanes"] == 128
               and r["workload.hidden_size"] == 512 and r["strategy"] == "deferred")
    assert toy["latency_cycles"] == 17 and toy["speedup_vs_serialized"] == 24 / 17


def test_refuses_a_used_directory_and_resume_repairs_torn_files(tmp_path: Path) -> None:
    spec, out = _write(tmp_path / "toy.yaml", TOY_SWEEP), tmp_path / "out"
    assert run_cli("sweep", str(spec), "--workers", "2", "--out", str(out)).returncode == 0
    figures = sorted(p.name for p in (out / "plots").iterdir())  # line + heatmap, PNG + SVG
    assert len(figures) == 4 and all((out / "plots" / f).stat().st_size > 1000 for f in figures)
    again = run_cli("sweep", str(spec), "--out", str(out))
    assert again.returncode == 2 and "is not empty; pass --resume" in again.stderr
    done = run_cli("sweep", str(spec), "--resume", "--out", str(out))
    assert done.returncode == 0 and "0 run, 12 skipped as done" in done.stdout
    # A kill mid-write: a torn last JSONL line (its point is then incomplete)
    # and a torn CSV line. Resuming reruns that one point and rebuilds the CSV.
    jsonl = out / "results.jsonl"
    jsonl.write_bytes(jsonl.read_bytes()[:-40])
    with (out / "results.csv").open("a", encoding="utf-8") as f:
        f.write("0123456789abcdef,x,deferred,o")
    fixed = run_cli("sweep", str(spec), "--resume", "--out", str(out))
    assert fixed.returncode == 0, fixed.stderr
    assert "1 run, 11 skipped as done" in fixed.stdout
    _assert_exactly_once(out, 36)
    # A changed spec does not mix into old results.
    other = _write(tmp_path / "other.yaml", TOY_SWEEP.replace("[32, 64, 128]", "[16]"))
    mixed = run_cli("sweep", str(other), "--resume", "--out", str(out))
    assert mixed.returncode == 2
    assert mixed.stderr == (f"imcsim: error: --resume: {out} holds a sweep of another spec "
                            "(axes.machine.simd.lanes: [32, 64, 128] there, [16] here); "
                            "choose another --out\n")


def test_kill_9_then_resume_records_every_point_exactly_once(tmp_path: Path) -> None:
    """SIGKILL the whole sweep (parent and workers) once some points are recorded,
    resume, and find every point once, none recomputed."""
    points = 12
    spec = _write(tmp_path / "llama.yaml", (
        # 64-core chiplets: points of a fraction of a second, still far longer than a poll
        f"base: {LLAMA}\nstrategies: [serialized]\noverrides: [{', '.join(SMALL_CHIPLET)}]\n"
        "axes: {workload.batch: [1, 2, 3, 4, 5, 6], workload.kv_len: [256, 512], "
        # one-value axes: a fixed mapping, so that no point spends seconds searching
        "schedule.linear_split: [columns], schedule.norm_stats: [collective]}\n"))
    out = tmp_path / "out"
    jsonl = out / "results.jsonl"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "sim", "sweep", str(spec), "--workers", "2", "--out", str(out)],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            if jsonl.exists() and jsonl.read_bytes().count(b"\n") >= 2:
                break
            time.sleep(0.01)
        assert proc.poll() is None, "the sweep finished before it could be killed"
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
        proc.stdout.close()
        proc.stderr.close()
    recorded = len(read_jsonl(jsonl)[0])
    assert 2 <= recorded < points
    resumed = run_cli("sweep", str(spec), "--resume", "--workers", "2", "--out", str(out))
    assert resumed.returncode == 0, resumed.stderr
    assert f"{points - recorded} run, {recorded} skipped as done" in resumed.stdout
    _assert_exactly_once(out, points)
    assert {r["status"] for r in read_results(out)} == {"ok"}
    assert json.loads(jsonl.read_text().splitlines()[0])["strategy"] == "serialized"


def test_bad_executor_options_touch_nothing(tmp_path: Path) -> None:
    spec = _write(tmp_path / "toy.yaml", TOY_SWEEP)
    proc = run_cli("sweep", str(spec), "--workers", "0", "--out", str(tmp_path / "out"))
    assert proc.returncode == 2 and "--workers: must be >= 1, got 0" in proc.stderr
    assert not (tmp_path / "out").exists()


def test_analytic_backend_rows_are_labelled_and_kept_apart(tmp_path: Path) -> None:
    """``backend: analytic`` in the spec (or ``--backend``): the rows say so, their
    ids differ from the DES rows of the same points, and the toy values agree."""
    spec = _write(tmp_path / "toy.yaml", f"base: {TOY}\nstrategies: [serialized, deferred]\n"
                  "backend: analytic\naxes:\n  machine.simd.lanes: [64, 128]\n")
    done = run_cli("sweep", str(spec), "--workers", "1", "--out", str(tmp_path / "a"))
    assert done.returncode == 0, done.stderr
    des = run_cli("sweep", str(spec), "--workers", "1", "--backend", "des",
                  "--out", str(tmp_path / "d"))
    assert des.returncode == 0, des.stderr
    analytic_rows, des_rows = read_results(tmp_path / "a"), read_results(tmp_path / "d")
    assert {r["backend"] for r in analytic_rows} == {"analytic"}
    assert {r["backend"] for r in des_rows} == {"des"}
    assert not {r["point_id"] for r in analytic_rows} & {r["point_id"] for r in des_rows}

    def key(rows):
        return sorted((r["machine.simd.lanes"], r["strategy"], r["latency_cycles"])
                      for r in rows)
    assert key(analytic_rows) == key(des_rows)
    assert "backend: analytic" in (tmp_path / "a/sweep.resolved.yaml").read_text()
