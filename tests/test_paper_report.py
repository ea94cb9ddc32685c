"""The paper-reproduction report renders from simulation results."""

from __future__ import annotations

from conftest import REPO, SMALL_CHIPLET

from sim.config import StrategyName
from sim.report.paper import Case, _figure, render, run_cases


def test_report_renders_one_case_with_its_figure(tmp_path):
    # a fixed mapping on 64-core chiplets: the rendering is under test, not the mapper's
    # search or the paper's figures (every strategy runs on both backends)
    fixed = ("schedule.linear_split=columns", "schedule.norm_stats=collective", *SMALL_CHIPLET)
    rows = run_cases(REPO / "configs/paper",
                     (Case("Llama-3-8B decode, batch 1, kv 1024", "llama3_8b_decode.yaml",
                           fixed),))
    names = _figure(rows, tmp_path)
    assert all((tmp_path / name).stat().st_size > 1000 for name in names)
    text = render(rows, names[0])
    deferred = rows[0].results[StrategyName.DEFERRED]
    assert f"{deferred.latency_us:.2f}" in text
    assert f"{rows[0].speedup(StrategyName.DEFERRED):.3f}x" in text
    assert "## Findings" in text and "published ~20%" in text
    analytic = rows[0].analytic[StrategyName.DEFERRED]
    assert analytic.backend == "analytic"
    assert f"| deferred | {deferred.latency_cycles} | {analytic.latency_cycles} |" in text
