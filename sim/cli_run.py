"""The simulation and report of ``imcsim run``: the chosen strategy, then (unless
``--no-baseline``) the serialized run of the same config and backend, which the
hidden fraction and the speedup are measured against.

Like `sim.cli`, this module imports typer only; `run_report` imports the
simulator when it runs.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from sim.config import RunConfig, StrategyName
    from sim.runner import RunResult

__all__ = ["BaselineOpt", "MaxTasksOpt", "run_report", "with_max_tasks"]

BaselineOpt = Annotated[
    bool, typer.Option("--baseline/--no-baseline",
                       help="Also simulate serialized (same config and backend) for the hidden "
                       "fraction and the speedup; --no-baseline halves the time.")
]

MaxTasksOpt = Annotated[
    int | None, typer.Option("--max-tasks", min=1, show_default=False,
                             help="Refuse, before emitting any, a run whose plan would emit "
                             "more tasks than this (default: limits.max_tasks, 20000000).")
]


def with_max_tasks(overrides: list[str] | None, max_tasks: int | None) -> list[str]:
    """``overrides`` with ``--max-tasks`` as the ``limits.max_tasks`` override (last wins)."""
    extra = [] if max_tasks is None else [f"limits.max_tasks={max_tasks}"]
    return [*(overrides or []), *extra]


def run_report(cfg: RunConfig, chosen: StrategyName | None, backend: str, fmt: str,
               baseline: bool = True) -> tuple[RunResult, dict[str, Any], str]:
    """Simulate ``cfg`` under ``chosen`` (default: its strategy) and return the run,
    its JSON document (`RunResult.to_dict`, plus with the baseline
    ``speedup_vs_serialized``, ``hidden_fraction`` and ``hidden_fraction_by_layer``,
    as in ``compare``) and its report: the table (`sim.report.text.run_table`) or
    that document.

    A serialized run is its own baseline (no second simulation); the baseline
    reuses the run's interconnect and keeps only its figures (`RunResult.summary`).
    A ``collective`` workload has no normalization to hide: no baseline.
    Progress: one step per simulated strategy (`sim.report.progress`).
    """
    from sim.config import CollectiveWorkload, StrategyName
    from sim.figures import versus
    from sim.gcpause import paused_gc
    from sim.report.progress import progress_bar
    from sim.report.text import run_table
    from sim.results import Summary
    from sim.runner import simulate_tasks

    strategy = chosen or cfg.strategy
    baseline = baseline and not isinstance(cfg.workload, CollectiveWorkload)
    second = baseline and strategy is not StrategyName.SERIALIZED
    with paused_gc(), progress_bar(1 + second, "run", unit=f"strategies ({backend})"
                                   ) as advance:
        result = simulate_tasks(cfg, strategy, backend=backend)
        advance(strategy.value)
        base: RunResult | Summary | None = result if baseline else None
        if second:
            base = simulate_tasks(cfg, StrategyName.SERIALIZED, result.interconnect,
                                  backend).summary()
            advance(StrategyName.SERIALIZED.value)
        document = {**result.to_dict(), **(versus(result, base) if base else {})}
        report = json.dumps(document, indent=2) if fmt == "json" else run_table(result, base)
    return result, document, report
