"""Running a sweep (``imcsim sweep``): many runs over a space of config values, resumable.

Usage
-----
::

    imcsim sweep SWEEP.yaml [--workers N] [--dask ADDRESS|local] [--resume] [--out DIR]

A sweep spec (YAML)::

    base: ../paper/llama3_8b_decode.yaml     # a run config, relative to this file
    strategies: [serialized, deferred]       # default: every strategy
    mode: grid                               # grid (cartesian product) or zip
    backend: des                             # des (default) or analytic (see --backend)
    overrides: [workload.kv_len=512]         # applied to every point (like --set)
    axes:                                    # dotted config key -> values
      workload.batch: [1, 2, 4]
      machine.network.noc.latency_cycles: {values: [1, 4]}
      schedule.cores_per_layer: {range: {start: 64, stop: 257, step: 64}}  # stop excluded
      machine.simd.lanes: {random: {low: 16, high: 128, count: 4, seed: 0, integer: true}}

Every point (a combination of axis values) is validated before anything runs:
a bad key or value stops the sweep with one line naming it (exit 2). Each point
then runs every strategy on one shared interconnect, like ``imcsim compare``;
a worker keeps the interconnects of its last few machines (and all their
routes and collective profiles) for its next points (`sim.sweep.reuse`).
Points run on a local process pool (``--workers N``, default all cores) or on
a Dask cluster (``--dask tcp://host:8786``, or ``--dask local`` for a
`distributed.LocalCluster` of ``--workers`` processes; ``pip install
'imcsim[dask]'``).

Output, in ``--out`` (default ``sweeps/<spec name>``):

- ``results.jsonl`` and ``results.csv``: one row per (point, strategy), appended
  and fsync'd the moment a point finishes, in the order points finish (use
  `read_results` or sort by ``point_id`` for a stable order; the values
  themselves are deterministic). Columns: ``point_id`` (hash of the resolved
  config with its strategy, and its backend unless ``des``: stable across runs
  and machines), ``config_id`` (the point without strategy), ``strategy``,
  ``backend``, ``status`` (``ok``/``error``), one column per axis key,
  ``latency_cycles``, ``latency_us``, for transformers
  ``latency_per_token_us`` (decode) or ``time_to_first_token_us`` (prefill)
  and ``tokens_per_s`` (`sim.figures.per_token_figures`),
  ``speedup_vs_serialized``, ``normalization_comm_share``,
  ``normalization_share``, ``hidden_fraction``, ``data_comm_cycles``,
  ``events``, ``error``.
- ``sweep.resolved.yaml``: the spec with the base path absolute and each axis
  as its list of values.

- ``sweep.manifest.json``: the spec's identity and hash (`sim.sweep.manifest`).

A point that fails at run time (e.g. a ``CapacityError``: the model does not
fit) is recorded with ``status: error`` and its message; the sweep goes on
and the summary counts it. A worker that dies (killed, out of memory) costs
its points a retry on fresh workers (`sim.sweep.heal`); a point whose worker
dies twice while it runs alone is recorded with ``status: error`` and a
``WorkerDied`` reason. Exit status 0 when the sweep finished (every point
recorded), 2 on bad input; workers exit when the sweep's process dies.

Resuming: a directory that is not empty is refused unless ``--resume`` is
given, and then unless its manifest names the same spec (the first
difference is named); the finished points in ``results.jsonl`` are skipped
and the rest run. After Ctrl-C or ``kill -9``, resuming recomputes nothing that was
recorded and ends with every row exactly once in both files (a torn last line
is dropped, an incomplete point rerun, the CSV rebuilt from the JSONL).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sim.errors import ConfigError
from sim.output import write_files_atomically
from sim.output_paths import check_out_dir
from sim.report.progress import progress_bar
from sim.runner import check_backend
from sim.sweep.execute import (
    METRICS,
    PointTask,
    SweepExecutor,
    error_rows,
    open_executor,
    run_point,
)
from sim.sweep.heal import run_points
from sim.sweep.manifest import (
    MANIFEST_NAME,
    check_resume,
    identity,
    manifest_text,
    resolved_spec_yaml,
)
from sim.sweep.spec import SweepPoint, expand_points, load_spec
from sim.sweep.store import CSV_NAME, JSONL_NAME, ResultStore, read_results

__all__ = ["SweepSummary", "default_out_dir", "read_results", "run_sweep", "sweep_figures"]


@dataclass(frozen=True)
class SweepSummary:
    """What one ``imcsim sweep`` invocation did.

    Attributes
    ----------
    out_dir : Path
        Where the results are.
    points : int
        Distinct points of the sweep (``duplicates`` equal ones dropped).
    strategies : tuple of str
        Strategies run at every point.
    skipped : int
        Points already recorded (``--resume``), not run again.
    ran : int
        Points run and recorded now.
    worker_deaths : int
        Workers that died while running points (their points were retried).
    rows_ok, rows_failed : int
        Rows recorded now with status ``ok`` / ``error``.
    points_failed : int
        Points recorded now with at least one failed strategy.
    wall_seconds : float
        Wall time of the invocation.
    notes : tuple of str
        More lines for the summary (a search's trials and Pareto front).
    """

    out_dir: Path
    points: int
    duplicates: int
    strategies: tuple[str, ...]
    skipped: int
    ran: int
    worker_deaths: int
    rows_ok: int
    rows_failed: int
    points_failed: int
    wall_seconds: float
    notes: tuple[str, ...] = ()

    def text(self) -> str:
        """The summary ``imcsim sweep`` prints."""
        dup = f" ({self.duplicates} duplicates dropped)" if self.duplicates else ""
        lines = [
            f"sweep: {self.points} points{dup} x {len(self.strategies)} strategies "
            f"({', '.join(self.strategies)}) -> {self.out_dir}",
            f"points: {self.ran} run, {self.skipped} skipped as done, "
            f"{self.points_failed} with failures, {self.worker_deaths} worker deaths healed",
            f"rows: {self.rows_ok} ok, {self.rows_failed} failed; "
            f"wall {self.wall_seconds:.1f} s",
            f"results: {self.out_dir / CSV_NAME}, {self.out_dir / JSONL_NAME}",
            *self.notes,
        ]
        return "\n".join(lines)


def _columns(axis_keys: list[str]) -> list[str]:
    return ["point_id", "config_id", "strategy", "backend", "status", *axis_keys, *METRICS,
            "error"]


def _annotate(point: SweepPoint, row: dict[str, Any]) -> dict[str, Any]:
    return {"point_id": point.row_ids[row["strategy"]], "config_id": point.config_id,
            **point.values, **row}


def _label(point: SweepPoint) -> str:
    return " ".join(f"{k.rsplit('.', 1)[-1]}={v}" for k, v in point.values.items())


def default_out_dir(spec_path: str | Path) -> Path:
    """Where a sweep's results go without ``--out``: ``sweeps/<spec file stem>``."""
    return Path("sweeps") / Path(spec_path).stem


def run_sweep(
    spec_path: str | Path,
    *,
    workers: int | None = None,
    dask: str | None = None,
    resume: bool = False,
    out: str | Path | None = None,
    backend: str | None = None,
    point_fn: Callable[[PointTask], list[dict[str, Any]]] | None = None,
    executor: SweepExecutor | None = None,
) -> SweepSummary:
    """Run (or resume) the sweep in ``spec_path``; see the module docstring.

    Parameters
    ----------
    spec_path : path
        The sweep spec YAML.
    workers : int, optional
        Worker processes (default: all cores, at most one per point to run).
    dask : str, optional
        A Dask scheduler address, or ``local`` for a `LocalCluster`.
    resume : bool
        Continue the sweep in a non-empty ``out``, skipping recorded points.
    out : path, optional
        The results directory (default ``sweeps/<spec file stem>``).
    backend : str, optional
        ``des`` or ``analytic``; overrides the spec's ``backend``.
    point_fn : callable, optional
        Evaluates one point (default `run_point`, looked up when the sweep starts;
        tests inject cheap stand-ins).
    executor : SweepExecutor, optional
        Where points run instead of ``workers`` / ``dask`` (e.g. an
        `InlineExecutor`); closed when the sweep ends.

    Returns
    -------
    SweepSummary

    Raises
    ------
    ConfigError
        Before anything runs: a bad spec, any point's invalid config, a
        non-empty ``out`` without ``resume``, or an unusable executor.
    """
    began = time.perf_counter()
    point_fn = point_fn or run_point  # the module's own at call time (tests wrap it)
    spec, base = load_spec(spec_path)
    if backend is not None:
        spec = spec.model_copy(update={"backend": check_backend(backend)})
    strategies = tuple(s.value for s in spec.strategies)
    out_dir = Path(out) if out is not None else default_out_dir(spec_path)
    if spec.mode == "search":  # points proposed as the study goes: `sim.sweep.search_run`
        from sim.sweep.search_run import run_search

        check_out_dir(out_dir, "--out")
        counts = run_search(spec, base, out_dir, resume=resume, point_fn=point_fn,
                            open_pool=lambda n: executor or open_executor(workers, dask, n))
        return SweepSummary(out_dir=out_dir, strategies=strategies,
                            wall_seconds=time.perf_counter() - began, **counts)
    points, duplicates = expand_points(spec, base)
    check_out_dir(out_dir, "--out")
    ident = identity(spec, points)
    check_resume(out_dir, resume, ident)
    store = ResultStore(out_dir, _columns(list(spec.axes)))
    groups = {p.config_id: set(p.row_ids.values()) for p in points}
    _, done, _ = store.scan(resume, groups)
    todo = [p for p in points if not set(p.row_ids.values()) <= done]
    # The executor starts before any file is touched: if it cannot, nothing changed.
    if todo and executor is None:
        executor = open_executor(workers, dask, len(todo))
    counts = {"ran": 0, "rows_ok": 0, "rows_failed": 0, "points_failed": 0}
    deaths = 0
    aborted = True
    try:
        done = store.open(resume, groups)
        todo = [p for p in points if not set(p.row_ids.values()) <= done]
        write_files_atomically(out_dir, {"sweep.resolved.yaml": resolved_spec_yaml(spec, base),
                                         MANIFEST_NAME: manifest_text(ident, base)})
        if executor is not None:
            with progress_bar(len(todo), "sweep") as advance:
                def record(point: SweepPoint, rows: list[dict[str, Any]]) -> None:
                    store.append([_annotate(point, r) for r in rows])
                    failed = sum(r["status"] != "ok" for r in rows)
                    counts["ran"] += 1
                    counts["rows_failed"] += failed
                    counts["rows_ok"] += len(rows) - failed
                    counts["points_failed"] += failed > 0
                    advance(_label(point) + (" (failed)" if failed else ""))

                def give_up(point: SweepPoint, reason: str) -> None:
                    record(point, error_rows(strategies, reason, spec.backend))

                deaths = run_points(executor, todo, point_fn,
                                    lambda p: PointTask(p.config, strategies, spec.backend),
                                    record, give_up)
        aborted = False
    finally:
        if executor is not None:
            executor.close(abort=aborted)
        store.close()
    return SweepSummary(out_dir, len(points), duplicates, strategies,
                        len(points) - len(todo), counts["ran"], deaths, counts["rows_ok"],
                        counts["rows_failed"], counts["points_failed"],
                        time.perf_counter() - began)



def sweep_figures(spec_path: Path, out_dir: Path) -> list[Path]:
    """Figures of a finished sweep in ``out_dir/plots``: speedup and normalization
    share against the first axis, a line per strategy (averaged over the other
    axes); with two or more axes also a heatmap of the speedup over the first
    two, a panel per strategy (grid and zip sweeps; a search draws its Pareto
    front instead, `sim.sweep.search_run.search_figures`). A sweep with nothing
    to plot (no axis, or every point failed) gets a one-line note instead."""
    from sim.report.plots import plot_results  # matplotlib: loaded only here

    spec, _ = load_spec(spec_path)
    axes = list(spec.axes)
    if spec.mode == "search":
        from sim.sweep.search_run import search_figures

        return search_figures(spec, out_dir)
    if not axes:
        return []
    results, plots = out_dir / "results.csv", out_dir / "plots"
    written: list[Path] = []
    try:
        written += plot_results(results, plots, x=axes[0],
                                ys=["speedup_vs_serialized", "normalization_comm_share"],
                                hue="strategy")
        if len(axes) > 1 and spec.mode in ("grid", "zip"):  # scattered points: no heatmap
            written += plot_results(results, plots, x=axes[0], ys=["speedup_vs_serialized"],
                                    hue="strategy", heatmap=axes[1])
    except ConfigError as exc:
        print(f"imcsim: no sweep figures: {exc}", file=sys.stderr)
    return written

