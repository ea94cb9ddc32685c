"""The two intermediate forms: OpGraph (what to compute) and TaskGraph (what runs where).

Plain data produced by passes and consumed by backends; this package imports no
other part of `sim` except `sim.errors`.
"""

from sim.ir.opgraph import (
    CollectiveShape,
    Edge,
    EdgeMode,
    MatmulShape,
    MaxScope,
    Op,
    OpGraph,
    OpKind,
    Role,
    SimdPattern,
    SimdShape,
    TileAxis,
    Tiling,
    TransferShape,
)
from sim.ir.task_table import TaskColumns, TaskSink, TaskTable
from sim.ir.taskgraph import Category, Engine, EngineKind, Task, TaskGraph

__all__ = [
    "Category",
    "CollectiveShape",
    "Edge",
    "EdgeMode",
    "Engine",
    "EngineKind",
    "MatmulShape",
    "MaxScope",
    "Op",
    "OpGraph",
    "OpKind",
    "Role",
    "SimdPattern",
    "SimdShape",
    "Task",
    "TaskColumns",
    "TaskGraph",
    "TaskSink",
    "TaskTable",
    "TileAxis",
    "Tiling",
    "TransferShape",
]
