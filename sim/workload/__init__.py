"""Workloads: the OpGraph of what a config asks to compute (knows nothing of cores)."""

from sim.config import CollectiveWorkload, NormLinearWorkload, TransformerWorkload
from sim.ir import OpGraph
from sim.workload.collective import build_collective
from sim.workload.norm_linear import build_norm_linear
from sim.workload.transformer import build_transformer

__all__ = ["build_workload"]


def build_workload(
    workload: NormLinearWorkload | TransformerWorkload | CollectiveWorkload,
) -> OpGraph:
    """The serialized OpGraph of ``workload`` (dispatch on its type)."""
    if isinstance(workload, TransformerWorkload):
        return build_transformer(workload)
    if isinstance(workload, CollectiveWorkload):
        return build_collective(workload)
    return build_norm_linear(workload)
