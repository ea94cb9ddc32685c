"""Scheduling: strategy passes over the OpGraph and lowering to a TaskGraph (or, for
the analytic backend, its evaluation in arrays: `sim.schedule.array_lowering`)."""

from sim.schedule.mapping import Lowered, lower, tile_extents
from sim.schedule.strategies import STRATEGIES, PassResult, apply_strategy

__all__ = ["STRATEGIES", "Lowered", "PassResult", "apply_strategy", "lower", "tile_extents"]
