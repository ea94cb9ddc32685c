"""Backends read a plan or execute a graph.

``task_emitter``: a LoweringPlan as a TaskGraph. ``arrays``: a LoweringPlan
evaluated in numpy (the analytic backend's fast path).
``des``: a TaskGraph on SimPy, cycle by event. ``numeric`` (import
`sim.backends.numeric`; it loads numpy): a rewritten OpGraph on real numbers in
several number formats.
"""

from sim.backends.critical_path import attribute_critical_path
from sim.backends.des import run_des
from sim.backends.timeline import Breakdown, Timeline, timeline_csv

__all__ = ["Breakdown", "Timeline", "attribute_critical_path", "run_des", "timeline_csv"]
