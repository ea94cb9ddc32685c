"""A calibration spec resolved against its configs (`sim.calibrate.spec.load_calibration`).

Every check that needs a config happens here, before anything runs: files
exist, target configs load with their overrides, metrics exist for their kind
of run, strategies exist, backends exist, and every free parameter is a
number of the base config whose range is non-empty and whose two ends the
config accepts. Each failure is one line naming the spec key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sim.calibrate.ranges import DOCUMENTED_RANGES
from sim.calibrate.spec import Calibration, CalibrationSpec, Parameter, RangeSpec, Target
from sim.errors import ConfigError

__all__ = ["resolve"]


def _file(name: str, spec_path: Path, key: str) -> Path:
    from sim.config.presets import presets_root

    candidates = [spec_path.parent / name]
    root = presets_root()
    if root is not None:
        candidates.append(root / "configs" / name)
    for candidate in candidates:
        if candidate.is_file():
            return candidate.resolve()
    raise ConfigError(f"{key}: cannot find {name!r} next to {spec_path}")


def _load(path: Path, overrides: tuple[str, ...], key: str) -> Any:
    from sim.config import load_config

    try:
        return load_config(path, list(overrides))
    except ConfigError as exc:
        raise ConfigError(f"{key}: {exc}") from None


def _lookup(tree: dict[str, Any], key: str) -> Any:
    node: Any = tree
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            raise ConfigError(f"parameters.{key}: not a key of the base config")
        node = node[part]
    return node


def _parameter(key: str, given: RangeSpec | None, base: Path, dump: dict[str, Any]) -> Parameter:
    where = f"parameters.{key}"
    current = _lookup(dump, key)
    if isinstance(current, bool) or not isinstance(current, int | float):
        raise ConfigError(f"{where}: not a number in the base config (it is {current!r})")
    low, high = (given.low, given.high) if given is not None else (None, None)
    if (low is None) != (high is None):
        raise ConfigError(f"{where}: give both low and high, or neither (the documented range)")
    if low is None or high is None:
        documented = DOCUMENTED_RANGES.get(key)
        if documented is None:
            raise ConfigError(f"{where}: no documented range; give low and high")
        low, high = documented.low, documented.high
    if not low < high:
        raise ConfigError(f"{where}: empty or inverted range (low {low} must be below "
                          f"high {high})")
    integer = isinstance(current, int)
    if integer and not (float(low).is_integer() and float(high).is_integer()):
        raise ConfigError(f"{where}: an integer key needs integer low and high, got "
                          f"{low} and {high}")
    for end in (low, high):
        _load(base, (f"{key}={int(end) if integer else float(end)}",), f"{where}: {end}")
    return Parameter(key, float(low), float(high), integer, float(current))


def _target(i: int, spec: CalibrationSpec, path: Path, base: Path) -> Target:
    from sim.calibrate.metrics import metric_kind, metrics_for
    from sim.config import StrategyName

    t = spec.targets[i]
    where = f"targets[{i}]"
    config = _file(t.config, path, f"{where}.config") if t.config else base
    cfg = _load(config, tuple(t.overrides), f"{where}.overrides" if t.overrides else
                f"{where}.config")
    if t.strategy is not None and t.strategy not in {s.value for s in StrategyName}:
        choices = ", ".join(s.value for s in StrategyName)
        raise ConfigError(f"{where}.strategy: unknown strategy {t.strategy!r} "
                          f"(choose from {choices})")
    kind = metric_kind(cfg)
    registry = metrics_for(kind)
    if t.metric not in registry:
        raise ConfigError(f"{where}.metric: unknown metric {t.metric!r} for a {kind} run "
                          f"(choose from {', '.join(registry.names())})")
    return Target(t.name or t.metric, t.metric, float(t.value), float(t.tolerance), config,
                  tuple(t.overrides), t.strategy, kind)


def resolve(spec: CalibrationSpec, path: Path) -> Calibration:
    """``spec`` (read from ``path``) checked against its configs.

    Raises
    ------
    ConfigError
        One line naming the spec key of the first problem.
    """
    from sim.runner import check_backend

    check_backend(spec.backend, "backend")
    verify = None if spec.verify_backend == "none" else check_backend(
        spec.verify_backend, "verify_backend", also=("none",))
    base = _file(spec.base, path, "base")
    targets = tuple(_target(i, spec, path, base) for i in range(len(spec.targets)))
    names = [t.name for t in targets]
    for i, name in enumerate(names):
        if name in names[:i]:
            raise ConfigError(f"targets[{i}].name: {name!r} names two targets; give each a "
                              "name")
    dump = _load(base, (), "base").model_dump(mode="python")
    parameters = tuple(_parameter(k, v, base, dump) for k, v in spec.parameters.items())
    return Calibration(path.resolve(), base, spec.seed, spec.backend, verify, targets,
                       parameters, spec.budget.evaluations, spec.budget.starts,
                       float(spec.sensitivity.step))
