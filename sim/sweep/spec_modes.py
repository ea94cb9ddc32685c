"""The sweep spec's schema for the sampling and search modes.

``mode: sobol`` and ``mode: latin_hypercube`` draw ``samples`` points (seeded
with ``seed``) from axes given as bounds (`BoundsSpec`) or as lists of values
(categorical: a value picked by the sample's position); ``mode: search`` lets
an optuna sampler propose the points (`SearchSpec`, run by `sim.sweep.search_run`).
`check_mode` holds the rules that tie a mode to the keys it needs: bounds
axes only in these modes, ``samples`` only in the sampling ones, ``search``
only in search mode.

Examples
--------
>>> BoundsSpec.model_validate({"low": 1, "high": 8, "integer": True})
BoundsSpec(low=1, high=8, integer=True, log=False)
>>> SearchSpec.model_validate({"objectives": [{"column": "energy_uj"}], "trials": 8}).sampler
>>> sampler_name(SearchSpec.model_validate({"objectives": [
...     {"column": "energy_uj"}, {"column": "latency_us"}], "trials": 8}))
'nsga2'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "QUASI_MODES",
    "SAMPLERS",
    "BoundsSpec",
    "ConstraintSpec",
    "ObjectiveSpec",
    "SearchSpec",
    "StrictModel",
    "check_mode",
    "range_problem",
    "sampler_name",
]

#: Modes whose points are drawn from the unit cube (`sim.sweep.quasi`).
QUASI_MODES = ("sobol", "latin_hypercube")
#: Optuna samplers by name (built in `sim.sweep.search`).
SAMPLERS = ("tpe", "nsga2", "random")


class StrictModel(BaseModel):
    """Unknown keys rejected, no coercion, no infinite or NaN numbers."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


def range_problem(low: float, high: float, integer: bool, empty: str = "") -> str | None:
    """What is wrong with the range ``[low, high]`` of a sweep axis (None: nothing):
    integer ends when ``integer``, and not empty (``high > low``; equal ends are one
    value of an integer range). ``empty`` starts the message of an empty range."""
    if integer and not (isinstance(low, int) and isinstance(high, int)):
        return "low and high must be integers when integer is true"
    if high < low or (not integer and high == low):
        return f"{empty}high ({high}) must be above low ({low})"
    return None


class BoundsSpec(StrictModel):
    """A continuous axis ``[low, high]`` (floats: ``high`` never drawn exactly by the
    samplers; integers: both ends included); ``log`` samples uniformly in
    log space (``low`` must then be above 0)."""

    low: int | float
    high: int | float
    integer: bool = False
    log: bool = False

    @model_validator(mode="after")
    def _ordered(self) -> BoundsSpec:
        problem = range_problem(self.low, self.high, self.integer, empty="is empty: ")
        if problem is not None:
            raise ValueError(problem)
        if self.log and self.low <= 0:
            raise ValueError(f"low: must be above 0 when log is true, got {self.low}")
        return self


def _known_metric(column: str) -> str:
    from sim.sweep.execute import METRICS  # lazily: it loads the simulator's figures

    if column not in METRICS or column == "analytic_warning":
        choices = ", ".join(m for m in METRICS if m != "analytic_warning")
        raise ValueError(f"unknown column {column!r} (choose from {choices})")
    return column


class ObjectiveSpec(StrictModel):
    """One objective: a result column and whether to minimize or maximize it
    (default: maximize rates and gains, ``sim.report.plot_pareto.maximized``,
    minimize the rest, as the Pareto figure reads them)."""

    column: str
    direction: Literal["minimize", "maximize"] | None = None

    _column = field_validator("column")(_known_metric)

    def resolved_direction(self) -> str:
        """``minimize`` or ``maximize``."""
        if self.direction is not None:
            return self.direction
        from sim.report.plot_pareto import maximized

        return "maximize" if maximized(self.column) else "minimize"


