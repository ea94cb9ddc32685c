"""A calibration spec (``imcsim calibrate SPEC.yaml``): schema and resolution.

```yaml
base: ../paper/llama3_8b_decode.yaml      # a run config, relative to this file
seed: 0
backend: analytic                         # what the fit runs on
verify_backend: des                       # the best point checked on it (none: skip)
targets:
  - name: norm_share                      # default: the metric
    metric: normalization_comm_share      # a figure of the run's --format json
    value: 0.20
    tolerance: 0.02                       # met when |fit - value| <= tolerance
    strategy: serialized                  # default: the config's
    config: other.yaml                    # default: base
    overrides: [workload.batch=2]         # like --set, on this target only
parameters:                               # dotted keys, moved inside [low, high]
  machine.network.router_latency_cycles: {}          # the documented range
  machine.network.noc.bytes_per_cycle: {low: 8, high: 64}
budget: {evaluations: 40, starts: 4}
sensitivity: {step: 0.1}
```

`load_calibration` validates the schema (strict keys, one line per problem),
then resolves it against the configs (`Calibration`): every target's config
loads, its metric exists for its kind of run (else the valid ones are listed),
every parameter is a number in the base config, with a non-empty range (given,
or `sim.calibrate.ranges.DOCUMENTED_RANGES`) whose ends both validate.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from sim.config.files import KEY_PATH, load_tree
from sim.config.validation_errors import describe_error
from sim.errors import ConfigError

__all__ = ["Calibration", "CalibrationSpec", "Parameter", "Target", "load_calibration"]

#: At most this many evaluations, starts, targets and parameters (a typo fails fast).
MAX_EVALUATIONS, MAX_STARTS, MAX_TARGETS, MAX_PARAMETERS = 10_000, 64, 32, 32
#: Steps of a non-integer parameter over its range (its values lie on this grid).
FLOAT_GRID = 1000


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


class RangeSpec(_Strict):
    """A free parameter's range; both ends, or neither (the documented range)."""

    low: int | float | None = None
    high: int | float | None = None


class TargetSpec(_Strict):
    """One figure to meet."""

    metric: str = Field(min_length=1)
    value: int | float
    tolerance: int | float = Field(gt=0)
    name: str | None = Field(None, min_length=1, max_length=64)
    strategy: str | None = None
    config: str | None = Field(None, min_length=1)
    overrides: list[str] = Field(default_factory=list)


class BudgetSpec(_Strict):
    """How many distinct points the fit may evaluate, from how many starts."""

    evaluations: int = Field(60, ge=1, le=MAX_EVALUATIONS)
    starts: int = Field(4, ge=1, le=MAX_STARTS)


class SensitivitySpec(_Strict):
    """The finite-difference step around the best point, a fraction of each range."""

    step: int | float = Field(0.1, gt=0, le=0.5)


class CalibrationSpec(_Strict):
    """A calibration: a base config, targets, free parameters, a budget."""

    base: str = Field(min_length=1)
    seed: int = Field(0, ge=0)
    backend: str = "analytic"
    verify_backend: str = "des"
    targets: list[TargetSpec] = Field(min_length=1, max_length=MAX_TARGETS)
    parameters: dict[str, RangeSpec | None] = Field(min_length=1, max_length=MAX_PARAMETERS)
    budget: BudgetSpec = Field(default_factory=BudgetSpec)
    sensitivity: SensitivitySpec = Field(default_factory=SensitivitySpec)

    @model_validator(mode="after")
    def _check(self) -> CalibrationSpec:
        for key in self.parameters:
            if not KEY_PATH.match(key):
                raise ValueError(f"parameters: {key!r} is not a dotted config key like a.b.c")
        return self


