"""The optuna side of ``mode: search``: the study, a trial's point, a trial's result.

`new_study` builds a study of the spec's objectives with a seeded sampler
from `SAMPLER_BUILDERS` (``tpe``: `optuna.samplers.TPESampler` with the
constant liar, so a batch of trials asked together spreads out; ``nsga2``:
`optuna.samplers.NSGAIISampler` with a population of ``population``, default
the batch, at least 2; ``random``: `optuna.samplers.RandomSampler`, a
baseline). `suggest` turns a trial into axis values (bounds: ``suggest_float``
or ``suggest_int``, with ``log``; values: ``suggest_categorical``). `tell`
reports a trial's result row: its objective columns, or a failed trial when
the row failed (a `CapacityError`: the model does not fit in SRAM, or any
other error) or lacks a value, so failed designs are never proposed as good
ones; ``constraints`` become optuna constraints (a trial is feasible when
every violation is at most 0: ``Trial.set_constraint`` from optuna 5, the
sampler's ``constraints_func`` before it). `pareto_rows` picks the
non-dominated feasible rows over the objectives.

Determinism (what resuming relies on, `sim.sweep.search_run`): the sampler is
seeded and the study is in memory, so the same tells in the same order give
the same asks, bit for bit; tells follow trial order, never completion order.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sim.sweep.quasi import need_extra
from sim.sweep.spec_modes import SearchSpec, sampler_name

__all__ = ["SAMPLER_BUILDERS", "feasible", "new_study", "objective_values", "pareto_rows",
           "suggest", "tell"]

_VIOLATIONS = "constraint_violations"  # the trial's user attribute optuna's constraints read


def _tpe(optuna: Any, search: SearchSpec, constraints: Any) -> Any:
    startup = {} if search.startup_trials is None else {"n_startup_trials": search.startup_trials}
    return optuna.samplers.TPESampler(seed=search.seed, constant_liar=True,
                                      constraints_func=constraints, **startup)


def _nsga2(optuna: Any, search: SearchSpec, constraints: Any) -> Any:
    population = search.population or max(2, search.batch)
    return optuna.samplers.NSGAIISampler(population_size=population, seed=search.seed,
                                         constraints_func=constraints)


def _random(optuna: Any, search: SearchSpec, constraints: Any) -> Any:
    return optuna.samplers.RandomSampler(seed=search.seed)


#: Sampler name -> builder ``(optuna, search, constraints_func or None) -> sampler``.
SAMPLER_BUILDERS: Mapping[str, Callable[[Any, SearchSpec, Any], Any]] = {
    "tpe": _tpe, "nsga2": _nsga2, "random": _random}


def _violations(trial: Any) -> Sequence[float]:
    return list(trial.user_attrs.get(_VIOLATIONS, []))


def new_study(search: SearchSpec) -> Any:
    """An in-memory optuna study of ``search`` (module docstring).

    Raises
    ------
    ConfigError
        optuna is not installed (one line naming the ``search`` extra).
    """
    optuna = need_extra("optuna", "search")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    native = hasattr(optuna.trial.Trial, "set_constraint")  # optuna >= 5
    constraints = _violations if search.constraints and not native else None
    with warnings.catch_warnings():  # constraints_func is marked experimental
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        sampler = SAMPLER_BUILDERS[sampler_name(search)](optuna, search, constraints)
    directions = [o.resolved_direction() for o in search.objectives]
    return optuna.create_study(directions=directions, sampler=sampler)


def suggest(trial: Any, axes: Mapping[str, Any]) -> dict[str, Any]:
    """The axis values the sampler proposes for ``trial``, in axis order."""
    values: dict[str, Any] = {}
    for key, axis in axes.items():
        if axis.values is not None:
            values[key] = trial.suggest_categorical(key, list(axis.values))
        elif axis.bounds.integer:
            values[key] = trial.suggest_int(key, axis.bounds.low, axis.bounds.high,
                                            log=axis.bounds.log)
        else:
            values[key] = trial.suggest_float(key, float(axis.bounds.low),
                                              float(axis.bounds.high), log=axis.bounds.log)
    return values


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def objective_values(row: Mapping[str, Any] | None, search: SearchSpec) -> list[float] | None:
    """The row's objective values, or None when it failed or lacks one."""
    if row is None or row.get("status") != "ok":
        return None
    values = [_number(row.get(o.column)) for o in search.objectives]
    return None if any(v is None for v in values) else [v for v in values if v is not None]


def _row_violations(row: Mapping[str, Any], search: SearchSpec) -> list[float] | None:
    values = [_number(row.get(c.column)) for c in search.constraints]
    if any(v is None for v in values):
        return None
    return [c.violation(v) for c, v in zip(search.constraints, values, strict=True)
            if v is not None]


def feasible(row: Mapping[str, Any], search: SearchSpec) -> bool:
    """Whether the row has every objective and meets every constraint."""
    if objective_values(row, search) is None:
        return False
    violations = _row_violations(row, search)
    return violations is not None and all(v <= 0 for v in violations)


def tell(study: Any, trial: Any, row: Mapping[str, Any] | None, search: SearchSpec) -> bool:
    """Report ``trial``'s result ``row`` (None: no row, e.g. an invalid config);
    return whether it was told as complete (module docstring)."""
    import optuna

    values = objective_values(row, search)
    violations = _row_violations(row, search) if row is not None and values else None
    if values is None or (search.constraints and violations is None):
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
        return False
    if search.constraints and hasattr(trial, "set_constraint"):
        for number, violation in enumerate(violations or []):
            trial.set_constraint(f"constraint_{number}", violation)
    elif search.constraints:
        trial.set_user_attr(_VIOLATIONS, violations)
    study.tell(trial, values)
    return True


def pareto_rows(rows: Sequence[dict[str, Any]], search: SearchSpec,
                strategy: str) -> list[dict[str, Any]]:
    """The feasible rows of ``strategy`` that no other such row dominates over the
    objectives (one objective: the best rows), ordered by the objectives.

    >>> spec = SearchSpec.model_validate({"trials": 3, "objectives": [
    ...     {"column": "latency_us"}, {"column": "energy_uj"}]})
    >>> rows = [{"strategy": "s", "status": "ok", "latency_us": a, "energy_uj": b,
    ...          "point_id": str(a)} for a, b in [(1, 3), (2, 2), (2, 3), (3, 1)]]
    >>> [r["point_id"] for r in pareto_rows(rows, spec, "s")]
    ['1', '2', '3']
    """
    import numpy as np

    from sim.report.plot_pareto import non_dominated

    kept = [r for r in rows if r.get("strategy") == strategy and feasible(r, search)]
    if not kept:
        return []
    sign = np.asarray([-1.0 if o.resolved_direction() == "maximize" else 1.0
                       for o in search.objectives])
    values = np.asarray([objective_values(r, search) for r in kept], dtype=np.float64) * sign
    front = non_dominated(values)
    chosen = [(tuple(values[i]), str(kept[i].get("point_id")), kept[i])
              for i in range(len(kept)) if front[i]]
    return [row for *_, row in sorted(chosen, key=lambda c: (c[0], c[1]))]
