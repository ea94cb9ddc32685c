"""The same config gives the same result, bit for bit (wall times aside: every key
ending in ``_seconds``)."""

from __future__ import annotations

import json

from conftest import run_cli


def _without_wall(data):
    if isinstance(data, dict):
        return {k: _without_wall(v) for k, v in data.items() if not k.endswith("_seconds")}
    if isinstance(data, list):
        return [_without_wall(v) for v in data]
    return data


def test_two_runs_give_identical_json_and_files(tmp_path):
    outputs = []
    for name in ("a", "b"):
        proc = run_cli("run", "configs/flashnorm_toy.yaml", "--format", "json",
                       "--out", str(tmp_path / name))
        assert proc.returncode == 0, proc.stderr
        outputs.append(_without_wall(json.loads(proc.stdout)))
    assert outputs[0] == outputs[1]
    for name in ("timeline.csv", "config.resolved.yaml"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_compare_is_deterministic():
    runs = [run_cli("compare", "configs/flashnorm_toy.yaml", "--format", "json")
            for _ in range(2)]
    assert all(p.returncode == 0 for p in runs)
    first, second = (_without_wall(json.loads(p.stdout)) for p in runs)
    assert first == second


def test_out_dir_holds_result_timeline_and_resolved_config(tmp_path):
    proc = run_cli("run", "configs/flashnorm_toy.yaml", "--strategy", "serialized",
                   "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["latency_cycles"] == 24
    rows = (tmp_path / "timeline.csv").read_text().splitlines()
    assert rows[0].startswith("task,op,tile,engine,category,start_cycle,end_cycle")
    assert rows[-1] == "linear@c0,linear,0,core0.matmul,matmul,8,24,24,1"
    assert "strategy: serialized" in (tmp_path / "config.resolved.yaml").read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "config.resolved.yaml", "result.json", "timeline.csv"]
