"""`imcsim verify`: the strategies' rewrites on real numbers, through the CLI."""

from __future__ import annotations

import json

from conftest import REPO, run_cli


def _write(tmp_path, workload: str):
    path = tmp_path / "run.yaml"
    path.write_text(f"extends: {REPO / 'configs/machines/flashnorm_toy.yaml'}\n{workload}")
    return path


def test_verify_json_shows_deferred_exact_and_static_approximate_in_fp64(tmp_path):
    cfg = _write(tmp_path, "workload: {kind: transformer, phase: prefill, seq_len: 12, "
                 "model: {hidden_size: 64, num_heads: 4, num_kv_heads: 2, ffn_size: 96, "
                 "activation: gelu, norm: layernorm, num_layers: 2, vocab_size: 10, bias: true}}\n")
    proc = run_cli("verify", str(cfg), "--format", "json", "--dtype", "fp64", "--dtype", "fp32")
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    assert [(r["strategy"], r["dtype"]) for r in rows] == [
        (s, d) for s in ("serialized", "pipelined", "deferred", "in_network", "static",
                         "deferred_streamed")
        for d in ("fp64", "fp32")]
    for row in rows:
        assert set(row) == {"strategy", "dtype", "max_abs_error", "max_rel_error"}
        if row["strategy"] == "static":  # a calibrated constant for the per-token scalar
            assert 1e-6 < row["max_rel_error"] < 10
        else:
            assert row["max_rel_error"] < (1e-12 if row["dtype"] == "fp64" else 1e-5)


def test_verify_table_on_the_toy():
    proc = run_cli("verify", "configs/flashnorm_toy.yaml", "--dtype", "bfp8")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[1].split() == ["strategy", "dtype", "max_abs_error", "max_rel_error"]
    assert [line.split()[:2] for line in lines[2:]] == [
        ["serialized", "bfp8"], ["pipelined", "bfp8"], ["deferred", "bfp8"],
        ["in_network", "bfp8"], ["static", "bfp8"], ["deferred_streamed", "bfp8"]]


def test_verify_rejects_an_unknown_format():
    proc = run_cli("verify", "configs/flashnorm_toy.yaml", "--dtype", "fp8")
    assert proc.returncode == 2
    assert proc.stderr.startswith("imcsim: error: --dtype: unknown number format 'fp8'")
    assert len(proc.stderr.splitlines()) == 1
