"""Hugging Face ``config.json`` import: every bundled preset is the import of its
bundled example, a run on an imported model times as the preset does, and what
cannot be mapped is one line naming the field."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import REPO, card_machine, run_cli

from sim.backends.numeric import reference_output, run_numeric
from sim.config import ModelSpec, StrategyName, load_config, model_presets
from sim.config.hf_import import HF_FAMILIES, model_from_hf_config
from sim.errors import ConfigError
from sim.runner import simulate
from sim.schedule import apply_strategy
from sim.workload import build_workload

EXAMPLES = REPO / "examples" / "hf"


@pytest.mark.parametrize("name", sorted(model_presets()))
def test_every_preset_is_the_import_of_its_example_config(name: str) -> None:
    preset = yaml.safe_load(model_presets()[name].read_text())["model"]
    imported = model_from_hf_config(EXAMPLES / name / "config.json")
    assert ModelSpec.model_validate(imported) == ModelSpec.model_validate(preset)


def test_the_examples_cover_every_family() -> None:
    types = {json.loads(p.read_text())["model_type"] for p in EXAMPLES.glob("*/config.json")}
    assert types == set(HF_FAMILIES.names())


def _small_run(tmp_path: Path, model: object) -> Path:
    """A 1-layer decode run config on an 8-core mesh (fast), in its own folder."""
    folder = tmp_path / "runs"
    folder.mkdir(exist_ok=True)
    path = folder / f"run{len(list(folder.iterdir()))}.yaml"
    tree = {"machine": card_machine(REPO, 8, "mesh"), "strategy": "deferred",
            "workload": {"kind": "transformer", "model": model, "phase": "decode",
                         "kv_len": 64, "layers": 1}}
    path.write_text(yaml.safe_dump(tree))
    return path


@pytest.mark.parametrize("name", ["gpt2", "qwen2-7b"])
def test_run_on_an_imported_config_times_as_the_preset(tmp_path: Path, name: str) -> None:
    local = tmp_path / "runs" / "hf" / name
    local.parent.mkdir(parents=True)
    shutil.copytree(EXAMPLES / name, local)
    preset = load_config(_small_run(tmp_path, name))
    imported = load_config(_small_run(tmp_path, f"hf/{name}/config.json"))  # next to the YAML
    assert imported.workload == preset.workload
    assert (simulate(imported, backend="analytic").latency_cycles
            == simulate(preset, backend="analytic").latency_cycles)


def test_cli_run_with_a_config_json_prints_the_presets_latency(tmp_path: Path) -> None:
    run = run_cli("run", str(_small_run(tmp_path, str(EXAMPLES / "gpt2" / "config.json"))),
                  "--backend", "analytic", "--format", "json")
    assert run.returncode == 0, run.stderr
    preset = simulate(load_config(_small_run(tmp_path, "gpt2")), backend="analytic")
    assert json.loads(run.stdout)["latency_cycles"] == preset.latency_cycles > 0


def _write(tmp_path: Path, **fields: object) -> Path:
    base = json.loads((EXAMPLES / "llama-3-8b" / "config.json").read_text())
    base.update(fields)
    path = tmp_path / "m" / "config.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps({k: v for k, v in base.items() if v != "DROP"}))
    return path


@pytest.mark.parametrize(("fields", "named"), [
    ({"quantization_config": {"bits": 4}}, "quantization_config: is not a field"),
    ({"model_type": "mamba"}, "model_type: unknown Hugging Face model_type 'mamba'"),
    ({"hidden_act": "relu"}, "hidden_act: 'relu' is not mapped"),
    ({"head_dim": 256}, "head_dim: 256 cannot be mapped"),
    ({"num_hidden_layers": 0}, "num_hidden_layers: must be a positive integer"),
    ({"rms_norm_eps": "DROP"}, "rms_norm_eps: must be a positive number, got None"),
    ({"model_type": "mistral", "sliding_window": 4096}, "sliding_window: 4096 cannot be"),
    ({"attention_bias": True}, "attention_bias: True with mlp_bias False cannot be mapped"),
])
def test_unmappable_fields_are_one_line_naming_them(tmp_path: Path, fields: dict,
                                                    named: str) -> None:
    path = _write(tmp_path, **fields)
    with pytest.raises(ConfigError) as info:
        model_from_hf_config(path)
    message = str(info.value)
    assert message.startswith(f"workload.model: {path}: ") and named in message
    assert "\n" not in message


def test_post_norm_opt_and_bad_files(tmp_path: Path) -> None:
    opt = json.loads((EXAMPLES / "opt-6.7b" / "config.json").read_text())
    path = tmp_path / "opt" / "config.json"
    path.parent.mkdir()
    path.write_text(json.dumps({**opt, "do_layer_norm_before": False}))
    with pytest.raises(ConfigError, match="do_layer_norm_before: False cannot be mapped"):
        model_from_hf_config(path)
    path.write_text("{not json")
    with pytest.raises(ConfigError, match="invalid JSON at line 1"):
        model_from_hf_config(path)
    with pytest.raises(ConfigError, match=r"cannot find 'nowhere/config\.json'"):
        load_config(_small_run(tmp_path, "nowhere/config.json"))


def test_cli_names_the_field_and_exits_2(tmp_path: Path) -> None:
    path = _write(tmp_path, rope_type_of_mine=1)
    proc = run_cli("check", str(_small_run(tmp_path, str(path))))
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "rope_type_of_mine: is not a field" in proc.stderr


def test_gemma_geglu_and_its_epsilon_run_exactly_in_fp64(tmp_path: Path) -> None:
    """A tiny Gemma-shaped model (GeGLU, ε 1e-6, 1 KV head): the numeric backend's
    serialized and deferred graphs equal the textbook reference in fp64."""
    gemma = json.loads((EXAMPLES / "gemma-2b" / "config.json").read_text())
    gemma.update(hidden_size=64, head_dim=16, num_attention_heads=4, intermediate_size=96,
                 num_hidden_layers=1, rms_norm_eps=0.5)  # a large ε: it must be honoured
    path = tmp_path / "tiny-gemma" / "config.json"
    path.parent.mkdir()
    path.write_text(json.dumps(gemma))
    workload = load_config(_small_run(tmp_path, str(path))).workload
    assert (workload.model.activation, workload.model.norm_eps) == ("geglu", 0.5)
    reference = reference_output(workload)
    for strategy in (StrategyName.SERIALIZED, StrategyName.DEFERRED):
        graph = apply_strategy(build_workload(workload), strategy).graph
        out = run_numeric(graph, workload, "fp64")
        assert np.max(np.abs(out - reference)) <= 1e-12 * np.max(np.abs(reference))
    smaller_eps = workload.model_copy(update={"model": workload.model.model_copy(
        update={"norm_eps": 1e-6})})
    assert np.max(np.abs(reference_output(smaller_eps) - reference)) > 1e-3
