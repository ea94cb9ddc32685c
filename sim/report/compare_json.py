"""The JSON document of ``imcsim compare``: every strategy's result with its speedup
over serialized, and (``--backend both``) the analytic backend's gap to the DES."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sim.results import RunResult, Summary

__all__ = ["backend_gaps", "compare_dict"]


def backend_gaps(des: Sequence[RunResult | Summary],
                 analytic: Sequence[RunResult | Summary]) -> list[dict[str, Any]]:
    """Per strategy: the DES and analytic latencies, the analytic's relative gap
    (``analytic / des - 1``) and the DES's link queueing (0: uncontended)."""
    return [{
        "strategy": d.strategy.value,
        "des_latency_cycles": d.latency_cycles,
        "analytic_latency_cycles": a.latency_cycles,
        "gap": a.latency_cycles / max(d.latency_cycles, 1) - 1,
        "des_link_queueing_cycles": d.link_queueing_cycles(),
        "des_wall_seconds": d.wall_seconds,
        "analytic_wall_seconds": a.wall_seconds,
    } for d, a in zip(des, analytic, strict=True)]


def compare_dict(results: Sequence[RunResult | Summary]) -> dict[str, Any]:
    """The JSON of `compare`: every strategy's result plus its speedup over serialized."""
    from sim.config import StrategyName
    from sim.figures import versus

    baseline = next(r for r in results if r.strategy is StrategyName.SERIALIZED)
    rows = [{**result.to_dict(), **versus(result, baseline)} for result in results]
    return {
        "machine": baseline.config.machine.name,
        "workload": baseline.config.workload.kind,
        "baseline": StrategyName.SERIALIZED.value,
        "results": rows,
    }
