"""`imcsim verify`: the strategies' rewrites on real numbers, through the CLI."""

from __future__ import annotations

import json

import pytest
from conftest import REPO, run_cli

from sim.cli import main


def _write(tmp_path, workload: str):
    path = tmp_path / "run.yaml"
    path.write_text(f"extends: {REPO / 'configs/machines/flashnorm_toy.yaml'}\n{workload}")
    return path


def _verify(capsys, *args: str):
    """``imcsim verify ARGS`` in process, as the entry point runs it:
    (exit status, stdout, stderr)."""
    with pytest.raises(SystemExit) as stop:
        main(["verify", *args])
    captured = capsys.readouterr()
    return stop.value.code, captured.out, captured.err


def test_verify_json_shows_deferred_exact_and_static_approximate_in_fp64(tmp_path, capsys):
    cfg = _write(tmp_path, "workload: {kind: transformer, phase: prefill, seq_len: 12, "
                 "model: {hidden_size: 64, num_heads: 4, num_kv_heads: 2, ffn_size: 96, "
                 "activation: gelu, norm: layernorm, num_layers: 2, vocab_size: 10, bias: true}}\n")
    code, out, err = _verify(capsys, str(cfg), "--format", "json", "--dtype", "fp64",
                             "--dtype", "fp32")
    assert code == 0, err
    rows = json.loads(out)
    assert [(r["strategy"], r["dtype"]) for r in rows] == [
        (s, d) for s in ("serialized", "pipelined", "deferred", "in_network", "static",
                         "deferred_streamed")
        for d in ("fp64", "fp32")]
    for row in rows:
        assert set(row) == {"strategy", "dtype", "max_abs_error", "max_rel_error", "blocks",
                            "block_max_rel_error", "block_rms_rel_error", "vs_serialized"}
        assert list(row["blocks"]) == ["L0.qkv", "L0.ffn_up"]
        assert row["block_max_rel_error"] == max(row["blocks"].values())
        if row["strategy"] == "static":  # a calibrated constant for the per-token scalar
            assert 1e-6 < row["max_rel_error"] < 10
            assert row["blocks"]["L0.qkv"] > 1e-6
        else:
            bound = 1e-12 if row["dtype"] == "fp64" else 1e-5
            assert row["max_rel_error"] < bound
            assert row["block_max_rel_error"] < bound


def test_verify_table_on_the_toy(capsys):
    code, out, err = _verify(capsys, "configs/flashnorm_toy.yaml", "--dtype", "bfp8")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[1].split() == ["strategy", "dtype", "max_abs_error", "max_rel_error",
                                "linear", "rel", "vs", "serialized"]
    assert [line.split()[:2] for line in lines[2:8]] == [
        ["serialized", "bfp8"], ["pipelined", "bfp8"], ["deferred", "bfp8"],
        ["in_network", "bfp8"], ["static", "bfp8"], ["deferred_streamed", "bfp8"]]
    assert lines[2].split()[-1] == "1.00x"  # serialized against itself


def test_verify_table_shows_deferred_layernorm_worse_than_serialized_with_token_offsets(capsys):
    """The bundled LayerNorm config (narrower): with the default per-token offsets
    deferred is marked worse than serialized in bf16 and bfp8; without offsets it is not."""
    args = ("configs/layernorm_linear.yaml", "--set",
            "workload.hidden_size=1024", "--set", "workload.out_features=128")
    code, out, err = _verify(capsys, *args, "--dtype", "bf16", "--dtype", "bfp8")
    assert code == 0, err
    rows = {tuple(line.split()[:2]): line for line in out.splitlines()[2:]}
    for dtype in ("bf16", "bfp8"):
        assert rows["deferred", dtype].endswith("worse")
        assert not rows["serialized", dtype].endswith("worse")
    code, out, err = _verify(capsys, *args, "--dtype", "bf16", "--token-offset", "0",
                             "--format", "json")
    assert code == 0, err
    ratios = {r["dtype"]: r["vs_serialized"] for r in json.loads(out)
              if r["strategy"] == "deferred"}
    assert all(0.5 < ratio < 1.5 for ratio in ratios.values()), ratios


def test_no_ratio_against_the_references_own_round_off(capsys):
    """fp64 runs err by fp64 round-off only (about 1e-16): the ratio of two such
    errors is noise, so none is given, where fp32's (about 1e-7) is."""
    code, out, err = _verify(capsys, "configs/layernorm_linear.yaml", "--dtype", "fp64",
                             "--dtype", "fp32", "--format", "json")
    assert code == 0, err
    rows = {(r["strategy"], r["dtype"]): r for r in json.loads(out)}
    assert max(rows["serialized", "fp64"]["block_rms_rel_error"].values()) < 1e-12
    assert rows["deferred", "fp64"]["vs_serialized"] is None
    assert rows["deferred", "fp32"]["vs_serialized"] is not None


def test_verify_rejects_an_unknown_format():  # the real entry point, in a subprocess
    proc = run_cli("verify", "configs/flashnorm_toy.yaml", "--dtype", "fp8")
    assert proc.returncode == 2
    assert proc.stderr.startswith("imcsim: error: --dtype: unknown number format 'fp8'")
    assert len(proc.stderr.splitlines()) == 1


def test_verify_rejects_a_negative_token_offset(capsys):
    code, out, err = _verify(capsys, "configs/flashnorm_toy.yaml", "--token-offset", "-1")
    assert code == 2 and out == ""
    assert err.startswith("imcsim: error: --token-offset: must be a finite number >= 0")
    assert len(err.splitlines()) == 1
