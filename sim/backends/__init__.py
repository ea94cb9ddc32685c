"""Backends execute a graph.

``des``: a TaskGraph on SimPy, cycle by event. ``numeric`` (import
`sim.backends.numeric`; it loads numpy): a rewritten OpGraph on real numbers in
several number formats.
"""

from sim.backends.des import run_des
from sim.backends.timeline import Breakdown, Timeline, attribute_critical_path, timeline_csv

__all__ = ["Breakdown", "Timeline", "attribute_critical_path", "run_des", "timeline_csv"]
