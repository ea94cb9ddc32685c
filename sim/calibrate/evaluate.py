"""Evaluating a calibration's targets at parameter points, in-process or on a pool.

A *point* is ``{config key: value}`` over the free parameters. `evaluate_point`
loads each target's config with its overrides and then the point's values (a
parameter wins over a target override of the same key), runs it on the
backend once per distinct (config, overrides, strategy) and reads every
target's metric. A run that fails (the workload does not fit at this point, a
value the config refuses) is recorded as the point's ``error``; the fit scores
it as missing every target by a large margin (`sim.calibrate.fit.MISS_RESIDUAL`).

Interconnects are kept per process by their network key
(`sim.sweep.reuse.WORKER_CACHE`), so points that move only engine or memory
figures reuse routes and collective profiles; moving a network figure builds a
new one (the dominant cost of a fast-path point on a card).

`PointEvaluator` evaluates a batch of points in order, on a process pool of
``workers`` when above 1; results are pure functions of the point, so the
pool changes no figure, only the wall time.
"""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from typing import Any

from sim.calibrate.spec import Target
from sim.errors import ConfigError, SimError

__all__ = ["Point", "PointEvaluator", "evaluate_point", "overrides_of"]

#: A parameter point: dotted config key -> value.
Point = dict[str, int | float]


def overrides_of(point: Point) -> list[str]:
    """``point`` as ``--set`` overrides, in key order.

    >>> overrides_of({"machine.simd.lanes": 32, "machine.network.noc.bytes_per_cycle": 16.5})
    ['machine.network.noc.bytes_per_cycle=16.5', 'machine.simd.lanes=32']
    """
    return [f"{key}={_yaml_number(point[key])}" for key in sorted(point)]


def _yaml_number(value: int | float) -> str:
    """``value`` as text YAML reads back as the same number (``1e-05`` would be a string)."""
    text = repr(value)
    return f"{value:.17f}" if isinstance(value, float) and "e" in text else text


def evaluate_point(targets: tuple[Target, ...], point: Point, backend: str) -> dict[str, Any]:
    """``{"metrics": {target: value or None}, "error": message or None}`` at ``point``."""
    from sim.calibrate.metrics import run_metrics
    from sim.config import StrategyName, load_config
    from sim.gcpause import paused_gc
    from sim.sweep.reuse import WORKER_CACHE

    runs: dict[tuple[str, tuple[str, ...], str | None], dict[str, float | None]] = {}
    metrics: dict[str, float | None] = {}
    try:
        with paused_gc():
            for target in targets:
                key = target.run_key()
                if key not in runs:
                    config = load_config(target.config, [*target.overrides,
                                                         *overrides_of(point)])
                    strategy = StrategyName(target.strategy) if target.strategy else None
                    runs[key] = run_metrics(config, strategy, backend,
                                            WORKER_CACHE.get(config.machine))
                metrics[target.name] = runs[key][target.metric]
    except (SimError, ValueError) as exc:
        kind = "ConfigError" if isinstance(exc, ConfigError) else type(exc).__name__
        return {"metrics": {t.name: None for t in targets}, "error": f"{kind}: {exc}"}
    return {"metrics": metrics, "error": None}


class PointEvaluator:
    """Evaluates batches of points for one calibration and backend.

    Parameters
    ----------
    targets : tuple of Target
        What each point is scored on.
    backend : str
        ``analytic`` or ``des`` (`sim.runner.BACKENDS`).
    workers : int
        Processes; 1 evaluates in this process.
    """

    def __init__(self, targets: tuple[Target, ...], backend: str, workers: int = 1) -> None:
        self.targets = targets
        self.backend = backend
        self.workers = max(int(workers), 1)
        self._pool: ProcessPoolExecutor | None = None

    def __call__(self, points: list[Point]) -> list[dict[str, Any]]:
        """Every point's `evaluate_point` record, in the order of ``points``."""
        if self.workers == 1 or len(points) < 2:
            return [evaluate_point(self.targets, p, self.backend) for p in points]
        if self._pool is None:
            self._pool = ProcessPoolExecutor(self.workers)
        futures = [self._pool.submit(evaluate_point, self.targets, p, self.backend)
                   for p in points]
        return [f.result() for f in futures]

    def close(self) -> None:
        """Shut the pool down (if one was started)."""
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None
