"""The fit: free parameters that bring every target within its tolerance.

Method (`fit`), all of it deterministic for a seed:

- Each parameter is searched in its unit interval (0: ``low``, 1: ``high``);
  an integer parameter's value is rounded half to even, so the model is a
  step function of it (`sim.calibrate.spec.Parameter.value`).
- The residual of target i is ``(metric_i - value_i) / tolerance_i``; a point
  whose run fails (or whose metric is undefined) scores `MISS_RESIDUAL` on every
  target. A point *meets* the targets together when every ``|residual| <= 1``.
- Starts: the base config's own values, then ``starts - 1`` points of a
  scrambled Sobol sequence (`scipy.stats.qmc.Sobol`, seeded). All starts are
  evaluated first, then `scipy.optimize.least_squares` (trust-region
  reflective, bounds [0, 1]) refines them in order of their cost, best first,
  until a refined start meets the targets or the budget of distinct points is
  spent.
- The Jacobian is a forward difference (backward at the upper bound) of
  `FIT_STEP` of the range, at least one unit of an integer parameter, taken
  at the rounded point, so it sees the step function's real slope.
- The best point is the first evaluated among those meeting the targets with
  the least sum of squared residuals, else the first with the least sum (the
  best compromise). A target's best alone is its least ``|residual|`` over
  every point evaluated: a target met alone but not together conflicts with
  the others; one never met is out of reach within the ranges (as far as
  the points evaluated show: the fit is local, not a proof).

`fit` takes the evaluation as a function (points -> records), so tests can fit
closed forms; `sim.calibrate.run` passes the simulator behind a cache.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sim.calibrate.spec import Parameter, Target

__all__ = ["FIT_STEP", "MISS_RESIDUAL", "FitResult", "fit", "residuals"]

#: Forward-difference step of the fit's Jacobian, as a fraction of each range.
FIT_STEP = 0.05
#: The residual of every target at a point whose run failed.
MISS_RESIDUAL = 100.0

#: Points -> their records (``{"metrics": {target: value}, "error": ...}``), in order.
Evaluate = Callable[[list[dict[str, Any]]], list[dict[str, Any]]]


def residuals(targets: tuple[Target, ...], record: dict[str, Any]) -> np.ndarray:
    """Each target's ``(metric - value) / tolerance`` in ``record``."""
    out = []
    for t in targets:
        m = record["metrics"].get(t.name)
        ok = m is not None and math.isfinite(m)
        out.append((m - t.value) / t.tolerance if ok else MISS_RESIDUAL)
    return np.asarray(out, dtype=float)


class _BudgetSpentError(Exception):
    """The budget of distinct points is spent."""


@dataclass
class FitResult:
    """What the fit found. ``points`` and ``records`` are every distinct point
    evaluated, in order; ``best`` indexes them."""

    points: list[dict[str, Any]] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)
    residuals: list[np.ndarray] = field(default_factory=list)
    best: int = 0
    starts_refined: int = 0
    stop: str = ""

    def met(self, i: int | None = None) -> bool:
        """Whether point ``i`` (default: the best) meets every target."""
        r = self.residuals[self.best if i is None else i]
        return bool(np.all(np.abs(r) <= 1.0))

    def best_point(self) -> dict[str, Any]:
        """The best point's values."""
        return dict(self.points[self.best])


def _point(parameters: tuple[Parameter, ...], x: np.ndarray) -> dict[str, Any]:
    return {p.key: p.value(float(v)) for p, v in zip(parameters, x, strict=True)}


