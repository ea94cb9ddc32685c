"""Scheduling: strategy passes over the OpGraph and the mapping's LoweringPlan."""

from sim.schedule.mapping import build_plan
from sim.schedule.strategies import STRATEGIES, PassResult, apply_strategy
from sim.schedule.tiling import tile_extents

__all__ = ["STRATEGIES", "PassResult", "apply_strategy", "build_plan", "tile_extents"]
