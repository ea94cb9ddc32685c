"""``imcsim calibrate``: fit, check on the DES, measure sensitivity, write the outputs.

`run_calibration` resolves the spec, opens the folder's evaluation cache
(`sim.calibrate.store`), fits on the spec's ``backend`` (`sim.calibrate.fit`),
evaluates the best point on ``verify_backend`` (the DES by default), measures
the local sensitivities (`sim.calibrate.sensitivity`) and writes
``calibration.json``, ``calibrated.yaml`` and ``tornado.png``/``.svg``. Every
evaluation goes through the cache, so a resumed run recomputes nothing already
recorded and ends with the same document (the wall time aside).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sim.calibrate.evaluate import PointEvaluator
from sim.calibrate.fit import fit, residuals
from sim.calibrate.report import calibrated_yaml, document_json
from sim.calibrate.sensitivity import sensitivities, tornado_figure
from sim.calibrate.spec import Calibration, load_calibration
from sim.calibrate.store import EvaluationCache

__all__ = ["EvaluatorFactory", "default_out_dir", "run_calibration"]

#: (calibration, backend, workers) -> a batch evaluator (points -> records).
EvaluatorFactory = Callable[[Calibration, str, int],
                            Callable[[list[dict[str, Any]]], list[dict[str, Any]]]]


def default_out_dir(spec: Path) -> Path:
    """``calibrations/<spec name>``."""
    return Path("calibrations") / spec.stem


def _simulator(calibration: Calibration, backend: str, workers: int
               ) -> Callable[[list[dict[str, Any]]], list[dict[str, Any]]]:
    return PointEvaluator(calibration.targets, backend, workers)


def _cached(cache: EvaluationCache, backend: str,
            evaluate: Callable[[list[dict[str, Any]]], list[dict[str, Any]]],
            progress: Callable[[str], None]) -> Callable[[list[dict[str, Any]]],
                                                           list[dict[str, Any]]]:
    """``evaluate`` behind ``cache``: recorded points served, new ones evaluated
    together and appended in order."""
    def run(points: list[dict[str, Any]]) -> list[dict[str, Any]]:
        found = [cache.get(backend, p) for p in points]
        missing = [p for p, f in zip(points, found, strict=True) if f is None]
        fresh = iter(evaluate(missing) if missing else [])
        out = []
        for p, f in zip(points, found, strict=True):
            if f is None:
                record = next(fresh)
                cache.put(backend, p, record)
                progress(f"{backend} point {len(cache.entries)}")
                f = record
            out.append({"metrics": f["metrics"], "error": f["error"]})
        return out
    return run


def _check(calibration: Calibration, best: dict[str, Any], run: Callable[..., Any],
           backend: str) -> dict[str, Any]:
    record = run([best])[0]
    r = residuals(calibration.targets, record)
    targets = {t.name: {"value": record["metrics"].get(t.name), "residual": float(r[i]),
                        "met": bool(abs(r[i]) <= 1.0)}
               for i, t in enumerate(calibration.targets)}
    return {"backend": backend, "error": record["error"], "targets": targets,
            "met_together": all(v["met"] for v in targets.values())}


def run_calibration(spec: str | Path, out: Path | None = None, *, resume: bool = False,
                    workers: int = 1, evaluator: EvaluatorFactory | None = None,
                    progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Calibrate ``spec`` into ``out`` (default `default_out_dir`); the document
    written as ``calibration.json``.

    Raises
    ------
    ConfigError
        A bad spec (one line naming the key), a folder of another calibration,
        or scipy missing (the ``search`` extra).
    """
    from sim.output import write_files_atomically
    from sim.report.plot_common import save_figures
    from sim.report.progress import progress_bar

    began = time.perf_counter()
    calibration = load_calibration(spec)
    out = out if out is not None else default_out_dir(Path(spec))
    cache = EvaluationCache(out, calibration.identity(), resume)
    make = evaluator or _simulator
    fit_eval = make(calibration, calibration.backend, workers)
    try:
        total = calibration.evaluations + 2 * len(calibration.parameters) + 1
        with progress_bar(total, "calibrate", unit="points") as advance:
            tick = progress or advance
            cached = _cached(cache, calibration.backend, fit_eval, tick)
            result = fit(calibration.parameters, calibration.targets, cached,
                         evaluations=calibration.evaluations, starts=calibration.starts,
                         seed=calibration.seed)
            best = result.best_point()
            best_record = result.records[result.best]
            rows = sensitivities(calibration.parameters, calibration.targets, best,
                                 best_record["metrics"], calibration.sensitivity_step, cached)
            verify = None
            if calibration.verify_backend is not None:
                check_eval = make(calibration, calibration.verify_backend, 1)
                verify = _check(calibration, best, _cached(
                    cache, calibration.verify_backend, check_eval, tick),
                    calibration.verify_backend)
    finally:
        close = getattr(fit_eval, "close", None)
        if close is not None:
            close()
    r = result.residuals[result.best]
    alone = [min(abs(float(rs[i])) for rs in result.residuals)
             for i in range(len(calibration.targets))]
    document = {
        "spec": calibration.path.name,
        "base": str(calibration.base),
        "fit_backend": calibration.backend,
        "evaluations": len(result.points),
        "budget": calibration.evaluations,
        "starts_refined": result.starts_refined,
        "stop": result.stop,
        "seed": calibration.seed,
        "met_together": result.met(),
        "parameters": [{"key": p.key, "fitted": best[p.key], "base": p.base_value,
                        "low": p.low, "high": p.high, "integer": p.integer}
                       for p in calibration.parameters],
        "targets": [{"name": t.name, "metric": t.metric, "value": t.value,
                     "tolerance": t.tolerance, "fit": best_record["metrics"].get(t.name),
                     "residual": float(r[i]), "met": bool(abs(r[i]) <= 1.0),
                     "best_alone_residual": alone[i], "config": str(t.config),
                     "overrides": list(t.overrides), "strategy": t.strategy}
                    for i, t in enumerate(calibration.targets)],
        "fit_error": best_record["error"],
        "verify": verify,
        "sensitivity_step": calibration.sensitivity_step,
        "sensitivity": rows,
    }
    write_files_atomically(out, {"calibration.json": document_json(document),
                                 "calibrated.yaml": calibrated_yaml(calibration, best, out)})
    save_figures(out, tornado_figure(rows, calibration.targets))
    # Not in the file, which a resumed run reproduces byte for byte:
    document.update(evaluations_reused=cache.reused, evaluations_computed=cache.computed,
                    wall_seconds=time.perf_counter() - began)
    return document
