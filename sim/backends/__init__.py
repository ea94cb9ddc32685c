"""Backends execute a graph. ``des``: a TaskGraph on SimPy, cycle by event."""

from sim.backends.des import run_des
from sim.backends.timeline import Breakdown, Timeline, attribute_critical_path, timeline_csv

__all__ = ["Breakdown", "Timeline", "attribute_critical_path", "run_des", "timeline_csv"]
