"""The ``collective`` workload: one collective over the interconnect, alone."""

from __future__ import annotations

from sim.config import CollectiveWorkload
from sim.ir import CollectiveShape, Op, OpGraph, OpKind, Role

__all__ = ["build_collective"]


def build_collective(workload: CollectiveWorkload) -> OpGraph:
    """An OpGraph of a single collective op.

    >>> from sim.config import CollectiveWorkload
    >>> g = build_collective(CollectiveWorkload(kind="collective", op="all_reduce", bytes=64))
    >>> g.ops[0].shape.algorithm, g.ops[0].shape.participants
    ('ring', None)
    """
    participants = (None if workload.participants == "all"
                    else tuple(workload.participants))
    shape = CollectiveShape(workload.op, workload.algorithm, workload.bytes, participants,
                            workload.root, workload.reduce_op, workload.arity)
    op = Op(workload.op, OpKind.COLLECTIVE, shape, Role(f"collective.{workload.op}"))
    return OpGraph.build([op], [], where="workload collective")
