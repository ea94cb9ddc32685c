"""Every figure kind, checked by its structure (titles, axis labels, tick labels,
series, panels), not its pixels: gantt, breakdown, links, sweep lines, heatmaps
and ``imcsim plot``. Figures are caught before rendering (each plot module's
``render`` is replaced), so these checks encode no PNG or SVG."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import REPO
from typer.testing import CliRunner

from sim.cli import app
from sim.config import StrategyName, load_config
from sim.network.from_config import build_interconnect
from sim.report import plot_links, plot_run, plot_sweep
from sim.report.plots import plot_compare, plot_results
from sim.report.plots import plot_run as plot_one_run
from sim.runner import RunResult, simulate
from sim.sweep import sweep_figures

BATCHES, LATENCIES, CORES = (1, 2, 4, 8), (4, 1, 16), (256, 512)
STRATEGIES = ("serialized", "deferred", "pipelined")


def _speedup(strategy: str, batch: int, latency: int, cores: int) -> float:
    return 1.0 if strategy == "serialized" else 1 + latency / 100 + batch / 50 + cores / 1e4


ROWS = [{"point_id": f"p{k}", "strategy": s, "status": "ok", "workload.batch": b,
         "machine.network.noc": json.dumps({"bytes_per_cycle": 32, "latency_cycles": lat},
                                           sort_keys=True),
         "schedule.cores_per_layer": c, "latency_us": 10 / _speedup(s, b, lat, c),
         "speedup_vs_serialized": _speedup(s, b, lat, c), "normalization_comm_share": 0.1,
         "error": ""}
        for k, (b, lat, c, s) in enumerate(
            (b, lat, c, s) for b in BATCHES for lat in LATENCIES for c in CORES
            for s in STRATEGIES)]


def _structure(fig: Any) -> dict[str, Any]:
    """What a reader sees of a figure, minus the pixels."""
    def texts(items: Any) -> list[str]:
        return [t.get_text() for t in items]

    axes = []
    for ax in fig.axes:
        legend = ax.get_legend()
        axes.append({
            "title": " ".join(filter(None, (ax.get_title(loc=where)
                                            for where in ("left", "center", "right")))),
            "xlabel": ax.get_xlabel(), "ylabel": ax.get_ylabel(),
            "xticks": texts(ax.get_xticklabels()), "yticks": texts(ax.get_yticklabels()),
            "lines": [(line.get_label(), list(line.get_xdata()), list(line.get_ydata()))
                      for line in ax.get_lines()],
            "images": [np.asarray(image.get_array()) for image in ax.images],
            "legend": texts(legend.get_texts()) if legend else [],
            "patches": len(ax.patches),
            "xlim": ax.get_xlim(),
            "bar_ends": [p.get_x() + p.get_width() for p in ax.patches
                         if hasattr(p, "get_width")],
        })
    suptitle = fig._suptitle.get_text() if fig._suptitle is not None else ""
    return {"suptitle": suptitle, "axes": axes}


@pytest.fixture
def figures(monkeypatch: pytest.MonkeyPatch) -> dict[str, dict[str, Any]]:
    """Stem -> structure of every figure the plot functions build."""
    import matplotlib.pyplot as plt

    caught: dict[str, dict[str, Any]] = {}

    def catch(fig: Any, stem: str) -> dict[str, bytes]:
        caught[stem] = _structure(fig)
        plt.close(fig)
        return {}

    for module in (plot_run, plot_links, plot_sweep):
        monkeypatch.setattr(module, "render", catch)
    return caught


def _runs(config: str) -> list[RunResult]:
    cfg = load_config(REPO / config)
    net = build_interconnect(cfg.machine)
    return [simulate(cfg, s, net) for s in StrategyName]


@pytest.fixture(scope="module")
def toy() -> list[RunResult]:
    return _runs("configs/flashnorm_toy.yaml")


def _write(path: Path, rows: list[dict[str, Any]]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.fixture
def results_csv(tmp_path: Path) -> Path:
    return _write(tmp_path / "results.csv", ROWS)


def test_gantt_and_breakdown(toy: list[RunResult], figures: dict, tmp_path: Path) -> None:
    notes: list[str] = []
    plot_compare(toy, tmp_path, notes)
    gantt = figures["gantt"]
    assert "flashnorm-toy" in gantt["suptitle"]
    panels = [a for a in gantt["axes"] if a["title"]]
    assert [a["title"].split(":")[0] for a in panels] == ["serialized", "deferred"]
    assert "24 cycles" in panels[0]["title"] and "17 cycles" in panels[1]["title"]
    assert "cycles" in gantt["axes"][-1]["xlabel"]
    left, right = figures["breakdown"]["axes"][:2]
    assert left["xticks"] == [s.value for s in StrategyName]
    assert left["patches"] == 4 * len(StrategyName)  # four stacked segments per strategy
    assert left["ylabel"] == "critical-path time (cycles)" and right["title"].startswith("Per op")
    assert right["bar_ends"] and max(right["bar_ends"]) < right["xlim"][1]  # no bar cut off


def test_no_links_figure_without_traffic(toy: list[RunResult], figures: dict,
                                         tmp_path: Path) -> None:
    notes: list[str] = []
    plot_compare(toy, tmp_path, notes)
    assert set(figures) == {"gantt", "breakdown"}
    assert len(notes) == 1 and notes[0].startswith("no links figure: no link carried traffic")


def test_links_figure_counts_the_busy_links(figures: dict, tmp_path: Path) -> None:
    cfg = load_config(REPO / "configs/collectives/allreduce_ring_mesh8x8.yaml")
    result = simulate(cfg, StrategyName.SERIALIZED, build_interconnect(cfg.machine))
    plot_one_run(result, tmp_path)
    title = figures["links"]["axes"][0]["title"]
    busy = len(result.link_traffic())
    assert busy > 0 and f"{busy} of " in title and title.startswith("Link utilization")
    assert "link utilization" in figures["links"]["axes"][1]["ylabel"]  # the colour bar


def _mean(y: str, strategy: str, **fixed: Any) -> float:
    picked = [r[y] for r in ROWS if r["strategy"] == strategy
              and all(r[k] == v for k, v in fixed.items())]
    return float(np.mean(picked))


def test_lines_split_by_strategy_and_say_what_they_average(results_csv: Path,
                                                           figures: dict) -> None:
    plot_results(results_csv, results_csv.parent, x="workload.batch",
                 ys=["latency_us", "speedup_vs_serialized"])  # no --hue: by strategy
    latency, speedup = next(iter(figures.values()))["axes"]
    assert sorted(label for label, _, _ in latency["lines"]) == [
        f"strategy = {s}" for s in sorted(STRATEGIES)]
    assert "mean over machine.network.noc, schedule.cores_per_layer" in latency["title"]
    for label, xs, ys in latency["lines"]:
        strategy = label.removeprefix("strategy = ")
        assert xs == list(BATCHES)
        assert np.allclose(ys, [_mean("latency_us", strategy, **{"workload.batch": b})
                                for b in BATCHES])
    drawn = [label for label, _, _ in speedup["lines"]]
    assert "strategy = serialized" not in drawn and "serialized (baseline)" in drawn
    assert len(drawn) == len(STRATEGIES)  # two strategies and the baseline line at 1
    assert speedup["ylabel"] == "speedup_vs_serialized (x)"


def test_serialized_hidden_fraction_is_no_line_but_the_zero_reference(tmp_path: Path,
                                                                     figures: dict) -> None:
    """serialized hides 0% of its own exposed normalization communication by
    definition: a flat line at 0 would be a panel of nothing."""
    rows = [{**row, "hidden_fraction": 0.0 if row["strategy"] == "serialized"
             else row["workload.batch"] / 10} for row in ROWS]
    plot_results(_write(tmp_path / "hidden.csv", rows), tmp_path, x="workload.batch",
                 ys=["hidden_fraction"])
    (panel,) = next(iter(figures.values()))["axes"]
    drawn = {label: ys for label, _, ys in panel["lines"]}
    assert "strategy = serialized" not in drawn
    assert drawn["serialized (baseline)"] == [0.0, 0.0]  # the reference line
    for strategy in ("deferred", "pipelined"):
        assert np.allclose(drawn[f"strategy = {strategy}"], [10 * b for b in BATCHES])  # in %
    assert "serialized = 0% by definition: the black line" in " ".join(panel["title"].split())
    assert panel["ylabel"] == "hidden_fraction (%)"


def test_mapping_axis_labels_are_short_and_numeric(results_csv: Path, figures: dict) -> None:
    plot_results(results_csv, results_csv.parent, x="workload.batch",
                 ys=["speedup_vs_serialized"], heatmap="machine.network.noc")
    heat = next(iter(figures.values()))
    panels = [a for a in heat["axes"] if a["images"]]
    assert [p["title"] for p in panels] == ["speedup_vs_serialized · strategy = deferred",
                                            "speedup_vs_serialized · strategy = pipelined"]
    assert "mean over schedule.cores_per_layer" in heat["suptitle"]
    assert "serialized = 1 by definition" in heat["suptitle"]
    for panel, strategy in zip(panels, ("deferred", "pipelined"), strict=True):
        assert panel["yticks"] == [f"latency_cycles={lat}" for lat in sorted(LATENCIES)]
        assert panel["xticks"] == [str(b) for b in BATCHES]
        expected = [[_mean("speedup_vs_serialized", strategy, **{
            "workload.batch": b, "machine.network.noc": json.dumps(
                {"bytes_per_cycle": 32, "latency_cycles": lat}, sort_keys=True)})
            for b in BATCHES] for lat in sorted(LATENCIES)]
        assert np.allclose(panel["images"][0], expected)


def test_plot_command_defaults_to_strategy_hue(results_csv: Path, figures: dict) -> None:
    done = CliRunner().invoke(app, ["plot", str(results_csv), "--x", "machine.network.noc",
                                    "--y", "latency_us"])
    assert done.exit_code == 0, done.output
    (line,) = figures.values()
    panel = line["axes"][0]
    assert len(panel["lines"]) == len(STRATEGIES)
    assert panel["xticks"] == [f"latency_cycles={lat}" for lat in sorted(LATENCIES)]
    assert "mean over workload.batch, schedule.cores_per_layer" in panel["title"]
    done = CliRunner().invoke(app, ["plot", str(results_csv), "--x", "workload.batch",
                                    "--y", "latency_us", "--hue", "none"])
    assert done.exit_code == 0, done.output
    flat = figures["line_latency_us_vs_workload.batch"]["axes"][0]
    assert len(flat["lines"]) == 1 and "mean over strategy, machine.network.noc" in flat["title"]


def test_sweep_figures_say_what_they_average(results_csv: Path, figures: dict) -> None:
    spec = results_csv.parent / "spec.yaml"
    spec.write_text(f"base: {REPO / 'configs/paper/llama3_8b_decode.yaml'}\n"
                    "axes:\n  workload.batch: [1, 2, 4, 8]\n"
                    "  machine.network.noc.latency_cycles: [1, 4, 16]\n"
                    "  schedule.cores_per_layer: [256, 512]\n")
    out = results_csv.parent / "sweep"
    out.mkdir()
    axis = "machine.network.noc.latency_cycles"
    _write(out / "results.csv", [{(axis if k == "machine.network.noc" else k): v
                                  for k, v in row.items()} for row in ROWS])
    sweep_figures(spec, out)
    lines = next(f for stem, f in figures.items() if stem.startswith("line"))
    assert all("mean over machine.network.noc.latency_cycles, schedule.cores_per_layer"
               in panel["title"] for panel in lines["axes"])
    heat = next(f for stem, f in figures.items() if stem.startswith("heatmap"))
    assert len([a for a in heat["axes"] if a["images"]]) == 2  # no serialized panel
    assert "mean over schedule.cores_per_layer" in heat["suptitle"]
