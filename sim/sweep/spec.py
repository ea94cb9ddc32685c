"""Sweep specs: the YAML schema, the axes' values, and the validated points.

A sweep spec names a base run config, the strategies to compare, and axes over
config keys; `expand_points` turns it into `SweepPoint` s, each a fully
resolved run config (validated like ``imcsim run`` would) with a stable id.

Examples
--------
>>> spec = SweepSpec.model_validate({
...     "base": "run.yaml", "strategies": ["serialized", "deferred"],
...     "axes": {"workload.batch": [1, 2], "machine.simd.lanes": {"range": {
...         "start": 32, "stop": 129, "step": 32}}}})
>>> axis_values(spec.axes["machine.simd.lanes"], "machine.simd.lanes")
[32, 64, 96, 128]
>>> combinations(spec)[:3]
[{'workload.batch': 1, 'machine.simd.lanes': 32}, {'workload.batch': 1, 'machine.simd.lanes': 64}, \
{'workload.batch': 1, 'machine.simd.lanes': 96}]
>>> parse_spec({"base": "run.yaml", "axes": {"workload.batch": []}})
Traceback (most recent call last):
...
sim.errors.ConfigError: axes.workload.batch.values: must be a non-empty list
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    Field,
    Strict,
    ValidationError,
    field_validator,
    model_validator,
)

from sim.config import (
    StrategyName,
    apply_overrides,
    load_tree,
    parse_config,
    resolve_model_preset,
)
from sim.config.files import KEY_PATH
from sim.config.validation_errors import describe_error
from sim.errors import ConfigError
from sim.sweep.spec_modes import (
    QUASI_MODES,
    BoundsSpec,
    ConstraintSpec,
    ObjectiveSpec,
    SearchSpec,
    check_mode,
    range_problem,
)
from sim.sweep.spec_modes import StrictModel as _Strict

__all__ = [
    "MAX_POINTS",
    "AxisSpec",
    "RandomSpec",
    "RangeSpec",
    "SweepPoint",
    "SweepSpec",
    "axis_identity",
    "axis_values",
    "base_tree",
    "combinations",
    "expand_points",
    "load_spec",
    "make_point",
    "parse_spec",
    "row_id",
    "short_hash",
]

#: At most this many points per sweep (a typo like ``count: 1e9`` fails fast).
MAX_POINTS = 1_000_000



class RangeSpec(_Strict):
    """``start, start + step, ...`` while before ``stop`` (exclusive, like `range`)."""

    start: int | float
    stop: int | float
    step: int | float = 1

    @model_validator(mode="after")
    def _non_empty(self) -> RangeSpec:
        if self.step == 0:
            raise ValueError("step: must not be 0")
        if (self.stop - self.start) / self.step <= 0:
            raise ValueError(f"is empty (start {self.start}, stop {self.stop}, step {self.step})")
        return self


class RandomSpec(_Strict):
    """``count`` samples of a seeded `numpy.random.Generator`: integers in
    ``[low, high]`` (both included) when ``integer``, else floats in ``[low, high)``."""

    low: int | float
    high: int | float
    count: int = Field(gt=0)
    seed: int = Field(ge=0)
    integer: bool = False

    @model_validator(mode="after")
    def _ordered(self) -> RandomSpec:
        problem = range_problem(self.low, self.high, self.integer)
        if problem is not None:
            raise ValueError(problem)
        return self


class AxisSpec(_Strict):
    """One axis: exactly one of ``values``, ``range``, ``random`` or ``bounds`` (the
    sampling and search modes: `sim.sweep.spec_modes`)."""

    values: list[Any] | None = Field(None, min_length=1)
    range: RangeSpec | None = None
    random: RandomSpec | None = None
    bounds: BoundsSpec | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> AxisSpec:
        given = [k for k in ("values", "range", "random", "bounds")
                 if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("needs exactly one of values, range, random, bounds"
                             + (f" (got {', '.join(given)})" if given else ""))
        return self


class SweepSpec(_Strict):
    """A sweep: base config, strategies, axes, how axes combine, common overrides."""

    base: str = Field(min_length=1, description="Run config, relative to the sweep file.")
    strategies: list[Annotated[StrategyName, Strict(False)]] = Field(
        default_factory=lambda: list(StrategyName), min_length=1)
    axes: dict[str, AxisSpec] = Field(default_factory=dict)
    mode: Literal["grid", "zip", "sobol", "latin_hypercube", "search"] = "grid"
    samples: int | None = Field(None, gt=0, le=MAX_POINTS,
                                description="Points of a sobol / latin_hypercube sweep.")
    seed: int | None = Field(None, ge=0, description="Seed of the sobol / LHS points.")
    search: SearchSpec | None = None
    overrides: list[str] = Field(default_factory=list)
    backend: str = Field(
        "des", description="Timing backend of every point, a name in `sim.runner.BACKENDS`: "
        "des (link contention) or analytic (closed-form collectives, no contention; quicker).")

    @field_validator("backend")
    @classmethod
    def _known_backend(cls, name: str) -> str:
        from sim.runner import BACKENDS  # the registry is the one list (loaded on first use)

        if name not in BACKENDS:
            raise ValueError(f"unknown backend {name!r} "
                             f"(choose from {', '.join(BACKENDS.names())})")
        return name

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        """``axes: {key: [1, 2]}`` means ``{key: {values: [1, 2]}}``."""
        if isinstance(data, dict) and isinstance(data.get("axes"), dict):
            data = {**data, "axes": {k: {"values": v} if isinstance(v, list) else v
                                     for k, v in data["axes"].items()}}
        return data

    @model_validator(mode="after")
    def _check(self) -> SweepSpec:
        for key in self.axes:
            if not KEY_PATH.match(key):
                raise ValueError(f"axes: {key!r} is not a dotted config key like a.b.c")
        if "strategy" in self.axes:
            raise ValueError("axes: list strategies under strategies:, not as an axis")
        if len(set(self.strategies)) != len(self.strategies):
            raise ValueError("strategies: each strategy may appear once")
        check_mode(self)
        return self


def _describe(error: Mapping[str, Any]) -> str:
    """One pydantic error as ``key.path: problem`` (the spec's own cases, then the
    shared ones of `describe_error`)."""
    loc = [str(p) for p in error["loc"]]
    while loc and loc[-1] in ("int", "float"):  # the branch of an int | float union
        loc.pop()
    path = ".".join(loc)
    kind, got = error["type"], error.get("input")
    msg = str(error["msg"]).removeprefix("Value error, ")
    key = re.match(r"^([a-z_]+): ", msg) if kind == "value_error" else None
    if key:  # a validator's message that names its own key
        return f"{'.'.join(p for p in (path, key.group(1)) if p)}: {msg[key.end():]}"
    mapping = kind in ("model_type", "dict_type", "model_attributes_type")
    if mapping and len(loc) == 2 and loc[0] == "axes":
        return (f"{path}: must be a list of values or a mapping with values, range, random "
                f"or bounds, got {got!r}")
    if kind == "enum":
        choices = ", ".join(s.value for s in StrategyName)
        return f"{path}: unknown strategy {got!r} (choose from {choices})"
    if kind.startswith(("int_", "float_")) and path.endswith(("start", "stop", "step", "low",
                                                              "high", "min", "max")):
        return f"{path}: must be a number, got {got!r}"
    known: list[str] = []
    if kind == "extra_forbidden":
        owners: dict[Any, type[BaseModel]] = {
            "range": RangeSpec, "random": RandomSpec, "bounds": BoundsSpec,
            "search": SearchSpec, "objectives": ObjectiveSpec, "constraints": ConstraintSpec}
        names = [p for p in loc[:-1] if not p.isdigit()]
        owner = owners.get(names[-1] if names else "")
        model = owner or (AxisSpec if loc[0] == "axes" else SweepSpec)
        known = list(model.model_fields)
    return describe_error(error, path or "(top level)", known)


def parse_spec(data: dict[str, Any]) -> SweepSpec:
    """Validate a sweep spec mapping.

    Raises
    ------
    ConfigError
        One line naming the key of the first problem (with a count of others).
    """
    try:
        return SweepSpec.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        # A union (int | float) reports each branch: keep one line per location.
        locs = {tuple(p for p in e["loc"] if p not in ("int", "float")) for e in errors}
        more = f" (and {len(locs) - 1} more problems)" if len(locs) > 1 else ""
        # inf or nan fails both branches; the float branch's error says what is wrong
        first = next((e for e in errors if e["type"] == "finite_number"), errors[0])
        raise ConfigError(_describe(first) + more) from None


def load_spec(path: str | Path) -> tuple[SweepSpec, Path]:
    """Read and validate a sweep file; return the spec and its base config's path.

    Raises
    ------
    ConfigError
        Bad YAML or schema, or a ``base`` that is not a file next to the sweep.
    """
    path = Path(path)
    spec = parse_spec(load_tree(path))
    base = (path.parent / spec.base).resolve()
    if not base.is_file():
        raise ConfigError(f"base: cannot find {spec.base!r} next to {path}")
    return spec, base


def axis_values(axis: AxisSpec, key: str) -> list[Any]:
    """The values of one axis, in order (deterministic: random samples are seeded)."""
    if axis.values is not None:
        return list(axis.values)
    if axis.range is not None:
        r = axis.range
        count = math.ceil((r.stop - r.start) / r.step - 1e-9)
        if count > MAX_POINTS:
            raise ConfigError(f"axes.{key}.range: {count} values, more than {MAX_POINTS}")
        return [r.start + i * r.step for i in range(count)]
    s = axis.random
    if s is None:  # bounds: continuous, sampled by the mode (`sim.sweep.quasi`)
        raise ConfigError(f"axes.{key}: bounds have no list of values outside modes "
                          f"{', '.join(QUASI_MODES)}, search")
    import numpy as np  # loaded on first use: only random axes need it

    rng = np.random.default_rng(s.seed)
    if s.integer:  # low and high are ints then (RandomSpec._ordered)
        low, high = int(s.low), int(s.high)
        return [int(v) for v in rng.integers(low, high, size=s.count, endpoint=True)]
    return [float(v) for v in rng.uniform(s.low, s.high, size=s.count)]


def axis_identity(axis: AxisSpec, key: str) -> Any:
    """What identifies an axis in a manifest: its values, or its bounds."""
    return axis.bounds.model_dump() if axis.bounds is not None else axis_values(axis, key)


def _corners(spec: SweepSpec) -> list[dict[str, Any]]:
    """A search's points checked up front: every axis at its low end, then at its
    high end (its first and last value)."""
    from sim.sweep.quasi import scale

    return [{k: scale(a, u) for k, a in spec.axes.items()} for u in (0.0, 1.0)]


def combinations(spec: SweepSpec) -> list[dict[str, Any]]:
    """Every point's axis values: the cartesian product (``grid``, the last axis
    varies fastest), the axes side by side (``zip``, equal lengths), the
    quasi-random points (``sobol``, ``latin_hypercube``: `sim.sweep.quasi`), or
    for ``search`` (whose points the study proposes) the two corners `_corners`."""
    if spec.mode in QUASI_MODES:
        from sim.sweep.quasi import quasi_rows

        return quasi_rows(spec.mode, spec.axes, spec.samples or 1, spec.seed or 0)
    if spec.mode == "search":
        return _corners(spec)
    keys = list(spec.axes)
    columns = [axis_values(spec.axes[k], k) for k in keys]
    if spec.mode == "zip":
        lengths = {len(c) for c in columns}
        if len(lengths) > 1:
            sizes = ", ".join(f"{k}={len(c)}" for k, c in zip(keys, columns, strict=True))
            raise ConfigError(f"axes: mode zip needs axes of one length, got {sizes}")
        rows = list(zip(*columns, strict=True)) if columns else [()]
    else:
        total = math.prod(len(c) for c in columns)
        if total > MAX_POINTS:
            raise ConfigError(f"axes: {total} points, more than {MAX_POINTS}")
        rows = list(itertools.product(*columns))
    return [dict(zip(keys, row, strict=True)) for row in rows]


def short_hash(data: Any) -> str:
    """16 hex digits of the SHA-256 of ``data``'s canonical JSON (sorted keys)."""
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def row_id(config: dict[str, Any], strategy: str, backend: str = "des") -> str:
    """The id of one (point, strategy) run: the hash of the resolved config that
    ``imcsim run`` would run (its ``strategy`` set to ``strategy``), and of the
    backend unless it is the default ``des``."""
    extra = {} if backend == "des" else {"backend": backend}
    return short_hash({**config, "strategy": strategy, **extra})


