"""Sweeps: many runs of one pipeline over a space of config values, resumable.

`~sim.sweep.spec` (the spec YAML, its axes and validated points),
`~sim.sweep.execute` (the worker function and the process-pool / Dask executors),
`~sim.sweep.reuse` (the interconnect each worker keeps for the next points),
`~sim.sweep.store` (the results files, repaired on resume) and `~sim.sweep.run`
(one sweep from spec to results and figures; the ``imcsim sweep`` command in
`sim.cli` calls `run_sweep`).
"""

from __future__ import annotations

from sim.sweep.run import SweepSummary, default_out_dir, read_results, run_sweep, sweep_figures

__all__ = ["SweepSummary", "default_out_dir", "read_results", "run_sweep", "sweep_figures"]
