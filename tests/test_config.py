"""Config loading: extends chains, merge rules, typed overrides, presets."""

from __future__ import annotations

import pytest
import yaml

from sim.calibrate.spec import load_calibration
from sim.config import StrategyName, apply_overrides, load_config, load_tree
from sim.config.presets import list_presets, presets_root
from sim.errors import ConfigError


def test_extends_merges_mappings_and_child_wins(tmp_path):
    (tmp_path / "base.yaml").write_text(
        "machine: {name: base, clock_ghz: 1.0, simd: {lanes: 8, op_cycles: {exp: 9}}}\n"
    )
    (tmp_path / "mid.yaml").write_text(
        "extends: base.yaml\nmachine: {simd: {lanes: 16}, matmul: {array_rows: 4, array_cols: 4}}\n"
    )
    (tmp_path / "run.yaml").write_text(
        "extends: mid.yaml\nworkload: {kind: norm_linear, hidden_size: 8, out_features: 8}\n"
    )
    cfg = load_config(tmp_path / "run.yaml")
    assert cfg.machine.name == "base"
    assert cfg.machine.simd.lanes == 16
    assert cfg.machine.simd.op_cycles.exp == 9


def test_extends_list_applies_in_order(tmp_path):
    (tmp_path / "one.yaml").write_text("strategy: pipelined\n")
    (tmp_path / "two.yaml").write_text("strategy: deferred\n")
    (tmp_path / "run.yaml").write_text("extends: [one.yaml, two.yaml]\n")
    assert load_tree(tmp_path / "run.yaml") == {"strategy": "deferred"}


def test_extends_falls_back_to_bundled_presets(tmp_path):
    (tmp_path / "run.yaml").write_text(
        "extends: machines/flashnorm_toy\n"
        "workload: {kind: norm_linear, hidden_size: 512, out_features: 512}\n"
    )
    assert load_config(tmp_path / "run.yaml").machine.name == "flashnorm-toy"


def test_overrides_are_typed_and_validated(repo):
    cfg = load_config(repo / "configs/flashnorm_toy.yaml",
                      ["machine.simd.lanes=64", "strategy=pipelined", "workload.bias=true"])
    assert cfg.machine.simd.lanes == 64
    assert cfg.strategy is StrategyName.PIPELINED
    assert cfg.workload.bias is True


def test_overrides_create_sections_and_leave_input_untouched():
    tree = {"a": {"b": 1}}
    assert apply_overrides(tree, ["a.c.d=[1, 2]"]) == {"a": {"b": 1, "c": {"d": [1, 2]}}}
    assert tree == {"a": {"b": 1}}


def test_string_numbers_are_not_coerced(tmp_path):
    (tmp_path / "run.yaml").write_text("extends: machines/flashnorm_toy\n"
                                       "machine: {simd: {lanes: '128'}}\n")
    with pytest.raises(ConfigError, match=r"machine\.simd\.lanes: must be an integer, got '128'"):
        load_config(tmp_path / "run.yaml")


def test_every_bundled_run_config_validates():
    root = presets_root()
    assert root is not None
    not_runs = ("configs/machines/", "configs/sweeps/")
    runs = [p for p, _ in list_presets()
            if p.startswith("configs/") and not p.startswith(not_runs)]
    assert runs, "no bundled run configs"
    specs = [rel for rel in runs if rel.startswith("configs/calibration/")
             and "targets" in yaml.safe_load((root / rel).read_text(encoding="utf-8"))]
    assert specs, "no bundled calibration spec"
    for rel in runs:
        if rel in specs:
            load_calibration(root / rel)  # a calibration spec, with the run configs it names
        else:
            load_config(root / rel)


def test_every_preset_has_a_description():
    assert all(description for _, description in list_presets())
