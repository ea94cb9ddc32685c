"""Workloads: the OpGraph of what a config asks to compute (knows nothing of cores)."""

from sim.config import NormLinearWorkload
from sim.ir import OpGraph
from sim.workload.norm_linear import build_norm_linear

__all__ = ["build_workload"]


def build_workload(workload: NormLinearWorkload) -> OpGraph:
    """The serialized OpGraph of ``workload`` (dispatch on its ``kind``)."""
    builders = {"norm_linear": build_norm_linear}
    return builders[workload.kind](workload)