class ConstraintSpec(StrictModel):
    """A feasibility bound on a result column: ``min <= value <= max``."""

    column: str
    min: int | float | None = None
    max: int | float | None = None

    _column = field_validator("column")(_known_metric)

    @model_validator(mode="after")
    def _bounded(self) -> ConstraintSpec:
        if self.min is None and self.max is None:
            raise ValueError("needs min, max or both")
        if self.min is not None and self.max is not None and self.max < self.min:
            raise ValueError(f"is empty: max ({self.max}) must not be below min ({self.min})")
        return self

    def violation(self, value: float) -> float:
        """How far ``value`` is outside the bounds (0 or less: feasible)."""
        low = -float("inf") if self.min is None else self.min - value
        high = -float("inf") if self.max is None else value - self.max
        return float(max(low, high))


class SearchSpec(StrictModel):
    """``mode: search``: an optuna study of ``trials`` trials, asked in batches of
    ``batch`` and evaluated in parallel; each trial is a point, its objectives read
    from the row of ``strategy`` (default: the sweep's first strategy)."""

    objectives: list[ObjectiveSpec] = Field(min_length=1)
    trials: int = Field(gt=0, le=100_000)
    batch: int = Field(1, gt=0, le=10_000)
    seed: int = Field(0, ge=0)
    sampler: Literal["tpe", "nsga2", "random"] | None = None
    population: int | None = Field(None, ge=2)
    startup_trials: int | None = Field(None, ge=0)
    strategy: str | None = None
    constraints: list[ConstraintSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _distinct(self) -> SearchSpec:
        columns = [o.column for o in self.objectives]
        if len(set(columns)) != len(columns):
            raise ValueError("objectives: each column may appear once")
        return self


def sampler_name(search: SearchSpec) -> str:
    """The sampler a search uses: as given, else ``tpe`` for one objective and
    ``nsga2`` for several."""
    if search.sampler is not None:
        return search.sampler
    return "tpe" if len(search.objectives) == 1 else "nsga2"


class _ModeSpec(Protocol):
    """What `check_mode` reads of a `~sim.sweep.spec.SweepSpec`."""

    @property
    def mode(self) -> str: ...
    @property
    def samples(self) -> int | None: ...
    @property
    def seed(self) -> int | None: ...
    @property
    def search(self) -> SearchSpec | None: ...
    @property
    def axes(self) -> Mapping[str, Any]: ...
    @property
    def strategies(self) -> Sequence[Any]: ...


def check_mode(spec: _ModeSpec) -> None:
    """Raise `ValueError` (``key: problem``) when a key does not fit the mode."""
    quasi, search = spec.mode in QUASI_MODES, spec.mode == "search"
    if quasi and spec.samples is None:
        raise ValueError(f"samples: mode {spec.mode} needs samples (a count of points)")
    if not quasi and (spec.samples is not None or spec.seed is not None):
        raise ValueError(f"samples: only for modes {' and '.join(QUASI_MODES)} "
                         f"(mode is {spec.mode}); seed goes with it")
    if search != (spec.search is not None):
        raise ValueError("search: mode search needs a search: section" if search else
                         f"search: only for mode search (mode is {spec.mode})")
    if (quasi or search) and not spec.axes:
        raise ValueError(f"axes: mode {spec.mode} needs at least one axis")
    for key, axis in spec.axes.items():
        kind = next(k for k in ("values", "range", "random", "bounds")
                    if getattr(axis, k) is not None)
        if kind == "bounds" and not (quasi or search):
            raise ValueError(f"axes: {key}: bounds only for modes sobol, latin_hypercube, "
                             f"search (mode is {spec.mode}); use values, range or random")
        if kind in ("range", "random") and (quasi or search):
            raise ValueError(f"axes: {key}: mode {spec.mode} takes bounds or values, "
                             f"not {kind}")
        if search and kind == "values" and not all(
                v is None or isinstance(v, bool | int | float | str) for v in axis.values):
            raise ValueError(f"axes: {key}: mode search takes values that are numbers, "
                             "strings, booleans or null")
    if search and spec.search is not None and spec.search.strategy is not None:
        names = [getattr(s, "value", s) for s in spec.strategies]
        if spec.search.strategy not in names:
            raise ValueError(f"search: strategy {spec.search.strategy!r} is not among the "
                             f"strategies ({', '.join(names)})")
