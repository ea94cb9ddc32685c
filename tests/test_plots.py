"""Every plot is produced, non-empty, PNG and SVG; the CLI writes them and fails on one line."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO, SMALL_CHIPLET, run_cli, shared_interconnect

from sim.config import StrategyName, load_config
from sim.errors import ConfigError
from sim.report.plot_common import render
from sim.report.plot_run import critical_cycles_by_op_category, gantt_rows
from sim.report.plot_sweep import axis_label
from sim.report.plots import plot_compare, plot_results, plot_run
from sim.runner import RunResult, simulate

PAIR = (StrategyName.SERIALIZED, StrategyName.DEFERRED)
STEMS = ("gantt", "breakdown", "links")


def _runs(config: str, *overrides: str) -> list[RunResult]:
    cfg = load_config(REPO / config, list(overrides))
    net = shared_interconnect(cfg.machine)
    return [simulate(cfg, s, net) for s in PAIR]


def _check_figures(paths: list[Path], stems: tuple[str, ...]) -> None:
    names = sorted(p.name for p in paths)
    assert names == sorted(f"{s}.{x}" for s in stems for x in ("png", "svg"))
    for path in paths:
        data = path.read_bytes()
        assert len(data) > 5000, path
        if path.suffix == ".png":
            assert data.startswith(b"\x89PNG\r\n\x1a\n")
        else:
            assert b"<svg" in data[:2000]
    assert not [p for p in paths[0].parent.iterdir() if p.name.endswith(".tmp")]


@pytest.fixture(scope="module")
def corsair() -> list[RunResult]:
    """A Corsair-like card made small: GPT-2, one layer on one 64-core chiplet."""
    return _runs("configs/paper/llama3_8b_decode.yaml", "workload.model=gpt2", *SMALL_CHIPLET)


def test_compare_cli_writes_every_plot_and_keeps_json_valid(tmp_path: Path) -> None:
    out = tmp_path / "plots"
    done = run_cli("compare", "configs/flashnorm_toy.yaml", "--format", "json",
                   "--plot", str(out), "--quiet")
    assert done.returncode == 0, done.stderr
    assert {r["strategy"] for r in json.loads(done.stdout)["results"]} >= {"serialized"}
    *wrote, note = done.stderr.splitlines()  # one core: no link, so no links figure
    assert all(line.startswith("wrote ") for line in wrote)
    assert note.startswith("imcsim: no links figure: no link carried traffic")
    _check_figures([Path(line.removeprefix("wrote ")) for line in wrote],
                   (*STEMS[:2], "energy"))


def test_compare_writes_nothing_when_the_run_fails(tmp_path: Path) -> None:
    out = tmp_path / "plots"
    done = run_cli("compare", "configs/flashnorm_toy.yaml", "--set", "machine.simd.lanes=0",
                   "--plot", str(out))
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1
    assert not out.exists()


def test_corsair_plots(corsair: list[RunResult], tmp_path: Path) -> None:
    _check_figures(plot_compare(corsair, tmp_path), (*STEMS, "energy"))


def test_ring_plots(tmp_path: Path) -> None:
    results = _runs("configs/collectives/allreduce_ring_mesh8x8.yaml")
    _check_figures(plot_run(results[1], tmp_path), STEMS)


def test_gantt_rows_are_capped_and_keep_normalization_engines(corsair: list[RunResult]) -> None:
    serialized = corsair[0]
    rows, busy = gantt_rows(serialized, max_rows=40)
    assert len(rows) == 40 < busy
    norm = {t.engine for t in serialized.taskgraph.tasks
            if serialized.op_purpose.get(t.op) == "normalization_comm" and t.duration_cycles}
    assert len(set(rows) & norm) >= 20
    small, total = gantt_rows(serialized, max_rows=10_000)
    assert len(small) == total == busy


def test_breakdown_segments_sum_to_the_latency(corsair: list[RunResult]) -> None:
    for result in corsair:
        table = critical_cycles_by_op_category(result)
        assert sum(sum(row.values()) for row in table.values()) == result.latency_cycles
    assert any("normalization collectives" in row
               for row in critical_cycles_by_op_category(corsair[0]).values())


def test_svg_is_deterministic() -> None:
    import matplotlib.pyplot as plt

    def figure() -> bytes:
        fig, ax = plt.subplots()
        ax.plot([0, 1], [1, 0])
        return render(fig, "x")["x.svg"]

    assert figure() == figure()


ROWS = [
    {"workload.batch": b, "machine.network.d2d.latency_cycles": d, "strategy": s,
     "latency_us": 4 + b / 4 + d / 100 - (0.5 if s == "deferred" else 0),
     "speedup_vs_serialized": 1.0 if s == "serialized" else 1.1 + b / 100,
     "normalization_comm_share": 0.08 if s == "serialized" else 0.01, "error": ""}
    for b in (1, 2, 4, 8) for d in (20, 40) for s in ("serialized", "deferred")
] + [{"workload.batch": 16, "machine.network.d2d.latency_cycles": 20, "strategy": "deferred",
      "latency_us": "", "speedup_vs_serialized": "", "normalization_comm_share": "",
      "error": "failed"}]


@pytest.fixture
def results_csv(tmp_path: Path) -> Path:
    path = tmp_path / "results.csv"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(ROWS[0]))
        writer.writeheader()
        writer.writerows(ROWS)
    return path


def test_sweep_line_and_heatmap_plots(results_csv: Path, tmp_path: Path) -> None:
    lines = plot_results(results_csv, tmp_path / "a", x="workload.batch",
                         ys=["speedup_vs_serialized", "normalization_comm_share"],
                         hue="strategy")
    heat = plot_results(results_csv, tmp_path / "b", x="workload.batch", ys=["latency_us"],
                        heatmap="machine.network.d2d.latency_cycles", hue="strategy")
    flat = plot_results(results_csv, tmp_path / "c", x="workload.batch", ys=["latency_us"],
                        heatmap="machine.network.d2d.latency_cycles")
    for paths in (lines, heat, flat):
        assert [p.suffix for p in paths] == [".png", ".svg"]
        assert all(p.stat().st_size > 5000 for p in paths)


def test_plot_cli(results_csv: Path) -> None:
    done = run_cli("plot", str(results_csv), "--x", "workload.batch", "--y", "latency_us",
                   "--hue", "strategy")
    assert done.returncode == 0, done.stderr
    paths = [Path(p) for p in done.stdout.split()]
    assert len(paths) == 2 and all(p.parent == results_csv.parent / "plots" for p in paths)
    assert all(p.stat().st_size > 5000 for p in paths)


def test_unknown_plot_column_is_one_line_exit_2(results_csv: Path) -> None:
    done = run_cli("plot", str(results_csv), "--x", "nope", "--y", "latency_us")
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("imcsim: error: --x: unknown column 'nope'")
    assert "workload.batch" in lines[0] and "latency_us" in lines[0]


@pytest.mark.parametrize("option", ["--y", "--hue", "--heatmap"])
def test_unknown_column_names_its_option(results_csv: Path, tmp_path: Path,
                                         option: str) -> None:
    args: dict[str, Any] = {"x": "workload.batch", "ys": ["latency_us"], "hue": None,
                            "heatmap": None}
    args[{"--y": "ys", "--hue": "hue", "--heatmap": "heatmap"}[option]] = (
        ["nope"] if option == "--y" else "nope")
    with pytest.raises(ConfigError, match=f"^{option}: unknown column 'nope' .*strategy"):
        plot_results(results_csv, tmp_path, **args)
    assert not tmp_path.joinpath("plots").exists()


@pytest.mark.parametrize(("args", "message"), [
    ({"ys": ["latency_us"], "heatmap": "workload.batch"}, "--heatmap: column 'workload.batch' "
     "is already --x"),
    ({"ys": ["latency_us"], "hue": "workload.batch"}, "--hue: column 'workload.batch' is "
     "already --x"),
    ({"ys": ["latency_us", "latency_us"]}, "--y: column 'latency_us' is already --y"),
    ({"ys": ["workload.batch"], "hue": "none"}, "--y: column 'workload.batch' is already --x"),
])
def test_one_column_on_two_axes_is_refused(results_csv: Path, tmp_path: Path,
                                           args: dict[str, Any], message: str) -> None:
    """A heatmap over (x, x) is a diagonal and a hue of x a point per line: neither
    says anything, so neither is drawn."""
    with pytest.raises(ConfigError, match=f"^{message}"):
        plot_results(results_csv, tmp_path / "plots", x="workload.batch", **args)
    assert not (tmp_path / "plots").exists()


def test_missing_results_file_is_one_line_exit_2(tmp_path: Path) -> None:
    done = run_cli("plot", str(tmp_path / "none.csv"), "--x", "a", "--y", "b")
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1


def test_axis_labels_carry_units() -> None:
    assert axis_label("latency_cycles") == "latency_cycles (cycles)"
    assert axis_label("hidden_fraction") == "hidden_fraction (%)"
