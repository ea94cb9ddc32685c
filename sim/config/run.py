"""A whole run config (`RunConfig`) and its ``output`` and ``limits`` sections."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from sim.config.machine import MachineConfig
from sim.config.names import StrategyName
from sim.config.schedule import ScheduleConfig
from sim.config.section import Section
from sim.config.workload import CollectiveWorkload, NormLinearWorkload, TransformerWorkload

__all__ = ["DEFAULT_MAX_TASKS", "LimitsConfig", "OutputConfig", "RunConfig"]

#: Tasks a run may emit unless ``limits.max_tasks`` (``--max-tasks``) says otherwise: at
#: the measured ~340 B a task about 6.8 GB; Llama-3-70B x 80 layers emits 9.5 M.
DEFAULT_MAX_TASKS = 20_000_000


class OutputConfig(Section):
    """What `imcsim run` prints and writes."""

    format: Literal["table", "json"] = "table"
    dir: str | None = Field(None, description="Directory for result.json and timeline.csv.")


class LimitsConfig(Section):
    """Bounds on the work one run may take, checked from the plan before any task is
    emitted (`sim.backends.task_estimate`)."""

    max_tasks: int = Field(
        DEFAULT_MAX_TASKS, ge=1, le=10**12,
        description="Refuse a run whose plan would emit more tasks than this (the DES and "
        "task-level runs; the analytic arrays emit none).")


class RunConfig(Section):
    """One simulation: a machine, a workload, a strategy, and output options."""

    machine: MachineConfig
    workload: NormLinearWorkload | TransformerWorkload | CollectiveWorkload = Field(
        discriminator="kind"
    )
    strategy: StrategyName = Field(
        StrategyName.SERIALIZED, strict=False, description="Strategy `imcsim run` uses."
    )
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)
    output: OutputConfig = Field(default_factory=OutputConfig)
    limits: LimitsConfig = Field(default_factory=LimitsConfig)
