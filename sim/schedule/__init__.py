"""Scheduling: strategy passes over the OpGraph and the mapping's LoweringPlan."""

from sim.schedule.mapping import build_plan, tile_extents
from sim.schedule.strategies import STRATEGIES, PassResult, apply_strategy

__all__ = ["STRATEGIES", "PassResult", "apply_strategy", "build_plan", "tile_extents"]
