"""``imcsim calibrate``: fit the unpublished machine figures to published ones.

A spec (`sim.calibrate.spec`) names a base config, targets (a metric, a value,
a tolerance, per-target config and overrides) and free parameters with ranges
(`sim.calibrate.ranges`); `run_calibration` (`sim.calibrate.run`) fits them on
the fast path (`sim.calibrate.fit`), checks the best point on the DES, measures
local sensitivities (`sim.calibrate.sensitivity`) and writes the calibrated
config. Evaluations are cached in the output folder (`sim.calibrate.store`),
so a killed calibration resumes without recomputing.
"""

from __future__ import annotations

from typing import Any

__all__ = ["load_calibration", "run_calibration"]


def __getattr__(name: str) -> Any:
    """Load the heavy parts on first use (`sim.cli`'s start-up rule)."""
    if name == "run_calibration":
        from sim.calibrate.run import run_calibration

        return run_calibration
    if name == "load_calibration":
        from sim.calibrate.spec import load_calibration

        return load_calibration
    raise AttributeError(name)
