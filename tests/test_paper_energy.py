"""The report's Energy section (`sim.report.paper_energy`): its figures against the
compare JSON of an independent run, the sanity ratio, the in-place regeneration
(`--energy-only`), and the serving energy against a plain run's."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import REPO, run_cli

from sim.config import RunConfig, StrategyName
from sim.energy import energy_figures
from sim.energy.serving import serving_energy_figures
from sim.network.from_config import Interconnect, build_interconnect
from sim.report.paper import main
from sim.report.paper_energy import render_energy, run_energy
from sim.report.paper_energy_notes import REFERENCE_CARD
from sim.report.sections import replace_section
from sim.runner import simulate
from sim.serving import serve
from sim.serving.serve import stage_config

TINY = {"hidden_size": 64, "num_heads": 4, "num_kv_heads": 2, "ffn_size": 128,
        "activation": "swiglu", "norm": "rmsnorm", "num_layers": 4, "vocab_size": 256}


def _machine(cards: int = 2, chiplets: int = 2, cores: int = 4) -> dict:
    machine = yaml.safe_load((REPO / "configs/machines/corsair_card.yaml").read_text())["machine"]
    machine["hierarchy"] = {"cards": cards, "chiplets_per_card": chiplets,
                            "cores_per_chiplet": cores}
    machine["memory"]["sram_bytes_per_core"] = 1 << 30
    return machine


def _tree(batch: int = 1, micro_batches: int = 1, layers: int | None = 1, **schedule) -> dict:
    return {"machine": _machine(),
            "workload": {"kind": "transformer", "model": TINY, "kv_len": 32, "batch": batch,
                         "layers": layers},
            "schedule": {"linear_split": "columns", "norm_stats": "collective",
                         "pipeline": {"micro_batches": micro_batches}, **schedule},
            "strategy": "deferred"}


@cache
def _dirs(root: Path) -> tuple[Path, Path]:
    """A paper dir (one tiny decode config) and a serving dir (one tiny served batch)."""
    paper, serving = root / "paper", root / "serving"
    paper.mkdir()
    serving.mkdir()
    (paper / "tiny.yaml").write_text(yaml.safe_dump(_tree()))
    (serving / "tiny_served.yaml").write_text(yaml.safe_dump(_tree(4, 2, None)))
    return paper, serving


@pytest.fixture(scope="module")
def dirs(tmp_path_factory) -> tuple[Path, Path]:
    return _dirs(tmp_path_factory.mktemp("energy"))


@pytest.fixture(scope="module")
def section(dirs):
    paper, serving = dirs
    rows, seconds = run_energy(paper, serving, per_op_case="tiny.yaml")
    return rows, "\n".join(render_energy(rows, seconds))


def test_section_figures_equal_the_compare_json(dirs, section):
    rows, text = section
    got = run_cli("compare", str(dirs[0] / "tiny.yaml"), "--backend", "analytic",
                  "--format", "json")
    assert got.returncode == 0, got.stderr
    for want in json.loads(got.stdout)["results"]:
        row = next(r for r in rows if r.case == "paper/tiny.yaml"
                   and r.strategy.value == want["strategy"])
        for key in ("energy_per_token_uj", "power_w", "tokens_per_joule", "static_power_w"):
            assert row.figures[key] == pytest.approx(want[key], rel=1e-9), key
        for part, uj in want["energy_by_purpose_uj"].items():
            assert row.figures["energy_by_purpose_uj"][part] == pytest.approx(uj, rel=1e-9)
        assert (f"| `paper/tiny.yaml` (batch 1) | {want['strategy']} | "
                f"{want['energy_per_token_uj']:,.1f} |") in text
    top = {r.strategy: r for r in rows if r.by_op}
    for strategy in (StrategyName.SERIALIZED, StrategyName.DEFERRED):  # ops sum to the total
        dynamic = sum(sum(v.values()) for v in top[strategy].by_op.values())
        f = top[strategy].figures
        assert dynamic + f["energy_breakdown_uj"]["static"] == pytest.approx(
            f["energy_per_token_uj"], rel=1e-9)
    assert "### Top ops by dynamic energy: `paper/tiny.yaml`" in text


def test_sanity_ratio_is_power_over_cards_over_the_public_figure(section):
    rows, text = section
    assert REFERENCE_CARD.watts is not None and REFERENCE_CARD.source in text
    for row in (r for r in rows if r.strategy is StrategyName.DEFERRED):
        power_w = row.figures["power_w"]
        ratio = power_w / _machine()["hierarchy"]["cards"] / REFERENCE_CARD.watts
        sanity = text.split("### Sanity", 1)[1].split("###", 1)[0]
        line = next(ln for ln in sanity.splitlines() if ln.startswith(f"| `{row.case}`"))
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert cells[1] == f"{power_w:,.1f}" and cells[2] == "2"
        assert cells[4] == f"{ratio:.2f}"


def test_energy_only_replaces_only_its_section(dirs, tmp_path, capsys):
    head = "# Report\n\nintro\n\n## Serving\n\n### A case\n\nserved rows\n"
    tail = "## After\n\nkept as it was\n"
    (tmp_path / "paper_reproduction.md").write_text(
        head + "\n## Energy\n\nstale figures\n\n" + tail)
    main(["--energy-only", "--out", str(tmp_path), "--configs", str(dirs[0])])
    text = (tmp_path / "paper_reproduction.md").read_text()
    assert text.startswith(head + "\n## Energy\n") and text.endswith("\n\n" + tail)
    assert "stale figures" not in text and "| `serving/tiny_served.yaml` (batch 4) |" in text
    assert "wrote the Energy section" in capsys.readouterr().out


def test_replace_section_keeps_the_others_and_appends_a_missing_one():
    doc = "# R\n\n## Serving\n\n### x\n\nold\n\n## Energy\n\ne\n"
    assert replace_section(doc, "Serving", ["## Serving", "", "new", ""]) == (
        "# R\n\n## Serving\n\nnew\n\n## Energy\n\ne\n")
    assert replace_section("# R\n", "Energy", ["## Energy", "e"]) == "# R\n\n## Energy\ne\n"


@cache
def _net(machine_json: str) -> Interconnect:
    return build_interconnect(RunConfig.model_validate(json.loads(machine_json)).machine)


def _cfg(tree: dict, zero: tuple[str, ...] = (), **energy: float) -> RunConfig:
    tree = json.loads(json.dumps(tree))
    tree["machine"].setdefault("energy", {}).update(energy)
    for key in zero:
        tree["machine"]["energy"][key] = 0.0
    return RunConfig.model_validate(tree)


_STATIC = ("core_static_w", "chiplet_static_w", "card_static_w")


def test_serving_energy_is_its_micro_batches_runs_plus_static_over_the_interval():
    served = _cfg(_tree(4, 2, None))
    net = build_interconnect(served.machine)
    result = serve(served, StrategyName.DEFERRED, "analytic", interconnect=net)
    # dynamic: two micro-batches of 2 sequences, each one plain run of its own plan
    dynamic = serving_energy_figures(
        serve(_cfg(_tree(4, 2, None), _STATIC), StrategyName.DEFERRED, "analytic",
              interconnect=net), net)
    one = stage_config(_cfg(_tree(4, 2, None), _STATIC), 2, len(result.stage_layers))
    run = energy_figures(simulate(one, StrategyName.DEFERRED, net, "analytic"))
    run_dynamic_uj = run["energy_uj"] - run["energy_breakdown_uj"]["static"] * 2
    assert dynamic["energy_per_token_uj"] == pytest.approx(2 * run_dynamic_uj / 4, rel=1e-9)
    # static: the machine's static power over the steady token interval, per sequence
    full = serving_energy_figures(result, net)
    seconds = result.decode_cycles / (served.machine.clock_ghz * 1e9)
    static_uj = full["static_power_w"] * seconds * 1e6 / 4
    assert full["energy_breakdown_uj"]["static"] == pytest.approx(static_uj, rel=1e-12)
    assert full["energy_per_token_uj"] == pytest.approx(
        dynamic["energy_per_token_uj"] + static_uj, rel=1e-9)
    assert full["power_w"] == pytest.approx(full["energy_per_token_uj"] * 4e-6 / seconds)
    assert 0 <= full["static_in_bubbles_uj"] <= static_uj


def test_a_collective_on_another_chiplet_counts_what_the_des_counts(monkeypatch):
    # two layers on two chiplets: layer 1's collectives are counted as copies on chiplet 0
    cfg = _cfg(_tree(layers=2, cores_per_layer=4))
    net = build_interconnect(cfg.machine)
    des = simulate(cfg, StrategyName.SERIALIZED, net, "des")
    fast = simulate(cfg, StrategyName.SERIALIZED, net, "analytic")
    assert des.energy is not None and fast.energy is not None
    assert any(re.match(r"L1\..*allreduce", op) for op in fast.energy.ops)
    want = dict(zip(des.energy.ops, des.energy.counts.tolist(), strict=True))
    assert dict(zip(fast.energy.ops, fast.energy.counts.tolist(), strict=True)) == want
    monkeypatch.setattr("sim.energy.count._chiplet_base", lambda machine, cores: 0)
    plain = simulate(cfg, StrategyName.SERIALIZED, build_interconnect(cfg.machine), "analytic")
    assert plain.energy is not None
    assert np.array_equal(plain.energy.counts, fast.energy.counts)