@dataclass(frozen=True)
class SweepPoint:
    """One point of a sweep.

    Attributes
    ----------
    index : int
        Position in the expansion order.
    values : dict
        Axis key -> value of this point.
    config : dict
        The resolved, validated run config as JSON data (extends, presets,
        overrides and axis values applied); what a worker runs.
    config_id : str
        `short_hash` of ``config`` without its ``strategy``.
    row_ids : dict
        Strategy name -> `row_id` (the ``point_id`` column of its result row).
    """

    index: int
    values: dict[str, Any]
    config: dict[str, Any]
    config_id: str
    row_ids: dict[str, str]


def _set_key(tree: dict[str, Any], key: str, value: Any) -> None:
    parts = key.split(".")
    node = tree
    for depth, part in enumerate(parts[:-1]):
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"axes.{key}: {'.'.join(parts[:depth + 1])} is a value, "
                              "not a section")
        node = child
    node[parts[-1]] = copy.deepcopy(value)


def _label(values: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in values.items()) or "base"


def base_tree(spec: SweepSpec, base: Path) -> dict[str, Any]:
    """The base config's tree with presets resolved and the spec's overrides applied."""
    try:
        tree = apply_overrides(resolve_model_preset(load_tree(base)), spec.overrides)
    except ConfigError as exc:
        message = str(exc)
        if not message.startswith("--set "):
            raise
        raise ConfigError("overrides: " + message.removeprefix("--set ")) from None
    return tree