@dataclass(frozen=True)
class Target:
    """A resolved target: what runs (config file, overrides, strategy) and what it meets."""

    name: str
    metric: str
    value: float
    tolerance: float
    config: Path
    overrides: tuple[str, ...]
    strategy: str | None
    kind: str  # ``pass`` or ``serving`` (`sim.calibrate.metrics.metric_kind`)

    def run_key(self) -> tuple[str, tuple[str, ...], str | None]:
        """Targets with equal keys share one run per point."""
        return (str(self.config), self.overrides, self.strategy)


@dataclass(frozen=True)
class Parameter:
    """A free parameter: a config key moved in ``[low, high]`` (integers rounded)."""

    key: str
    low: float
    high: float
    integer: bool
    base_value: float

    def value(self, unit: float) -> int | float:
        """The value at ``unit`` in [0, 1] (clipped): integers rounded half to even,
        other numbers on a grid of 1/1000 of the range."""
        x = min(max(float(unit), 0.0), 1.0)
        if self.integer:
            return round(self.low + x * (self.high - self.low))
        return round(self.low + round(x * FLOAT_GRID) / FLOAT_GRID * (self.high - self.low), 9)

    def unit(self, value: float) -> float:
        """Where ``value`` lies in the range, in [0, 1] (clipped)."""
        return min(max((float(value) - self.low) / (self.high - self.low), 0.0), 1.0)


@dataclass(frozen=True)
class Calibration:
    """A resolved spec: the base config, targets, parameters and settings."""

    path: Path
    base: Path
    seed: int
    backend: str
    verify_backend: str | None
    targets: tuple[Target, ...]
    parameters: tuple[Parameter, ...]
    evaluations: int
    starts: int
    sensitivity_step: float

    def identity(self) -> dict[str, Any]:
        """What makes two calibrations the same (JSON data, configs by content)."""
        configs = {str(t.config): load_tree(t.config) for t in self.targets}
        configs[str(self.base)] = load_tree(self.base)
        return {
            "seed": self.seed, "backend": self.backend, "verify_backend": self.verify_backend,
            "targets": [{"name": t.name, "metric": t.metric, "value": t.value,
                         "tolerance": t.tolerance, "config": load_tree(t.config),
                         "overrides": list(t.overrides), "strategy": t.strategy}
                        for t in self.targets],
            "parameters": [[p.key, p.low, p.high, p.integer] for p in self.parameters],
            "evaluations": self.evaluations, "starts": self.starts,
            "sensitivity_step": self.sensitivity_step,
        }


def _describe(error: Mapping[str, Any]) -> str:
    loc = [str(p) for p in error["loc"] if p not in ("int", "float")]
    path = ".".join(loc[:1] + [f"[{p}]" if p.isdigit() else p for p in loc[1:]])
    path = path.replace(".[", "[")
    msg = str(error["msg"]).removeprefix("Value error, ")
    key = re.match(r"^([a-z_]+): ", msg) if error["type"] == "value_error" else None
    if key:
        return f"{'.'.join(p for p in (path, key.group(1)) if p)}: {msg[key.end():]}"
    owners: dict[str, type[BaseModel]] = {"targets": TargetSpec, "budget": BudgetSpec,
                                          "sensitivity": SensitivitySpec,
                                          "parameters": RangeSpec}
    model = owners.get(loc[0], CalibrationSpec) if len(loc) > 1 else CalibrationSpec
    return describe_error(error, path or "(top level)", list(model.model_fields))


def parse_spec(data: dict[str, Any]) -> CalibrationSpec:
    """Validate a calibration spec mapping (one line naming the first bad key)."""
    try:
        return CalibrationSpec.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        first = next((e for e in errors if e["type"] == "finite_number"), errors[0])
        raise ConfigError(_describe(first)) from None


def load_calibration(path: str | Path) -> Calibration:
    """Read, validate and resolve a calibration spec file.

    Raises
    ------
    ConfigError
        One line naming the key of the first problem.
    """
    from sim.calibrate.resolve import resolve

    path = Path(path)
    return resolve(parse_spec(load_tree(path)), path)
