"""Quasi-random sweep points: ``mode: sobol`` and ``mode: latin_hypercube``.

``samples`` points of the unit cube, one dimension per axis in the spec's axis
order, come from `scipy.stats.qmc` seeded with the spec's ``seed`` (default 0),
so a spec always gives the same points:

- ``sobol``: a scrambled Sobol' sequence. Its balance properties hold for a
  power-of-two count; for any other count the first ``samples`` points of the
  next power of two are taken (the same points ``Sobol.random(samples)``
  gives, without its warning).
- ``latin_hypercube``: every axis cut into ``samples`` equal strata, exactly
  one point in each stratum of each axis.

`scale` maps a coordinate ``u`` in ``[0, 1)`` onto an axis: bounds
``low + u (high - low)`` (in log space with ``log``); integer bounds split
``[low, high + 1)`` into equal cells and take the cell's integer (so each
integer is equally likely; with ``log``, cells equal in log space); a values
axis (categorical) takes ``values[floor(u n)]``. Equal points (integer or
categorical axes) are dropped as duplicates, as in any sweep.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any

from sim.errors import ConfigError

__all__ = ["SEARCH_EXTRA", "need_extra", "quasi_rows", "scale", "unit_samples"]

#: The one line a missing optional dependency of these modes gives.
SEARCH_EXTRA = "mode {mode} needs the search extra: pip install 'imcsim[search]'"


def need_extra(module: str, mode: str) -> ModuleType:
    """Import ``module`` (``scipy.stats.qmc``, ``optuna``) or raise the one-line
    `ConfigError` naming the extra."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise ConfigError(SEARCH_EXTRA.format(mode=mode)) from None


def _sobol(qmc: Any, dims: int, samples: int, seed: int) -> Any:
    power = max(0, math.ceil(math.log2(samples)))
    return qmc.Sobol(dims, scramble=True, seed=seed).random_base2(power)[:samples]


def _latin_hypercube(qmc: Any, dims: int, samples: int, seed: int) -> Any:
    return qmc.LatinHypercube(dims, seed=seed).random(samples)


_SAMPLERS: dict[str, Callable[[Any, int, int, int], Any]] = {
    "sobol": _sobol, "latin_hypercube": _latin_hypercube}


def unit_samples(mode: str, dims: int, samples: int, seed: int) -> Any:
    """A ``samples x dims`` array of points in ``[0, 1)`` (module docstring).

    >>> pts = unit_samples("latin_hypercube", 2, 4, seed=0)
    >>> sorted((pts * 4).astype(int)[:, 0].tolist())
    [0, 1, 2, 3]
    """
    qmc = need_extra("scipy.stats.qmc", mode)
    return _SAMPLERS[mode](qmc, dims, samples, seed)


def scale(axis: Any, u: float) -> Any:
    """The value of ``axis`` (an `~sim.sweep.spec.AxisSpec` with ``bounds`` or
    ``values``) at the unit coordinate ``u`` (module docstring).

    >>> from sim.sweep.spec import AxisSpec
    >>> scale(AxisSpec.model_validate({"bounds": {"low": 1, "high": 4, "integer": True}}), 0.99)
    4
    """
    u = min(max(float(u), 0.0), math.nextafter(1.0, 0.0))
    if axis.values is not None:
        return axis.values[min(int(u * len(axis.values)), len(axis.values) - 1)]
    b = axis.bounds
    if b.integer:
        low, high = (math.log(b.low), math.log(b.high + 1)) if b.log else (b.low, b.high + 1)
        raw = low + u * (high - low)
        return min(math.floor(math.exp(raw) if b.log else raw), int(b.high))
    if b.log:
        return float(math.exp(math.log(b.low) + u * (math.log(b.high) - math.log(b.low))))
    return float(b.low + u * (b.high - b.low))


def quasi_rows(mode: str, axes: Mapping[str, Any], samples: int,
               seed: int) -> list[dict[str, Any]]:
    """Every point's axis values for a sobol / latin_hypercube spec."""
    keys = list(axes)
    cube = unit_samples(mode, len(keys), samples, seed)
    return [{k: scale(axes[k], u) for k, u in zip(keys, row, strict=True)} for row in cube]
