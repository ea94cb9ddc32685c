"""Workloads: the OpGraph of what a config asks to compute (knows nothing of cores).

`WORKLOADS` maps every ``workload.kind`` of the config to its builder, a
function from that kind's config section to the serialized OpGraph.

Examples
--------
>>> WORKLOADS.names()
('norm_linear', 'transformer', 'collective')
>>> WORKLOADS.get("moe", key="workload.kind")
Traceback (most recent call last):
...
sim.errors.ConfigError: workload.kind: unknown workload 'moe' \
(choose from norm_linear, transformer, collective)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sim.config import CollectiveWorkload, NormLinearWorkload, TransformerWorkload
from sim.ir import OpGraph
from sim.registry import Registry
from sim.workload.collective import build_collective
from sim.workload.norm_linear import build_norm_linear
from sim.workload.transformer import build_transformer

__all__ = ["WORKLOADS", "build_workload"]

#: Workload builders by ``workload.kind``, in the config's order. A builder takes
#: the config section of its own kind (hence ``Any`` here).
WORKLOADS: Registry[Callable[[Any], OpGraph]] = Registry("workload")
WORKLOADS.add("norm_linear", build_norm_linear)
WORKLOADS.add("transformer", build_transformer)
WORKLOADS.add("collective", build_collective)


def build_workload(
    workload: NormLinearWorkload | TransformerWorkload | CollectiveWorkload,
) -> OpGraph:
    """The serialized OpGraph of ``workload``: the `WORKLOADS` builder of its kind.

    Raises
    ------
    ConfigError
        If no builder is registered for ``workload.kind``.
    """
    return WORKLOADS.get(workload.kind, key="workload.kind")(workload)