def _key(point: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    return tuple(sorted(point.items()))


class _Session:
    """Distinct points evaluated so far, within the budget."""

    def __init__(self, targets: tuple[Target, ...], evaluate: Evaluate, budget: int,
                 progress: Callable[[int], None]) -> None:
        self.targets, self.evaluate, self.budget, self.progress = (targets, evaluate, budget,
                                                                   progress)
        self.result = FitResult()
        self.index: dict[tuple[tuple[str, Any], ...], int] = {}

    def residuals(self, points: list[dict[str, Any]]) -> list[np.ndarray]:
        new: list[dict[str, Any]] = []
        for p in points:
            if _key(p) not in self.index and all(_key(p) != _key(q) for q in new):
                new.append(p)
        room = self.budget - len(self.result.points)
        for p, record in zip(new[:room], self.evaluate(new[:room]) if room > 0 and new
                             else [], strict=True):
            self.index[_key(p)] = len(self.result.points)
            self.result.points.append(p)
            self.result.records.append(record)
            self.result.residuals.append(residuals(self.targets, record))
        if new[:room]:
            self.progress(len(new[:room]))
        if len(new) > room:
            raise _BudgetSpentError
        return [self.result.residuals[self.index[_key(p)]] for p in points]


def _perturbed(p: Parameter, value: float) -> tuple[float, float]:
    """A neighbour of ``value`` for the difference quotient: (its value, unit step)."""
    u0 = p.unit(value)
    h = max(FIT_STEP, 1.0 / (p.high - p.low) if p.integer else 0.0)
    sign = 1.0 if u0 + h <= 1.0 + 1e-12 else -1.0
    moved = p.value(u0 + sign * h)
    if moved == value:  # rounding kept it: one more unit
        moved = p.value(u0 + sign * (h + 1.0 / (p.high - p.low)))
    return moved, p.unit(moved) - u0


def _refine(session: _Session, parameters: tuple[Parameter, ...], x0: np.ndarray) -> None:
    from scipy.optimize import least_squares

    def fun(x: np.ndarray) -> np.ndarray:
        return session.residuals([_point(parameters, x)])[0]

    def jac(x: np.ndarray) -> np.ndarray:
        base = _point(parameters, x)
        moved, steps = [], []
        for p in parameters:
            value, step = _perturbed(p, base[p.key])
            moved.append({**base, p.key: value})
            steps.append(step)
        rs = session.residuals([base, *moved])
        return np.column_stack([(r - rs[0]) / s if s else np.zeros_like(r)
                                for r, s in zip(rs[1:], steps, strict=True)])

    least_squares(fun, x0, jac=jac, bounds=(0.0, 1.0), method="trf", xtol=1e-3, ftol=1e-4,
                  gtol=1e-8, max_nfev=session.budget)


def _starts(parameters: tuple[Parameter, ...], starts: int, seed: int) -> list[np.ndarray]:
    first = np.asarray([p.unit(p.base_value) for p in parameters])
    if starts <= 1:
        return [first]
    from scipy.stats import qmc

    m = max(math.ceil(math.log2(starts - 1)), 0)
    sobol = qmc.Sobol(len(parameters), scramble=True, seed=seed).random_base2(m)
    return [first, *[np.asarray(row) for row in sobol[: starts - 1]]]


def fit(parameters: tuple[Parameter, ...], targets: tuple[Target, ...], evaluate: Evaluate,
        *, evaluations: int, starts: int, seed: int,
        progress: Callable[[int], None] = lambda n: None) -> FitResult:
    """Fit ``parameters`` to ``targets`` within ``evaluations`` distinct points
    (module docstring). ``progress(n)`` is called as n more points are evaluated.

    Raises
    ------
    ConfigError
        If scipy is missing (the ``search`` extra).
    """
    _require_scipy()
    session = _Session(targets, evaluate, evaluations, progress)
    result = session.result
    xs = _starts(parameters, starts, seed)
    try:
        costs = [float(np.sum(r ** 2)) for r in
                 session.residuals([_point(parameters, x) for x in xs])]
        order = sorted(range(len(xs)), key=lambda i: costs[i])
        for i in order:
            if any(result.met(j) for j in range(len(result.points))):
                result.stop = "met"
                break
            result.starts_refined += 1
            _refine(session, parameters, xs[i])
        else:
            result.stop = "met" if any(result.met(j) for j in range(len(result.points))) \
                else "starts"
    except _BudgetSpentError:
        result.stop = "budget"
    result.best = min(range(len(result.points)), key=lambda j: (
        not result.met(j), float(np.sum(result.residuals[j] ** 2)), j))
    return result


def _require_scipy() -> None:
    try:
        import scipy  # noqa: F401
    except ImportError:
        from sim.errors import ConfigError

        raise ConfigError("calibrate: needs scipy: pip install 'imcsim[search]'") from None
