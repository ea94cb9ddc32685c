"""The Python API (`sim.api`, re-exported lazily by `sim`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import REPO

import sim
from sim.errors import ConfigError


def test_import_sim_loads_nothing_heavy_until_an_api_function_is_used() -> None:
    probe = ("import json, sys, sim; before = sorted(sys.modules); sim.load; "
             "print(json.dumps([before, sorted(sys.modules)]))")
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=60, check=True, cwd=REPO,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    before, after = (set(m) for m in json.loads(proc.stdout))
    heavy = {"numpy", "pydantic", "simpy", "networkx", "sim.config", "sim.runner"}
    assert not heavy & before
    assert "sim.api" in after and not heavy & after  # the API module defers its imports too


def test_the_api_is_exported_and_listed() -> None:
    assert {"load", "simulate", "compare", "verify", "sweep"} <= set(sim.__all__)
    assert {"load", "simulate", "compare", "verify", "sweep"} <= set(dir(sim))
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        _ = sim.nothing


def test_load_applies_overrides_and_finds_bundled_presets_from_anywhere(tmp_path,
                                                                        monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = sim.load("configs/flashnorm_toy.yaml", ["machine.simd.lanes=64"])
    assert config.machine.simd.lanes == 64
    local = tmp_path / "configs"
    local.mkdir()
    (local / "flashnorm_toy.yaml").write_text(  # a file under the working directory wins
        f"extends: {REPO / 'configs/flashnorm_toy.yaml'}\nworkload: {{tokens: 3}}\n")
    assert sim.load("configs/flashnorm_toy.yaml").workload.tokens == 3
    with pytest.raises(ConfigError):
        sim.load("configs/no_such_config.yaml")


def test_simulate_and_compare_give_the_flashnorm_toy_figures() -> None:
    """FlashNorm's worked example (arXiv 2407.09577): 24 / 21 / 17 cycles."""
    config = sim.load("configs/flashnorm_toy.yaml")
    assert sim.simulate(config, "serialized").latency_cycles == 24
    assert sim.simulate("configs/flashnorm_toy.yaml", "deferred",
                        "analytic").latency_cycles == 17
    results = sim.compare(config, ["deferred", "pipelined", "serialized"])
    assert list(results) == ["deferred", "pipelined", "serialized"]
    assert [r.latency_cycles for r in results.values()] == [17, 21, 24]
    assert len(sim.compare(config)) == 6


@pytest.mark.parametrize("call, message", [
    (lambda: sim.simulate("configs/flashnorm_toy.yaml", "fastest"), "strategy: unknown"),
    (lambda: sim.simulate("configs/flashnorm_toy.yaml", backend="magic"), "backend: unknown"),
    (lambda: sim.compare("configs/flashnorm_toy.yaml", ["nope"]), "strategy: unknown"),
    (lambda: sim.verify("configs/flashnorm_toy.yaml", ["fp7"]), "unknown number format"),
    (lambda: sim.verify("configs/flashnorm_toy.yaml", ["fp32"], token_offset=-2.0),
     "token_offset"),
    (lambda: sim.verify("configs/collectives/allgather_ring16.yaml", ["fp32"]),
     "numeric backend runs transformer and norm_linear"),
])
def test_bad_arguments_are_one_line_config_errors(call, message) -> None:
    with pytest.raises(ConfigError, match=message) as error:
        call()
    assert "\n" not in str(error.value)


def test_sweep_is_the_package_and_the_function(tmp_path) -> None:
    """(A sweep that runs: the `sim.api.sweep` doctest and examples/small_sweep.py.)"""
    import sim.sweep.run  # binding the subpackage keeps it callable

    assert sim.sweep.run_sweep is sim.sweep.run.run_sweep
    spec = tmp_path / "spec.yaml"
    spec.write_text(f"base: {REPO / 'configs/flashnorm_toy.yaml'}\nstrategies: [deferred]\n"
                    "mode: grid\naxes:\n  workload.tokens: [1, 2]\n")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "other.txt").write_text("not a sweep")
    with pytest.raises(ConfigError, match="out"):  # a non-empty directory without resume
        sim.sweep(spec, tmp_path / "out")


def test_citation_file_is_cff_1_2_0_and_matches_the_package() -> None:
    """The keys CFF 1.2.0 requires (cff-version, message, title, authors: persons with
    family-names or entities with a name), an ISO date, and the package's version and
    licence."""
    import datetime
    import tomllib

    import yaml

    cff = yaml.safe_load((REPO / "CITATION.cff").read_text(encoding="utf-8"))
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert cff["cff-version"] == "1.2.0"
    assert isinstance(cff["message"], str) and isinstance(cff["title"], str)
    assert cff["authors"] and all("name" in a or "family-names" in a for a in cff["authors"])
    datetime.date.fromisoformat(str(cff["date-released"]))  # YYYY-MM-DD
    assert cff["version"] == project["version"] == sim.__version__
    assert cff["license"] == project["license"]["text"]
    assert cff["type"] in ("software", "dataset")