def make_point(spec: SweepSpec, tree: dict[str, Any], values: dict[str, Any],
               index: int) -> SweepPoint:
    """The point of ``values`` set into ``tree`` (`base_tree`), validated.

    Raises
    ------
    ConfigError
        The point's config is invalid (naming the key and the point).
    """
    point_tree = copy.deepcopy(tree)
    for key, value in values.items():
        _set_key(point_tree, key, value)
    try:
        config = parse_config(point_tree).model_dump(mode="json")
    except ConfigError as exc:
        raise ConfigError(f"{exc} (at point {_label(values)})") from None
    config.pop("strategy", None)
    return SweepPoint(index, values, config, short_hash(config),
                      {s.value: row_id(config, s.value, spec.backend) for s in spec.strategies})


def expand_points(spec: SweepSpec, base: Path) -> tuple[list[SweepPoint], int]:
    """Validate every point's config up front; return the points and how many
    duplicates (points whose resolved config equals an earlier one) were dropped.

    Raises
    ------
    ConfigError
        The first point whose config is invalid, naming the key and the point.
    """
    tree = base_tree(spec, base)
    points: list[SweepPoint] = []
    seen: set[str] = set()
    every = combinations(spec)
    for values in every:
        point = make_point(spec, tree, values, len(points))
        if point.config_id not in seen:
            seen.add(point.config_id)
            points.append(point)
    return points, len(every) - len(points)
