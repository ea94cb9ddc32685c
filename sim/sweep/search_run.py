"""Running ``mode: search``: an optuna study whose trials are sweep points.

The study (`sim.sweep.search`) is driven by ask and tell in synchronous
batches: ``batch`` trials are asked, their points built and validated
(`sim.sweep.spec.make_point`), the ones not yet known run on the sweep's
executor (a process pool or Dask, with the same healing of dead workers,
`sim.sweep.heal`), each finished point's rows are appended to the results
store at once, and then every trial of the batch is told its result, in
trial order. A trial whose config equals an earlier trial's is told the
earlier result: no point runs twice. A suggested point whose config is
invalid is told as failed (no row). The two corners of the space (every
axis at its low end, then its high end) are validated before anything runs,
so a bad key stops the search with one line.

Resuming replays: with ``--resume`` the same seeded ask/tell loop runs
again from the first trial, and every trial whose point is in the store is
served from its stored rows instead of running. A seeded sampler given the
same tells in the same order asks the same points (tested), so the replay
reaches where the killed study stopped having run nothing twice, then goes
on; the results end equal to an uninterrupted study's. The store cannot know
a search's points before the replay asks them, so a stored point counts as
complete when it has a row of every strategy (`stored_groups`); the
manifest (spec, seed, sampler, corners) guards against resuming another spec.

At the end ``pareto.csv`` holds the non-dominated feasible rows over the
objectives (one objective: the best rows), in the results' columns;
`sim.sweep.run.sweep_figures` draws it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from sim.errors import ConfigError
from sim.output import write_files_atomically
from sim.report.progress import progress_bar
from sim.sweep.execute import METRICS, PointTask, SweepExecutor, error_rows
from sim.sweep.heal import run_points
from sim.sweep.manifest import MANIFEST_NAME, check_resume, identity, manifest_text
from sim.sweep.manifest import resolved_spec_yaml as resolved_yaml
from sim.sweep.search import new_study, pareto_rows, suggest, tell
from sim.sweep.spec import SweepPoint, SweepSpec, base_tree, expand_points, make_point
from sim.sweep.store import JSONL_NAME, ResultStore, csv_text, read_jsonl

__all__ = ["PARETO_NAME", "objective_strategy", "run_search", "search_columns",
           "stored_groups"]

PARETO_NAME = "pareto.csv"
Rows = list[dict[str, Any]]


def search_columns(spec: SweepSpec) -> list[str]:
    """The results' columns of a search: a sweep's, with the ``trial`` number."""
    return ["point_id", "config_id", "trial", "strategy", "backend", "status", *spec.axes,
            *METRICS, "error"]


def objective_strategy(spec: SweepSpec) -> str:
    """The strategy whose rows give the objectives (default: the first one)."""
    search = spec.search
    return (search.strategy if search is not None and search.strategy
            else spec.strategies[0].value)


def stored_groups(out_dir: Path, strategies: tuple[str, ...]) -> dict[str, set[str]]:
    """Stored config id -> its row ids, plus a marker id that is never present
    when a strategy's row is missing (the store then drops the point's rows)."""
    rows, _ = read_jsonl(out_dir / JSONL_NAME)
    by_config: dict[str, dict[str, str]] = {}
    for row in rows:
        by_config.setdefault(str(row.get("config_id")), {})[str(row.get("strategy"))] = (
            row["point_id"])
    return {cid: set(ids.values()) | (set() if set(strategies) <= set(ids)
                                      else {f"incomplete:{cid}"})
            for cid, ids in by_config.items()}


def _stored_rows(out_dir: Path, done: set[str]) -> dict[str, Rows]:
    rows, _ = read_jsonl(out_dir / JSONL_NAME)
    known: dict[str, Rows] = {}
    seen: set[str] = set()
    for row in rows:
        if row["point_id"] in done and row["point_id"] not in seen:
            seen.add(row["point_id"])
            known.setdefault(str(row["config_id"]), []).append(row)
    return known


def run_search(
    spec: SweepSpec,
    base: Path,
    out_dir: Path,
    *,
    resume: bool,
    open_pool: Callable[[int], SweepExecutor],
    point_fn: Callable[[PointTask], Rows],
) -> dict[str, Any]:
    """Run (or resume) the search of ``spec`` into ``out_dir`` (module docstring).

    Parameters
    ----------
    open_pool : callable
        ``open_pool(batch)`` gives the executor (opened once, on the first point
        that has to run).
    point_fn : callable
        Evaluates one `PointTask` into its rows (`sim.sweep.execute.run_point`).

    Returns
    -------
    dict
        The counts of `sim.sweep.run.SweepSummary` (``points``, ``duplicates``,
        ``skipped``, ``ran``, ``worker_deaths``, ``rows_ok``, ``rows_failed``,
        ``points_failed``) and its ``notes``.

    Raises
    ------
    ConfigError
        Before anything runs: a corner's invalid config, a non-empty ``out_dir``
        without ``resume`` or holding another spec, optuna missing.
    """
    search = spec.search
    if search is None:  # unreachable: run_sweep dispatches mode search only
        raise ConfigError("search: mode search needs a search: section")
    tree = base_tree(spec, base)
    corners, _ = expand_points(spec, base)
    strategies = tuple(s.value for s in spec.strategies)
    ident = identity(spec, corners)
    check_resume(out_dir, resume, ident)
    study = new_study(search)  # before any file is touched: optuna may be missing
    store = ResultStore(out_dir, search_columns(spec))
    groups = stored_groups(out_dir, strategies) if resume else {}
    counts = dict.fromkeys(("points", "duplicates", "skipped", "ran", "worker_deaths",
                            "rows_ok", "rows_failed", "points_failed", "invalid", "told"), 0)
    executor: SweepExecutor | None = None
    aborted = True
    strategy = objective_strategy(spec)
    try:
        done = store.open(resume, groups)
        known = _stored_rows(out_dir, done)
        stored = set(known)
        write_files_atomically(out_dir, {"sweep.resolved.yaml": resolved_yaml(spec, base),
                                         MANIFEST_NAME: manifest_text(ident, base)})
        seen: set[str] = set()
        with progress_bar(search.trials, "search", unit="trials") as advance:
            def record(point: SweepPoint, rows: Rows) -> None:
                annotated = [{"point_id": point.row_ids[r["strategy"]],
                              "config_id": point.config_id, "trial": point.index,
                              **point.values, **r} for r in rows]
                store.append(annotated)
                known[point.config_id] = annotated
                failed = sum(r["status"] != "ok" for r in rows)
                counts["ran"] += 1
                counts["rows_failed"] += failed
                counts["rows_ok"] += len(rows) - failed
                counts["points_failed"] += failed > 0

            def give_up(point: SweepPoint, reason: str) -> None:
                record(point, error_rows(strategies, reason, spec.backend))

            for first in range(0, search.trials, search.batch):
                asked = [study.ask() for _ in range(min(search.batch, search.trials - first))]
                points: list[SweepPoint | None] = []
                for trial in asked:
                    try:
                        points.append(make_point(spec, tree, suggest(trial, spec.axes),
                                                 trial.number))
                    except ConfigError:  # a proposed point the config rejects: a failed trial
                        points.append(None)
                todo = list({p.config_id: p for p in points
                             if p is not None and p.config_id not in known}.values())
                if todo:
                    executor = executor or open_pool(search.batch)
                    counts["worker_deaths"] += run_points(
                        executor, todo, point_fn,
                        lambda p: PointTask(p.config, strategies, spec.backend), record,
                        give_up)
                for trial, point in zip(asked, points, strict=True):
                    rows = known.get(point.config_id, []) if point is not None else []
                    row = next((r for r in rows if r["strategy"] == strategy), None)
                    counts["told"] += tell(study, trial, row, search)
                    if point is None:
                        counts["invalid"] += 1
                    elif point.config_id in seen:
                        counts["duplicates"] += 1
                    else:
                        seen.add(point.config_id)
                        counts["points"] += 1
                        counts["skipped"] += point.config_id in stored
                    advance(f"trial {trial.number}")
        every = [r for rows in known.values() for r in rows]
        front = pareto_rows(every, search, strategy)
        write_files_atomically(out_dir, {PARETO_NAME: csv_text(front, store.columns)})
        aborted = False
    finally:
        if executor is not None:
            executor.close(abort=aborted)
        store.close()
    notes = (f"search: {search.trials} trials, {counts['told']} complete, "
             f"{counts['invalid']} invalid configs; "
             f"{len(front)} non-dominated rows -> {out_dir / PARETO_NAME}",)
    return {**{k: v for k, v in counts.items() if k not in ("invalid", "told")},
            "notes": notes}


def search_figures(spec: SweepSpec, out_dir: Path) -> list[Path]:
    """``pareto.png`` and ``pareto.svg`` in ``out_dir``: the feasible rows of the
    objectives' strategy, the first objective against the second with the
    non-dominated ones filled and joined (`sim.report.plot_pareto`); with one
    objective, the objective against the trial number, whose front is the best
    value found so far. Nothing (and a one-line note) when no row is feasible.

    The figure reads better-is-smaller from the column names
    (`sim.report.plot_pareto.maximized`), the default directions of the objectives.
    """
    import sys

    from sim.report.plot_common import save_figures
    from sim.report.plot_pareto import pareto_figure
    from sim.sweep.search import feasible

    search = spec.search
    if search is None:
        return []
    strategy = objective_strategy(spec)
    rows, _ = read_jsonl(out_dir / JSONL_NAME)
    kept = [{k: "" if v is None else str(v) for k, v in r.items()} for r in rows
            if r.get("strategy") == strategy and feasible(r, search)]
    columns = [o.column for o in search.objectives]
    x, y = (columns[0], columns[1]) if len(columns) > 1 else ("trial", columns[0])
    try:
        files = pareto_figure((search_columns(spec), kept), x, y, stem="pareto")
    except ConfigError as exc:
        print(f"imcsim: no Pareto figure: {exc}", file=sys.stderr)
        return []
    return save_figures(out_dir, files)
