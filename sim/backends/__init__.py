"""Backends execute a graph.

``des``: a TaskGraph on SimPy, cycle by event. ``numeric``: a rewritten OpGraph
on real numbers in numpy, in several number formats.
"""

from sim.backends.des import run_des
from sim.backends.numeric import (
    FORMAT_NAMES,
    NumericParameters,
    error_metrics,
    reference_output,
    run_numeric,
    verify,
)
from sim.backends.timeline import Breakdown, Timeline, attribute_critical_path, timeline_csv

__all__ = [
    "FORMAT_NAMES",
    "Breakdown",
    "NumericParameters",
    "Timeline",
    "attribute_critical_path",
    "error_metrics",
    "reference_output",
    "run_des",
    "run_numeric",
    "timeline_csv",
    "verify",
]
